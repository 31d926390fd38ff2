// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: io::parse_gnn_json, then the model it describes is built and run on a small ragged
// batch (an empty event, a point alone, an event of 5). Any input must end in a result or a
// portml::Error; nothing else may escape, crash or leak.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include <portml/core/error.hpp>
#include <portml/io/gnn_json.hpp>
#include <portml/layers/gnn_models.hpp>
#include <portml/portability/serial.hpp>

namespace {

constexpr portml::index_t rows = 6;

int run(const std::uint8_t* data, std::size_t size) {
  using namespace portml;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  io::GnnJsonLimits limits;
  limits.max_width = 256;  // keeps one forward pass cheap
  limits.max_weights = 1 << 16;
  limits.max_k = 64;
  try {
    const layers::GnnModelConfig cfg = io::parse_gnn_json(bytes, "fuzz.json", limits);
    Queue<backend::Serial> q;
    std::vector<std::int32_t> off{0, 0, 1, rows};
    const TensorView<const std::int32_t, 1> offsets(off.data(), {4});
    if (cfg.kind == layers::GnnModelConfig::Kind::particlenet) {
      const layers::ParticleNet<float> m(cfg.particlenet);
      std::vector<float> p(static_cast<std::size_t>(rows * m.point_size()), 0.25f);
      std::vector<float> f(static_cast<std::size_t>(rows * m.feature_size()), 0.5f);
      std::vector<float> y(static_cast<std::size_t>(3 * m.output_size()));
      std::vector<std::byte> ws(m.workspace_bytes(rows, 3));
      m.forward<backend::Serial>(q, TensorView<const float, 2>(p.data(), {rows, m.point_size()}),
                                 TensorView<const float, 2>(f.data(), {rows, m.feature_size()}), offsets,
                                 TensorView<float, 2>(y.data(), {3, m.output_size()}), ws);
    } else {
      const layers::GravNetModel<float> m(cfg.gravnet);
      std::vector<float> f(static_cast<std::size_t>(rows * m.feature_size()), 0.5f);
      std::vector<float> y(static_cast<std::size_t>(rows * m.output_size()));
      std::vector<std::byte> ws(m.workspace_bytes(rows, 3));
      m.forward<backend::Serial>(q, TensorView<const float, 2>(f.data(), {rows, m.feature_size()}), offsets,
                                 TensorView<float, 2>(y.data(), {rows, m.output_size()}), ws);
    }
  } catch (const Error&) {
  }
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) { return run(data, size); }
