// SPDX-License-Identifier: Apache-2.0
//! \file
//! Forest: an immutable tree ensemble in flat arrays, built once from a ForestConfig and shared by
//! every thread (all evaluation is `const`). Every trainer's split rule is normalised at build time to
//! one rule on float32 inputs: a row goes right iff `!(x < t)`, with t a float32 threshold chosen so
//! that the decision equals the trainer's own for every float32 x (see float_threshold), and a NaN
//! goes the node's default direction.
//!
//! Two layouts, both with a fixed trip count (no data-dependent branch in the descent):
//!  - perfect: every tree padded to a complete tree of the forest's depth D (D <= max_perfect_depth);
//!    the children of node k are 2k+1 and 2k+2, leaves are stored apart.
//!  - sparse: nodes of all trees in one array, the children of node i at left[i] and left[i] + 1
//!    (siblings adjacent), leaves loop onto themselves, so a descent of the tree's depth always ends
//!    on the right leaf.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <portml/bdt/forest_config.hpp>
#include <portml/core/error.hpp>

namespace portml::bdt {

enum class Layout { automatic, perfect, sparse };

//! "perfect" or "sparse" ("automatic" for Layout::automatic).
inline const char* to_string(Layout layout) {
  switch (layout) {
    case Layout::perfect:
      return "perfect";
    case Layout::sparse:
      return "sparse";
    default:
      return "automatic";
  }
}

//! Deepest forest padded to perfect trees by Layout::automatic (2^8 - 1 nodes per tree).
inline constexpr int max_perfect_depth = 8;

//! Bit of Node::feature_flags that says a NaN goes left.
inline constexpr std::uint32_t nan_left_bit = 0x80000000u;
//! Bit of Node::feature_flags that says |x| <= zero_missing_threshold goes where a NaN goes.
inline constexpr std::uint32_t zero_missing_bit = 0x40000000u;
inline constexpr std::uint32_t feature_mask = 0x3fffffffu;

//! The float32 threshold t' such that, for every non-NaN float x, `x < t'` equals the trainer's
//! "go left" (`x < t` or `x <= t`, compared in the trainer's precision after widening x).
//! Returns false when no float threshold can express the split (t = +inf with `<=`).
inline bool float_threshold(double t, SplitRule rule, float* out) {
  if (std::isnan(t)) return false;
  if (rule == SplitRule::left_if_less) {
    // x < t  <=>  x < (smallest float >= t)
    float f = static_cast<float>(t);
    if (static_cast<double>(f) < t) f = std::nextafter(f, std::numeric_limits<float>::infinity());
    *out = f;
    return true;
  }
  if (t == std::numeric_limits<double>::infinity()) return false;
  // x <= t  <=>  x <= (largest float <= t)  <=>  x < next float above it
  float f = static_cast<float>(t);
  if (static_cast<double>(f) > t) f = std::nextafter(f, -std::numeric_limits<float>::infinity());
  *out = std::nextafter(f, std::numeric_limits<float>::infinity());
  return true;
}

//! Levels of a sparse forest also stored as perfect tree tops (for kernels that read them faster).
inline constexpr int sparse_top_depth = 4;

//! A node of the default-first walk, the one-row path of sparse forests: 8 bytes, the children of a
//! node in one array with the child that a NaN takes (the default) first and the other after it, so
//! that one compare picks the child, NaN included: go to the second child iff `in >= threshold`. For
//! a NaN-left node `in` is the feature value and `threshold` the node's t (`x >= t` iff `!(x < t)`,
//! false for NaN); for a NaN-right node the second child is the left one, `in` is the negated value
//! and `threshold` the float after -t (`-x >= next(-t)` iff `-x > -t` iff `x < t`, false for NaN;
//! NaN for t = -inf, where `x < t` is never true). A leaf has offset 0 (it loops onto itself) and a
//! NaN threshold whose payload is the leaf's index in default_first_leaf.
struct DefaultFirstNode {
  float threshold;
  //! bits 0-15: the index into the walk's inputs (the feature j, or num_features + j for -x_j);
  //! bits 16-31: the offset from this node to its first (default) child, 0 for a leaf.
  std::uint32_t word;
};
//! Most features of a forest with default-first nodes (the walk keeps x and -x on the stack).
inline constexpr std::int32_t default_first_max_features = 128;
//! The bits of a default-first leaf's threshold: a quiet NaN with the leaf index as payload.
inline constexpr std::uint32_t default_first_leaf_nan = 0x7fc00000u;
inline constexpr std::uint32_t default_first_leaf_mask = 0x003fffffu;

//! Read-only pointers to a Forest's arrays: what the kernels see.
template <class Value>
struct ForestData {
  Layout layout = Layout::perfect;
  std::int32_t num_features = 0;
  std::int32_t num_outputs = 1;
  std::int32_t num_trees = 0;
  std::int32_t depth = 0;                        //!< perfect: the padded depth of every tree
  bool has_zero_missing = false;                 //!< some node has zero_missing_bit (scalar kernels only)
  std::int64_t num_nodes = 0;                    //!< length of feature_flags, threshold (and left, sparse)
  std::int64_t num_leaf_values = 0;              //!< length of leaf_value
  const std::uint32_t* feature_flags = nullptr;  //!< per node: feature index | nan_left_bit
  const float* threshold = nullptr;              //!< per node: go right iff !(x < threshold)
  const std::int32_t* left = nullptr;            //!< sparse: per node, left child (right = left + 1)
  const Value* leaf_value = nullptr;             //!< perfect: 2^depth per tree; sparse: per node
  const std::int32_t* tree_root = nullptr;       //!< sparse: per tree, root node
  const std::int32_t* tree_depth = nullptr;      //!< sparse: per tree, its depth (0 for a lone leaf)
  const std::int32_t* tree_output = nullptr;     //!< per tree, the output it adds to
  //! sparse: the top sparse_top_depth levels of every tree again as a perfect tree (15 node words and
  //! thresholds per tree, level order, padded like the perfect layout) and, per tree, the 16 nodes of
  //! the sparse array where a descent continues below them.
  const std::uint32_t* top_feature_flags = nullptr;
  const float* top_threshold = nullptr;
  const std::int32_t* top_entry = nullptr;
  const Value* base_margin = nullptr;  //!< per output
  //! sparse, without zero-as-missing nodes, when the forest fits the encoding (else null): the
  //! default-first nodes (each tree in breadth-first order from default_first_root[t]) and leaves,
  //! read by the one-row kernel only (a host copy: DeviceForest does not upload them).
  const DefaultFirstNode* default_first_node = nullptr;
  const Value* default_first_leaf = nullptr;
  const std::int32_t* default_first_root = nullptr;
};

//! An immutable forest whose leaves, base margins and sums are `Value` (float for XGBoost, double for
//! LightGBM and TMVA: the trainer's precision, so margins equal the trainer's bit for bit).
namespace detail {
template <class Value>
class QuickScorer;  // detail/quickscorer.hpp, included at the end of this file
}  // namespace detail

template <class Value>
class Forest {
  static_assert(std::is_same_v<Value, float> || std::is_same_v<Value, double>,
                "portml::bdt::Forest: Value must be float or double");

 public:
  using value_type = Value;

  //! Builds the flat arrays. Throws portml::Error when the config is inconsistent (child out of
  //! range, cycle, feature index outside [0, num_features), wrong number of base margins...).
  explicit Forest(const ForestConfig& config, Layout layout = Layout::automatic);

  std::int32_t num_features() const { return num_features_; }
  //! Number of margins per row (classes for multiclass models, else 1).
  std::int32_t num_outputs() const { return num_outputs_; }
  //! Number of columns of predict()'s output (1 for OutputTransform::argmax, else num_outputs()).
  std::int32_t prediction_width() const { return transform_ == OutputTransform::argmax ? 1 : num_outputs_; }
  std::int32_t num_trees() const { return static_cast<std::int32_t>(tree_output_.size()); }
  //! Depth of the deepest tree (edges from the root to the deepest leaf).
  std::int32_t max_depth() const { return max_depth_; }
  Layout layout() const { return layout_; }
  //! Whether some split treats |x| <= zero_missing_threshold as missing (only the scalar path runs these).
  bool has_zero_missing() const { return has_zero_missing_; }
  OutputTransform transform() const { return transform_; }
  double transform_scale() const { return transform_scale_; }
  const std::string& objective() const { return objective_; }
  const std::string& source() const { return source_; }
  std::span<const Value> base_margin() const { return base_margin_; }
  //! The training feature names in input order (empty when the model has none).
  const std::vector<std::string>& feature_names() const { return feature_names_; }
  //! The transformation the trainer applies to the inputs before the trees (TMVA <Transformations>;
  //! empty otherwise). The host predict_margins() / predict() apply it to their raw inputs.
  const InputTransform& input_transform() const { return input_transform_; }
  //! QuickScorer's tables, which predict_margins' AVX2 path runs, or null: built for the forests of
  //! detail::QuickScorer<Value>::dispatched() (float, perfect layout, depth <= 5, AVX2 CPU; docs/bdt.md).
  const detail::QuickScorer<Value>* quickscorer() const { return quickscorer_.get(); }
  //! Bytes held by the node, leaf and tree arrays.
  std::size_t memory_bytes() const {
    return feature_flags_.size() * 4 + threshold_.size() * 4 + left_.size() * 4 + leaf_value_.size() * sizeof(Value) +
           tree_root_.size() * 4 + tree_depth_.size() * 4 + tree_output_.size() * 4 + top_feature_flags_.size() * 4 +
           top_threshold_.size() * 4 + top_entry_.size() * 4 + default_first_node_.size() * sizeof(DefaultFirstNode) +
           default_first_leaf_.size() * sizeof(Value) + default_first_root_.size() * 4 +
           (quickscorer_ ? quickscorer_->memory_bytes() : 0);
  }

  ForestData<Value> data() const {
    ForestData<Value> d;
    d.layout = layout_;
    d.num_features = num_features_;
    d.num_outputs = num_outputs_;
    d.num_trees = num_trees();
    d.depth = max_depth_;
    d.has_zero_missing = has_zero_missing_;
    d.num_nodes = static_cast<std::int64_t>(feature_flags_.size());
    d.num_leaf_values = static_cast<std::int64_t>(leaf_value_.size());
    d.feature_flags = feature_flags_.data();
    d.threshold = threshold_.data();
    d.left = left_.data();
    d.leaf_value = leaf_value_.data();
    d.tree_root = tree_root_.data();
    d.tree_depth = tree_depth_.data();
    d.tree_output = tree_output_.data();
    d.base_margin = base_margin_.data();
    d.top_feature_flags = top_feature_flags_.data();
    d.top_threshold = top_threshold_.data();
    d.top_entry = top_entry_.data();
    if (!default_first_node_.empty()) {
      d.default_first_node = default_first_node_.data();
      d.default_first_leaf = default_first_leaf_.data();
      d.default_first_root = default_first_root_.data();
    }
    return d;
  }

 private:
  struct Normalised {
    std::vector<std::int32_t> depth_of;  // per node
    std::int32_t depth = 0;
  };
  static Normalised check_tree(const TreeConfig& tree, std::size_t t, std::int32_t num_features,
                               std::int32_t num_outputs);
  static bool zero_missing(const TreeConfig& tree, std::int32_t i) {
    return !tree.zero_missing.empty() && tree.zero_missing[i] != 0;
  }
  static std::uint32_t node_flags(const TreeConfig& tree, std::int32_t i) {
    return static_cast<std::uint32_t>(tree.feature[i]) | (tree.nan_left[i] != 0 ? nan_left_bit : 0u) |
           (zero_missing(tree, i) ? zero_missing_bit : 0u);
  }
  float node_threshold(const TreeConfig& tree, std::size_t t, std::int32_t i, SplitRule rule) const;
  static const ForestConfig& without_infinite_upper_splits(const ForestConfig& config,
                                                           std::optional<ForestConfig>& storage);
  void build_perfect(const ForestConfig& config);
  void build_sparse(const ForestConfig& config, const std::vector<std::int32_t>& depths);
  void build_default_first(const ForestConfig& config);

  std::int32_t num_features_ = 0;
  std::int32_t num_outputs_ = 1;
  std::int32_t max_depth_ = 0;
  bool has_zero_missing_ = false;
  Layout layout_ = Layout::perfect;
  OutputTransform transform_ = OutputTransform::identity;
  double transform_scale_ = 1.0;
  std::string objective_, source_;
  std::vector<std::string> feature_names_;
  InputTransform input_transform_;
  std::vector<Value> base_margin_;
  std::vector<std::uint32_t> feature_flags_;
  std::vector<float> threshold_;
  std::vector<std::int32_t> left_;
  std::vector<Value> leaf_value_;
  std::vector<std::int32_t> tree_root_, tree_depth_, tree_output_;
  std::vector<std::uint32_t> top_feature_flags_;
  std::vector<float> top_threshold_;
  std::vector<std::int32_t> top_entry_;
  std::vector<DefaultFirstNode> default_first_node_;
  std::vector<Value> default_first_leaf_;
  std::vector<std::int32_t> default_first_root_;
  std::shared_ptr<const detail::QuickScorer<Value>> quickscorer_;  // see quickscorer()
};

// ---- implementation ----------------------------------------------------------------------------------

template <class Value>
typename Forest<Value>::Normalised Forest<Value>::check_tree(const TreeConfig& tree, std::size_t t,
                                                             std::int32_t num_features, std::int32_t num_outputs) {
  const std::string where = "portml::bdt::Forest: tree " + std::to_string(t);
  const std::size_t n = tree.left.size();
  if (n == 0) throw Error(where + " has no nodes");
  if (tree.right.size() != n || tree.feature.size() != n || tree.threshold.size() != n || tree.nan_left.size() != n ||
      tree.value.size() != n || (!tree.zero_missing.empty() && tree.zero_missing.size() != n)) {
    throw Error(where + ": node arrays of different lengths");
  }
  if (n > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max() / 4)) throw Error(where + " is too large");
  if (tree.output < 0 || tree.output >= num_outputs) {
    throw Error(where + ": output " + std::to_string(tree.output) + " outside [0, " + std::to_string(num_outputs) +
                ")");
  }
  Normalised norm;
  norm.depth_of.assign(n, -1);
  norm.depth_of[0] = 0;
  // Visit from the root; every node must be reached exactly once (a tree, no cycles, no sharing).
  std::vector<std::int32_t> stack{0};
  std::size_t visited = 0;
  while (!stack.empty()) {
    const std::int32_t i = stack.back();
    stack.pop_back();
    ++visited;
    if (tree.left[i] < 0) {
      norm.depth = std::max(norm.depth, norm.depth_of[i]);
      continue;
    }
    if (tree.feature[i] < 0 || tree.feature[i] >= num_features) {
      throw Error(where + ", node " + std::to_string(i) + ": feature " + std::to_string(tree.feature[i]) +
                  " outside [0, " + std::to_string(num_features) + ")");
    }
    for (const std::int32_t c : {tree.left[i], tree.right[i]}) {
      if (c <= 0 || static_cast<std::size_t>(c) >= n || norm.depth_of[c] != -1) {
        throw Error(where + ", node " + std::to_string(i) + ": bad child " + std::to_string(c));
      }
      norm.depth_of[c] = norm.depth_of[i] + 1;
      stack.push_back(c);
    }
  }
  if (visited != n) throw Error(where + ": " + std::to_string(n - visited) + " nodes are not reachable from the root");
  return norm;
}

template <class Value>
float Forest<Value>::node_threshold(const TreeConfig& tree, std::size_t t, std::int32_t i, SplitRule rule) const {
  // A `x <= +inf` split, rewritten by without_infinite_upper_splits(): every number goes right.
  if (rule == SplitRule::left_if_less_equal && tree.threshold[i] == std::numeric_limits<double>::infinity()) {
    return -std::numeric_limits<float>::infinity();
  }
  float f = 0;
  if (!float_threshold(tree.threshold[i], rule, &f)) {
    throw NotSupported("portml::bdt::Forest: tree " + std::to_string(t) + ", node " + std::to_string(i) +
                       ": threshold " + std::to_string(tree.threshold[i]) + " has no float32 equivalent");
  }
  return f;
}

//! LightGBM writes `x <= +inf` for a split that separates only the missing values. Its rows: every
//! number (+inf included) left, NaN by the default direction. No float t makes `x < t` true for
//! +inf, so such a node is mirrored: children swapped, default direction flipped, and node_threshold()
//! gives -inf, for which `x < t` is false for every number. Returns `config` itself when no node
//! needs it, else the rewritten copy held in `storage`.
template <class Value>
const ForestConfig& Forest<Value>::without_infinite_upper_splits(const ForestConfig& config,
                                                                 std::optional<ForestConfig>& storage) {
  if (config.split_rule != SplitRule::left_if_less_equal) return config;
  const auto infinite = [](const TreeConfig& tree, std::size_t i) {
    return tree.left[i] >= 0 && i < tree.threshold.size() &&
           tree.threshold[i] == std::numeric_limits<double>::infinity();
  };
  bool any = false;
  for (const TreeConfig& tree : config.trees)
    for (std::size_t i = 0; i < tree.left.size() && !any; ++i) any = infinite(tree, i);
  if (!any) return config;
  storage = config;
  for (TreeConfig& tree : storage->trees) {
    if (tree.right.size() != tree.left.size() || tree.nan_left.size() != tree.left.size()) continue;  // check_tree
    for (std::size_t i = 0; i < tree.left.size(); ++i) {
      if (!infinite(tree, i)) continue;
      std::swap(tree.left[i], tree.right[i]);
      tree.nan_left[i] = tree.nan_left[i] != 0 ? 0 : 1;
    }
  }
  return *storage;
}

template <class Value>
Forest<Value>::Forest(const ForestConfig& config_in, Layout layout)
    : num_features_(config_in.num_features),
      num_outputs_(config_in.num_outputs),
      transform_(config_in.transform),
      transform_scale_(config_in.transform_scale),
      objective_(config_in.objective),
      source_(config_in.source),
      feature_names_(config_in.feature_names),
      input_transform_(config_in.input_transform) {
  std::optional<ForestConfig> rewritten;
  const ForestConfig& config = without_infinite_upper_splits(config_in, rewritten);
  if (num_features_ < 1 || static_cast<std::uint32_t>(num_features_) > feature_mask) {
    throw Error("portml::bdt::Forest: num_features must be at least 1, got " + std::to_string(num_features_));
  }
  if (num_outputs_ < 1) throw Error("portml::bdt::Forest: num_outputs must be at least 1");
  if (config.base_margin.size() != static_cast<std::size_t>(num_outputs_)) {
    throw Error("portml::bdt::Forest: " + std::to_string(config.base_margin.size()) + " base margins for " +
                std::to_string(num_outputs_) + " outputs");
  }
  if (!feature_names_.empty() && feature_names_.size() != static_cast<std::size_t>(num_features_)) {
    throw Error("portml::bdt::Forest: " + std::to_string(feature_names_.size()) + " feature names for " +
                std::to_string(num_features_) + " features");
  }
  if (!input_transform_.empty() && input_transform_.num_features() != num_features_) {
    throw Error("portml::bdt::Forest: input transformation over " + std::to_string(input_transform_.num_features()) +
                " features for " + std::to_string(num_features_) + " features");
  }
  for (const double b : config.base_margin) base_margin_.push_back(static_cast<Value>(b));
  std::vector<std::int32_t> depths;  // per tree
  for (std::size_t t = 0; t < config.trees.size(); ++t) {
    const Normalised norm = check_tree(config.trees[t], t, num_features_, num_outputs_);
    depths.push_back(norm.depth);
    max_depth_ = std::max(max_depth_, norm.depth);
    for (std::size_t i = 0; i < config.trees[t].left.size(); ++i) {
      has_zero_missing_ = has_zero_missing_ ||
                          (config.trees[t].left[i] >= 0 && zero_missing(config.trees[t], static_cast<std::int32_t>(i)));
    }
    tree_output_.push_back(config.trees[t].output);
  }
  layout_ = layout;
  if (layout_ == Layout::automatic) layout_ = max_depth_ <= max_perfect_depth ? Layout::perfect : Layout::sparse;
  if (layout_ == Layout::perfect && max_depth_ > 20) {
    throw NotSupported("portml::bdt::Forest: depth " + std::to_string(max_depth_) +
                       " is too deep for a perfect layout");
  }
  if (layout_ == Layout::perfect) {
    build_perfect(config);
  } else {
    build_sparse(config, depths);
    if (!has_zero_missing_ && num_features_ <= default_first_max_features) build_default_first(config);
  }
  if (detail::QuickScorer<Value>::dispatched(*this)) quickscorer_ = std::make_shared<detail::QuickScorer<Value>>(*this);
}

template <class Value>
void Forest<Value>::build_perfect(const ForestConfig& config) {
  const std::int32_t depth = max_depth_;
  const std::size_t internal = (std::size_t(1) << depth) - 1;
  const std::size_t leaves = std::size_t(1) << depth;
  const std::size_t num_trees = config.trees.size();
  feature_flags_.assign(num_trees * internal, nan_left_bit);
  threshold_.assign(num_trees * internal, std::numeric_limits<float>::quiet_NaN());
  leaf_value_.assign(num_trees * leaves, Value(0));
  struct Item {
    std::int32_t source;  // node in the config
    std::size_t slot;     // position in the perfect tree (level order)
    std::int32_t level;
  };
  for (std::size_t t = 0; t < num_trees; ++t) {
    const TreeConfig& tree = config.trees[t];
    std::vector<Item> stack{{0, 0, 0}};
    while (!stack.empty()) {
      const Item it = stack.back();
      stack.pop_back();
      if (it.level == depth) {
        leaf_value_[t * leaves + (it.slot - internal)] = static_cast<Value>(tree.value[it.source]);
        continue;
      }
      const std::size_t k = t * internal + it.slot;
      if (tree.left[it.source] < 0) {
        // A leaf above the last level: a padding node (NaN threshold, NaN-left: every row goes left)
        // whose subtree repeats the leaf, so either direction would reach the same value.
        stack.push_back({it.source, 2 * it.slot + 1, it.level + 1});
        stack.push_back({it.source, 2 * it.slot + 2, it.level + 1});
      } else {
        feature_flags_[k] = node_flags(tree, it.source);
        threshold_[k] = node_threshold(tree, t, it.source, config.split_rule);
        stack.push_back({tree.left[it.source], 2 * it.slot + 1, it.level + 1});
        stack.push_back({tree.right[it.source], 2 * it.slot + 2, it.level + 1});
      }
    }
  }
}

//! The default-first nodes of every tree (see DefaultFirstNode); none when an offset needs more than
//! 16 bits or the forest has more than 2^22 leaves (the one-row kernel then walks the sparse arrays).
template <class Value>
void Forest<Value>::build_default_first(const ForestConfig& config) {
  std::vector<DefaultFirstNode> nodes;
  std::vector<Value> leaves;
  std::vector<std::int32_t> roots;
  for (std::size_t t = 0; t < config.trees.size(); ++t) {
    const TreeConfig& tree = config.trees[t];
    const std::size_t n = tree.left.size();
    const std::size_t base = nodes.size();
    if (base + n > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) return;
    roots.push_back(static_cast<std::int32_t>(base));
    // Breadth-first order, each node's default child first and its other child right after it.
    std::vector<std::int32_t> order{0};
    std::vector<std::int32_t> position(n, -1);
    position[0] = 0;
    for (std::size_t q = 0; q < order.size(); ++q) {
      const std::int32_t i = order[q];
      if (tree.left[i] < 0) continue;
      const bool nan_left = tree.nan_left[i] != 0;
      for (const std::int32_t c : {nan_left ? tree.left[i] : tree.right[i], nan_left ? tree.right[i] : tree.left[i]}) {
        position[c] = static_cast<std::int32_t>(order.size());
        order.push_back(c);
      }
    }
    for (std::size_t q = 0; q < n; ++q) {
      const std::int32_t i = order[q];
      DefaultFirstNode node{};
      if (tree.left[i] < 0) {
        if (leaves.size() > default_first_leaf_mask) return;
        node.threshold = std::bit_cast<float>(default_first_leaf_nan | static_cast<std::uint32_t>(leaves.size()));
        node.word = 0;
        leaves.push_back(static_cast<Value>(tree.value[i]));
      } else {
        const bool nan_left = tree.nan_left[i] != 0;
        const std::size_t offset = static_cast<std::size_t>(position[nan_left ? tree.left[i] : tree.right[i]]) - q;
        if (offset > 0xffffu) return;
        const float th = node_threshold(tree, t, i, config.split_rule);
        const auto feature = static_cast<std::uint32_t>(tree.feature[i]);
        if (nan_left) {
          node.threshold = th;
          node.word = feature;
        } else {
          node.threshold = th == -std::numeric_limits<float>::infinity()
                               ? std::numeric_limits<float>::quiet_NaN()
                               : std::nextafter(-th, std::numeric_limits<float>::infinity());
          node.word = static_cast<std::uint32_t>(num_features_) + feature;
        }
        node.word |= static_cast<std::uint32_t>(offset) << 16;
      }
      nodes.push_back(node);
    }
  }
  default_first_node_ = std::move(nodes);
  default_first_leaf_ = std::move(leaves);
  default_first_root_ = std::move(roots);
}

template <class Value>
void Forest<Value>::build_sparse(const ForestConfig& config, const std::vector<std::int32_t>& depths) {
  const std::size_t num_trees = config.trees.size();
  for (std::size_t t = 0; t < num_trees; ++t) {
    const TreeConfig& tree = config.trees[t];
    const std::size_t n = tree.left.size();
    const std::size_t base = feature_flags_.size();
    if (base + n > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
      throw NotSupported("portml::bdt::Forest: more than 2^31 nodes");
    }
    // Breadth-first order, so that the two children of a node are adjacent.
    std::vector<std::int32_t> order{0};
    std::vector<std::int32_t> position(n, -1);
    position[0] = 0;
    for (std::size_t q = 0; q < order.size(); ++q) {
      const std::int32_t i = order[q];
      if (tree.left[i] < 0) continue;
      position[tree.left[i]] = static_cast<std::int32_t>(order.size());
      order.push_back(tree.left[i]);
      position[tree.right[i]] = static_cast<std::int32_t>(order.size());
      order.push_back(tree.right[i]);
    }
    for (std::size_t q = 0; q < n; ++q) {
      const std::int32_t i = order[q];
      const auto self = static_cast<std::int32_t>(base + q);
      if (tree.left[i] < 0) {
        feature_flags_.push_back(nan_left_bit);  // NaN threshold + NaN-left: every row stays here
        threshold_.push_back(std::numeric_limits<float>::quiet_NaN());
        left_.push_back(self);
        leaf_value_.push_back(static_cast<Value>(tree.value[i]));
      } else {
        feature_flags_.push_back(node_flags(tree, i));
        threshold_.push_back(node_threshold(tree, t, i, config.split_rule));
        left_.push_back(static_cast<std::int32_t>(base) + position[tree.left[i]]);
        leaf_value_.push_back(Value(0));
      }
    }
    tree_root_.push_back(static_cast<std::int32_t>(base));
    tree_depth_.push_back(depths[t]);
    // The perfect top of the tree (padded where a leaf comes early, as in build_perfect).
    constexpr std::size_t top_internal = (std::size_t(1) << sparse_top_depth) - 1;
    const std::size_t top_base = top_feature_flags_.size();
    top_feature_flags_.resize(top_base + top_internal, nan_left_bit);
    top_threshold_.resize(top_base + top_internal, std::numeric_limits<float>::quiet_NaN());
    top_entry_.resize(top_entry_.size() + top_internal + 1, 0);
    struct Item {
      std::int32_t source;
      std::size_t slot;
      int level;
    };
    std::vector<Item> stack{{0, 0, 0}};
    while (!stack.empty()) {
      const Item it = stack.back();
      stack.pop_back();
      if (it.level == sparse_top_depth) {
        top_entry_[t * (top_internal + 1) + (it.slot - top_internal)] =
            static_cast<std::int32_t>(base) + position[it.source];
        continue;
      }
      const bool leaf = tree.left[it.source] < 0;
      if (!leaf) {
        top_feature_flags_[top_base + it.slot] = node_flags(tree, it.source);
        top_threshold_[top_base + it.slot] = node_threshold(tree, t, it.source, config.split_rule);
      }
      stack.push_back({leaf ? it.source : tree.left[it.source], 2 * it.slot + 1, it.level + 1});
      stack.push_back({leaf ? it.source : tree.right[it.source], 2 * it.slot + 2, it.level + 1});
    }
  }
}

}  // namespace portml::bdt

// QuickScorer, whose tables the constructor above builds (after Forest: it reads a Forest).
#include <portml/bdt/detail/quickscorer.hpp>
