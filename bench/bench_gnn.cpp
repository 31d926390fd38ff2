// SPDX-License-Identifier: Apache-2.0
// The graph primitives on one thread (Serial), at the shapes of gnn.md §5 so that the numbers sit
// beside bench/peers/torch_gnn_ops.py run in the same session (docs/gnn.md has the table). Inputs are
// made outside the timed loop; the workspaces are allocated once, as a caller would.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>

#include <portml/kernels/graph.hpp>
#include <portml/portability/serial.hpp>

namespace {

using portml::index_t;
using portml::Tensor;
namespace g = portml::kernels::graph;
using B = portml::backend::Serial;
using Index = std::int32_t;

Tensor<float, 2> uniform_points(index_t n, index_t d, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  Tensor<float, 2> x({n, d});
  for (index_t i = 0; i < x.size(); ++i) x.data()[i] = u(rng);
  return x;
}

Tensor<float, 2> normal_points(index_t n, index_t d, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  Tensor<float, 2> x({n, d});
  for (index_t i = 0; i < x.size(); ++i) x.data()[i] = nd(rng);
  return x;
}

Tensor<Index, 1> even_offsets(index_t events, index_t per_event) {
  Tensor<Index, 1> off({events + 1});
  for (index_t b = 0; b <= events; ++b) off(b) = static_cast<Index>(b * per_event);
  return off;
}

//! knn_graph, k = 16, self excluded: args (events, points per event, D, uniform(0) / normal(1)).
void BM_knn_graph(benchmark::State& state) {
  const index_t events = state.range(0), per = state.range(1), d = state.range(2), k = 16;
  const index_t n = events * per;
  const auto x = state.range(3) == 0 ? uniform_points(n, d, 1) : normal_points(n, d, 1);
  const auto off = even_offsets(events, per);
  Tensor<Index, 2> nbr({n, k});
  Tensor<float, 2> d2({n, k});
  portml::Queue<B> q;
  for (auto _ : state) {
    g::knn_graph<B, float, Index>(q, x.view(), off.view(), nbr.view(), d2.view());
    benchmark::DoNotOptimize(nbr.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_knn_graph)
    ->ArgNames({"events", "points", "D", "normal"})
    ->Args({1, 10000, 3, 0})
    ->Args({1, 10000, 16, 1})
    ->Args({1000, 50, 16, 1})
    ->Unit(benchmark::kMillisecond);

//! knn_graph with a workspace (the grid search for D <= 4), k = 16: args as BM_knn_graph.
void BM_knn_graph_grid(benchmark::State& state) {
  const index_t events = state.range(0), per = state.range(1), d = state.range(2), k = 16;
  const index_t n = events * per;
  const auto x = state.range(3) == 0 ? uniform_points(n, d, 1) : normal_points(n, d, 1);
  const auto off = even_offsets(events, per);
  Tensor<Index, 2> nbr({n, k});
  Tensor<float, 2> d2({n, k});
  const auto size = g::knn_graph_workspace_size(n, events);
  Tensor<Index, 1> wi({size.indices});
  Tensor<float, 1> wr({size.reals});
  portml::Queue<B> q;
  for (auto _ : state) {
    g::knn_graph<B, float, Index>(q, x.view(), off.view(), nbr.view(), d2.view(), {}, {wi.view(), wr.view()});
    benchmark::DoNotOptimize(nbr.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_knn_graph_grid)
    ->ArgNames({"events", "points", "D", "normal"})
    ->Args({1, 10000, 3, 0})
    ->Args({1, 10000, 4, 1})
    ->Args({1000, 50, 3, 0})
    ->Unit(benchmark::kMillisecond);

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

}  // namespace
