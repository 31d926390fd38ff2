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

TYPED_TEST(BdtHostBackend, MarginsIndependentOfBatchPositionAndThreads) {
  const BdtFixture fx = bdt_fixtures("xgboost-json").front();
  const bdt::Forest<float> forest(fx.load());
  const std::vector<float> x0 = fx.inputs();
  const std::vector<float> want = fx.margins<float>();
  const index_t n0 = fx.rows, nf = fx.features, k = fx.outputs;
  // A large batch: the fixture rows repeated, so row r's margins must equal the trainer's for r % n0.
  const index_t reps = 9;
  std::vector<float> x;
  for (index_t r = 0; r < reps; ++r) x.insert(x.end(), x0.begin(), x0.end());
  const index_t n = n0 * reps;
  auto q = TypeParam::make_queue();
  for (const index_t offset : {index_t(0), index_t(1), index_t(13)}) {
    const index_t m = n - offset;
    std::vector<float> got(static_cast<std::size_t>(m * k));
    const TensorView<const float, 2> all(x.data(), {n, nf});
    bdt::predict_margins(q, forest, all.row_slice(offset, n), TensorView<float, 2>(got.data(), {m, k}));
    std::size_t bad = 0;
    for (index_t r = 0; r < m; ++r)
      bad += std::memcmp(&got[r * k], &want[((r + offset) % n0) * k], sizeof(float) * k) != 0;
    EXPECT_EQ(bad, 0u) << TypeParam::name << " offset " << offset;
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
}
#endif

}  // namespace
}  // namespace portml::test
