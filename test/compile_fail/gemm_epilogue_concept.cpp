// SPDX-License-Identifier: Apache-2.0
// Must not compile: an epilogue without params<T>() is rejected by the GemmEpilogue concept at the call,
// not deep inside the kernel. With PORTML_COMPILE_FAIL_CONTROL the same call with a valid epilogue compiles.
#include <portml/kernels/gemm.hpp>
#include <portml/portml.hpp>

struct NotAnEpilogue {
  float bias = 0.0f;
};

int main() {
  portml::Queue<portml::backend::Serial> q;
  portml::Tensor<float, 2> a({2, 3}), w({3, 4}), c({2, 4});
  const portml::kernels::PackedWeights<float> packed(w.view());
#ifdef PORTML_COMPILE_FAIL_CONTROL
  portml::kernels::gemm(q, a.view(), packed, c.view(), portml::kernels::epilogue::Identity{});
#else
  portml::kernels::gemm(q, a.view(), packed, c.view(), NotAnEpilogue{});
#endif
  return 0;
}
