// SPDX-License-Identifier: Apache-2.0
//! \file
//! Inputs and model configurations of the GNN benchmark cases, shared by bench_gnn.cpp (portml) and its
//! libtorch peer (bench/peers/libtorch_gnn.cpp) so that both run the same computation on the same data:
//! points drawn from fixed seeds, random weights with PyTorch's default scale (uniform ±1/√in),
//! BatchNorm already folded (as a loaded model has it).
#pragma once

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <random>

#include <portml/layers/graph_config.hpp>
#include <portml/portability/serial.hpp>
#if PORTML_ENABLE_OPENMP
#include <portml/portability/openmp.hpp>
#endif

namespace portml_bench::gnn {

using portml::index_t;
using portml::Tensor;
using Index = std::int32_t;
namespace L = portml::layers;

inline Tensor<float, 2> uniform_points(index_t n, index_t d, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  Tensor<float, 2> x({n, d});
  for (index_t i = 0; i < x.size(); ++i) x.data()[i] = u(rng);
  return x;
}

inline Tensor<float, 2> normal_points(index_t n, index_t d, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  Tensor<float, 2> x({n, d});
  for (index_t i = 0; i < x.size(); ++i) x.data()[i] = nd(rng);
  return x;
}

inline Tensor<Index, 1> even_offsets(index_t events, index_t per_event) {
  Tensor<Index, 1> off({events + 1});
  for (index_t b = 0; b <= events; ++b) off(b) = static_cast<Index>(b * per_event);
  return off;
}

//! A Dense layer with weights [out][in] and bias uniform in ±1/√in.
inline L::LayerConfig random_dense(index_t in, index_t out, unsigned seed,
                                   portml::kernels::Activation act = portml::kernels::Activation::Linear) {
  std::mt19937 rng(seed);
  const float a = 1.0f / std::sqrt(static_cast<float>(in));
  std::uniform_real_distribution<double> u(-a, a);
  L::LayerConfig l;
  l.kind = L::LayerConfig::Kind::Dense;
  l.inputs = in;
  l.outputs = out;
  l.name = "dense";
  for (index_t i = 0; i < in * out; ++i) l.weights.push_back(u(rng));
  for (index_t i = 0; i < out; ++i) l.bias.push_back(u(rng));
  l.activation = {act};
  return l;
}

//! EdgeConv block config: k, input F, MLP widths (each + ReLU), mean, zero-point missing neighbours,
//! dense shortcut, ReLU after the sum.
inline L::EdgeConvConfig edgeconv_config(index_t k, index_t in, std::initializer_list<index_t> widths, unsigned seed) {
  L::EdgeConvConfig c;
  c.k = k;
  c.missing = L::MissingNeighbours::zero_point;
  index_t prev = 2 * in;
  for (const index_t w : widths) {
    c.mlp.push_back(random_dense(prev, w, seed++, portml::kernels::Activation::Relu));
    prev = w;
  }
  c.shortcut.push_back(random_dense(in, prev, seed));
  return c;
}

//! GravNet block config (PyG convention): k, input F, S, P, output width (+ ReLU).
inline L::GravNetConfig gravnet_config(index_t k, index_t in, index_t s, index_t p, index_t out, unsigned seed) {
  L::GravNetConfig c;
  c.k = k;
  c.set_convention(L::GravNetConvention::pyg);
  c.space = random_dense(in, s, seed);
  c.propagate = random_dense(in, p, seed + 1);
  c.output.push_back(random_dense(in + 2 * p, out, seed + 2, portml::kernels::Activation::Relu));
  return c;
}

//! The EdgeConv block of BM_edgeconv_block: F = 16 → 64 → 64, k = 16.
inline L::EdgeConvConfig edgeconv_block_config() { return edgeconv_config(16, 16, {64, 64}, 3); }

//! The GravNet block of BM_gravnet_block: F = 64, S = 4, P = 32, k = 16, 64 outputs.
inline L::GravNetConfig gravnet_block_config() { return gravnet_config(16, 64, 4, 32, 64, 70); }

//! ParticleNet-like (gnn.md §7.2): 2-D points, 16 features, blocks 64/128/256 × 3 layers, k = 16,
//! head 256 → 256 → 10.
inline L::ParticleNetConfig particlenet_config() {
  L::ParticleNetConfig c;
  c.points = 2;
  c.features = 16;
  c.blocks = {edgeconv_config(16, 16, {64, 64, 64}, 1), edgeconv_config(16, 64, {128, 128, 128}, 10),
              edgeconv_config(16, 128, {256, 256, 256}, 20)};
  c.coordinates = {L::KnnCoordinates::points, L::KnnCoordinates::features, L::KnnCoordinates::features};
  c.head = {random_dense(256, 256, 30, portml::kernels::Activation::Relu), random_dense(256, 10, 31)};
  return c;
}

//! GravNet model: 16 features, two GravNet blocks (k = 16, S = 4, P = 32, 64 outputs), head 64 → 64 → 4.
inline L::GravNetModelConfig gravnet_model_config() {
  L::GravNetModelConfig c;
  c.features = 16;
  c.blocks = {gravnet_config(16, 16, 4, 32, 64, 40), gravnet_config(16, 64, 4, 32, 64, 50)};
  c.head = {random_dense(64, 64, 60, portml::kernels::Activation::Relu), random_dense(64, 4, 61)};
  return c;
}

//! Seeds of the inputs of each case (points, features), so that both implementations read the same data.
inline constexpr unsigned knn_seed = 1, edgeconv_seed = 7, particlenet_points_seed = 8, particlenet_features_seed = 9,
                          gravnet_block_seed = 10, gravnet_model_seed = 11;

template <class Q>
struct queue_backend;
template <class Bk>
struct queue_backend<portml::Queue<Bk>> {
  using type = Bk;
};

//! Runs f(queue) on a Serial queue (threads = 1) or Queue<OpenMP>(threads).
template <class F>
void with_queue(int threads, const F& f) {
#if PORTML_ENABLE_OPENMP
  if (threads > 1) {
    portml::Queue<portml::backend::OpenMP> q(threads);
    f(q);
    return;
  }
#endif
  portml::Queue<portml::backend::Serial> q;
  f(q);
}

}  // namespace portml_bench::gnn
