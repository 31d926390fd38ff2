// SPDX-License-Identifier: Apache-2.0
// A row's margins do not depend on the batch size, its position in the batch, or the backend and
// thread count that evaluates the batch.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include <portml/bdt/forest.hpp>
#include <portml/bdt/predict.hpp>

#include "../common/backend_cases.hpp"
#include "fixtures.hpp"

namespace portml::test {
namespace {

template <class Case>
class BdtHostBackend : public BackendTest<Case> {};

using HostCases = ::testing::Types<SerialCase
#if PORTML_ENABLE_OPENMP
                                   ,
                                   OpenMPCase
#endif
#if PORTML_ENABLE_KOKKOS
                                   ,
                                   KokkosCase
#endif
                                   >;
TYPED_TEST_SUITE(BdtHostBackend, HostCases, CaseNames);

//! A large batch of the fixture's rows repeated, at several offsets, through the queue: row r's margins
//! must equal the trainer's for r % rows.
template <class Value, class Queue>
void expect_margins_independent_of_position(const BdtFixture& fx, Queue& q, const char* name) {
  const bdt::Forest<Value> forest(fx.load());
  const std::vector<float> x0 = fx.inputs();
  const std::vector<Value> want = fx.margins<Value>();
  const index_t n0 = fx.rows, nf = fx.features, k = fx.outputs;
  // A large batch: the fixture rows repeated, so row r's margins must equal the trainer's for r % n0.
  const index_t reps = 9;
  std::vector<float> x;
  for (index_t r = 0; r < reps; ++r) x.insert(x.end(), x0.begin(), x0.end());
  const index_t n = n0 * reps;
  for (const index_t offset : {index_t(0), index_t(1), index_t(13)}) {
    const index_t m = n - offset;
    std::vector<Value> got(static_cast<std::size_t>(m * k));
    const TensorView<const float, 2> all(x.data(), {n, nf});
    bdt::predict_margins(q, forest, all.row_slice(offset, n), TensorView<Value, 2>(got.data(), {m, k}));
    std::size_t bad = 0;
    for (index_t r = 0; r < m; ++r)
      bad += std::memcmp(&got[r * k], &want[((r + offset) % n0) * k], sizeof(Value) * k) != 0;
    EXPECT_EQ(bad, 0u) << name << " " << fx.name << " offset " << offset;
  }
}

TYPED_TEST(BdtHostBackend, MarginsIndependentOfBatchPositionAndThreads) {
  auto q = TypeParam::make_queue();
  expect_margins_independent_of_position<float>(bdt_fixtures("xgboost-json").front(), q, TypeParam::name);
  // Double forests (LightGBM, TMVA) on their SIMD paths.
  for (const char* format : {"lightgbm-text", "tmva-xml"}) {
    for (const BdtFixture& fx : bdt_fixtures(format)) {
      if (fx.has_margins) expect_margins_independent_of_position<double>(fx, q, TypeParam::name);
    }
  }
}

#if PORTML_ENABLE_OPENMP
TEST(BdtOpenMP, ThreadCountsGiveIdenticalOutputs) {
  const BdtFixture fx = bdt_fixtures("xgboost-json").back();
  const bdt::Forest<float> forest(fx.load());
  const std::vector<float> x = fx.inputs();
  const index_t n = fx.rows, nf = fx.features, k = fx.outputs;
  std::vector<float> one(static_cast<std::size_t>(n * k)), three(one.size());
  Queue<backend::OpenMP> q1(1), q3(3);
  bdt::predict_margins(q1, forest, TensorView<const float, 2>(x.data(), {n, nf}),
                       TensorView<float, 2>(one.data(), {n, k}));
  bdt::predict_margins(q3, forest, TensorView<const float, 2>(x.data(), {n, nf}),
                       TensorView<float, 2>(three.data(), {n, k}));
  EXPECT_EQ(std::memcmp(one.data(), three.data(), one.size() * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(one.data(), fx.margins<float>().data(), one.size() * sizeof(float)), 0);
  for (const BdtFixture& lgb : bdt_fixtures("lightgbm-text")) {  // double forests
    const bdt::Forest<double> f(lgb.load());
    const std::vector<float> xl = lgb.inputs();
    const index_t nl = lgb.rows, kl = lgb.outputs;
    std::vector<double> a(static_cast<std::size_t>(nl * kl)), b(a.size());
    bdt::predict_margins(q1, f, TensorView<const float, 2>(xl.data(), {nl, lgb.features}),
                         TensorView<double, 2>(a.data(), {nl, kl}));
    bdt::predict_margins(q3, f, TensorView<const float, 2>(xl.data(), {nl, lgb.features}),
                         TensorView<double, 2>(b.data(), {nl, kl}));
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(double)), 0) << lgb.name;
    EXPECT_EQ(std::memcmp(a.data(), lgb.margins<double>().data(), a.size() * sizeof(double)), 0) << lgb.name;
  }
}
#endif

}  // namespace
}  // namespace portml::test
