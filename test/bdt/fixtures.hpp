// SPDX-License-Identifier: Apache-2.0
//! \file
//! The committed BDT fixtures (test/data/bdt, made by make_fixtures.py with the real trainers): each
//! has a model, input rows, and the trainer's own margins and predictions.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <portml/bdt/forest_config.hpp>
#include <portml/io/forest_loaders.hpp>

namespace portml::test {

inline std::string bdt_fixture_path(const std::string& file) { return std::string(PORTML_BDT_FIXTURES) + "/" + file; }

template <class T>
std::vector<T> read_binary(const std::string& file) {
  std::ifstream in(bdt_fixture_path(file), std::ios::binary | std::ios::ate);
  if (!in) throw std::runtime_error("cannot open fixture " + file);
  const auto bytes = static_cast<std::size_t>(in.tellg());
  std::vector<T> v(bytes / sizeof(T));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(T)));
  return v;
}

struct BdtFixture {
  std::string name, format, model, trainer, objective, precision;
  std::int64_t rows = 0, features = 0, outputs = 0, prediction_width = 0;
  bool has_margins = true;

  bdt::ForestConfig load() const {
    const std::string path = bdt_fixture_path(model);
    if (format == "xgboost-json") return io::load_xgboost_json(path);
    if (format == "tmva-xml") return io::load_tmva_xml(path);
    return io::load_lightgbm_text(path);
  }
  std::vector<float> inputs() const { return read_binary<float>(name + ".x.f32"); }
  template <class T>
  std::vector<T> margins() const {
    return read_binary<T>(name + (sizeof(T) == 4 ? ".margin.f32" : ".margin.f64"));
  }
  template <class T>
  std::vector<T> predictions() const {
    return read_binary<T>(name + (sizeof(T) == 4 ? ".pred.f32" : ".pred.f64"));
  }
};

//! Every fixture of the given format ("xgboost-json", "lightgbm-text").
inline std::vector<BdtFixture> bdt_fixtures(const std::string& format) {
  std::ifstream in(bdt_fixture_path("manifest.json"));
  const nlohmann::json manifest = nlohmann::json::parse(in);
  std::vector<BdtFixture> out;
  for (const auto& e : manifest["fixtures"]) {
    if (e["format"] != format) continue;
    BdtFixture f;
    f.name = e["name"];
    f.format = e["format"];
    f.model = e["model"];
    f.trainer = e["trainer"];
    f.objective = e["objective"];
    f.precision = e["precision"];
    f.rows = e["rows"];
    f.features = e["features"];
    f.outputs = e["outputs"];
    f.prediction_width = e["prediction_width"];
    f.has_margins = !e.contains("no_margins");
    out.push_back(f);
  }
  return out;
}

}  // namespace portml::test
