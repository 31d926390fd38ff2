// SPDX-License-Identifier: Apache-2.0
// The lines of docs/errors.md on forest loaders that name an unsupported feature and the place in the
// file: an XGBoost categorical split that portml cannot represent (tree and node: no categories,
// categories outside XGBoost's valid range, category arrays that do not fit), XGBoost node arrays of
// different lengths (the tree), a LightGBM categorical split in a model older than v4 (tree and node).
// Each case is a committed fixture changed in exactly that property.
#include <gtest/gtest.h>

#include <string>

#include <portml/io/error.hpp>
#include <portml/io/forest_loaders.hpp>
#include <portml/io/format.hpp>

namespace portml::io {
namespace {

std::string fixture(const std::string& name) { return read_file(PORTML_TEST_DATA "/bdt/" + name); }

//! `text` with its first `from` replaced by `to` (which must be there).
std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const FormatError& e) {
    return e.what();
  }
  return "no FormatError";
}

//! The FormatError message of an XGBoost JSON text read as "stump.json".
std::string xgboost_error(const std::string& text) {
  return error_of([&] { (void)parse_xgboost_json(text, "stump.json"); });
}

//! The stump fixture (one split on feature 5, NaN right) with its split made categorical: split_type
//! and the four category arrays replaced.
std::string categorical_stump(const std::string& split_type, const std::string& categories, const std::string& nodes,
                              const std::string& segments, const std::string& sizes) {
  std::string text = fixture("xgb1_stump.json");
  text = replaced(text, "\"split_type\":[0,0,0]", "\"split_type\":" + split_type);
  text = replaced(text, "\"categories\":[]", "\"categories\":" + categories);
  text = replaced(text, "\"categories_nodes\":[]", "\"categories_nodes\":" + nodes);
  text = replaced(text, "\"categories_segments\":[]", "\"categories_segments\":" + segments);
  return replaced(text, "\"categories_sizes\":[]", "\"categories_sizes\":" + sizes);
}

TEST(ForestLoaderErrors, XGBoostCategoricalSplitNamesTreeNodeAndFeature) {
  const std::string stump = fixture("xgb1_stump.json");
  ASSERT_NO_THROW((void)parse_xgboost_json(stump, "stump.json"));
  ASSERT_NO_THROW((void)parse_xgboost_json(categorical_stump("[1,0,0]", "[3]", "[0]", "[0]", "[1]"), "stump.json"));
  EXPECT_EQ(xgboost_error(categorical_stump("[1,0,0]", "[]", "[]", "[]", "[]")),
            "stump.json: tree 0, node 0: categorical split on feature 5 without categories");
  EXPECT_EQ(xgboost_error(categorical_stump("[1,0,0]", "[3,-1]", "[0]", "[0]", "[2]")),
            "stump.json: tree 0, node 0: categorical split on feature 5: category -1 outside [0, 16777216)");
  EXPECT_EQ(xgboost_error(categorical_stump("[1,0,0]", "[16777216]", "[0]", "[0]", "[1]")),
            "stump.json: tree 0, node 0: categorical split on feature 5: category 16777216 outside [0, 16777216)");
  EXPECT_EQ(xgboost_error(categorical_stump("[1,0,0]", "[3]", "[0]", "[0]", "[0]")),
            "stump.json: tree 0, node 0: categorical split on feature 5 has no categories");
  EXPECT_EQ(xgboost_error(categorical_stump("[1,0,0]", "[3,4]", "[0]", "[1]", "[2]")),
            "stump.json: tree 0, node 0: categories_segments / categories_sizes out of range");
  EXPECT_EQ(xgboost_error(categorical_stump("[1,0,0]", "[3,4]", "[0,0]", "[0,1]", "[1,1]")),
            "stump.json: tree 0, node 0: categories listed twice");
  EXPECT_EQ(xgboost_error(categorical_stump("[1,0,0]", "[3]", "[0,0]", "[0,0]", "[1,1]")),
            "stump.json: tree 0: categories_sizes add up to more than the 1 categories");
  EXPECT_EQ(xgboost_error(categorical_stump("[1,0,0]", "[3]", "[1]", "[0]", "[1]")),
            "stump.json: tree 0: categories_nodes[0] = 1 is not a categorical split");
  EXPECT_EQ(xgboost_error(categorical_stump("[1,0,0]", "[3]", "[0]", "[0,0]", "[1]")),
            "stump.json: tree 0: categories_nodes, categories_segments and categories_sizes of different lengths");
  EXPECT_EQ(xgboost_error(categorical_stump("[2,0,0]", "[3]", "[0]", "[0]", "[1]")),
            "stump.json: tree 0, node 0: unknown split type 2");
  // XGBoost 1.x writes the unused split condition of a categorical node as NaN; on a numeric node it is an error
  EXPECT_EQ(xgboost_error(replaced(stump, "\"split_conditions\":[-1.282504E-1,", "\"split_conditions\":[NaN,")),
            "stump.json: tree 0, node 0: split condition is not a number");
  EXPECT_EQ(xgboost_error(replaced(stump, "\"default_left\":[0,0,0]", "\"default_left\":[0,0]")),
            "stump.json: tree 0: node arrays of different lengths");
}

//! Integer arrays holding numbers outside the index type (a fuzzer's 8.88889e+105 reached an undefined
//! float-to-int conversion) or fractions: a FormatError naming the array; integral floats are read.
TEST(ForestLoaderErrors, XGBoostIntegerArraysOutOfRange) {
  const std::string stump = fixture("xgb1_stump.json");
  ASSERT_NO_THROW((void)parse_xgboost_json(
      replaced(stump, "\"left_children\":[1,-1,-1]", "\"left_children\":[1.0,-1,-1e0]"), "stump.json"));
  EXPECT_EQ(xgboost_error(replaced(stump, "\"left_children\":[1,-1,-1]", "\"left_children\":[8.88889e+105,-1,-1]")),
            "stump.json: tree 0: \"left_children\" holds 8.88889e+105, not an integer in [-2147483648, 2147483647]");
  EXPECT_EQ(xgboost_error(replaced(stump, "\"split_indices\":[5,0,0]", "\"split_indices\":[5.5,0,0]")),
            "stump.json: tree 0: \"split_indices\" holds 5.5, not an integer in [-2147483648, 2147483647]");
  EXPECT_EQ(xgboost_error(replaced(stump, "\"split_indices\":[5,0,0]", "\"split_indices\":[4294967296,0,0]")),
            "stump.json: tree 0: \"split_indices\" holds 4294967296, not an integer in [-2147483648, 2147483647]");
  EXPECT_EQ(xgboost_error(categorical_stump("[1,0,0]", "[1e300]", "[0]", "[0]", "[1]")),
            "stump.json: tree 0: \"categories\" holds 1e+300, not an integer in [-9223372036854775808, "
            "9223372036854775807]");
  // A version entry that is not an integer is kept as written, never converted.
  ASSERT_NO_THROW(
      (void)parse_xgboost_json(replaced(stump, "\"version\":[1,7,4]", "\"version\":[1,7,1e300]"), "stump.json"));
}

//! Fields that XGBoost writes as strings, given as other types: a FormatError naming the field, never
//! the JSON library's own exception (a fuzzer found this; test/fuzz/corpus/fuzz_xgboost_*/regression-*).
TEST(ForestLoaderErrors, XGBoostStringFieldsOfAnotherTypeAreNamed) {
  const std::string stump = fixture("xgb1_stump.json");
  EXPECT_EQ(xgboost_error(replaced(stump, "\"name\":\"gbtree\"", "\"name\":5")),
            "stump.json: learner.gradient_booster.name: expected a string, got number");
  EXPECT_EQ(xgboost_error(replaced(stump, "\"name\":\"reg:squarederror\"", "\"name\":[]")),
            "stump.json: learner.objective.name: expected a string, got array");
  EXPECT_EQ(xgboost_error(replaced(stump, "\"base_score\":\"5E-1\"", "\"base_score\":0.5")),
            "stump.json: learner_model_param.base_score: expected a string, got number");
  EXPECT_EQ(xgboost_error(replaced(stump, "\"feature_names\":[]", "\"feature_names\":[\"a\",null]")),
            "stump.json: learner.feature_names[1]: expected a string, got null");
}

TEST(ForestLoaderErrors, LightGBMCategoricalSplitBeforeV4IsNamed) {
  const std::string v4 = fixture("lgb_categorical.txt");
  ASSERT_NO_THROW((void)parse_lightgbm_text(v4, "cat.txt"));
  const std::string message =
      error_of([&] { (void)parse_lightgbm_text(replaced(v4, "version=v4", "version=v3"), "cat.txt"); });
  EXPECT_EQ(message.rfind("cat.txt: Tree=0", 0), 0u) << message;
  EXPECT_NE(message.find("node 0: categorical split on"), std::string::npos) << message;
  EXPECT_NE(message.find("in a model older than version v4 (whose NaN rule differs) is not supported"),
            std::string::npos)
      << message;
}

}  // namespace
}  // namespace portml::io
