// SPDX-License-Identifier: Apache-2.0
// Categorical splits as exact numeric subtrees: the one expansion that the LightGBM and the XGBoost
// loaders share. A loader describes its tree node for node (SourceNode), each categorical split as the
// cut points of the real line where its decision changes (in the forest's SplitRule); the expansion
// replaces each categorical split by a balanced subtree of numeric tests on those cut points, with
// copies of the split's two child subtrees below. The forest then has only numeric nodes, so every
// evaluation path (scalar, AVX2, AVX-512, the GPU kernels) runs it unchanged.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <portml/bdt/forest_config.hpp>
#include <portml/io/error.hpp>

namespace portml::io::detail {

//! Nodes a tree may grow to when its categorical splits are expanded into numeric subtrees, and
//! nodes all expansions of a model may add together (resource limits against hostile files).
inline constexpr std::size_t max_expanded_tree_nodes = std::size_t(1) << 20;
inline constexpr std::size_t max_expansion_nodes = std::size_t(1) << 22;

//! One node of a trainer's tree, before expansion. A leaf has left < 0.
struct SourceNode {
  std::int32_t left = -1, right = -1;  //!< children: indices into the trainer's tree
  std::int32_t feature = 0;
  double threshold = 0;  //!< numeric split: the trainer's threshold
  bool nan_left = false;
  bool zero_missing = false;
  double value = 0;  //!< leaf value
  //! Categorical split: `bounds` (increasing thresholds under the forest's SplitRule) cut the real
  //! line into segments 0..bounds.size(); segment k lies between bounds[k-1] and bounds[k]. Odd
  //! segments are the split's category set ("inside"), even ones are not.
  bool categorical = false;
  std::vector<double> bounds;
  bool inside_left = true;      //!< inside segments go to `left` (outside ones to `right`), else the reverse
  std::size_t nan_segment = 0;  //!< the segment a NaN is steered into (each test's NaN direction points to it)
};

//! `nodes` (node 0 the root) as a TreeConfig of numeric nodes only. Without categorical splits the
//! trainer's numbering is kept node for node. With them the trainer's tree must be a tree (each
//! node reached once from the root; a FormatError otherwise), and each categorical split becomes a
//! balanced subtree of tests on its bounds. `zero_missing`: the TreeConfig gets the per-node flags.
//! Errors name `file` and `where` (the tree); `*expansion_budget` is what the model may still add.
inline bdt::TreeConfig expand_categorical_splits(const std::vector<SourceNode>& nodes, bool zero_missing,
                                                 const std::string& file, const std::string& where,
                                                 std::size_t* expansion_budget) {
  const std::size_t n = nodes.size();
  bdt::TreeConfig tree;
  const auto add_node = [&]() {
    if (tree.left.size() == max_expanded_tree_nodes) {
      throw FormatError(
          file, where,
          "categorical splits expand the tree beyond " + std::to_string(max_expanded_tree_nodes) + " nodes");
    }
    tree.left.push_back(-1);
    tree.right.push_back(-1);
    tree.feature.push_back(0);
    tree.threshold.push_back(0.0);
    tree.nan_left.push_back(0);
    tree.value.push_back(0.0);
    if (zero_missing) tree.zero_missing.push_back(0);
    return static_cast<std::int32_t>(tree.left.size() - 1);
  };
  const auto set_numeric = [&](std::int32_t self, const SourceNode& s) {
    const auto i = static_cast<std::size_t>(self);
    tree.feature[i] = s.feature;
    tree.threshold[i] = s.threshold;
    tree.nan_left[i] = s.nan_left ? 1 : 0;
    if (zero_missing) tree.zero_missing[i] = s.zero_missing ? 1 : 0;
  };

  const bool any_categorical =
      std::any_of(nodes.begin(), nodes.end(), [](const SourceNode& s) { return s.left >= 0 && s.categorical; });
  if (!any_categorical) {  // the trainer's numbering kept, node for node
    for (std::size_t i = 0; i < n; ++i) {
      const std::int32_t self = add_node();
      if (nodes[i].left < 0) {
        tree.value[i] = nodes[i].value;
        continue;
      }
      set_numeric(self, nodes[i]);
      tree.left[i] = nodes[i].left;
      tree.right[i] = nodes[i].right;
    }
    return tree;
  }

  // The trainer's tree must be a tree (each node reached once from the root) before it is expanded,
  // so that the expansion terminates.
  {
    std::vector<char> reached(n, 0);
    std::vector<std::int32_t> stack{0};
    reached[0] = 1;
    while (!stack.empty()) {
      const auto i = static_cast<std::size_t>(stack.back());
      stack.pop_back();
      if (nodes[i].left < 0) continue;
      for (const std::int32_t c : {nodes[i].left, nodes[i].right}) {
        if (c < 0 || std::size_t(c) >= n)
          throw FormatError(file, where + ", node " + std::to_string(i), "child out of range");
        if (c == 0 || reached[std::size_t(c)]++ != 0) {
          throw FormatError(file, where + ", node " + std::to_string(i),
                            "child " + std::to_string(c) + " reached twice");
        }
        stack.push_back(c);
      }
    }
  }
  // Expansion, iteratively: a task builds the trainer's node `source` and links it below `parent`.
  struct Task {
    std::int32_t source, parent;
    bool right_side;
  };
  std::vector<Task> tasks{{0, -1, false}};
  const auto link = [&](std::int32_t parent, bool right_side, std::int32_t self) {
    if (parent >= 0) (right_side ? tree.right : tree.left)[std::size_t(parent)] = self;
  };
  while (!tasks.empty()) {
    const Task task = tasks.back();
    tasks.pop_back();
    const SourceNode& s = nodes[std::size_t(task.source)];
    if (s.left < 0) {
      const std::int32_t self = add_node();
      tree.value[std::size_t(self)] = s.value;
      link(task.parent, task.right_side, self);
      continue;
    }
    if (!s.categorical) {
      const std::int32_t self = add_node();
      set_numeric(self, s);
      link(task.parent, task.right_side, self);
      tasks.push_back({s.right, self, true});
      tasks.push_back({s.left, self, false});
      continue;
    }
    // A balanced tree of tests over the bounds: test `mid` sends segments lo..mid left and
    // mid+1..hi right (its NaN direction towards nan_segment); segment k goes to the inside child if
    // k is odd, else to the outside child. Depth: log2 of the number of bounds, plus one.
    const std::int32_t inside = s.inside_left ? s.left : s.right;
    const std::int32_t outside = s.inside_left ? s.right : s.left;
    const auto build = [&](auto&& self_fn, std::size_t lo, std::size_t hi, std::int32_t parent,
                           bool right_side) -> void {
      if (lo == hi) {  // segment lo
        tasks.push_back({lo % 2 == 1 ? inside : outside, parent, right_side});
        return;
      }
      const std::size_t mid = lo + (hi - lo) / 2;
      const std::int32_t self = add_node();
      tree.feature[std::size_t(self)] = s.feature;
      tree.threshold[std::size_t(self)] = s.bounds[mid];
      tree.nan_left[std::size_t(self)] = s.nan_segment <= mid ? 1 : 0;
      link(parent, right_side, self);
      self_fn(self_fn, lo, mid, self, false);
      self_fn(self_fn, mid + 1, hi, self, true);
    };
    build(build, 0, s.bounds.size(), task.parent, task.right_side);
  }
  const std::size_t added = tree.left.size() - std::min(n, tree.left.size());
  if (added > *expansion_budget) {
    throw FormatError(
        file, where,
        "categorical splits expand the model beyond " + std::to_string(max_expansion_nodes) + " added nodes");
  }
  *expansion_budget -= added;
  return tree;
}

}  // namespace portml::io::detail
