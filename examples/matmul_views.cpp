// SPDX-License-Identifier: Apache-2.0
// The README's usage example: wrap caller-owned arrays in views (zero copy) and run a kernel on a
// backend's queue. Prints C(0, 0) = 6.
#include <cstdio>
#include <vector>

#include <portml/kernels/reference/matmul.hpp>
#include <portml/portml.hpp>

int main() {
  std::vector<float> a(4 * 3, 1.0f), b(3 * 2, 2.0f), c(4 * 2);  // the caller's own memory
  portml::TensorView<const float, 2> A(a.data(), {4, 3}), B(b.data(), {3, 2});
  portml::TensorView<float, 2> C(c.data(), {4, 2});
  portml::Queue<portml::backend::Serial> q;  // or Queue<backend::OpenMP>(4), Queue<backend::Cuda>(0), ...
  portml::kernels::reference::matmul(q, A, B, C);
  q.wait();
  std::printf("C(0, 0) = %g\n", C(0, 0));
  return C(0, 0) == 6.0f ? 0 : 1;
}
