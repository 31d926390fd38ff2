// SPDX-License-Identifier: Apache-2.0
// Must not compile: a view of const elements (what a model's forward takes as input) is read-only.
// With PORTML_COMPILE_FAIL_CONTROL the write goes through a mutable view and compiles.
#include <portml/portml.hpp>

int main() {
  portml::Tensor<float, 2> t({2, 2});
#ifdef PORTML_COMPILE_FAIL_CONTROL
  const portml::TensorView<float, 2> v = t.view();
#else
  const portml::TensorView<const float, 2> v = t.view();
#endif
  v(0, 0) = 1.0f;
  return 0;
}
