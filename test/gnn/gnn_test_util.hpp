// SPDX-License-Identifier: Apache-2.0
//! \file
//! Shared helpers of the GNN block and model tests: layer lists from the fixture arrays written by
//! test/data/gnn/make_gnn_fixtures.py, and the comparison with PyTorch's float32 outputs.
//!
//! Tolerance: |portml − PyTorch float32| ≤ atol + rtol·|PyTorch|, atol 1e-6, rtol 1e-5. Both are float32
//! computations of the same model that sum in different orders (portml factorises the first edge layer,
//! folds BatchNorm into the weights and accumulates each GEMM row in its own order), so each may be a few
//! ulps per operation away from the exact result, amplified by the layers. The generator checks that
//! PyTorch's float32 result is within half of this tolerance of its float64 result for every fixture
//! (it uses 0.4–6%), so the bound leaves room for portml's own rounding without hiding a wrong formula
//! (a wrong neighbour, a missing BatchNorm or divisor changes outputs by 1e-2 or more).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include <portml/layers/graph_config.hpp>
#include <portml/portability/launch.hpp>

#include "../kernels/graph_fixture.hpp"

namespace portml::test {

//! The backend of a queue type (Queue<B>, Queue<B>&).
template <class Q>
struct backend_of;
template <class B>
struct backend_of<Queue<B>> {
  using type = B;
};
template <class Q>
using backend_of_t = typename backend_of<std::remove_cvref_t<Q>>::type;

inline constexpr double gnn_rtol = 1e-5;
inline constexpr double gnn_atol = 1e-6;

//! The layer list stored under `prefix` (see make_gnn_fixtures.py).
inline std::vector<layers::LayerConfig> layers_from(const Fixture& fx, const std::string& prefix) {
  std::vector<layers::LayerConfig> out;
  const auto count = static_cast<int>(fx.scalar(prefix + ".count"));
  for (int i = 0; i < count; ++i) {
    const std::string p = prefix + "." + std::to_string(i);
    layers::LayerConfig l;
    l.name = p;
    const int type = static_cast<int>(fx.scalar(p + ".type"));
    if (type == 0) {
      const FixtureArray& w = fx.at(p + ".w");
      l.kind = layers::LayerConfig::Kind::Dense;
      l.outputs = w.shape[0];
      l.inputs = w.shape[1];
      l.weights = w.values;
      try {
        l.bias = fx.at(p + ".b").values;
      } catch (const std::runtime_error&) {
      }
    } else if (type == 1) {
      const FixtureArray& bn = fx.at(p + ".bn");
      const auto n = static_cast<std::size_t>(bn.shape[1]);
      l.kind = layers::LayerConfig::Kind::BatchNorm;
      l.inputs = l.outputs = bn.shape[1];
      l.mean.assign(bn.values.begin(), bn.values.begin() + static_cast<std::ptrdiff_t>(n));
      l.variance.assign(bn.values.begin() + static_cast<std::ptrdiff_t>(n),
                        bn.values.begin() + static_cast<std::ptrdiff_t>(2 * n));
      l.gamma.assign(bn.values.begin() + static_cast<std::ptrdiff_t>(2 * n),
                     bn.values.begin() + static_cast<std::ptrdiff_t>(3 * n));
      l.beta.assign(bn.values.begin() + static_cast<std::ptrdiff_t>(3 * n), bn.values.end());
      l.epsilon = fx.scalar(p + ".eps");
    } else {
      l.kind = layers::LayerConfig::Kind::Activation;
      const int act = static_cast<int>(fx.scalar(p + ".act"));
      l.activation = act == 1 ? kernels::ActivationSpec{kernels::Activation::Relu}
                              : kernels::ActivationSpec{kernels::Activation::Elu, fx.scalar(p + ".alpha")};
    }
    out.push_back(std::move(l));
  }
  return out;
}

//! The block configurations a fixture describes (make_gnn_fixtures.py writes the same keys).
inline layers::EdgeConvConfig edgeconv_config(const Fixture& fx) {
  layers::EdgeConvConfig cfg;
  cfg.k = static_cast<index_t>(fx.scalar("k"));
  cfg.mlp = layers_from(fx, "mlp");
  cfg.shortcut = layers_from(fx, "shortcut");
  cfg.aggregation = fx.scalar("aggregation") == 0 ? kernels::graph::Reduce::mean : kernels::graph::Reduce::max;
  cfg.missing = fx.scalar("missing") == 0 ? layers::MissingNeighbours::skip : layers::MissingNeighbours::zero_point;
  return cfg;
}

inline layers::GravNetConfig gravnet_config(const Fixture& fx) {
  layers::GravNetConfig cfg;
  cfg.k = static_cast<index_t>(fx.scalar("k"));
  cfg.set_convention(fx.scalar("convention") == 0 ? layers::GravNetConvention::pyg : layers::GravNetConvention::cms);
  cfg.space = layers_from(fx, "space").at(0);
  cfg.propagate = layers_from(fx, "propagate").at(0);
  cfg.output = layers_from(fx, "output");
  return cfg;
}

inline layers::InteractionConfig interaction_config(const Fixture& fx) {
  layers::InteractionConfig cfg;
  cfg.edge_mlp = layers_from(fx, "edge");
  cfg.node_mlp = layers_from(fx, "node");
  return cfg;
}

//! Every element within gnn_atol + gnn_rtol·|want|.
inline void expect_close(const Tensor<float, 2>& got, const Tensor<float, 2>& want, const std::string& what) {
  ASSERT_EQ(got.extent(0), want.extent(0)) << what;
  ASSERT_EQ(got.extent(1), want.extent(1)) << what;
  int reported = 0;
  for (index_t i = 0; i < got.extent(0); ++i) {
    for (index_t j = 0; j < got.extent(1); ++j) {
      const double g = got(i, j), w = want(i, j);
      const double tol = gnn_atol + gnn_rtol * std::abs(w);
      if (!(std::abs(g - w) <= tol) && reported++ < 10) {
        ADD_FAILURE() << what << " [" << i << ", " << j << "]: portml " << g << ", PyTorch " << w << ", tolerance "
                      << tol;
      }
    }
  }
}

//! Rows [r0, r1) of `a` are bitwise equal to rows [s0, s0 + r1 - r0) of `b`.
inline bool same_bits(const Tensor<float, 2>& a, index_t r0, index_t r1, const Tensor<float, 2>& b, index_t s0) {
  const auto width = static_cast<std::size_t>(a.extent(1));
  for (index_t r = r0; r < r1; ++r) {
    if (std::memcmp(&a(r, 0), &b(s0 + r - r0, 0), width * sizeof(float)) != 0) return false;
  }
  return true;
}

}  // namespace portml::test
