// SPDX-License-Identifier: Apache-2.0
// The register-blocked tiled GEMM (the CUDA/HIP kernel) on every backend, the GPU-emulating Serial queue
// (real team barriers on fibers) included, in every tile shape: against the double-precision oracle,
// and bit for bit against the one summation order the kernel documents (a plain sequential loop in
// this file), whatever the shape, batch size and row position. GPU cases skip when no device is present.
#include <portml/kernels/gemm_tiled.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <utility>

#include "dense_test_util.hpp"

namespace portml::test {
namespace {

using kernels::Activation;
using kernels::GemmTiledShape;

constexpr GemmTiledShape all_shapes[] = {GemmTiledShape::automatic, GemmTiledShape::tile16, GemmTiledShape::tile64,
                                         GemmTiledShape::tile128};

template <class Case>
class GemmTiled : public BackendTest<Case> {};
TYPED_TEST_SUITE(GemmTiled, AllCases, CaseNames);

TYPED_TEST(GemmTiled, MatchesOracleWithBiasAndActivation) {
  using B = typename TypeParam::backend;
  using S = memory_space_t<B>;
  auto q = TypeParam::make_queue();
  std::mt19937 rng(31);
  for (auto [m, k, n] :
       {std::array<index_t, 3>{1, 1, 1}, {17, 33, 15}, {40, 16, 64}, {5, 70, 3}, {130, 9, 67}, {2, 129, 131}}) {
    for (auto [kind, shape] : {std::pair{Activation::Linear, GemmTiledShape::automatic},
                               {Activation::Relu, GemmTiledShape::tile16},
                               {Activation::Gelu, GemmTiledShape::tile16},
                               {Activation::Relu, GemmTiledShape::tile64},
                               {Activation::Gelu, GemmTiledShape::tile64},
                               {Activation::Relu, GemmTiledShape::tile128},
                               {Activation::Gelu, GemmTiledShape::tile128}}) {
      Tensor<float, 2> a({m, k}), w({k, n}), bias2({1, n});
      fill_uniform(a, rng);
      fill_uniform(w, rng);
      fill_uniform(bias2, rng);
      Tensor<float, 1> bias({n});
      for (index_t j = 0; j < n; ++j) bias(j) = bias2(0, j);
      auto da = this->to_device(q, a);
      auto dw = this->to_device(q, w);
      auto db = this->to_device(q, bias);
      Tensor<float, 2, S> dc({m, n});
      const auto act = kernels::make_activation(kind);
      kernels::gemm_tiled<B, float>(q, da.view(), dw.view(), dc.view(), db.data(), act, shape);
      const auto c = this->to_host(q, TensorView<const float, 2, S>(dc.view()));
      for (index_t i = 0; i < m; ++i) {
        for (index_t j = 0; j < n; ++j) {
          const auto o = oracle_element<float>(a.view(), i, w.view(), j, nullptr, bias.data());
          const double want = kernels::apply_activation(act, o.z);
          // |f'| ≤ 1.13 for these activations; plus a few ulps of the activation itself
          ASSERT_NEAR(static_cast<double>(c(i, j)), want, 2 * o.bound + 8 * 6e-8 * (1 + std::abs(want)))
              << TypeParam::name << " " << m << "x" << k << "x" << n << " " << kernels::activation_name(kind) << " "
              << kernels::gemm_tiled_shape_name(shape) << " at (" << i << ", " << j << ")";
        }
      }
    }
  }
}

TYPED_TEST(GemmTiled, RowBitsIndependentOfShapeBatchAndPosition) {
  using B = typename TypeParam::backend;
  using S = memory_space_t<B>;
  auto q = TypeParam::make_queue();
  std::mt19937 rng(47);
  const index_t m = 150, k = 37, n = 70;  // tails in every dimension of every shape
  Tensor<float, 2> a({m, k}), w({k, n}), bias2({1, n});
  fill_uniform(a, rng);
  fill_uniform(w, rng);
  fill_uniform(bias2, rng);
  Tensor<float, 1> bias({n});
  for (index_t j = 0; j < n; ++j) bias(j) = bias2(0, j);
  const auto da = this->to_device(q, a);
  const auto dw = this->to_device(q, w);
  const auto db = this->to_device(q, bias);
  const bool fused = !B::is_host;
  const auto check_row = [&](const Tensor<float, 2>& c, index_t ci, index_t ai, GemmTiledShape shape) {
    for (index_t j = 0; j < n; ++j) {
      const float want = documented_gemm_element(a, ai, w, j, bias(j), fused);
      ASSERT_EQ(std::bit_cast<std::uint32_t>(c(ci, j)), std::bit_cast<std::uint32_t>(want))
          << TypeParam::name << " " << kernels::gemm_tiled_shape_name(shape) << " batch " << c.extent(0) << " row "
          << ai << " column " << j << ": " << c(ci, j) << " vs " << want;
    }
  };
  for (auto shape : all_shapes) {
    Tensor<float, 2, S> dc({m, n});
    kernels::gemm_tiled<B, float>(q, da.view(), dw.view(), dc.view(), db.data(), {}, shape);
    const auto c = this->to_host(q, TensorView<const float, 2, S>(dc.view()));
    for (index_t i = 0; i < m; ++i) check_row(c, i, i, shape);
    for (index_t i : {index_t(0), index_t(77), m - 1}) {  // the same rows as batches of one
      Tensor<float, 2> a1({1, k});
      for (index_t p = 0; p < k; ++p) a1(0, p) = a(i, p);
      const auto da1 = this->to_device(q, a1);
      Tensor<float, 2, S> dc1({1, n});
      kernels::gemm_tiled<B, float>(q, da1.view(), dw.view(), dc1.view(), db.data(), {}, shape);
      check_row(this->to_host(q, TensorView<const float, 2, S>(dc1.view())), 0, i, shape);
    }
  }
}

TEST(GemmTiledShape, AutomaticChoice) {
  using kernels::gemm_tiled_shape;
  EXPECT_EQ(gemm_tiled_shape(1, 64), GemmTiledShape::tile16);        // batch 1
  EXPECT_EQ(gemm_tiled_shape(1024, 64), GemmTiledShape::tile16);     // 16 teams of 64 × 64: too few
  EXPECT_EQ(gemm_tiled_shape(65536, 6), GemmTiledShape::tile16);     // narrow output layer
  EXPECT_EQ(gemm_tiled_shape(65536, 64), GemmTiledShape::tile64);    // N < 128
  EXPECT_EQ(gemm_tiled_shape(65536, 128), GemmTiledShape::tile128);  // 512 teams
  EXPECT_EQ(gemm_tiled_shape(2048, 2048), GemmTiledShape::tile128);  // 256 teams
  EXPECT_EQ(gemm_tiled_shape(1024, 1024), GemmTiledShape::tile64);   // 64 teams of 128², 256 of 64²
  EXPECT_EQ(gemm_tiled_shape(0, 0), GemmTiledShape::tile16);
  EXPECT_EQ(gemm_tiled_shape(2048, 2048, GemmTiledShape::tile64), GemmTiledShape::tile64);
  EXPECT_EQ(gemm_tiled_shape(2048, 2048, GemmTiledShape::tile16), GemmTiledShape::tile16);
}

TYPED_TEST(GemmTiled, RejectsBadShapesAndSoftmax) {
  using B = typename TypeParam::backend;
  using S = memory_space_t<B>;
  auto q = TypeParam::make_queue();
  Tensor<float, 2, S> a({3, 4}), w({5, 2}), c({3, 2}), w_ok({4, 2});
  EXPECT_THROW((kernels::gemm_tiled<B, float>(q, a.view(), w.view(), c.view(), nullptr, {})), ShapeError);
  EXPECT_THROW((kernels::gemm_tiled<B, float>(q, a.view(), w_ok.view(), c.view(), nullptr,
                                              kernels::make_activation(Activation::Softmax))),
               NotSupported);
  EXPECT_THROW(
      (kernels::gemm_tiled<B, float>(q, a.view(), w_ok.view(), c.view(), nullptr, {}, static_cast<GemmTiledShape>(17))),
      Error);
}

}  // namespace
}  // namespace portml::test
