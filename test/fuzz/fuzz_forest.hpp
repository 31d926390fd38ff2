// SPDX-License-Identifier: Apache-2.0
// Shared body of the forest-loader fuzz targets: parse, build the forest, evaluate one row of each
// kind (zeros, NaNs). Any input must end in a result or a portml::Error (FormatError from the loader,
// Error from the forest's own consistency checks); nothing else may escape, crash or leak.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include <portml/bdt/forest.hpp>
#include <portml/bdt/predict.hpp>
#include <portml/core/error.hpp>

namespace portml::fuzz {

template <class Value>
void evaluate(const bdt::ForestConfig& config) {
  const bdt::Forest<Value> forest(config);
  if (forest.num_features() > (1 << 16) || forest.num_outputs() > (1 << 12)) return;  // keep one input cheap
  std::vector<float> x(static_cast<std::size_t>(forest.num_features()), 0.0f);
  std::vector<Value> margins(static_cast<std::size_t>(forest.num_outputs()));
  bdt::predict_margins_row(forest, std::span<const float>(x), std::span<Value>(margins));
  for (float& v : x) v = NAN;
  bdt::predict_margins_row(forest, std::span<const float>(x), std::span<Value>(margins));
}

template <class Parse>
int run(const std::uint8_t* data, std::size_t size, Parse parse) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    const bdt::ForestConfig config = parse(bytes);
    if (config.precision == bdt::Precision::float32) {
      evaluate<float>(config);
    } else {
      evaluate<double>(config);
    }
  } catch (const Error&) {
  }
  return 0;
}

}  // namespace portml::fuzz
