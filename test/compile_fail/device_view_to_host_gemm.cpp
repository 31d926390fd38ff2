// SPDX-License-Identifier: Apache-2.0
// Must not compile: a view of GPU memory (CudaSpace) cannot be handed to the host GEMM; the memory space is
// part of the view's type, so the mistake is a compile error, not a crash. With PORTML_COMPILE_FAIL_CONTROL
// the host view compiles.
#include <portml/kernels/gemm.hpp>
#include <portml/portml.hpp>

int main() {
  portml::Queue<portml::backend::Serial> q;
  portml::Tensor<float, 2> a({2, 3}), w({3, 4}), c({2, 4});
  const portml::kernels::PackedWeights<float> packed(w.view());
#ifdef PORTML_COMPILE_FAIL_CONTROL
  const portml::TensorView<const float, 2> in(a.data(), {2, 3});
#else
  const portml::TensorView<const float, 2, portml::CudaSpace> in(a.data(), {2, 3});
#endif
  portml::kernels::gemm(q, in, packed, c.view());
  return 0;
}
