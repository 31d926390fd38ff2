// SPDX-License-Identifier: Apache-2.0
// The bad-input contract of the GNN entry points (docs/errors.md) not covered by the fixture tests:
// shape and workspace checks of ParticleNet::forward / GravNetModel::forward (host path and the device
// composition on the GPU-emulating Serial queue), of gravnet_block and interaction_step, of the
// device-resident objects (DeviceParticleNet, DeviceGravNetModel, DeviceEdgeConvBlock,
// DeviceGravNetBlock, DeviceInteractionStep), and more malformed portml GNN JSON files.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <portml/io/error.hpp>
#include <portml/io/format.hpp>
#include <portml/io/gnn_json.hpp>
#include <portml/layers/gnn_models.hpp>
#include <portml/layers/graph_blocks.hpp>

#include "../common/backend_cases.hpp"
#include "gnn_test_util.hpp"

namespace portml::test {
namespace {

std::string data(const std::string& name) { return std::string(PORTML_GNN_FIXTURES) + "/" + name; }

//! `f()` must throw E whose message holds `what`.
template <class E, class F>
void expect_error(const F& f, const std::string& what, const std::string& label) {
  try {
    f();
    ADD_FAILURE() << label << ": no exception";
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << label << ": " << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << label << ": wrong exception type: " << e.what();
  }
}

std::vector<Queue<backend::Serial>> serial_queues() {
  std::vector<Queue<backend::Serial>> qs;
  qs.push_back(SerialCase::make_queue());
  qs.push_back(SerialGpuEmulationCase::make_queue());
  return qs;
}

//! Offsets [0, n] (one event) or the given values.
Tensor<std::int32_t, 1> offsets_of(std::initializer_list<std::int32_t> v) {
  Tensor<std::int32_t, 1> t({static_cast<index_t>(v.size())});
  index_t i = 0;
  for (const auto x : v) t(i++) = x;
  return t;
}

TEST(GnnModelErrors, ParticleNetForwardShapesOffsetsAndWorkspace) {
  const layers::ParticleNet<float> model(io::load_gnn_json(data("model_particlenet.json")).particlenet);
  const Fixture fx("model_particlenet.txt");
  const auto points = fx.tensor<float, 2>("points");
  const auto feats = fx.tensor<float, 2>("features");
  const auto off = fx.tensor<std::int32_t, 1>("offsets");
  const index_t n = feats.extent(0), events = off.extent(0) - 1;
  Tensor<float, 2> out({events, model.output_size()}), bad_out({events, model.output_size() + 1});
  Tensor<float, 2> bad_feats({n, feats.extent(1) + 1}), bad_points({n + 1, points.extent(1)});
  const auto off_short = offsets_of({0, static_cast<std::int32_t>(n - 1)});  // does not end at N
  const Tensor<std::int32_t, 1> off_empty({0});
  for (auto& q : serial_queues()) {
    const std::string label = q.gpu_emulation() ? "device composition" : "host path";
    std::vector<std::byte> ws(model.workspace_bytes(q, n, events));
    const auto run = [&](auto p, auto f, auto o, auto y, std::span<std::byte> w) {
      model.forward<backend::Serial>(q, p, f, o, y, w);
    };
    expect_error<ShapeError>([&] { run(points.view(), bad_feats.view(), off.view(), out.view(), ws); },
                             "ParticleNet::forward", label + " features");
    expect_error<ShapeError>([&] { run(bad_points.view(), feats.view(), off.view(), out.view(), ws); },
                             "ParticleNet::forward", label + " points");
    expect_error<ShapeError>([&] { run(points.view(), feats.view(), off.view(), bad_out.view(), ws); },
                             "ParticleNet::forward", label + " out");
    expect_error<ShapeError>([&] { run(points.view(), feats.view(), off_empty.view(), out.view(), ws); },
                             "ParticleNet::forward", label + " no offsets");
    Tensor<float, 2> out1({1, model.output_size()});
    EXPECT_THROW(run(points.view(), feats.view(), off_short.view(), out1.view(), ws), ShapeError) << label;
    std::vector<std::byte> small(64);
    expect_error<Error>([&] { run(points.view(), feats.view(), off.view(), out.view(), small); }, "workspace",
                        label + " workspace");
    EXPECT_NO_THROW(run(points.view(), feats.view(), off.view(), out.view(), ws)) << label;
  }
}

TEST(GnnModelErrors, GravNetModelForwardShapesOffsetsAndWorkspace) {
  const layers::GravNetModel<float> model(io::load_gnn_json(data("model_gravnet.json")).gravnet);
  const Fixture fx("model_gravnet.txt");
  const auto feats = fx.tensor<float, 2>("features");
  const auto off = fx.tensor<std::int32_t, 1>("offsets");
  const index_t n = feats.extent(0), events = off.extent(0) - 1;
  Tensor<float, 2> out({n, model.output_size()}), bad_out({n - 1, model.output_size()});
  Tensor<float, 2> bad_feats({n, feats.extent(1) - 1});
  const auto off_bad = offsets_of({0, static_cast<std::int32_t>(n + 3)});
  const Tensor<std::int32_t, 1> off_empty({0});
  for (auto& q : serial_queues()) {
    const std::string label = q.gpu_emulation() ? "device composition" : "host path";
    std::vector<std::byte> ws(model.workspace_bytes(q, n, events));
    const auto run = [&](auto f, auto o, auto y, std::span<std::byte> w) {
      model.forward<backend::Serial>(q, f, o, y, w);
    };
    expect_error<ShapeError>([&] { run(bad_feats.view(), off.view(), out.view(), ws); }, "GravNetModel::forward",
                             label + " features");
    expect_error<ShapeError>([&] { run(feats.view(), off.view(), bad_out.view(), ws); }, "GravNetModel::forward",
                             label + " out");
    expect_error<ShapeError>([&] { run(feats.view(), off_empty.view(), out.view(), ws); }, "GravNetModel::forward",
                             label + " no offsets");
    EXPECT_THROW(run(feats.view(), off_bad.view(), out.view(), ws), ShapeError) << label;
    std::vector<std::byte> small(64);
    expect_error<Error>([&] { run(feats.view(), off.view(), out.view(), small); }, "workspace", label + " workspace");
    EXPECT_NO_THROW(run(feats.view(), off.view(), out.view(), ws)) << label;
  }
}

TEST(GnnModelErrors, DeviceResidentModelsCheckShapesAndWorkspace) {
  using B = backend::Serial;
  Queue<B> q = SerialGpuEmulationCase::make_queue();
  const layers::ParticleNet<float> pn(io::load_gnn_json(data("model_particlenet.json")).particlenet);
  const layers::GravNetModel<float> gn(io::load_gnn_json(data("model_gravnet.json")).gravnet);
  const layers::DeviceParticleNet<B, float> dpn(q, pn);
  const layers::DeviceGravNetModel<B, float> dgn(q, gn);
  {
    const Fixture fx("model_particlenet.txt");
    const auto points = fx.tensor<float, 2>("points");
    const auto feats = fx.tensor<float, 2>("features");
    const auto off = fx.tensor<std::int32_t, 1>("offsets");
    const index_t n = feats.extent(0), events = off.extent(0) - 1;
    Tensor<float, 2> out({events, pn.output_size()}), bad_out({events + 1, pn.output_size()});
    std::vector<std::byte> ws(dpn.workspace_bytes(n, events)), small(ws.size() / 2);
    expect_error<ShapeError>([&] { dpn.forward(q, points.view(), feats.view(), off.view(), bad_out.view(), ws); },
                             "ParticleNet::forward", "DeviceParticleNet out");
    expect_error<Error>([&] { dpn.forward(q, points.view(), feats.view(), off.view(), out.view(), small); },
                        "workspace", "DeviceParticleNet workspace");
    EXPECT_NO_THROW(dpn.forward(q, points.view(), feats.view(), off.view(), out.view(), ws));
  }
  {
    const Fixture fx("model_gravnet.txt");
    const auto feats = fx.tensor<float, 2>("features");
    const auto off = fx.tensor<std::int32_t, 1>("offsets");
    const index_t n = feats.extent(0), events = off.extent(0) - 1;
    Tensor<float, 2> out({n, gn.output_size()}), bad_out({n, gn.output_size() + 2});
    std::vector<std::byte> ws(dgn.workspace_bytes(n, events)), small(ws.size() / 2);
    expect_error<ShapeError>([&] { dgn.forward(q, feats.view(), off.view(), bad_out.view(), ws); },
                             "GravNetModel::forward", "DeviceGravNetModel out");
    expect_error<Error>([&] { dgn.forward(q, feats.view(), off.view(), out.view(), small); }, "workspace",
                        "DeviceGravNetModel workspace");
    const auto off_bad = offsets_of({0, 1, 0, static_cast<std::int32_t>(n)});  // decreasing
    Tensor<float, 2> out3({n, gn.output_size()});
    EXPECT_THROW(dgn.forward(q, feats.view(), off_bad.view(), out3.view(), ws), ShapeError);
  }
}

// ---- blocks -------------------------------------------------------------------------------------------

TEST(GnnBlockErrors, GravNetBlockShapesOffsetsAndWorkspace) {
  const Fixture fx("block_gravnet_pyg.txt");
  const auto x = fx.tensor<float, 2>("x");
  const auto off = fx.tensor<std::int32_t, 1>("offsets");
  const index_t n = x.extent(0), events = off.extent(0) - 1;
  const layers::GravNetBlock<float> block(gravnet_config(fx), x.extent(1));
  Tensor<float, 2> y({n, block.output_size()}), bad_y({n, block.output_size() + 1});
  Tensor<float, 2> bad_x({n, x.extent(1) + 1});
  const auto off_bad = offsets_of({0, static_cast<std::int32_t>(n - 1)});
  for (auto& q : serial_queues()) {
    const std::string label = q.gpu_emulation() ? "device composition" : "host path";
    std::vector<std::byte> ws(block.workspace_bytes(q, n, events)), small(64);
    const auto run = [&](auto a, auto o, auto b, std::span<std::byte> w) {
      layers::gravnet_block<backend::Serial, float>(q, block, a, o, b, w);
    };
    expect_error<ShapeError>([&] { run(bad_x.view(), off.view(), y.view(), ws); }, "for a block", label + " x");
    expect_error<ShapeError>([&] { run(x.view(), off.view(), bad_y.view(), ws); }, "for a block", label + " y");
    EXPECT_THROW(run(x.view(), off_bad.view(), y.view(), ws), ShapeError) << label;
    expect_error<Error>([&] { run(x.view(), off.view(), y.view(), small); }, "workspace", label + " workspace");
    EXPECT_NO_THROW(run(x.view(), off.view(), y.view(), ws)) << label;
  }
  // Construction: an input width the config does not take.
  EXPECT_THROW(layers::GravNetBlock<float>(gravnet_config(fx), x.extent(1) + 1), ShapeError);
}

TEST(GnnBlockErrors, InteractionStepShapesIndicesAndWorkspace) {
  const Fixture fi("block_interaction.txt");
  const auto x = fi.tensor<float, 2>("x");
  const auto e = fi.tensor<float, 2>("e");
  const auto src = fi.tensor<std::int32_t, 1>("src");
  const auto dst = fi.tensor<std::int32_t, 1>("dst");
  const layers::InteractionStep<float> step(interaction_config(fi), x.extent(1), e.extent(1));
  const index_t n = x.extent(0), ne = e.extent(0);
  Tensor<float, 2> xo({n, step.node_output_size()}), eo({ne, step.edge_output_size()});
  Tensor<float, 2> bad_xo({n, step.node_output_size() + 1}), bad_e({ne, e.extent(1) + 1});
  Tensor<std::int32_t, 1> short_src({ne - 1});
  Tensor<std::int32_t, 1> neg_dst({ne});
  for (index_t i = 0; i < ne; ++i) neg_dst(i) = dst(i);
  neg_dst(ne - 1) = -1;
  for (auto& q : serial_queues()) {
    const std::string label = q.gpu_emulation() ? "device composition" : "host path";
    std::vector<std::byte> ws(step.workspace_bytes(q, n, ne)), small(64);
    const auto run = [&](auto ev, auto s, auto d, auto xov, std::span<std::byte> w) {
      layers::interaction_step<backend::Serial, float>(q, step, x.view(), ev, s, d, xov, eo.view(), w);
    };
    expect_error<ShapeError>([&] { run(e.view(), src.view(), dst.view(), bad_xo.view(), ws); }, "for a step",
                             label + " x_out");
    expect_error<ShapeError>([&] { run(bad_e.view(), src.view(), dst.view(), xo.view(), ws); }, "for a step",
                             label + " e");
    expect_error<ShapeError>([&] { run(e.view(), short_src.view(), dst.view(), xo.view(), ws); }, "for a step",
                             label + " src length");
    expect_error<IndexError>([&] { run(e.view(), src.view(), neg_dst.view(), xo.view(), ws); }, "dst",
                             label + " dst index");
    expect_error<Error>([&] { run(e.view(), src.view(), dst.view(), xo.view(), small); }, "workspace",
                        label + " workspace");
    EXPECT_NO_THROW(run(e.view(), src.view(), dst.view(), xo.view(), ws)) << label;
  }
}

TEST(GnnBlockErrors, DeviceResidentBlocksCheckShapesIndicesAndWorkspace) {
  using B = backend::Serial;
  Queue<B> q = SerialGpuEmulationCase::make_queue();
  {
    const Fixture fx("block_edgeconv_mean_zero.txt");
    const auto x = fx.tensor<float, 2>("x");
    const auto coords = fx.tensor<float, 2>("coords");
    const auto off = fx.tensor<std::int32_t, 1>("offsets");
    const layers::EdgeConvBlock<float> block(edgeconv_config(fx), x.extent(1));
    const layers::DeviceEdgeConvBlock<B, float> d(q, block);
    const index_t n = x.extent(0);
    Tensor<float, 2> y({n, block.output_size()}), bad_y({n, block.output_size() + 1});
    std::vector<std::byte> ws(d.workspace_bytes(n, off.extent(0) - 1)), small(64);
    expect_error<ShapeError>(
        [&] { layers::edgeconv_block<B, float>(q, d, coords.view(), x.view(), off.view(), bad_y.view(), ws); },
        "for a block", "DeviceEdgeConvBlock y");
    expect_error<Error>(
        [&] { layers::edgeconv_block<B, float>(q, d, coords.view(), x.view(), off.view(), y.view(), small); },
        "workspace", "DeviceEdgeConvBlock workspace");
    const auto off_bad = offsets_of({0, static_cast<std::int32_t>(n + 1)});
    EXPECT_THROW((layers::edgeconv_block<B, float>(q, d, coords.view(), x.view(), off_bad.view(), y.view(), ws)),
                 ShapeError);
  }
  {
    const Fixture fx("block_gravnet_cms.txt");
    const auto x = fx.tensor<float, 2>("x");
    const auto off = fx.tensor<std::int32_t, 1>("offsets");
    const layers::GravNetBlock<float> block(gravnet_config(fx), x.extent(1));
    const layers::DeviceGravNetBlock<B, float> d(q, block);
    const index_t n = x.extent(0);
    Tensor<float, 2> y({n, block.output_size()}), bad_y({n + 1, block.output_size()});
    std::vector<std::byte> ws(d.workspace_bytes(n, off.extent(0) - 1)), small(64);
    expect_error<ShapeError>([&] { layers::gravnet_block<B, float>(q, d, x.view(), off.view(), bad_y.view(), ws); },
                             "for a block", "DeviceGravNetBlock y");
    expect_error<Error>([&] { layers::gravnet_block<B, float>(q, d, x.view(), off.view(), y.view(), small); },
                        "workspace", "DeviceGravNetBlock workspace");
  }
  {
    const Fixture fi("block_interaction.txt");
    const auto x = fi.tensor<float, 2>("x");
    const auto e = fi.tensor<float, 2>("e");
    auto src = fi.tensor<std::int32_t, 1>("src");
    const auto dst = fi.tensor<std::int32_t, 1>("dst");
    const layers::InteractionStep<float> step(interaction_config(fi), x.extent(1), e.extent(1));
    const layers::DeviceInteractionStep<B, float> d(q, step);
    const index_t n = x.extent(0), ne = e.extent(0);
    Tensor<float, 2> xo({n, step.node_output_size()}), eo({ne, step.edge_output_size()});
    Tensor<float, 2> bad_eo({ne, step.edge_output_size() + 1});
    std::vector<std::byte> ws(d.workspace_bytes(n, ne)), small(64);
    const auto run = [&](auto eov, std::span<std::byte> w) {
      layers::interaction_step<B, float>(q, d, x.view(), e.view(), src.view(), dst.view(), xo.view(), eov, w);
    };
    expect_error<ShapeError>([&] { run(bad_eo.view(), ws); }, "for a step", "DeviceInteractionStep e_out");
    expect_error<Error>([&] { run(eo.view(), small); }, "workspace", "DeviceInteractionStep workspace");
    src(0) = static_cast<std::int32_t>(n);
    expect_error<IndexError>([&] { run(eo.view(), ws); }, "src[0]", "DeviceInteractionStep src index");
  }
}

// ---- more malformed files ------------------------------------------------------------------------------

nlohmann::json fixture_json(const std::string& name) { return nlohmann::json::parse(io::read_file(data(name))); }

void expect_format_error(const nlohmann::json& doc, const std::string& where, const std::string& what,
                         const io::GnnJsonLimits& limits = {}) {
  try {
    io::parse_gnn_json(doc.dump(), "bad.json", limits);
    ADD_FAILURE() << "no error for " << where;
  } catch (const io::FormatError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.file(), "bad.json") << msg;
    EXPECT_EQ(e.where(), where) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
}

TEST(GnnJsonLoader, BadEnumsLimitsAndBlockRules) {
  const auto pn = fixture_json("model_particlenet.json");
  const auto gn = fixture_json("model_gravnet.json");
  const auto with = [](nlohmann::json d, const auto& edit) {
    edit(d);
    return d;
  };
  expect_format_error(with(pn, [](auto& d) { d["blocks"][0]["coordinates"] = "xyz"; }), "blocks[0].coordinates",
                      "\"points\" or \"features\"");
  expect_format_error(with(pn, [](auto& d) { d["blocks"][1]["aggregation"] = "sum"; }), "blocks[1].aggregation",
                      "\"mean\" or \"max\"");
  expect_format_error(with(pn, [](auto& d) { d["blocks"][0]["missing"] = "drop"; }), "blocks[0].missing",
                      "\"skip\" or \"zero_point\"");
  expect_format_error(with(pn, [](auto& d) { d["pooling"] = "min"; }), "pooling", "\"mean\", \"max\" or \"sum\"");
  expect_format_error(with(pn, [](auto& d) { d["model"] = "transformer"; }), "model", "\"particlenet\" or \"gravnet\"");
  expect_format_error(with(pn, [](auto& d) { d["version"] = 2; }), "version", "outside [1, 1]");
  expect_format_error(with(pn, [](auto& d) { d["blocks"] = nlohmann::json::array(); }), "blocks", "at least one block");
  expect_format_error(with(pn, [](auto& d) { d["blocks"][0]["mlp"][0]["type"] = "conv"; }), "blocks[0].mlp[0].type",
                      "unsupported layer type");
  expect_format_error(with(pn, [](auto& d) { d["blocks"][0]["activation"] = "softmax"; }), "blocks[0].activation",
                      "only allowed in the head");
  expect_format_error(with(pn, [](auto& d) { d["blocks"][0]["k"] = 5000; }), "blocks[0].k", "outside [1, 1024]");
  expect_format_error(with(pn, [](auto& d) { d["blocks"][0]["mlp"][0]["outputs"] = 1 << 20; }),
                      "blocks[0].mlp[0].outputs", "outside [1, 65536]");
  expect_format_error(with(pn, [](auto& d) { d["outputs"].push_back("extra"); }), "outputs", "names for");
  expect_format_error(with(gn, [](auto& d) { d["blocks"][0]["exponent"] = -1.0; }), "blocks[0].exponent",
                      "must be >= 0");
  // A weight matrix beyond the limit is refused before its values are read.
  io::GnnJsonLimits tight;
  tight.max_weights = 16;
  expect_format_error(pn, "blocks[0].mlp[0]", "exceed the limit of 16", tight);
  // A file beyond the size limit.
  io::GnnJsonLimits tiny;
  tiny.max_file_bytes = 100;
  try {
    io::parse_gnn_json(pn.dump(), "big.json", tiny);
    ADD_FAILURE() << "no error";
  } catch (const io::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("larger than the limit of 100 bytes"), std::string::npos) << e.what();
  }
  // A syntax error: the byte position.
  try {
    io::parse_gnn_json("{\"format\": portml}", "syntax.json");
    ADD_FAILURE() << "no error";
  } catch (const io::FormatError& e) {
    EXPECT_EQ(e.file(), "syntax.json");
    EXPECT_EQ(e.where().rfind("byte ", 0), 0u) << e.what();
  }
}

}  // namespace
}  // namespace portml::test
