// SPDX-License-Identifier: Apache-2.0
// Cost of the execution layer itself on each host backend: an empty 1-D launch, a hierarchical
// launch with scratch, a reduction, and the reference matmul (which is a correctness oracle, not a
// fast kernel). Items are elements (or outputs for matmul).
#include <benchmark/benchmark.h>

#include <string>

#include <portml/kernels/reference/matmul.hpp>
#include <portml/portability/all.hpp>

namespace {

using portml::index_t;

template <class B>
portml::Queue<B> make_queue(int threads) {
  if constexpr (std::is_same_v<B, portml::backend::OpenMP>) {
    return portml::Queue<B>(threads);
  } else {
    (void)threads;
    return portml::Queue<B>{};
  }
}

template <class B>
void BM_parallel_for_axpy(benchmark::State& state) {
  const index_t n = state.range(0);
  auto q = make_queue<B>(static_cast<int>(state.range(1)));
  portml::Tensor<float, 1> x({n}), y({n});
  const auto xv = x.view();
  const auto yv = y.view();
  for (auto _ : state) {
    portml::parallel_for(q, portml::Range1D{n}, [=](index_t i) { yv(i) += 2.0f * xv(i); });
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
}

template <class B>
void BM_parallel_reduce_sum(benchmark::State& state) {
  const index_t n = state.range(0);
  auto q = make_queue<B>(static_cast<int>(state.range(1)));
  portml::Tensor<double, 1> x({n});
  const auto xv = x.view();
  for (auto _ : state) {
    benchmark::DoNotOptimize(portml::parallel_reduce(
        q, portml::Range1D{n}, [=](index_t i, double& acc) { acc += xv(i); }, portml::Sum<double>{}));
  }
  state.SetItemsProcessed(state.iterations() * n);
}

template <class B>
void BM_launch_team_scratch(benchmark::State& state) {
  const index_t teams = state.range(0);
  auto q = make_queue<B>(static_cast<int>(state.range(1)));
  portml::Tensor<float, 1> out({teams});
  const auto ov = out.view();
  for (auto _ : state) {
    portml::launch(q, portml::LaunchConfig{teams, 64, 64 * sizeof(float)}, [=](const auto& team) {
      float* s = portml::team_scratch<float>(team);
      for (index_t i : portml::team_elements(team, 64)) s[i] = static_cast<float>(i);
      team.barrier();
      if (team.team_rank() == 0) ov(team.league_rank()) = s[63];
    });
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * teams);
}

template <class B>
void BM_reference_matmul(benchmark::State& state) {
  std::string reason;
  if (portml::device_count<B>(&reason) == 0) {
    state.SkipWithError(reason.c_str());
    return;
  }
  using S = portml::memory_space_t<B>;
  const index_t n = state.range(0);
  auto q = make_queue<B>(static_cast<int>(state.range(1)));
  portml::Tensor<float, 2, S> a({n, n}), b({n, n}), c({n, n});
  for (auto _ : state) {
    portml::kernels::reference::matmul<B, float>(q, a.view(), b.view(), c.view());
    q.wait();
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["FLOPS"] =
      benchmark::Counter(2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

template <class B>
void register_backend(int max_threads) {  // host backends
  const std::string name = B::name;
  for (int threads = 1; threads <= max_threads; threads *= 2) {
    benchmark::RegisterBenchmark(("BM_parallel_for_axpy/" + name).c_str(), BM_parallel_for_axpy<B>)
        ->ArgsProduct({{1 << 10, 1 << 20}, {threads}})
        ->ArgNames({"n", "threads"})
        ->UseRealTime();
    benchmark::RegisterBenchmark(("BM_parallel_reduce_sum/" + name).c_str(), BM_parallel_reduce_sum<B>)
        ->ArgsProduct({{1 << 10, 1 << 20}, {threads}})
        ->ArgNames({"n", "threads"})
        ->UseRealTime();
    benchmark::RegisterBenchmark(("BM_launch_team_scratch/" + name).c_str(), BM_launch_team_scratch<B>)
        ->ArgsProduct({{16, 4096}, {threads}})
        ->ArgNames({"teams", "threads"})
        ->UseRealTime();
    benchmark::RegisterBenchmark(("BM_reference_matmul/" + name).c_str(), BM_reference_matmul<B>)
        ->ArgsProduct({{64}, {threads}})
        ->ArgNames({"n", "threads"})
        ->UseRealTime();
  }
}

const bool registered = [] {
  portml::for_each_type(portml::host_backends{},
                        [&]<class B>() { register_backend<B>(std::is_same_v<B, portml::backend::OpenMP> ? 2 : 1); });
  return true;
}();

}  // namespace
