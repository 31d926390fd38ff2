// SPDX-License-Identifier: Apache-2.0
// The GEMM entry point against a double-precision oracle: every ISA this CPU runs (forced through
// GemmConfig::isa), float and double, every tile height and panel tail, every epilogue kind.
#include <cmath>

#include "dense_test_util.hpp"

namespace portml::test {
namespace {

using kernels::Activation;
using kernels::ActivationSpec;

// |f(x) − f(y)| ≤ L·|x − y| with L ≤ 2 for every activation here (SELU: λα ≈ 1.76; GELU: 1.13), and
// the activation itself rounds to a few units in the last place: 8 ulps of the result plus 8 eps absolute.
template <class T>
double activation_tolerance(double bound, double want) {
  return 2.0 * bound + 8.0 * unit_roundoff<T>() * (std::abs(want) + 1.0);
}

template <class T>
void check_gemm(Isa isa, index_t m, index_t k, index_t n, const ActivationSpec& act, bool with_scale, bool with_bias,
                bool with_residual, std::mt19937& rng) {
  Tensor<T, 2> a({m, k}), w({k, n}), residual({m, n}), c({m, n});
  fill_uniform(a, rng);
  fill_uniform(w, rng);
  fill_uniform(residual, rng);
  const auto scale = uniform_vector<T>(n, rng, 0.5, 2.0);
  const auto bias = uniform_vector<T>(n, rng);
  const kernels::PackedWeights<T> packed(w.view());
  kernels::epilogue::ScaleBiasActivationResidual<T> ep{
      with_scale ? scale.data() : nullptr, with_bias ? bias.data() : nullptr, act,
      with_residual ? TensorView<const T, 2>(residual.view()) : TensorView<const T, 2>{}};
  Queue<backend::Serial> q;
  kernels::gemm(q, a.view(), packed, c.view(), ep, {.isa = isa});
  for (index_t i = 0; i < m; ++i) {
    for (index_t j = 0; j < n; ++j) {
      const auto o = oracle_element<T>(a.view(), i, w.view(), j, ep.scale, ep.bias);
      double want = kernels::apply_activation(act, o.z);
      if (with_residual) want += static_cast<double>(residual(i, j));
      const double tol = activation_tolerance<T>(o.bound, want);
      ASSERT_NEAR(static_cast<double>(c(i, j)), want, tol)
          << to_string(isa) << " " << m << "x" << k << "x" << n << " act " << kernels::activation_name(act.kind)
          << " at (" << i << ", " << j << ")";
    }
  }
}

template <class T>
class GemmOracle : public ::testing::Test {};
using Scalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(GemmOracle, Scalars);

// Every tile height 1..13 (each small-M path and the balanced split), panel tails, K = 1 and odd K.
TYPED_TEST(GemmOracle, AllTileHeightsAndPanelTails) {
  std::mt19937 rng(3);
  for (Isa isa : runnable_isas()) {
    for (index_t m : {1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 25, 40}) {
      for (auto [k, n] : {std::array<index_t, 2>{1, 1}, {7, 33}, {64, 31}, {65, 130}, {3, 100}}) {
        check_gemm<TypeParam>(isa, m, k, n, kernels::make_activation(Activation::Linear), false, false, false, rng);
      }
    }
  }
}

// Long K (one accumulation chain of up to 2049 terms per element; A rows far apart in memory).
TYPED_TEST(GemmOracle, LongK) {
  std::mt19937 rng(7);
  for (Isa isa : runnable_isas()) {
    check_gemm<TypeParam>(isa, 13, 1100, 40, kernels::make_activation(Activation::Linear), false, false, false, rng);
    check_gemm<TypeParam>(isa, 3, 1537, 70, kernels::make_activation(Activation::Tanh), true, true, true, rng);
    check_gemm<TypeParam>(isa, 30, 2049, 33, kernels::make_activation(Activation::Relu), false, true, true, rng);
    // K = 2048 (rows 8 KiB apart in float) over more than one long-K block of 16 twelve-row tiles
    check_gemm<TypeParam>(isa, 200, 2048, 40, kernels::make_activation(Activation::Linear), false, true, false, rng);
  }
}

TYPED_TEST(GemmOracle, EveryEpilogue) {
  std::mt19937 rng(4);
  for (Isa isa : runnable_isas()) {
    for (auto kind :
         {Activation::Linear, Activation::Relu, Activation::LeakyRelu, Activation::Elu, Activation::Selu,
          Activation::Sigmoid, Activation::Tanh, Activation::Silu, Activation::Gelu, Activation::HardSigmoid}) {
      const auto act = kernels::make_activation(kind);
      check_gemm<TypeParam>(isa, 5, 40, 70, act, false, true, false, rng);
      check_gemm<TypeParam>(isa, 14, 17, 33, act, true, true, true, rng);
    }
    // A LeakyRelu slope outside (0, 1) runs in the post-store pass.
    check_gemm<TypeParam>(isa, 3, 9, 40, {Activation::LeakyRelu, 1.5, 0.0}, false, true, true, rng);
    check_gemm<TypeParam>(isa, 6, 21, 35, {Activation::Clip, -0.5, 0.75}, true, true, false, rng);
  }
}

TYPED_TEST(GemmOracle, IdentityEpilogueMatchesReferenceMatmul) {
  std::mt19937 rng(5);
  Tensor<TypeParam, 2> a({37, 50}), w({50, 45}), want({37, 45}), got({37, 45});
  fill_uniform(a, rng);
  fill_uniform(w, rng);
  Queue<backend::Serial> q;
  kernels::reference::matmul<backend::Serial, TypeParam>(q, a.view(), w.view(), want.view());
  const kernels::PackedWeights<TypeParam> packed(w.view());
  for (Isa isa : runnable_isas()) {
    kernels::gemm(q, a.view(), packed, got.view(), kernels::epilogue::Identity{}, {.isa = isa});
    for (index_t i = 0; i < 37; ++i) {
      for (index_t j = 0; j < 45; ++j) {
        const auto o = oracle_element<TypeParam>(a.view(), i, w.view(), j, nullptr, nullptr);
        // both are within the dot-product bound of the exact value
        ASSERT_NEAR(static_cast<double>(got(i, j)), static_cast<double>(want(i, j)), 2 * o.bound);
      }
    }
  }
}

TEST(Gemm, PackedWeightsRoundTrip) {
  std::mt19937 rng(6);
  Tensor<float, 2> w({13, 70});
  fill_uniform(w, rng);
  const kernels::PackedWeights<float> packed(w.view());
  EXPECT_EQ(packed.rows(), 13);
  EXPECT_EQ(packed.cols(), 70);
  EXPECT_EQ(packed.panels(), 3);
  for (index_t k = 0; k < 13; ++k)
    for (index_t j = 0; j < 70; ++j) ASSERT_EQ(packed(k, j), w(k, j));
  // 70 = 2 · 32 + 6: the last panel is narrow, packed 16 wide (its padding columns 6 … 15 zero)
  EXPECT_EQ(packed.line_width(1), 32);
  EXPECT_EQ(packed.line_width(2), 16);
  EXPECT_EQ(packed.panel(2) - packed.panel(0), 2 * 13 * 32);
  EXPECT_EQ(packed.panel(2)[12 * 16 + 5], w(12, 69));
  EXPECT_EQ(packed.panel(2)[12 * 16 + 15], 0.0f);
  // 90 = 2 · 32 + 26: a last panel of more than 16 columns is packed 32 wide, zero-padded
  Tensor<float, 2> w90({13, 90});
  fill_uniform(w90, rng);
  const kernels::PackedWeights<float> packed90(w90.view());
  EXPECT_EQ(packed90.line_width(2), 32);
  for (index_t k = 0; k < 13; ++k)
    for (index_t j = 0; j < 90; ++j) ASSERT_EQ(packed90(k, j), w90(k, j));
  EXPECT_EQ(packed90.panel(2)[12 * 32 + 31], 0.0f);
  // a [N, K] weight packs through its transposed view
  const kernels::PackedWeights<float> from_t(TensorView<const float, 2>(w.view()).transposed());
  EXPECT_EQ(from_t.rows(), 70);
  EXPECT_EQ(from_t(5, 12), w(12, 5));
}

TEST(Gemm, ShapeAndIndexErrors) {
  Tensor<float, 2> a({4, 8}), w({8, 5}), c({4, 5}), bad_c({4, 6}), bad_a({4, 7});
  const kernels::PackedWeights<float> packed(w.view());
  Queue<backend::Serial> q;
  EXPECT_THROW(kernels::gemm(q, bad_a.view(), packed, c.view()), ShapeError);
  EXPECT_THROW(kernels::gemm(q, a.view(), packed, bad_c.view()), ShapeError);
  const std::vector<index_t> rows{0, 1, 4, 2};
  EXPECT_THROW(kernels::gemm(q, kernels::GatheredRows<float>{a.view(), rows}, packed, c.view()), IndexError);
  Tensor<float, 2> res({3, 5});
  kernels::epilogue::ScaleBiasActivationResidual<float> ep{nullptr, nullptr, {}, res.view()};
  EXPECT_THROW(kernels::gemm(q, a.view(), packed, c.view(), ep), ShapeError);
  kernels::epilogue::BiasActivation<float> softmax{nullptr, kernels::make_activation(Activation::Softmax)};
  EXPECT_THROW(kernels::gemm(q, a.view(), packed, c.view(), softmax), NotSupported);
  // an empty batch is fine
  Tensor<float, 2> a0({0, 8}), c0({0, 5});
  EXPECT_NO_THROW(kernels::gemm(q, a0.view(), packed, c0.view()));
}

}  // namespace
}  // namespace portml::test
