// SPDX-License-Identifier: Apache-2.0
// XGBoost JSON models -> bdt::ForestConfig.
// Categorical splits (split_type 1) are expanded at load time into exact numeric subtrees
// (category_bounds, then categorical_expansion.hpp, shared with the LightGBM loader).
#include <portml/io/error.hpp>
#include <portml/io/forest_loaders.hpp>
#include <portml/io/format.hpp>

#include <nlohmann/json.hpp>

#include "categorical_expansion.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace portml::io {

namespace {

using Json = nlohmann::json;

//! Builds a DOM like nlohmann's own parser, except that every non-integer number is read as float32
//! from its text (std::from_chars) and stored as that float's exact double. XGBoost writes float32
//! values as their shortest decimal form; reading it as double and then rounding to float could round
//! twice, so the text is rounded to float once, as XGBoost reads it.
class Float32DomBuilder {
 public:
  explicit Float32DomBuilder(Json& root) : root_(root) {}

  bool null() { return add(Json(nullptr)); }
  bool boolean(bool b) { return add(Json(b)); }
  bool number_integer(Json::number_integer_t v) { return add(Json(v)); }
  bool number_unsigned(Json::number_unsigned_t v) { return add(Json(v)); }
  bool number_float(Json::number_float_t v, const std::string& text) {
    float f = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), f);
    if (ec == std::errc() && end == text.data() + text.size()) return add(Json(static_cast<double>(f)));
    return add(Json(v));  // out of float range: keep the double, the loader rejects it if it matters
  }
  bool string(std::string& s) { return add(Json(std::move(s))); }
  bool binary(Json::binary_t& b) { return add(Json::binary(std::move(b))); }
  bool start_object(std::size_t) { return open(Json::object()); }
  bool key(std::string& k) {
    key_ = std::move(k);
    return true;
  }
  bool end_object() { return close(); }
  bool start_array(std::size_t) { return open(Json::array()); }
  bool end_array() { return close(); }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) {
    error_ = "byte " + std::to_string(position) + ": " + e.what();
    return false;
  }
  const std::string& error() const { return error_; }

 private:
  Json* place(Json&& v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    Json& parent = *stack_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(v));
      return &parent.back();
    }
    Json& slot = parent[key_];
    slot = std::move(v);
    return &slot;
  }
  bool add(Json&& v) {
    place(std::move(v));
    return true;
  }
  bool open(Json&& v) {
    stack_.push_back(place(std::move(v)));
    return true;
  }
  bool close() {
    stack_.pop_back();
    return true;
  }

  Json& root_;
  std::vector<Json*> stack_;
  std::string key_;
  std::string error_;
};

class Reader {
 public:
  explicit Reader(std::string name) : name_(std::move(name)) {}

  [[noreturn]] void fail(const std::string& where, const std::string& message) const {
    throw FormatError(name_, where, message);
  }

  const Json& member(const Json& j, const char* key, const std::string& where) const {
    if (!j.is_object() || !j.contains(key)) fail(where, std::string("missing \"") + key + "\"");
    return j.at(key);
  }

  std::string string(const Json& j, const std::string& where) const {
    if (!j.is_string()) fail(where, std::string("expected a string, got ") + j.type_name());
    return j.get<std::string>();
  }

  //! An integer written as a JSON number or as a string ("3"), as XGBoost does for model parameters.
  std::int64_t integer(const Json& j, const std::string& where) const {
    if (j.is_number_integer()) return j.get<std::int64_t>();
    if (j.is_string()) {
      const std::string s = j.get<std::string>();
      std::int64_t v = 0;
      const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec == std::errc() && end == s.data() + s.size()) return v;
    }
    fail(where, "expected an integer, got " + text(j));
  }

  //! An entry of an integer array as T: a JSON integer in T's range, or a number with an integral value
  //! in that range (never a cast of an out-of-range value, which would be undefined behaviour).
  template <class T>
  T integer_entry(const Json& v, const char* key, const std::string& where) const {
    constexpr auto lo = static_cast<double>(std::numeric_limits<T>::min());
    constexpr auto hi = static_cast<double>(std::numeric_limits<T>::max());
    if (v.is_number_unsigned()) {
      const std::uint64_t u = v.get<std::uint64_t>();
      if (u <= static_cast<std::uint64_t>(std::numeric_limits<T>::max())) return static_cast<T>(u);
    } else if (v.is_number_integer()) {
      const std::int64_t i = v.get<std::int64_t>();
      if (i >= std::numeric_limits<T>::min() && i <= std::numeric_limits<T>::max()) return static_cast<T>(i);
    } else {
      // T's max converts to hi rounded up for 64-bit T, so the upper bound is exclusive there.
      const double d = v.get<double>();
      if (std::isfinite(d) && d == std::trunc(d) && d >= lo && (sizeof(T) < 8 ? d <= hi : d < hi)) {
        return static_cast<T>(d);
      }
    }
    fail(where, std::string("\"") + key + "\" holds " + text(v) + ", not an integer in [" +
                    std::to_string(std::numeric_limits<T>::min()) + ", " +
                    std::to_string(std::numeric_limits<T>::max()) + "]");
  }

  //! `null_as_nan`: a null (a NaN in the text, see nan_literals_as_null) is read as NaN.
  template <class T>
  std::vector<T> numbers(const Json& tree, const char* key, const std::string& where, bool null_as_nan = false) const {
    const Json& a = member(tree, key, where);
    if (!a.is_array()) fail(where, std::string("\"") + key + "\" is not an array");
    std::vector<T> out;
    out.reserve(a.size());
    for (const Json& v : a) {
      if constexpr (std::is_same_v<T, double>) {
        if (null_as_nan && v.is_null()) {
          out.push_back(std::numeric_limits<double>::quiet_NaN());
          continue;
        }
      }
      if (!v.is_number() && !v.is_boolean()) fail(where, std::string("\"") + key + "\" holds a non-number");
      if constexpr (std::is_same_v<T, double>) {
        out.push_back(v.is_boolean() ? (v.get<bool>() ? 1.0 : 0.0) : v.get<double>());
      } else {
        out.push_back(v.is_boolean() ? T(v.get<bool>()) : integer_entry<T>(v, key, where));
      }
    }
    return out;
  }

  const std::string& name() const { return name_; }

  //! `j` as JSON text for a message: a UBJSON string may hold bytes that are not UTF-8, which nlohmann's
  //! default dump refuses with an exception; they are shown as U+FFFD instead.
  static std::string text(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

 private:
  std::string name_;
};

//! The floats of XGBoost's base_score: "5E-1" (<= 3.0) or "[5E-1,4E-1]" (>= 3.1), read as float32.
std::vector<float> parse_base_score(const Reader& rd, const std::string& text) {
  std::string_view s = text;
  if (!s.empty() && s.front() == '[') {
    if (s.back() != ']') rd.fail("learner_model_param.base_score", "malformed list \"" + text + "\"");
    s = s.substr(1, s.size() - 2);
  }
  std::vector<float> values;
  while (!s.empty()) {
    const std::size_t comma = s.find(',');
    std::string_view item = s.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    float v = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (ec != std::errc() || end != item.data() + item.size()) {
      rd.fail("learner_model_param.base_score", "not a number: \"" + std::string(item) + "\"");
    }
    values.push_back(v);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  if (values.empty()) rd.fail("learner_model_param.base_score", "empty");
  return values;
}

enum class Link { identity, logit, log };

struct ObjectiveInfo {
  Link link = Link::identity;  // XGBoost's ProbToMargin for base_score
  bdt::OutputTransform transform = bdt::OutputTransform::identity;
};

ObjectiveInfo objective_info(const Reader& rd, const std::string& objective) {
  const auto starts = [&](const char* prefix) { return objective.rfind(prefix, 0) == 0; };
  if (objective == "binary:logistic" || objective == "reg:logistic")
    return {Link::logit, bdt::OutputTransform::logistic};
  // binary:logitraw: XGBoost 1.7 and 3.x both add base_score unconverted (checked on the fixtures).
  if (objective == "binary:logitraw") return {Link::identity, bdt::OutputTransform::identity};
  if (objective == "count:poisson" || objective == "reg:gamma" || objective == "reg:tweedie") {
    return {Link::log, bdt::OutputTransform::exponential};
  }
  if (objective == "multi:softprob") return {Link::identity, bdt::OutputTransform::softmax};
  if (objective == "multi:softmax") return {Link::identity, bdt::OutputTransform::argmax};
  if (objective == "reg:squarederror" || objective == "reg:linear" || objective == "reg:squaredlogerror" ||
      objective == "reg:pseudohubererror" || objective == "reg:absoluteerror" || objective == "reg:quantileerror" ||
      objective == "binary:hinge" || starts("rank:")) {
    return {Link::identity, bdt::OutputTransform::identity};  // rank:* are scores: the margin is the output
  }
  rd.fail("learner.objective", "objective \"" + objective + "\" is not supported");
}

//! XGBoost's ProbToMargin, computed in float as XGBoost does.
float to_margin(Link link, float base_score) {
  switch (link) {
    case Link::logit:
      return -std::log(1.0f / base_score - 1.0f);
    case Link::log:
      return std::log(base_score);
    default:
      return base_score;
  }
}

//! XGBoost's categorical decision (common::Decision, called from GetNextNode in predict_fn.h) as
//! `x < t` bounds for the categorical expansion. A non-NaN x goes right iff 0 <= x < 2^24 and int(x)
//! (truncation) is one of the node's categories; negatives, values from 2^24 on and categories not
//! listed go left. For a float x, category c is the interval [c, c + 1) (-0 is category 0: -0 < 0 is
//! false), and runs of consecutive categories merge. `categories`: sorted, distinct, in [0, 2^24).
//! The bounds alternate between the lower end of an interval (x < c: below, outside) and its upper
//! end (x < last + 1: inside), so odd segments are the listed categories.
std::vector<double> category_bounds(const std::vector<std::int64_t>& categories) {
  std::vector<double> bounds;
  for (std::size_t i = 0; i < categories.size(); ++i) {
    std::size_t last = i;
    while (last + 1 < categories.size() && categories[last + 1] == categories[last] + 1) ++last;
    bounds.push_back(double(categories[i]));
    bounds.push_back(double(categories[last] + 1));
    i = last;
  }
  return bounds;
}

//! XGBoost's bound on category values (common::OutOfRangeCat): a value from it on is invalid.
constexpr std::int64_t category_limit = std::int64_t(1) << 24;

//! The categories of each categorical node of `tree` (categories, categories_nodes,
//! categories_segments, categories_sizes), sorted and distinct; empty for the other nodes.
std::vector<std::vector<std::int64_t>> read_categories(const Reader& rd, const Json& tree, const std::string& where,
                                                       const std::vector<std::int32_t>& split_type,
                                                       const bdt::TreeConfig& out) {
  const auto categories = rd.numbers<std::int64_t>(tree, "categories", where);
  const auto cat_nodes = rd.numbers<std::int64_t>(tree, "categories_nodes", where);
  const auto segments = rd.numbers<std::int64_t>(tree, "categories_segments", where);
  const auto sizes = rd.numbers<std::int64_t>(tree, "categories_sizes", where);
  if (segments.size() != cat_nodes.size() || sizes.size() != cat_nodes.size()) {
    rd.fail(where, "categories_nodes, categories_segments and categories_sizes of different lengths");
  }
  // XGBoost's segments are disjoint: their sizes add up to at most the list (which also bounds the work
  // below by the file's size)
  std::uint64_t total = 0;
  for (const std::int64_t size : sizes) {
    if (size < 0 || (total += std::uint64_t(size)) > categories.size()) {
      rd.fail(where, "categories_sizes add up to more than the " + std::to_string(categories.size()) + " categories");
    }
  }
  const std::size_t n = out.left.size();
  std::vector<std::vector<std::int64_t>> node_categories(n);
  std::vector<char> listed(n, 0);
  for (std::size_t k = 0; k < cat_nodes.size(); ++k) {
    const std::int64_t i = cat_nodes[k];
    if (i < 0 || std::size_t(i) >= n || out.left[std::size_t(i)] < 0 || split_type[std::size_t(i)] != 1) {
      rd.fail(where,
              "categories_nodes[" + std::to_string(k) + "] = " + std::to_string(i) + " is not a categorical split");
    }
    const std::string node = where + ", node " + std::to_string(i);
    if (listed[std::size_t(i)]++ != 0) rd.fail(node, "categories listed twice");
    if (segments[k] < 0 || sizes[k] < 0 || std::uint64_t(segments[k]) > categories.size() ||
        std::uint64_t(sizes[k]) > categories.size() - std::uint64_t(segments[k])) {
      rd.fail(node, "categories_segments / categories_sizes out of range");
    }
    std::vector<std::int64_t> cats(categories.begin() + segments[k], categories.begin() + segments[k] + sizes[k]);
    const std::string label = "categorical split on feature " + std::to_string(out.feature[std::size_t(i)]);
    if (cats.empty()) rd.fail(node, label + " has no categories");
    for (const std::int64_t c : cats) {
      if (c < 0 || c >= category_limit) {
        rd.fail(node,
                label + ": category " + std::to_string(c) + " outside [0, " + std::to_string(category_limit) + ")");
      }
    }
    std::sort(cats.begin(), cats.end());
    cats.erase(std::unique(cats.begin(), cats.end()), cats.end());
    node_categories[std::size_t(i)] = std::move(cats);
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (out.left[i] >= 0 && split_type[i] == 1 && listed[i] == 0) {
      rd.fail(where + ", node " + std::to_string(i),
              "categorical split on feature " + std::to_string(out.feature[i]) + " without categories");
    }
  }
  return node_categories;
}

bdt::TreeConfig read_tree(const Reader& rd, const Json& tree, std::size_t t, std::int32_t num_features,
                          std::size_t* expansion_budget) {
  const std::string where = "tree " + std::to_string(t);
  bdt::TreeConfig out;
  out.left = rd.numbers<std::int32_t>(tree, "left_children", where);
  out.right = rd.numbers<std::int32_t>(tree, "right_children", where);
  out.feature = rd.numbers<std::int32_t>(tree, "split_indices", where);
  // A categorical node's split condition is unused: NaN (XGBoost 1.x writes it as NaN, read as null).
  const std::vector<double> conditions = rd.numbers<double>(tree, "split_conditions", where, /*null_as_nan=*/true);
  const std::vector<std::int32_t> default_left = rd.numbers<std::int32_t>(tree, "default_left", where);
  const std::size_t n = out.left.size();
  if (out.right.size() != n || out.feature.size() != n || conditions.size() != n || default_left.size() != n) {
    rd.fail(where, "node arrays of different lengths");
  }
  if (n == 0) rd.fail(where, "no nodes");
  std::vector<std::int32_t> split_type(n, 0);
  if (tree.contains("split_type")) {
    split_type = rd.numbers<std::int32_t>(tree, "split_type", where);
    if (split_type.size() != n) rd.fail(where, "node arrays of different lengths");
  }
  if (tree.contains("tree_param") && tree["tree_param"].contains("size_leaf_vector")) {
    const std::int64_t leaf_vector = rd.integer(tree["tree_param"]["size_leaf_vector"], where);
    if (leaf_vector > 1) rd.fail(where, "multi-target trees (vector leaves) are not supported");
  }
  bool any_categorical = false;
  for (std::size_t i = 0; i < n; ++i) {
    if (out.left[i] < 0) continue;
    if (split_type[i] != 0 && split_type[i] != 1) {
      rd.fail(where + ", node " + std::to_string(i), "unknown split type " + std::to_string(split_type[i]));
    }
    any_categorical = any_categorical || split_type[i] == 1;
  }
  std::vector<std::vector<std::int64_t>> node_categories;
  if (any_categorical) node_categories = read_categories(rd, tree, where, split_type, out);

  std::vector<detail::SourceNode> nodes(n);
  for (std::size_t i = 0; i < n; ++i) {
    detail::SourceNode& s = nodes[i];
    const std::string node = where + ", node " + std::to_string(i);
    if (out.left[i] < 0) {
      // a leaf's split_condition is its value (learning rate applied)
      if (!std::isfinite(conditions[i])) rd.fail(node, "leaf value is not a finite float");
      s.value = conditions[i];
      continue;
    }
    if (out.feature[i] < 0 || out.feature[i] >= num_features) {
      rd.fail(node,
              "split feature " + std::to_string(out.feature[i]) + " >= num_feature " + std::to_string(num_features));
    }
    s.left = out.left[i];
    s.right = out.right[i];
    s.feature = out.feature[i];
    s.nan_left = default_left[i] != 0;
    if (split_type[i] == 1) {
      // the listed categories go right; NaN takes the default child: segment 0 (below every
      // category, outside: left) or segment 1 (the first listed run: right)
      s.categorical = true;
      s.bounds = category_bounds(node_categories[i]);
      s.inside_left = false;
      s.nan_segment = s.nan_left ? 0 : 1;
      continue;
    }
    if (std::isnan(conditions[i])) rd.fail(node, "split condition is not a number");
    s.threshold = conditions[i];
  }
  return detail::expand_categorical_splits(nodes, /*zero_missing=*/false, rd.name(), where, expansion_budget);
}

//! The ForestConfig of a parsed XGBoost model document (JSON or UBJSON: the same schema).
bdt::ForestConfig config_from_document(const Json& doc, const std::string& name) {
  Reader rd(name);

  const Json& learner = rd.member(doc, "learner", "");
  const Json& param = rd.member(learner, "learner_model_param", "learner");
  const Json& booster = rd.member(learner, "gradient_booster", "learner");
  const std::string booster_name =
      rd.string(rd.member(booster, "name", "learner.gradient_booster"), "learner.gradient_booster.name");
  if (booster_name != "gbtree") {
    rd.fail("learner.gradient_booster", "booster \"" + booster_name + "\" is not supported (gbtree only)");
  }
  const Json& model = rd.member(booster, "model", "learner.gradient_booster");
  const std::string objective = rd.string(
      rd.member(rd.member(learner, "objective", "learner"), "name", "learner.objective"), "learner.objective.name");
  const ObjectiveInfo info = objective_info(rd, objective);

  bdt::ForestConfig config;
  config.source = "xgboost";
  if (doc.contains("version") && doc["version"].is_array()) {
    for (std::size_t i = 0; i < doc["version"].size(); ++i) {
      const Json& v = doc["version"][i];
      config.source +=
          (i == 0 ? " " : ".") + (v.is_number_integer() ? std::to_string(v.get<std::int64_t>()) : Reader::text(v));
    }
  }
  config.split_rule = bdt::SplitRule::left_if_less;
  config.precision = bdt::Precision::float32;
  config.objective = objective;
  config.transform = info.transform;
  config.num_features = static_cast<std::int32_t>(
      rd.integer(rd.member(param, "num_feature", "learner_model_param"), "learner_model_param.num_feature"));
  const std::int64_t num_class =
      param.contains("num_class") ? rd.integer(param["num_class"], "learner_model_param.num_class") : 0;
  const std::int64_t num_target =
      param.contains("num_target") ? rd.integer(param["num_target"], "learner_model_param.num_target") : 1;
  if (num_target > 1) rd.fail("learner_model_param.num_target", "multi-target models are not supported");
  config.num_outputs = static_cast<std::int32_t>(std::max<std::int64_t>(1, num_class));

  // base_score: one value for every output, or (XGBoost >= 3.1) a list with one per output.
  const std::string base_score_text =
      rd.string(rd.member(param, "base_score", "learner_model_param"), "learner_model_param.base_score");
  std::vector<float> base_score = parse_base_score(rd, base_score_text);
  if (base_score.size() == 1) base_score.resize(static_cast<std::size_t>(config.num_outputs), base_score[0]);
  if (base_score.size() != static_cast<std::size_t>(config.num_outputs)) {
    rd.fail("learner_model_param.base_score",
            std::to_string(base_score.size()) + " values for " + std::to_string(config.num_outputs) + " outputs");
  }
  for (const float b : base_score) config.base_margin.push_back(static_cast<double>(to_margin(info.link, b)));

  if (learner.contains("feature_names") && learner["feature_names"].is_array()) {
    for (const Json& f : learner["feature_names"]) {
      config.feature_names.push_back(
          rd.string(f, "learner.feature_names[" + std::to_string(config.feature_names.size()) + "]"));
    }
    if (!config.feature_names.empty() && config.feature_names.size() != static_cast<std::size_t>(config.num_features)) {
      rd.fail("learner.feature_names", std::to_string(config.feature_names.size()) + " names for " +
                                           std::to_string(config.num_features) + " features");
    }
  }

  const Json& trees = rd.member(model, "trees", "learner.gradient_booster.model");
  const std::vector<std::int32_t> tree_info = rd.numbers<std::int32_t>(model, "tree_info", "model");
  if (!trees.is_array() || tree_info.size() != trees.size()) {
    rd.fail("learner.gradient_booster.model", "tree_info does not match the trees");
  }
  std::size_t expansion_budget = detail::max_expansion_nodes;
  for (std::size_t t = 0; t < trees.size(); ++t) {
    bdt::TreeConfig tree = read_tree(rd, trees[t], t, config.num_features, &expansion_budget);
    if (tree_info[t] < 0 || tree_info[t] >= config.num_outputs) {
      rd.fail("tree " + std::to_string(t), "output group " + std::to_string(tree_info[t]) + " out of range");
    }
    tree.output = tree_info[t];
    config.trees.push_back(std::move(tree));
  }
  return config;
}

//! XGBoost 1.x writes a NaN float as the bare token NaN (the unused split condition of a categorical
//! node), which is not JSON. The text with each such token outside a string replaced by null, or an
//! empty string when there is none (the text is then parsed as it is).
std::string nan_literals_as_null(std::string_view text) {
  std::string out;
  bool in_string = false;
  std::size_t copied = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == 'N' && text.substr(i, 3) == "NaN") {
      out.append(text.substr(copied, i - copied));
      out.append("null");
      copied = i + 3;
      i += 2;
    }
  }
  if (copied == 0) return {};
  out.append(text.substr(copied));
  return out;
}

}  // namespace

bdt::ForestConfig parse_xgboost_json(std::string_view text, const std::string& name) {
  const std::string with_null = nan_literals_as_null(text);
  if (!with_null.empty()) text = with_null;
  Json doc;
  Float32DomBuilder builder(doc);
  if (!Json::sax_parse(text.begin(), text.end(), &builder)) {
    throw FormatError(name, "", "invalid JSON: " + builder.error());
  }
  return config_from_document(doc, name);
}

bdt::ForestConfig parse_xgboost_ubjson(std::string_view bytes, const std::string& name) {
  // UBJSON stores XGBoost's floats as binary float32 ('d'): read exactly, no decimal rounding involved.
  Json doc;
  try {
    doc = Json::from_ubjson(bytes.begin(), bytes.end());
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(name, "", std::string("invalid UBJSON: ") + e.what());
  }
  return config_from_document(doc, name);
}

bdt::ForestConfig load_xgboost_json(const std::string& path) { return parse_xgboost_json(read_file(path), path); }

bdt::ForestConfig load_xgboost_ubjson(const std::string& path) { return parse_xgboost_ubjson(read_file(path), path); }

}  // namespace portml::io
