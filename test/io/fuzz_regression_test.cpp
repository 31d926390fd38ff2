// SPDX-License-Identifier: Apache-2.0
// Every reproducer a fuzzer found (test/fuzz/corpus/<target>/regression-*) as a unit test: the reader
// must reject it with a FormatError, never crash, hang or throw anything else.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include <portml/io/error.hpp>
#include <portml/io/forest_loaders.hpp>
#include <portml/io/format.hpp>
#include <portml/io/lwtnn.hpp>
#include <portml/io/onnx.hpp>
#include <portml/io/table.hpp>
#include <portml/layers/mlp.hpp>

namespace portml::io {
namespace {

TEST(FuzzRegressions, EveryReproducerIsAFormatError) {
  const std::map<std::string, std::function<void(const std::string&)>> readers = {
      {"fuzz_npz", [](const std::string& bytes) { parse_npz(bytes, "r.npz"); }},
      {"fuzz_onnx", [](const std::string& bytes) { const layers::Mlp<float> m(parse_onnx(bytes, "r.onnx")); }},
      {"fuzz_lwtnn_json",
       [](const std::string& bytes) { const layers::Mlp<float> m(parse_lwtnn_json(bytes, "r.json")); }},
      {"fuzz_xgboost_json", [](const std::string& bytes) { (void)parse_xgboost_json(bytes, "r.json"); }},
      {"fuzz_xgboost_ubjson", [](const std::string& bytes) { (void)parse_xgboost_ubjson(bytes, "r.ubj"); }},
  };
  int checked = 0;
  for (const auto& dir : std::filesystem::directory_iterator(PORTML_TEST_DATA "/../fuzz/corpus")) {
    for (const auto& file : std::filesystem::directory_iterator(dir.path())) {
      if (file.path().filename().string().rfind("regression-", 0) != 0) continue;
      const std::string target = dir.path().filename().string();
      ASSERT_TRUE(readers.count(target)) << "no reader registered here for " << target;
      const std::string bytes = read_file(file.path().string());
      EXPECT_THROW(readers.at(target)(bytes), FormatError) << file.path();
      ++checked;
    }
  }
  EXPECT_GE(checked, 8);
}

}  // namespace
}  // namespace portml::io
