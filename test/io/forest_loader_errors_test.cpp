// SPDX-License-Identifier: Apache-2.0
// The lines of docs/errors.md on forest loaders that name an unsupported feature and the place in the
// file: an XGBoost categorical split (tree and node), XGBoost node arrays of different lengths (the
// tree), a LightGBM categorical split in a model older than v4 (tree and node). Each case is a
// committed fixture changed in exactly that property.
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

TEST(ForestLoaderErrors, XGBoostCategoricalSplitNamesTreeNodeAndFeature) {
  const std::string stump = fixture("xgb1_stump.json");
  ASSERT_NO_THROW((void)parse_xgboost_json(stump, "stump.json"));
  EXPECT_EQ(error_of([&] {
              (void)parse_xgboost_json(replaced(stump, "\"split_type\":[0,0,0]", "\"split_type\":[1,0,0]"),
                                       "stump.json");
            }),
            "stump.json: tree 0, node 0: categorical split on feature 5 is not supported");
  EXPECT_EQ(error_of([&] {
              (void)parse_xgboost_json(replaced(stump, "\"default_left\":[0,0,0]", "\"default_left\":[0,0]"),
                                       "stump.json");
            }),
            "stump.json: tree 0: node arrays of different lengths");
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
