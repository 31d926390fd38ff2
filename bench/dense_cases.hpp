// SPDX-License-Identifier: Apache-2.0
//! \file
//! The MLPs, weights, inputs, batch sizes and counters of the dense benchmark cases, shared by
//! bench_dense.cpp (portml and the Eigen / OpenBLAS / oneDNN peers) and its libtorch peer
//! (bench/peers/libtorch_dense.cpp), so that every implementation runs the same computation.
#pragma once

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <portml/layers/mlp_config.hpp>

namespace portml_bench::dense {

using portml::index_t;

struct Net {
  const char* name;
  std::vector<index_t> widths;
};
inline const Net nets[] = {{"mlp64", {64, 256, 256, 128, 10}},
                           {"deepjet_head", {650, 200, 100, 100, 100, 6}},
                           {"l1_jet", {16, 64, 32, 32, 5}},
                           // five 1 → 1 layers: the fixed cost of a layer call (checks, dispatch, epilogue)
                           {"fixed_cost_5x1", {1, 1, 1, 1, 1, 1}}};

//! The batch sizes each net is run at.
inline std::vector<int64_t> batches_of(const Net& net) {
  const std::string name = net.name;
  if (name == "fixed_cost_5x1") return {1};
  if (name == "l1_jet") return {1, 2, 4, 8, 16, 64, 100, 256, 1024};
  return {1, 2, 4, 8, 16, 64, 100, 256, 1024, 4096};
}

//! The nets and batches of the two-thread cases (`*_2t`, wall time).
inline bool has_two_thread_cases(const Net& net) {
  const std::string name = net.name;
  return name == "mlp64" || name == "deepjet_head";
}
inline const std::vector<int64_t> two_thread_batches = {256, 4096};

inline double flops_per_row(const Net& net) {
  double f = 0;
  for (std::size_t l = 0; l + 1 < net.widths.size(); ++l) f += 2.0 * double(net.widths[l]) * double(net.widths[l + 1]);
  return f;
}

//! Deterministic weights W[l] (out × in, row-major) and biases, uniform in ±1/√in.
struct Params {
  std::vector<std::vector<double>> w, b;
  explicit Params(const Net& net) {
    std::mt19937 rng(7);
    for (std::size_t l = 0; l + 1 < net.widths.size(); ++l) {
      const double s = 1.0 / std::sqrt(double(net.widths[l]));
      std::uniform_real_distribution<double> d(-s, s);
      std::vector<double> wl(std::size_t(net.widths[l] * net.widths[l + 1])), bl(std::size_t(net.widths[l + 1]));
      for (auto& x : wl) x = d(rng);
      for (auto& x : bl) x = d(rng);
      w.push_back(std::move(wl));
      b.push_back(std::move(bl));
    }
  }
};

//! The net as portml's MLP configuration: Dense + ReLU, the last Dense linear.
inline portml::layers::MlpConfig mlp_config(const Net& net) {
  const Params p(net);
  portml::layers::MlpConfig cfg;
  cfg.inputs = {{"x", net.widths.front()}};
  for (std::size_t l = 0; l + 1 < net.widths.size(); ++l) {
    portml::layers::LayerConfig layer;
    layer.inputs = net.widths[l];
    layer.outputs = net.widths[l + 1];
    layer.weights = p.w[l];
    layer.bias = p.b[l];
    layer.activation = {l + 2 < net.widths.size() ? portml::kernels::Activation::Relu
                                                  : portml::kernels::Activation::Linear};
    cfg.layers.push_back(layer);
  }
  return cfg;
}

template <class T>
std::vector<T> input(index_t batch, index_t width) {
  std::mt19937 rng(9);
  std::uniform_real_distribution<double> d(-1, 1);
  std::vector<T> x(std::size_t(batch * width));
  for (auto& v : x) v = T(d(rng));
  return x;
}

inline void set_counters(benchmark::State& state, const Net& net, index_t batch) {
  state.counters["s_per_row"] =
      benchmark::Counter(double(batch), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.counters["FLOPs"] =
      benchmark::Counter(flops_per_row(net) * double(batch), benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace portml_bench::dense
