// SPDX-License-Identifier: Apache-2.0
// Must not compile: parallel_reduce takes a Reducer (identity() and join()); a type without them is rejected
// by the concept. With PORTML_COMPILE_FAIL_CONTROL the same call with portml::Sum compiles.
#include <portml/portml.hpp>

struct NotAReducer {
  using value_type = double;
};

int main() {
  portml::Queue<portml::backend::Serial> q;
  const auto body = [](portml::index_t i, double& acc) { acc += static_cast<double>(i); };
#ifdef PORTML_COMPILE_FAIL_CONTROL
  return static_cast<int>(portml::parallel_reduce(q, portml::Range1D{4}, body, portml::Sum<double>{}));
#else
  return static_cast<int>(portml::parallel_reduce(q, portml::Range1D{4}, body, NotAReducer{}));
#endif
}
