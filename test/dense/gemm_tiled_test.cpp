// SPDX-License-Identifier: Apache-2.0
// The shared-memory tiled GEMM (the CUDA/HIP kernel) on every backend, the GPU-emulating Serial queue
// (real team barriers on fibers) included, against the double-precision oracle; GPU cases skip when
// no device is present.
#include <portml/kernels/gemm_tiled.hpp>

#include "dense_test_util.hpp"

namespace portml::test {
namespace {

using kernels::Activation;

template <class Case>
class GemmTiled : public BackendTest<Case> {};
TYPED_TEST_SUITE(GemmTiled, AllCases, CaseNames);

TYPED_TEST(GemmTiled, MatchesOracleWithBiasAndActivation) {
  using B = typename TypeParam::backend;
  using S = memory_space_t<B>;
  auto q = TypeParam::make_queue();
  std::mt19937 rng(31);
  for (auto [m, k, n] : {std::array<index_t, 3>{1, 1, 1}, {17, 33, 15}, {40, 16, 64}, {5, 70, 3}}) {
    for (auto kind : {Activation::Linear, Activation::Relu, Activation::Gelu}) {
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
      kernels::gemm_tiled<B, float>(q, da.view(), dw.view(), dc.view(), db.data(), act);
      const auto c = this->to_host(q, TensorView<const float, 2, S>(dc.view()));
      for (index_t i = 0; i < m; ++i) {
        for (index_t j = 0; j < n; ++j) {
          const auto o = oracle_element<float>(a.view(), i, w.view(), j, nullptr, bias.data());
          const double want = kernels::apply_activation(act, o.z);
          // |f'| ≤ 1.13 for these activations; plus a few ulps of the activation itself
          ASSERT_NEAR(static_cast<double>(c(i, j)), want, 2 * o.bound + 8 * 6e-8 * (1 + std::abs(want)))
              << TypeParam::name << " " << m << "x" << k << "x" << n << " " << kernels::activation_name(kind);
        }
      }
    }
  }
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
}

}  // namespace
}  // namespace portml::test
