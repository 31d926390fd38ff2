// SPDX-License-Identifier: Apache-2.0
// libtorch C++ peer of bench_dense.cpp's MLP cases: the same nets, weights and inputs (dense_cases.hpp)
// as a torch::nn::Sequential of Linear and ReLU, run under torch::InferenceMode with the input made once
// outside the timed loop, as a C++ user of libtorch runs a model. libtorch_f32/<net>/<batch> mirrors
// portml_f32/<net>/<batch> (one thread, CPU time); libtorch_f32_2t mirrors portml_f32_2t (two threads,
// wall time); square_libtorch_f32 is torch::mm_out into a preallocated result (mirrors square_portml_f32).
// Before timing, each case runs portml's Mlp once on the same batch and puts the agreement in its label.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include <portml/layers/mlp.hpp>
#include <portml/portability/serial.hpp>

#include "../dense_cases.hpp"
#include "libtorch_common.hpp"

namespace {

using namespace portml_bench::dense;
namespace lt = portml_bench::libtorch;

template <int Threads>
void BM_libtorch(benchmark::State& state, const Net& net) {
  const auto blas_threads = lt::set_threads(Threads);
  const index_t batch = state.range(0), in = net.widths.front(), out = net.widths.back();
  const auto cfg = mlp_config(net);
  auto model = lt::sequential(cfg.layers);
  model->eval();
  auto xs = input<float>(batch, in);
  const torch::InferenceMode guard;
  const auto x = torch::from_blob(xs.data(), {batch, in}, torch::kFloat32).clone();
  static std::map<std::string, std::string> checked;  // once per case: repetitions call this again
  const std::string key = std::string(net.name) + "/" + std::to_string(batch) + "/" + std::to_string(Threads);
  auto ok = checked.find(key);
  if (ok == checked.end()) {
    const portml::layers::Mlp<float> ref(cfg);
    std::vector<float> y(static_cast<std::size_t>(batch * out));
    std::vector<std::byte> ws(ref.workspace_bytes(batch) + 64);
    portml::Queue<portml::backend::Serial> q;
    ref.forward(q, portml::TensorView<const float, 2>(xs.data(), {batch, in}),
                portml::TensorView<float, 2>(y.data(), {batch, out}), ws);
    ok = checked.emplace(key, lt::check(model->forward(x), y.data(), batch, out)).first;
  }
  for (auto _ : state) {
    auto y = model->forward(x);
    benchmark::DoNotOptimize(y.data_ptr<float>());
    benchmark::ClobberMemory();
  }
  state.SetLabel(lt::label(Threads, blas_threads) + " " + ok->second);
  set_counters(state, net, batch);
}

void BM_square_libtorch(benchmark::State& state) {
  const auto blas_threads = lt::set_threads(1);
  const index_t n = state.range(0);
  auto as = input<float>(n, n), ws = input<float>(n, n);
  const torch::InferenceMode guard;
  const auto a = torch::from_blob(as.data(), {n, n}, torch::kFloat32).clone();
  const auto w = torch::from_blob(ws.data(), {n, n}, torch::kFloat32).clone();
  auto c = torch::empty({n, n}, torch::kFloat32);
  for (auto _ : state) {
    torch::mm_out(c, a, w);
    benchmark::DoNotOptimize(c.data_ptr<float>());
  }
  state.SetLabel(lt::label(1, blas_threads));
  state.counters["FLOPs"] =
      benchmark::Counter(2.0 * double(n) * double(n) * double(n), benchmark::Counter::kIsIterationInvariantRate);
}

int register_libtorch() {
  for (const Net& net : nets) {
    auto* b = benchmark::RegisterBenchmark((std::string("libtorch_f32/") + net.name).c_str(), BM_libtorch<1>, net);
    for (int64_t batch : batches_of(net)) b->Arg(batch);
  }
  for (const Net& net : nets) {
    if (!has_two_thread_cases(net)) continue;
    auto* b = benchmark::RegisterBenchmark((std::string("libtorch_f32_2t/") + net.name).c_str(), BM_libtorch<2>, net);
    for (int64_t batch : two_thread_batches) b->Arg(batch);
    b->UseRealTime();
  }
  benchmark::RegisterBenchmark("square_libtorch_f32", BM_square_libtorch)
      ->Arg(256)
      ->Arg(512)
      ->Arg(1024)
      ->Arg(2048)
      ->Unit(benchmark::kMillisecond);
  return 0;
}
const int registered = register_libtorch();

}  // namespace
