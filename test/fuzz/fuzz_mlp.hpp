// SPDX-License-Identifier: Apache-2.0
// Shared body of the MLP-loader fuzz targets: parse, build the model, run one row. Any input must end
// in a result or a portml::Error; nothing else may escape, crash or leak.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include <portml/core/error.hpp>
#include <portml/layers/mlp.hpp>
#include <portml/portability/serial.hpp>

namespace portml::fuzz {

template <class Parse>
int run_mlp(const std::uint8_t* data, std::size_t size, Parse parse) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    const layers::Mlp<float> model(parse(bytes));
    if (model.input_size() > (1 << 16) || model.output_size() > (1 << 16)) return 0;  // keep one input cheap
    std::vector<float> x(static_cast<std::size_t>(model.input_size()), 0.5f);
    std::vector<float> y(static_cast<std::size_t>(model.output_size()));
    std::vector<std::byte> workspace(model.workspace_bytes(1));
    Queue<backend::Serial> q;
    model.forward(q, TensorView<const float, 2>(x.data(), {1, model.input_size()}),
                  TensorView<float, 2>(y.data(), {1, model.output_size()}), std::span<std::byte>(workspace));
  } catch (const Error&) {
  }
  return 0;
}

}  // namespace portml::fuzz
