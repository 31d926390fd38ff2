// SPDX-License-Identifier: Apache-2.0
// LightGBM text models -> bdt::ForestConfig.
// Categorical splits (decision_type bit 0, v4 models) are expanded at load time into exact numeric
// subtrees (category_bounds, then categorical_expansion.hpp, shared with the XGBoost loader): the forest
// then has only numeric nodes, so every evaluation path runs them, at the price of copies of the
// subtrees below a categorical split.
#include <portml/io/error.hpp>
#include <portml/io/forest_loaders.hpp>
#include <portml/io/format.hpp>

#include "categorical_expansion.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace portml::io {

namespace {

//! LightGBM's kZeroThreshold (a float constant compared in double).
constexpr double zero_threshold = static_cast<double>(bdt::zero_missing_threshold);

//! key=value lines of one section (the header or one Tree=i block), with the line of each key.
struct Section {
  std::map<std::string, std::string, std::less<>> values;
  std::map<std::string, std::size_t, std::less<>> lines;
  std::size_t first_line = 0;
};

class Reader {
 public:
  explicit Reader(std::string name) : name_(std::move(name)) {}

  [[noreturn]] void fail(const std::string& where, const std::string& message) const {
    throw FormatError(name_, where, message);
  }

  const std::string& name() const { return name_; }

  const std::string& value(const Section& s, const char* key, const std::string& where) const {
    const auto it = s.values.find(key);
    if (it == s.values.end()) fail(where, std::string("missing \"") + key + "=\"");
    return it->second;
  }

  template <class T>
  T number(std::string_view text, const std::string& where, const char* key) const {
    T v{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size()) {
      fail(where, std::string(key) + ": not a number: \"" + std::string(text) + "\"");
    }
    return v;
  }

  template <class T>
  std::vector<T> numbers(const Section& s, const char* key, const std::string& where, std::size_t expected) const {
    std::vector<T> out;
    std::string_view text = value(s, key, where);
    while (!text.empty()) {
      const std::size_t space = text.find(' ');
      const std::string_view item = text.substr(0, space);
      if (!item.empty()) out.push_back(number<T>(item, where, key));
      if (space == std::string_view::npos) break;
      text.remove_prefix(space + 1);
    }
    if (out.size() != expected) {
      fail(where,
           std::string(key) + ": " + std::to_string(out.size()) + " values, expected " + std::to_string(expected));
    }
    return out;
  }

 private:
  std::string name_;
};

std::vector<Section> split_sections(std::string_view text) {
  std::vector<Section> sections(1);
  std::size_t line_no = 0;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line == "end of trees") break;
    const std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string key(line.substr(0, eq));
    if (key == "Tree") {
      sections.emplace_back();
      sections.back().first_line = line_no;
    }
    sections.back().values[key] = std::string(line.substr(eq + 1));
    sections.back().lines[key] = line_no;
  }
  return sections;
}

struct ObjectiveInfo {
  bdt::OutputTransform transform = bdt::OutputTransform::identity;
  double scale = 1.0;
};

ObjectiveInfo objective_info(const Reader& rd, const std::string& objective) {
  // "binary sigmoid:1", "multiclass num_class:3", "multiclassova num_class:3 sigmoid:1", "regression", ...
  const std::string name = objective.substr(0, objective.find(' '));
  double sigmoid = 1.0;
  const std::size_t at = objective.find("sigmoid:");
  if (at != std::string::npos) {
    const std::string_view v = std::string_view(objective).substr(at + 8);
    sigmoid = rd.number<double>(v.substr(0, v.find(' ')), "objective", "sigmoid");
  }
  if (name == "binary" || name == "multiclassova") return {bdt::OutputTransform::logistic, sigmoid};
  if (name == "cross_entropy" || name == "xentropy") return {bdt::OutputTransform::logistic, 1.0};
  if (name == "multiclass" || name == "softmax") return {bdt::OutputTransform::softmax, 1.0};
  if (name == "poisson" || name == "gamma" || name == "tweedie") return {bdt::OutputTransform::exponential, 1.0};
  if (name == "regression" || name == "regression_l1" || name == "huber" || name == "fair" || name == "quantile" ||
      name == "mape" || name == "lambdarank" || name == "rank_xendcg" || name == "custom") {
    return {bdt::OutputTransform::identity, 1.0};
  }
  rd.fail("objective", "objective \"" + objective + "\" is not supported");
}

std::string feature_label(const bdt::ForestConfig& config, std::int32_t feature) {
  std::string s = "feature " + std::to_string(feature);
  if (feature >= 0 && static_cast<std::size_t>(feature) < config.feature_names.size()) {
    s += " ('" + config.feature_names[static_cast<std::size_t>(feature)] + "')";
  }
  return s;
}

//! Bitset words of one categorical split (categories below 32 * this).
constexpr std::size_t max_category_words = std::size_t(1) << 16;

//! The numeric tests equivalent to one categorical split, as LightGBM v4 decides it (Tree::
//! CategoricalDecision): x goes left iff it is not NaN, c = int(x) >= 0 (truncation) and bit c of
//! the split's bitset is set. For float inputs that is "x in the union of intervals": category 0 is
//! (-1, 1), category c >= 1 is [c, c + 1); runs of consecutive categories merge. `bounds` holds the
//! interval ends as `x <= t` thresholds in increasing order, alternately the lower (x <= t: below)
//! and upper (x <= t: inside) end of each interval: segment k of the real line (between bounds k-1
//! and k) is inside iff k is odd. The last segment (above every bound) and NaN go right.
std::vector<double> category_bounds(const std::vector<std::uint32_t>& words) {
  std::vector<double> bounds;
  const std::int64_t n = std::int64_t(words.size()) * 32;
  const auto in_set = [&](std::int64_t c) { return c < n && ((words[std::size_t(c / 32)] >> (c % 32)) & 1u) != 0; };
  for (std::int64_t c = 0; c < n; ++c) {
    if (!in_set(c)) continue;
    std::int64_t last = c;
    while (in_set(last + 1)) ++last;
    // lower end: x > -1 for category 0 (int(x) == 0 on (-1, 1)), else x >= c
    bounds.push_back(c == 0 ? -1.0 : std::nextafter(double(c), -std::numeric_limits<double>::infinity()));
    // upper end: x < last + 1
    bounds.push_back(std::nextafter(double(last + 1), -std::numeric_limits<double>::infinity()));
    c = last;
  }
  return bounds;
}

bdt::TreeConfig read_tree(const Reader& rd, const Section& s, const bdt::ForestConfig& config, bool v4,
                          std::size_t* expansion_budget) {
  const std::string where = "Tree=" + rd.value(s, "Tree", "line " + std::to_string(s.first_line)) + " (line " +
                            std::to_string(s.first_line) + ")";
  const auto num_leaves = rd.number<std::int32_t>(rd.value(s, "num_leaves", where), where, "num_leaves");
  if (num_leaves < 1) rd.fail(where, "num_leaves must be at least 1");
  if (s.values.contains("is_linear") && rd.value(s, "is_linear", where) != "0") {
    rd.fail(where, "linear trees (is_linear=1) are not supported");
  }
  const std::vector<double> leaf_value = rd.numbers<double>(s, "leaf_value", where, std::size_t(num_leaves));
  const std::size_t internal = std::size_t(num_leaves) - 1;
  bdt::TreeConfig tree;
  const std::size_t n = internal + std::size_t(num_leaves);
  if (internal == 0) {
    tree.left.assign(1, -1);
    tree.right.assign(1, -1);
    tree.feature.assign(1, 0);
    tree.threshold.assign(1, 0.0);
    tree.nan_left.assign(1, 0);
    tree.value.assign(1, leaf_value[0]);
    return tree;
  }

  const auto feature = rd.numbers<std::int32_t>(s, "split_feature", where, internal);
  const auto threshold = rd.numbers<double>(s, "threshold", where, internal);
  const auto decision = rd.numbers<std::int32_t>(s, "decision_type", where, internal);
  const auto left = rd.numbers<std::int32_t>(s, "left_child", where, internal);
  const auto right = rd.numbers<std::int32_t>(s, "right_child", where, internal);
  const auto child = [&](std::int32_t c, std::size_t i) {
    // >= 0: internal node; < 0: leaf ~c. Here: node index, leaves after the internal nodes.
    const std::int64_t node = c >= 0 ? c : std::int64_t(internal) + ~std::int64_t(c);
    if (node < 0 || node >= std::int64_t(n)) rd.fail(where + ", node " + std::to_string(i), "child out of range");
    return static_cast<std::int32_t>(node);
  };

  // Categorical splits: their bitsets (cat_boundaries / cat_threshold, indexed by the threshold).
  bool any_categorical = false;
  for (std::size_t i = 0; i < internal; ++i) any_categorical = any_categorical || (decision[i] & 1) != 0;
  std::vector<std::int64_t> cat_boundaries;
  std::vector<std::uint32_t> cat_words;
  if (any_categorical) {
    const auto num_cat = rd.number<std::int32_t>(rd.value(s, "num_cat", where), where, "num_cat");
    if (num_cat < 1 || std::size_t(num_cat) > internal) rd.fail(where, "num_cat out of range");
    cat_boundaries = rd.numbers<std::int64_t>(s, "cat_boundaries", where, std::size_t(num_cat) + 1);
    if (cat_boundaries.front() != 0) rd.fail(where, "cat_boundaries must start at 0");
    for (std::size_t k = 0; k + 1 < cat_boundaries.size(); ++k) {
      if (cat_boundaries[k + 1] < cat_boundaries[k] ||
          std::size_t(cat_boundaries[k + 1] - cat_boundaries[k]) > max_category_words) {
        rd.fail(where, "cat_boundaries must increase by at most " + std::to_string(max_category_words) + " words");
      }
    }
    cat_words = rd.numbers<std::uint32_t>(s, "cat_threshold", where, std::size_t(cat_boundaries.back()));
  }

  // The tree as LightGBM stores it: nodes 0..internal-1, then leaf j at internal + j.
  std::vector<detail::SourceNode> nodes(n);
  bool any_zero_missing = false;
  for (std::size_t j = 0; j < std::size_t(num_leaves); ++j) nodes[internal + j].value = leaf_value[j];
  for (std::size_t i = 0; i < internal; ++i) {
    const std::string node = where + ", node " + std::to_string(i);
    if (feature[i] < 0 || feature[i] >= config.num_features) {
      rd.fail(node, "split feature " + std::to_string(feature[i]) + " out of range");
    }
    detail::SourceNode& sp = nodes[i];
    sp.feature = feature[i];
    sp.left = child(left[i], i);
    sp.right = child(right[i], i);
    if ((decision[i] & 1) != 0) {
      if (!v4) {
        rd.fail(node, "categorical split on " + feature_label(config, feature[i]) +
                          " in a model older than version v4 (whose NaN rule differs) is not supported");
      }
      const double t = threshold[i];
      if (!(t >= 0) || t != std::floor(t) || t + 1 >= double(cat_boundaries.size())) {
        rd.fail(node, "categorical split on " + feature_label(config, feature[i]) + ": bitset index " +
                          std::to_string(t) + " out of range");
      }
      const auto k = static_cast<std::size_t>(t);
      // the set goes left; NaN goes right at every test, into the last segment, which is outside
      sp.categorical = true;
      sp.bounds = category_bounds(
          std::vector<std::uint32_t>(cat_words.begin() + cat_boundaries[k], cat_words.begin() + cat_boundaries[k + 1]));
      sp.inside_left = true;
      sp.nan_segment = sp.bounds.size();
      continue;
    }
    const bool default_left = (decision[i] & 2) != 0;
    const int missing_type = (decision[i] >> 2) & 3;
    const double t = threshold[i];
    sp.threshold = t;
    sp.nan_left = default_left;
    if (missing_type == 0) {
      sp.nan_left = 0.0 <= t;  // None: a NaN is compared as 0.0
    } else if (missing_type == 1) {
      // Zero: NaN and |x| <= kZeroThreshold take the default direction. A plain compare does the same
      // when every value of that zero range compares into the default direction anyway; otherwise
      // the node is marked zero-as-missing.
      sp.zero_missing = !(default_left ? zero_threshold <= t : -zero_threshold > t);
      any_zero_missing = any_zero_missing || sp.zero_missing;
    } else if (missing_type != 2) {
      rd.fail(node, "unknown missing type " + std::to_string(missing_type));
    }
  }
  return detail::expand_categorical_splits(nodes, any_zero_missing, rd.name(), where, expansion_budget);
}

}  // namespace

bdt::ForestConfig parse_lightgbm_text(std::string_view text, const std::string& name) {
  Reader rd(name);
  const std::vector<Section> sections = split_sections(text);
  const Section& header = sections.front();
  if (!header.values.contains("version") || !header.values.contains("max_feature_idx")) {
    rd.fail("header", "not a LightGBM text model (no version= / max_feature_idx= line)");
  }
  if (header.values.contains("average_output")) {
    rd.fail("header", "random-forest mode (average_output) is not supported");
  }
  bdt::ForestConfig config;
  config.source = "lightgbm " + rd.value(header, "version", "header");
  config.split_rule = bdt::SplitRule::left_if_less_equal;
  config.precision = bdt::Precision::float64;
  config.num_features =
      rd.number<std::int32_t>(rd.value(header, "max_feature_idx", "header"), "header", "max_feature_idx") + 1;
  const auto per_iteration =
      rd.number<std::int32_t>(rd.value(header, "num_tree_per_iteration", "header"), "header", "num_tree_per_iteration");
  if (per_iteration < 1) rd.fail("header", "num_tree_per_iteration must be at least 1");
  config.num_outputs = per_iteration;
  config.base_margin.assign(std::size_t(per_iteration), 0.0);  // boost_from_average is in the first trees
  config.objective = header.values.contains("objective") ? rd.value(header, "objective", "header") : "regression";
  const ObjectiveInfo info = objective_info(rd, config.objective);
  config.transform = info.transform;
  config.transform_scale = info.scale;
  if (header.values.contains("feature_names")) {
    std::string_view names = rd.value(header, "feature_names", "header");
    while (!names.empty()) {
      const std::size_t space = names.find(' ');
      if (space != 0) config.feature_names.emplace_back(names.substr(0, space));
      if (space == std::string_view::npos) break;
      names.remove_prefix(space + 1);
    }
    if (config.feature_names.size() != std::size_t(config.num_features)) {
      rd.fail("header", std::to_string(config.feature_names.size()) + " feature names for " +
                            std::to_string(config.num_features) + " features");
    }
  }
  const bool v4 = rd.value(header, "version", "header") == "v4";
  std::size_t expansion_budget = detail::max_expansion_nodes;
  for (std::size_t s = 1; s < sections.size(); ++s) {
    bdt::TreeConfig tree = read_tree(rd, sections[s], config, v4, &expansion_budget);
    tree.output = static_cast<std::int32_t>((s - 1) % std::size_t(per_iteration));
    config.trees.push_back(std::move(tree));
  }
  if (config.trees.empty()) rd.fail("", "no trees");
  return config;
}

bdt::ForestConfig load_lightgbm_text(const std::string& path) { return parse_lightgbm_text(read_file(path), path); }

}  // namespace portml::io
