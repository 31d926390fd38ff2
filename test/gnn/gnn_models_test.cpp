// SPDX-License-Identifier: Apache-2.0
// The GNN models (ParticleNet-like, GravNet) loaded from portml GNN JSON files written by
// tools/export_gnn.py, end to end on every host backend against PyTorch (test/data/gnn/model_*, made by
// make_gnn_fixtures.py); an event's bits alone and in batches with OpenMP(2); no allocation per forward
// pass; the loader's errors on malformed files.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <portml/io/error.hpp>
#include <portml/io/format.hpp>
#include <portml/io/gnn_json.hpp>
#include <portml/layers/gnn_models.hpp>

#include "../common/backend_cases.hpp"
#include "../dense/allocation_counter.hpp"
#include "counting_queue.hpp"
#include "gnn_test_util.hpp"

namespace portml::test {
namespace {

using layers::GnnModelConfig;

std::string data(const std::string& name) { return std::string(PORTML_GNN_FIXTURES) + "/" + name; }

template <class Case>
class GnnModels : public BackendTest<Case> {
 protected:
  void SetUp() override {
    BackendTest<Case>::SetUp();
    if (!this->IsSkipped()) queue_.emplace(Case::make_queue());
  }
  Queue<typename Case::backend>& queue() { return *queue_; }

 private:
  std::optional<Queue<typename Case::backend>> queue_;
};
TYPED_TEST_SUITE(GnnModels, AllCases, CaseNames);

//! A workspace of `bytes` bytes in the case's memory space (64-byte aligned).
template <class Space>
struct SpaceWorkspace {
  Tensor<float, 1, Space> storage;
  explicit SpaceWorkspace(std::size_t bytes) : storage({static_cast<index_t>(bytes / sizeof(float) + 16)}) {}
  std::span<std::byte> span() {
    auto* base = reinterpret_cast<std::byte*>(storage.data());
    const auto skip = (64 - reinterpret_cast<std::uintptr_t>(base) % 64) % 64;
    return {base + skip, static_cast<std::size_t>(storage.size()) * sizeof(float) - skip};
  }
};

// On host cases the host object runs (the device composition on the GPU-emulating Serial queue); on every
// case the device-resident copy (DeviceParticleNet / DeviceGravNetModel) runs with its arrays in the
// case's memory; both against PyTorch, and the two bit for bit on the GPU-emulating queue.
TYPED_TEST(GnnModels, ParticleNetMatchesPyTorch) {
  using B = typename TypeParam::backend;
  using Space = typename TestFixture::space;
  const GnnModelConfig cfg = io::load_gnn_json(data("model_particlenet.json"));
  ASSERT_EQ(cfg.kind, GnnModelConfig::Kind::particlenet);
  const layers::ParticleNet<float> model(cfg.particlenet);
  const Fixture fx("model_particlenet.txt");
  const auto points = fx.tensor<float, 2>("points");
  const auto feats = fx.tensor<float, 2>("features");
  const auto off = fx.tensor<std::int32_t, 1>("offsets");
  const index_t n = feats.extent(0), events = off.extent(0) - 1;
  Tensor<float, 2> out({events, model.output_size()});
  if constexpr (B::is_host) {
    std::vector<std::byte> ws(model.workspace_bytes(this->queue(), n, events));
    model.template forward<B>(this->queue(), points.view(), feats.view(), off.view(), out.view(), ws);
    expect_close(out, fx.tensor<float, 2>("y"), "particlenet");
  }
  const layers::DeviceParticleNet<B, float> dmodel(this->queue(), model);
  const auto dp = this->to_device(this->queue(), points);
  const auto df = this->to_device(this->queue(), feats);
  const auto doff = this->to_device(this->queue(), off);
  Tensor<float, 2, Space> dout(out.extents());
  SpaceWorkspace<Space> dws(dmodel.workspace_bytes(n, events));
  dmodel.forward(this->queue(), dp.view(), df.view(), doff.view(), dout.view(), dws.span());
  const auto got = this->to_host(this->queue(), dout.view());
  expect_close(got, fx.tensor<float, 2>("y"), "particlenet (device-resident)");
  if constexpr (B::is_host) {
    if (runs_gpu_teams(this->queue())) {
      EXPECT_TRUE(same_bits(got, 0, events, out, 0));
    }
  }
}

TYPED_TEST(GnnModels, GravNetMatchesPyTorch) {
  using B = typename TypeParam::backend;
  using Space = typename TestFixture::space;
  const GnnModelConfig cfg = io::load_gnn_json(data("model_gravnet.json"));
  ASSERT_EQ(cfg.kind, GnnModelConfig::Kind::gravnet);
  const layers::GravNetModel<float> model(cfg.gravnet);
  const Fixture fx("model_gravnet.txt");
  const auto feats = fx.tensor<float, 2>("features");
  const auto off = fx.tensor<std::int32_t, 1>("offsets");
  const index_t n = feats.extent(0), events = off.extent(0) - 1;
  Tensor<float, 2> out({n, model.output_size()});
  if constexpr (B::is_host) {
    std::vector<std::byte> ws(model.workspace_bytes(this->queue(), n, events));
    model.template forward<B>(this->queue(), feats.view(), off.view(), out.view(), ws);
    expect_close(out, fx.tensor<float, 2>("y"), "gravnet");
  }
  const layers::DeviceGravNetModel<B, float> dmodel(this->queue(), model);
  const auto df = this->to_device(this->queue(), feats);
  const auto doff = this->to_device(this->queue(), off);
  Tensor<float, 2, Space> dout(out.extents());
  SpaceWorkspace<Space> dws(dmodel.workspace_bytes(n, events));
  dmodel.forward(this->queue(), df.view(), doff.view(), dout.view(), dws.span());
  const auto got = this->to_host(this->queue(), dout.view());
  expect_close(got, fx.tensor<float, 2>("y"), "gravnet (device-resident)");
  if constexpr (B::is_host) {
    if (runs_gpu_teams(this->queue())) {
      EXPECT_TRUE(same_bits(got, 0, n, out, 0));
    }
  }
}

// ---- determinism and allocation -----------------------------------------------------------------------

//! A batch of `events` jets of 20–80 particles (one empty, one of 2 particles), points and features.
struct Jets {
  std::vector<index_t> sizes;
  Tensor<float, 2> points, feats;
  Tensor<std::int32_t, 1> offsets;
};

Jets make_jets(const std::vector<index_t>& sizes, index_t nfeat, unsigned seed) {
  index_t n = 0;
  for (const index_t s : sizes) n += s;
  Jets j{sizes, Tensor<float, 2>({n, 2}), Tensor<float, 2>({n, nfeat}),
         Tensor<std::int32_t, 1>({static_cast<index_t>(sizes.size()) + 1})};
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  for (index_t i = 0; i < j.points.size(); ++i) j.points.data()[i] = 0.4f * nd(rng);
  for (index_t i = 0; i < j.feats.size(); ++i) j.feats.data()[i] = nd(rng);
  j.offsets(0) = 0;
  for (std::size_t e = 0; e < sizes.size(); ++e) {
    j.offsets(static_cast<index_t>(e + 1)) = j.offsets(static_cast<index_t>(e)) + static_cast<std::int32_t>(sizes[e]);
  }
  return j;
}

//! Event e of `j` alone.
Jets single(const Jets& j, std::size_t e) {
  Jets s = make_jets({j.sizes[e]}, j.feats.extent(1), 0);
  const index_t r0 = j.offsets(static_cast<index_t>(e));
  for (index_t i = 0; i < j.sizes[e]; ++i) {
    for (index_t f = 0; f < 2; ++f) s.points(i, f) = j.points(r0 + i, f);
    for (index_t f = 0; f < j.feats.extent(1); ++f) s.feats(i, f) = j.feats(r0 + i, f);
  }
  return s;
}

std::vector<index_t> jet_sizes(unsigned seed) {
  std::vector<index_t> s;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<index_t> u(20, 80);
  for (int e = 0; e < 30; ++e) s.push_back(u(rng));
  s[2] = 0;
  s[9] = 2;
  return s;
}

template <class B>
Tensor<float, 2> run_particlenet(Queue<B>& q, const layers::ParticleNet<float>& m, const Jets& j) {
  const index_t events = j.offsets.extent(0) - 1;
  Tensor<float, 2> out({events, m.output_size()});
  std::vector<std::byte> ws(m.workspace_bytes(j.feats.extent(0), events, layers::graph_threads(q)));
  m.forward<B>(q, j.points.view(), j.feats.view(), j.offsets.view(), out.view(), ws);
  return out;
}

TEST(GnnModelDeterminism, ParticleNetEventBitsAloneAndInBatches) {
  const layers::ParticleNet<float> model(io::load_gnn_json(data("model_particlenet.json")).particlenet);
  const Jets jets = make_jets(jet_sizes(7), 4, 8);
  Queue<backend::Serial> serial;
  const Tensor<float, 2> whole = run_particlenet(serial, model, jets);
  // The same batch with 2 threads, and with the events in another order (reversed).
  std::vector<index_t> reversed(jets.sizes.rbegin(), jets.sizes.rend());
  Jets rev = make_jets(reversed, 4, 0);
  for (std::size_t e = 0; e < jets.sizes.size(); ++e) {
    const Jets one = single(jets, e);
    const index_t r0 = rev.offsets(static_cast<index_t>(jets.sizes.size() - 1 - e));
    for (index_t i = 0; i < jets.sizes[e]; ++i) {
      for (index_t f = 0; f < 2; ++f) rev.points(r0 + i, f) = one.points(i, f);
      for (index_t f = 0; f < 4; ++f) rev.feats(r0 + i, f) = one.feats(i, f);
    }
  }
#if PORTML_ENABLE_OPENMP
  Queue<backend::OpenMP> omp(2);
  const Tensor<float, 2> threaded = run_particlenet(omp, model, jets);
  const Tensor<float, 2> rev_out = run_particlenet(omp, model, rev);
  EXPECT_TRUE(same_bits(whole, 0, whole.extent(0), threaded, 0)) << "OpenMP 2 threads";
#else
  const Tensor<float, 2> rev_out = run_particlenet(serial, model, rev);
#endif
  for (std::size_t e = 0; e < jets.sizes.size(); ++e) {
    const auto b = static_cast<index_t>(e);
    EXPECT_TRUE(same_bits(whole, b, b + 1, rev_out, static_cast<index_t>(jets.sizes.size() - 1 - e))) << "event " << e;
    const Jets one = single(jets, e);
    EXPECT_TRUE(same_bits(whole, b, b + 1, run_particlenet(serial, model, one), 0)) << "event " << e << " alone";
#if PORTML_ENABLE_OPENMP
    EXPECT_TRUE(same_bits(whole, b, b + 1, run_particlenet(omp, model, one), 0)) << "event " << e << " alone, OpenMP";
#endif
  }
}

TEST(GnnModelDeterminism, GravNetEventBitsAloneAndWithThreads) {
  const layers::GravNetModel<float> model(io::load_gnn_json(data("model_gravnet.json")).gravnet);
  const Jets hits = make_jets(jet_sizes(9), 5, 10);
  const auto run = [&](auto& q, const Jets& j) {
    using B = backend_of_t<decltype(q)>;
    Tensor<float, 2> out({j.feats.extent(0), model.output_size()});
    std::vector<std::byte> ws(
        model.workspace_bytes(j.feats.extent(0), j.offsets.extent(0) - 1, layers::graph_threads(q)));
    model.forward<B>(q, j.feats.view(), j.offsets.view(), out.view(), ws);
    return out;
  };
  Queue<backend::Serial> serial;
  const Tensor<float, 2> whole = run(serial, hits);
#if PORTML_ENABLE_OPENMP
  Queue<backend::OpenMP> omp(2);
  EXPECT_TRUE(same_bits(whole, 0, whole.extent(0), run(omp, hits), 0)) << "OpenMP 2 threads";
#endif
  for (std::size_t e = 0; e < hits.sizes.size(); e += 3) {
    const index_t r0 = hits.offsets(static_cast<index_t>(e)), r1 = hits.offsets(static_cast<index_t>(e + 1));
    EXPECT_TRUE(same_bits(whole, r0, r1, run(serial, single(hits, e)), 0)) << "event " << e << " alone";
  }
}

// The device composition's host synchronisations per forward pass, counted by a GPU-shaped test backend
// (counting_queue.hpp): two per block (its kNN's offsets check and largest-event reduction), none in the
// blocks' passes over edge rows (GnnBlockDevicePath.SynchronisationsPerCallDoNotGrowWithPasses), and the
// pooling does not check the offsets again. Same bits as the GPU-emulating Serial queue.
TEST(GnnModelDevicePath, SynchronisationsPerForwardDoNotGrowWithPasses) {
  const Jets jets = make_jets(std::vector<index_t>(60, 30), 4, 13);
  const index_t n = jets.feats.extent(0), events = jets.offsets.extent(0) - 1;
  Queue<backend::Serial> gpu(Queue<backend::Serial>::Options{.gpu_emulation = true});
  Queue<CountingGpu> counting;
  {
    const layers::ParticleNet<float> model(io::load_gnn_json(data("model_particlenet.json")).particlenet);
    Tensor<float, 2> want({events, model.output_size()}), got({events, model.output_size()});
    std::vector<std::byte> ws(model.workspace_bytes(gpu, n, events));
    model.forward<backend::Serial>(gpu, jets.points.view(), jets.feats.view(), jets.offsets.view(), want.view(), ws);
    const layers::DeviceParticleNet<CountingGpu, float> dmodel(counting, model);
    std::vector<std::byte> dws(dmodel.workspace_bytes(n, events));
    counting.counts = {};
    dmodel.forward(counting, jets.points.view(), jets.feats.view(), jets.offsets.view(), got.view(),
                   std::span<std::byte>(dws));
    const LaunchCounts c = counting.counts;
    std::cout << "  ParticleNet-like (3 blocks), " << n << " nodes: " << c.gpu_kernels() << " GPU kernels ("
              << c.kernels << " launches + " << c.reductions << " reductions), " << c.syncs()
              << " host synchronisations\n";
    EXPECT_EQ(c.syncs(), 6);
    EXPECT_TRUE(same_bits(want, 0, events, got, 0));
  }
  {
    const Jets hits = make_jets(std::vector<index_t>(60, 30), 5, 14);
    const layers::GravNetModel<float> model(io::load_gnn_json(data("model_gravnet.json")).gravnet);
    Tensor<float, 2> want({n, model.output_size()}), got({n, model.output_size()});
    std::vector<std::byte> ws(model.workspace_bytes(gpu, n, events));
    model.forward<backend::Serial>(gpu, hits.feats.view(), hits.offsets.view(), want.view(), ws);
    const layers::DeviceGravNetModel<CountingGpu, float> dmodel(counting, model);
    std::vector<std::byte> dws(dmodel.workspace_bytes(n, events));
    counting.counts = {};
    dmodel.forward(counting, hits.feats.view(), hits.offsets.view(), got.view(), std::span<std::byte>(dws));
    const LaunchCounts c = counting.counts;
    std::cout << "  GravNet model (2 blocks), " << n << " nodes: " << c.gpu_kernels() << " GPU kernels (" << c.kernels
              << " launches + " << c.reductions << " reductions), " << c.syncs() << " host synchronisations\n";
    EXPECT_EQ(c.syncs(), 4);
    EXPECT_TRUE(same_bits(want, 0, n, got, 0));
  }
}

TEST(GnnModelAllocation, ForwardAllocatesNothing) {
  const layers::ParticleNet<float> pn(io::load_gnn_json(data("model_particlenet.json")).particlenet);
  const layers::GravNetModel<float> gn(io::load_gnn_json(data("model_gravnet.json")).gravnet);
  const Jets jets = make_jets(jet_sizes(3), 4, 4);
  const Jets hits = make_jets(jet_sizes(3), 5, 4);
  const index_t n = jets.feats.extent(0), events = jets.offsets.extent(0) - 1;
  Tensor<float, 2> out({events, pn.output_size()}), hout({n, gn.output_size()});
  const auto check = [&](auto& q) {
    using B = backend_of_t<decltype(q)>;
    const int threads = layers::graph_threads(q);
    std::vector<std::byte> ws(std::max(pn.workspace_bytes(n, events, threads), gn.workspace_bytes(n, events, threads)));
    // The first pass sizes the queue's scratch arena (argument-check reductions); later ones allocate nothing.
    pn.forward<B>(q, jets.points.view(), jets.feats.view(), jets.offsets.view(), out.view(), ws);
    gn.forward<B>(q, hits.feats.view(), hits.offsets.view(), hout.view(), ws);
    const long before = allocation_count();
    pn.forward<B>(q, jets.points.view(), jets.feats.view(), jets.offsets.view(), out.view(), ws);
    gn.forward<B>(q, hits.feats.view(), hits.offsets.view(), hout.view(), ws);
    EXPECT_EQ(allocation_count(), before) << B::name;
  };
  Queue<backend::Serial> serial;
  check(serial);
#if PORTML_ENABLE_OPENMP
  Queue<backend::OpenMP> omp(2);
  check(omp);
#endif
}

// ---- loader errors -------------------------------------------------------------------------------------

nlohmann::json fixture_json(const std::string& name) { return nlohmann::json::parse(io::read_file(data(name))); }

//! parse_gnn_json of `doc` must throw a FormatError whose text holds `where` and `what`.
void expect_format_error(const nlohmann::json& doc, const std::string& where, const std::string& what) {
  try {
    io::parse_gnn_json(doc.dump(), "bad.json");
    ADD_FAILURE() << "no error for " << where;
  } catch (const io::FormatError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("bad.json"), std::string::npos) << msg;
    EXPECT_EQ(e.where(), where) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
}

TEST(GnnJsonLoader, MalformedFilesNameFileAndField) {
  const auto pn = fixture_json("model_particlenet.json");
  const auto gn = fixture_json("model_gravnet.json");
  {
    auto d = pn;
    d.erase("blocks");
    expect_format_error(d, "top level", "missing \"blocks\"");
  }
  {
    auto d = pn;
    d["blocks"][1]["mlp"][0].erase("weights");
    expect_format_error(d, "blocks[1].mlp[0]", "missing \"weights\"");
  }
  {
    auto d = pn;
    d["blocks"][0]["mlp"][0]["weights"].erase(0);
    expect_format_error(d, "blocks[0].mlp[0].weights", "values, expected");
  }
  {
    auto d = pn;  // a layer that does not take the width it receives
    d["blocks"][2]["mlp"][3]["inputs"] = 7;
    expect_format_error(d, "blocks[2].mlp[3].inputs", "7 inputs, but the layer receives 16");
  }
  {
    auto d = pn;  // BatchNorm of the wrong length
    d["blocks"][0]["mlp"][1]["mean"].push_back(0.5);
    expect_format_error(d, "blocks[0].mlp[1].mean", "values, expected 8");
  }
  {
    auto d = pn;  // shortcut width
    d["blocks"][1]["shortcut"].clear();
    expect_format_error(d, "blocks[1].shortcut", "identity shortcut");
  }
  {
    auto d = pn;
    d["blocks"][0]["k"] = 0;
    expect_format_error(d, "blocks[0].k", "outside [1, 1024]");
  }
  {
    auto d = pn;
    d["blocks"][0]["mlp"][2]["activation"] = "swish";
    expect_format_error(d, "blocks[0].mlp[2].activation", "unsupported activation");
  }
  {
    auto d = pn;
    d["head"][0]["weights"][3] = "x";
    expect_format_error(d, "head[0].weights[3]", "expected a number");
  }
  {
    auto d = pn;
    d["format"] = "lwtnn";
    expect_format_error(d, "format", "portml-gnn");
  }
  {
    auto d = gn;
    d["blocks"][1]["convention"] = "tf";
    expect_format_error(d, "blocks[1].convention", "\"pyg\" or \"cms\"");
  }
  {
    auto d = gn;  // the output layer must take [x, mean, max]
    d["blocks"][0]["output"][0]["inputs"] = 5;
    expect_format_error(d, "blocks[0].output[0].inputs", "5 inputs, but the layer receives 17");
  }
  {
    auto d = gn;
    d["blocks"][0]["type"] = "edgeconv";
    expect_format_error(d, "blocks[0].type", "gravnet blocks");
  }
  {
    auto d = gn;
    d["inputs"]["features"] = 1LL << 40;
    expect_format_error(d, "inputs.features", "outside [1, 65536]");
  }
  try {
    io::parse_gnn_json("{\"format\": \"portml-gnn\", ", "trunc.json");
    ADD_FAILURE() << "no error";
  } catch (const io::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("invalid JSON"), std::string::npos) << e.what();
  }
  EXPECT_THROW(io::load_gnn_json(data("no_such_model.json")), io::FormatError);
  // Every truncation of a real file fails cleanly (a FormatError, never a crash).
  const std::string text = io::read_file(data("model_gravnet.json"));
  for (std::size_t cut = 0; cut < text.size(); cut += 97) {
    EXPECT_THROW(io::parse_gnn_json(std::string_view(text).substr(0, cut), "cut.json"), io::FormatError) << cut;
  }
}

}  // namespace
}  // namespace portml::test
