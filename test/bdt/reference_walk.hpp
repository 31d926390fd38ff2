// SPDX-License-Identifier: Apache-2.0
// The forest tests' reference evaluator: a plain walk over a ForestConfig, written independently of the
// Forest's layouts and kernels.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include <portml/bdt/forest_config.hpp>

namespace portml::test {

//! Walks each tree of the config, compares as the trainer does (in double, NaN to the node's default
//! direction), and sums the leaves in Value from the base margin, in tree order.
template <class Value>
std::vector<Value> walk(const bdt::ForestConfig& c, const float* x) {
  std::vector<Value> out(c.base_margin.begin(), c.base_margin.end());
  for (const bdt::TreeConfig& t : c.trees) {
    std::int32_t i = 0;
    while (t.left[i] >= 0) {
      const double v = x[t.feature[i]];
      bool left;
      if (std::isnan(v)) {
        left = t.nan_left[i] != 0;
      } else {
        left = c.split_rule == bdt::SplitRule::left_if_less ? v < t.threshold[i] : v <= t.threshold[i];
      }
      i = left ? t.left[i] : t.right[i];
    }
    out[t.output] += static_cast<Value>(t.value[i]);
  }
  return out;
}

}  // namespace portml::test
