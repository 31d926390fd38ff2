// SPDX-License-Identifier: Apache-2.0
// Shared body of the forest-loader fuzz targets: parse, build the forest, then evaluate it one row at a
// time (zeros, NaNs) and as a batch (predict_margins, through the forest's input transformation when
// it has one: zeros, NaNs, a mix of NaN/infinities/large and small values, enough rows for the
// row-block kernels). Any input must end in a result or a portml::Error (FormatError from the loader,
// Error from the forest's own consistency checks); nothing else may escape, crash or leak.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

#include <portml/bdt/forest.hpp>
#include <portml/bdt/predict.hpp>
#include <portml/core/error.hpp>

namespace portml::fuzz {

//! Rows of the batch evaluated per parsed forest (more than one row block of the batch kernels).
inline constexpr index_t batch_rows = 9;

template <class Value>
void evaluate(const bdt::ForestConfig& config) {
  const bdt::Forest<Value> forest(config);
  if (forest.num_features() > (1 << 16) || forest.num_outputs() > (1 << 12)) return;  // keep one input cheap
  const index_t nf = forest.num_features(), k = forest.num_outputs();
  std::vector<float> x(static_cast<std::size_t>(nf), 0.0f);
  std::vector<Value> margins(static_cast<std::size_t>(k));
  bdt::predict_margins_row(forest, std::span<const float>(x), std::span<Value>(margins));
  for (float& v : x) v = NAN;
  bdt::predict_margins_row(forest, std::span<const float>(x), std::span<Value>(margins));

  if (nf > (1 << 12) || k > (1 << 10)) return;  // keep the batch cheap too
  // Row 0 zeros, row 1 NaNs, the others cycle through special and ordinary values.
  constexpr float inf = std::numeric_limits<float>::infinity();
  const float values[] = {NAN, -inf, inf, 1e30f, -1e30f, 0.5f, -0.5f, 1e-40f, 3.0f, -7.25f, 0.0f};
  constexpr std::size_t num_values = sizeof(values) / sizeof(values[0]);
  std::vector<float> batch(static_cast<std::size_t>(batch_rows * nf));
  for (index_t r = 0; r < batch_rows; ++r) {
    for (index_t j = 0; j < nf; ++j) {
      float& v = batch[static_cast<std::size_t>(r * nf + j)];
      v = r == 0 ? 0.0f : r == 1 ? NAN : values[static_cast<std::size_t>(r * 7 + j * 3) % num_values];
    }
  }
  std::vector<Value> out(static_cast<std::size_t>(batch_rows * k));
  bdt::predict_margins(forest, TensorView<const float, 2>(batch.data(), {batch_rows, nf}),
                       TensorView<Value, 2>(out.data(), {batch_rows, k}));
  // A short batch takes the one-row path of the batch call.
  bdt::predict_margins(forest, TensorView<const float, 2>(batch.data(), {2, nf}),
                       TensorView<Value, 2>(out.data(), {2, k}));
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
