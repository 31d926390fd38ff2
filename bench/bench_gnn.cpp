// SPDX-License-Identifier: Apache-2.0
// The graph primitives (Serial, and OpenMP(2) where a case has a threads argument), at the shapes of
// gnn.md §5, and the fused blocks and models. Their libtorch C++ peers (bench/peers/libtorch_gnn.cpp,
// compiled in when CMake finds libtorch) run in the same executable; the PyTorch-through-Python peer is
// bench/peers/torch_gnn_ops.py (docs/gnn.md has both tables). Inputs are made outside the timed loop;
// the workspaces are allocated once, as a caller would.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <type_traits>
#include <vector>

#include <portml/kernels/graph.hpp>
#include <portml/layers/gnn_models.hpp>

#include "gnn_cases.hpp"

namespace {

using namespace portml_bench::gnn;
namespace g = portml::kernels::graph;
using B = portml::backend::Serial;

//! knn_graph, k = 16, self excluded, on `threads` threads: args (events, points per event, D,
//! uniform(0) / normal(1)). Items: queries (points); edges per second = 16 × items. The libtorch peers
//! are BM_libtorch_knn_graph and BM_libtorch_knn_graph_2threads (cdist + topk).
void knn_case(benchmark::State& state, int threads, bool grid) {
  const index_t events = state.range(0), per = state.range(1), d = state.range(2), k = 16;
  const index_t n = events * per;
  const auto x = state.range(3) == 0 ? uniform_points(n, d, knn_seed) : normal_points(n, d, knn_seed);
  const auto off = even_offsets(events, per);
  Tensor<Index, 2> nbr({n, k});
  Tensor<float, 2> d2({n, k});
  const auto size = g::knn_graph_workspace_size(n, events);
  Tensor<Index, 1> wi({grid ? size.indices : 1});
  Tensor<float, 1> wr({grid ? size.reals : 1});
  with_queue(threads, [&](auto& q) {
    using Bk = typename queue_backend<std::remove_reference_t<decltype(q)>>::type;
    for (auto _ : state) {
      if (grid) {
        g::knn_graph<Bk, float, Index>(q, x.view(), off.view(), nbr.view(), d2.view(), {}, {wi.view(), wr.view()});
      } else {
        g::knn_graph<Bk, float, Index>(q, x.view(), off.view(), nbr.view(), d2.view());
      }
      benchmark::DoNotOptimize(nbr.data());
    }
  });
  state.SetItemsProcessed(state.iterations() * n);
}

//! The brute force (no workspace), one thread (Serial).
void BM_knn_graph(benchmark::State& state) { knn_case(state, 1, false); }
BENCHMARK(BM_knn_graph)
    ->ArgNames({"events", "points", "D", "normal"})
    ->Args({1, 10000, 3, 0})
    ->Args({1, 10000, 16, 1})
    ->Args({1000, 50, 16, 1})
    ->Unit(benchmark::kMillisecond);

//! The brute force on Queue<OpenMP>(2), wall time.
void BM_knn_graph_2threads(benchmark::State& state) { knn_case(state, 2, false); }
BENCHMARK(BM_knn_graph_2threads)
    ->ArgNames({"events", "points", "D", "normal"})
    ->Args({1, 10000, 3, 0})
    ->Args({1, 10000, 16, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

//! With a workspace (the grid search for D <= 4), one thread.
void BM_knn_graph_grid(benchmark::State& state) { knn_case(state, 1, true); }
BENCHMARK(BM_knn_graph_grid)
    ->ArgNames({"events", "points", "D", "normal"})
    ->Args({1, 10000, 3, 0})
    ->Args({1, 10000, 4, 1})
    ->Args({1000, 50, 3, 0})
    ->Unit(benchmark::kMillisecond);

//! The grid search on Queue<OpenMP>(2), wall time.
void BM_knn_graph_grid_2threads(benchmark::State& state) { knn_case(state, 2, true); }
BENCHMARK(BM_knn_graph_grid_2threads)
    ->ArgNames({"events", "points", "D", "normal"})
    ->Args({1, 10000, 3, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

//! radius_graph in the unit cube, r = 0.05, N = 10 000 (E ≈ 59k), at most 64 neighbours.
void BM_radius_graph(benchmark::State& state) {
  const index_t n = 10000, max_nbrs = 64;
  const auto x = uniform_points(n, 3, 2);
  const auto off = even_offsets(1, n);
  Tensor<Index, 2> nbr({n, max_nbrs});
  Tensor<float, 2> d2({n, max_nbrs});
  Tensor<Index, 1> indptr({n + 1}), src({n * max_nbrs});
  portml::Queue<B> q;
  index_t edges = 0;
  for (auto _ : state) {
    edges = g::radius_graph<B, float, Index>(q, x.view(), off.view(), 0.05f, false, nbr.view(), d2.view(),
                                             indptr.view(), src.view())
                .num_edges;
    benchmark::DoNotOptimize(src.data());
  }
  state.counters["edges"] = static_cast<double>(edges);
}
BENCHMARK(BM_radius_graph)->Unit(benchmark::kMillisecond);

//! ell_reduce over [N = 10 000, k = 16, F = 64]; arg: Reduce.
void BM_ell_reduce(benchmark::State& state) {
  const index_t n = 10000, k = 16, f = 64;
  const auto op = static_cast<g::Reduce>(state.range(0));
  Tensor<float, 3> m({n, k, f});
  std::mt19937 rng(3);
  std::normal_distribution<float> nd;
  for (index_t i = 0; i < m.size(); ++i) m.data()[i] = nd(rng);
  Tensor<Index, 2> nbr({n, k});
  for (index_t i = 0; i < nbr.size(); ++i) nbr.data()[i] = static_cast<Index>(i % n);
  Tensor<float, 2> y({n, f});
  portml::Queue<B> q;
  for (auto _ : state) {
    g::ell_reduce<B, float, Index>(q, m.view(), nbr.view(), y.view(), op);
    benchmark::DoNotOptimize(y.data());
  }
}
BENCHMARK(BM_ell_reduce)
    ->ArgName("op")
    ->Arg(static_cast<int>(g::Reduce::mean))
    ->Arg(static_cast<int>(g::Reduce::max))
    ->Unit(benchmark::kMillisecond);

//! CSR / COO data of gnn.md §5.5: N = 10 000 nodes with degrees uniform in [1, 32), F = 64.
struct EdgeData {
  index_t n = 10000, e = 0, f = 64;
  Tensor<Index, 1> indptr, dst_sorted, dst_shuffled, src_random;
  Tensor<float, 2> m;
  EdgeData() {
    std::mt19937 rng(4);
    std::uniform_int_distribution<int> deg(1, 31);
    indptr = Tensor<Index, 1>({n + 1});
    for (index_t i = 0; i < n; ++i) indptr(i + 1) = indptr(i) + deg(rng);
    e = indptr(n);
    dst_sorted = Tensor<Index, 1>({e});
    for (index_t i = 0; i < n; ++i)
      for (index_t r = indptr(i); r < indptr(i + 1); ++r) dst_sorted(r) = static_cast<Index>(i);
    dst_shuffled = Tensor<Index, 1>({e});
    for (index_t r = 0; r < e; ++r) dst_shuffled(r) = dst_sorted(r);
    std::shuffle(dst_shuffled.data(), dst_shuffled.data() + e, rng);
    src_random = Tensor<Index, 1>({e});
    std::uniform_int_distribution<Index> node(0, static_cast<Index>(n - 1));
    for (index_t r = 0; r < e; ++r) src_random(r) = node(rng);
    m = normal_points(e, f, 5);
  }
};
const EdgeData& edge_data() {
  static const EdgeData data;
  return data;
}

void BM_segment_reduce(benchmark::State& state) {
  const auto& d = edge_data();
  const auto op = static_cast<g::Reduce>(state.range(0));
  Tensor<float, 2> y({d.n, d.f});
  portml::Queue<B> q;
  for (auto _ : state) {
    g::segment_reduce<B, float, Index>(q, d.m.view(), d.indptr.view(), y.view(), op);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["E"] = static_cast<double>(d.e);
}
BENCHMARK(BM_segment_reduce)
    ->ArgName("op")
    ->Arg(static_cast<int>(g::Reduce::sum))
    ->Arg(static_cast<int>(g::Reduce::mean))
    ->Arg(static_cast<int>(g::Reduce::max))
    ->Unit(benchmark::kMillisecond);

//! Unsorted COO: the deterministic path (counting sort + segment fold) on every call.
void BM_scatter_reduce(benchmark::State& state) {
  const auto& d = edge_data();
  const auto op = static_cast<g::Reduce>(state.range(0));
  Tensor<float, 2> y({d.n, d.f});
  Tensor<Index, 1> ws({g::scatter_reduce_workspace_size(d.n, d.e)});
  portml::Queue<B> q;
  for (auto _ : state) {
    g::scatter_reduce<B, float, Index>(q, d.m.view(), d.dst_shuffled.view(), y.view(), op, ws.view());
    benchmark::DoNotOptimize(y.data());
  }
}
BENCHMARK(BM_scatter_reduce)
    ->ArgName("op")
    ->Arg(static_cast<int>(g::Reduce::sum))
    ->Arg(static_cast<int>(g::Reduce::max))
    ->Unit(benchmark::kMillisecond);

void BM_gather_rows(benchmark::State& state) {
  const auto& d = edge_data();
  Tensor<float, 2> y({d.e, d.f});
  const auto x = d.m.view().row_slice(0, d.n);
  portml::Queue<B> q;
  for (auto _ : state) {
    g::gather_rows<B, float, Index>(q, x, d.src_random.view(), y.view());
    benchmark::DoNotOptimize(y.data());
  }
}
BENCHMARK(BM_gather_rows)->Unit(benchmark::kMillisecond);

//! Softmax over the 16 incoming edges of each of 10 000 nodes, 4 heads.
void BM_segment_softmax(benchmark::State& state) {
  const index_t n = 10000, k = 16, h = 4;
  const auto s = normal_points(n * k, h, 6);
  const auto indptr = even_offsets(n, k);
  Tensor<float, 2> p({n * k, h});
  portml::Queue<B> q;
  for (auto _ : state) {
    g::segment_softmax<B, float, Index>(q, s.view(), indptr.view(), p.view());
    benchmark::DoNotOptimize(p.data());
  }
}
BENCHMARK(BM_segment_softmax)->Unit(benchmark::kMillisecond);

// ---- fused blocks and models (gnn.md §7 targets 1, 2 and 4) -------------------------------------------
// Configurations and inputs in gnn_cases.hpp (shared with the libtorch peer, bench/peers/libtorch_gnn.cpp,
// whose cases are named BM_libtorch_<case> with the same arguments). Threads: 1 = Serial queue,
// 2 = Queue<OpenMP>(2) (wall time is the meaningful column).

//! Events per second (items_per_second; µs per event = 1e6 / items_per_second, on the real-time clock).
void per_event(benchmark::State& state, index_t events) { state.SetItemsProcessed(state.iterations() * events); }

//! EdgeConv block (gnn.md §7.1): args (events, points per event, threads); F = 16 → 64 → 64, k = 16,
//! kNN in the 16 input features.
void BM_edgeconv_block(benchmark::State& state) {
  const index_t events = state.range(0), per = state.range(1), n = events * per;
  const L::EdgeConvBlock<float> block(edgeconv_block_config(), 16);
  const auto x = normal_points(n, 16, edgeconv_seed);
  const auto off = even_offsets(events, per);
  Tensor<float, 2> y({n, block.output_size()});
  with_queue(static_cast<int>(state.range(2)), [&](auto& q) {
    using Bk = typename queue_backend<std::remove_reference_t<decltype(q)>>::type;
    std::vector<std::byte> ws(block.workspace_bytes(n, events, L::graph_threads(q)));
    for (auto _ : state) {
      block.forward<Bk>(q, x.view(), x.view(), off.view(), y.view(), ws);
      benchmark::DoNotOptimize(y.data());
    }
  });
  per_event(state, events);
}
BENCHMARK(BM_edgeconv_block)
    ->ArgNames({"events", "points", "threads"})
    ->Args({1000, 50, 1})
    ->Args({1000, 50, 2})
    ->Args({1, 1000, 1})
    ->Args({1, 1000, 2})
    ->Args({1, 10000, 1})
    ->Args({1, 10000, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

//! The ParticleNet-like model (gnn.md §7.2): args (events, points per event, threads).
void BM_particlenet(benchmark::State& state) {
  const index_t events = state.range(0), per = state.range(1), n = events * per;
  const L::ParticleNet<float> model(particlenet_config());
  const auto pts = normal_points(n, 2, particlenet_points_seed);
  const auto x = normal_points(n, 16, particlenet_features_seed);
  const auto off = even_offsets(events, per);
  Tensor<float, 2> y({events, model.output_size()});
  with_queue(static_cast<int>(state.range(2)), [&](auto& q) {
    using Bk = typename queue_backend<std::remove_reference_t<decltype(q)>>::type;
    std::vector<std::byte> ws(model.workspace_bytes(n, events, L::graph_threads(q)));
    for (auto _ : state) {
      model.forward<Bk>(q, pts.view(), x.view(), off.view(), y.view(), ws);
      benchmark::DoNotOptimize(y.data());
    }
  });
  per_event(state, events);
}
BENCHMARK(BM_particlenet)
    ->ArgNames({"events", "points", "threads"})
    ->Args({200, 50, 1})
    ->Args({200, 50, 2})
    ->Args({1, 50, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

//! GravNet block (gnn.md §7.4): args (events, points per event, threads); F = 64, S = 4, P = 32, k = 16,
//! 64 outputs, PyG convention.
void BM_gravnet_block(benchmark::State& state) {
  const index_t events = state.range(0), per = state.range(1), n = events * per;
  const L::GravNetBlock<float> block(gravnet_block_config(), 64);
  const auto x = normal_points(n, 64, gravnet_block_seed);
  const auto off = even_offsets(events, per);
  Tensor<float, 2> y({n, block.output_size()});
  with_queue(static_cast<int>(state.range(2)), [&](auto& q) {
    using Bk = typename queue_backend<std::remove_reference_t<decltype(q)>>::type;
    std::vector<std::byte> ws(block.workspace_bytes(n, events, L::graph_threads(q)));
    for (auto _ : state) {
      block.forward<Bk>(q, x.view(), off.view(), y.view(), ws);
      benchmark::DoNotOptimize(y.data());
    }
  });
  per_event(state, events);
}
BENCHMARK(BM_gravnet_block)
    ->ArgNames({"events", "points", "threads"})
    ->Args({1, 10000, 1})
    ->Args({1, 10000, 2})
    ->Args({1000, 50, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

//! The GravNet model (two blocks + head): args (events, points per event, threads).
void BM_gravnet_model(benchmark::State& state) {
  const index_t events = state.range(0), per = state.range(1), n = events * per;
  const L::GravNetModel<float> model(gravnet_model_config());
  const auto x = normal_points(n, 16, gravnet_model_seed);
  const auto off = even_offsets(events, per);
  Tensor<float, 2> y({n, model.output_size()});
  with_queue(static_cast<int>(state.range(2)), [&](auto& q) {
    using Bk = typename queue_backend<std::remove_reference_t<decltype(q)>>::type;
    std::vector<std::byte> ws(model.workspace_bytes(n, events, L::graph_threads(q)));
    for (auto _ : state) {
      model.forward<Bk>(q, x.view(), off.view(), y.view(), ws);
      benchmark::DoNotOptimize(y.data());
    }
  });
  per_event(state, events);
}
BENCHMARK(BM_gravnet_model)
    ->ArgNames({"events", "points", "threads"})
    ->Args({1000, 50, 1})
    ->Args({1000, 50, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
