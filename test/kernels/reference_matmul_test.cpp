// SPDX-License-Identifier: Apache-2.0
// The reference matmul on every backend against a double-precision host computation.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include <portml/kernels/reference/matmul.hpp>

#include "../common/backend_cases.hpp"

namespace portml::test {
namespace {

template <class Case>
class ReferenceMatmul : public BackendTest<Case> {};
TYPED_TEST_SUITE(ReferenceMatmul, AllCases, CaseNames);

TYPED_TEST(ReferenceMatmul, MatchesDoublePrecisionProduct) {
  using B = typename TypeParam::backend;
  using S = memory_space_t<B>;
  auto q = TypeParam::make_queue();
  std::mt19937 rng(20261126);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (auto [m, k, n] : {std::array<index_t, 3>{1, 1, 1}, {7, 5, 9}, {33, 64, 17}, {100, 3, 250}}) {
    Tensor<float, 2> a({m, k}), b({k, n});
    for (index_t i = 0; i < a.size(); ++i) a.data()[i] = dist(rng);
    for (index_t i = 0; i < b.size(); ++i) b.data()[i] = dist(rng);
    auto da = this->to_device(q, a);
    auto db = this->to_device(q, b);
    Tensor<float, 2, S> dc({m, n});
    kernels::reference::matmul<B, float>(q, da.view(), db.view(), dc.view());
    const auto c = this->to_host(q, TensorView<const float, 2, S>(dc.view()));
    for (index_t i = 0; i < m; ++i) {
      for (index_t j = 0; j < n; ++j) {
        double want = 0, magnitude = 0;
        for (index_t p = 0; p < k; ++p) {
          want += static_cast<double>(a(i, p)) * b(p, j);
          magnitude += std::abs(static_cast<double>(a(i, p)) * b(p, j));
        }
        // float accumulation of k terms: error bound k * eps * sum |a_ip b_pj|
        ASSERT_NEAR(c(i, j), want, 1e-7 + static_cast<double>(k) * 1.2e-7 * magnitude) << m << "x" << k << "x" << n;
      }
    }
  }
}

TYPED_TEST(ReferenceMatmul, ShapeMismatchNamesAllShapes) {
  using B = typename TypeParam::backend;
  using S = memory_space_t<B>;
  auto q = TypeParam::make_queue();
  Tensor<double, 2, S> a({2, 3}), b({4, 5}), c({2, 5});
  try {
    kernels::reference::matmul<B, double>(q, a.view(), b.view(), c.view());
    FAIL() << "no exception";
  } catch (const ShapeError& e) {
    EXPECT_STREQ(e.what(),
                 "portml::kernels::reference::matmul: shapes do not fit C = A·B: A [2, 3], B [4, 5], C [2, 5]");
  }
}

}  // namespace
}  // namespace portml::test
