// SPDX-License-Identifier: Apache-2.0
// Argument checks of the execution layer that run on the host before any backend work (docs/errors.md):
// parallel_reduce's extent, and deep_copy's shapes on a queue of every backend — with, on a GPU queue,
// the refusal of strided copies naming both stride sets (those cases skip without a device).
#include <gtest/gtest.h>

#include <string>

#include "../common/backend_cases.hpp"

namespace portml::test {
namespace {

template <class Case>
class ArgumentChecks : public BackendTest<Case> {};
TYPED_TEST_SUITE(ArgumentChecks, AllCases, CaseNames);

TYPED_TEST(ArgumentChecks, ParallelReduceNegativeExtentIsAnError) {
  using B = typename TypeParam::backend;
  if constexpr (B::is_host) {  // device reductions only exist in device-compiled files
    auto q = TypeParam::make_queue();
    const auto body = [](index_t i, double& acc) { acc += static_cast<double>(i); };
    try {
      (void)parallel_reduce(q, Range1D{-1}, body, Sum<double>{});
      ADD_FAILURE() << "no exception";
    } catch (const ShapeError& e) {
      EXPECT_NE(std::string(e.what()).find("portml::parallel_reduce"), std::string::npos) << e.what();
    }
    EXPECT_EQ(parallel_reduce(q, Range1D{0}, body, Sum<double>{}), 0.0);
    EXPECT_EQ(parallel_reduce(q, Range1D{4}, body, Sum<double>{}), 6.0);
  } else {
    GTEST_SKIP() << TypeParam::name << ": parallel_reduce on a device needs a device-compiled body";
  }
}

TYPED_TEST(ArgumentChecks, DeepCopyOnAQueueChecksShapesFirst) {
  using B = typename TypeParam::backend;
  using S = memory_space_t<B>;
  auto q = TypeParam::make_queue();
  Tensor<float, 2, S> dev({2, 3});
  Tensor<float, 2> host({3, 2}), host_ok({2, 3});
  try {
    deep_copy(q, dev.view(), host.view());
    ADD_FAILURE() << "no exception";
  } catch (const ShapeError& e) {
    EXPECT_STREQ(e.what(), "portml::deep_copy: shape mismatch: destination [2, 3] vs source [3, 2]");
  }
  EXPECT_THROW(deep_copy(q, host.view(), TensorView<const float, 2, S>(dev.view())), ShapeError);
  // Empty views of equal extents: nothing to copy, no error.
  Tensor<float, 2, S> dev0({0, 3});
  Tensor<float, 2> host0({0, 3});
  EXPECT_NO_THROW(deep_copy(q, dev0.view(), host0.view()));
  // A column-major (strided) source: host backends copy any strides; a GPU queue refuses, naming both
  // stride sets, before it calls the runtime.
  for (index_t i = 0; i < 6; ++i) host_ok.data()[i] = static_cast<float>(i);
  const auto col_major = TensorView<const float, 2>::col_major(host_ok.data(), {2, 3});
  if constexpr (B::is_host) {
    deep_copy(q, dev.view(), col_major);
    const auto back = this->to_host(q, dev.view());
    EXPECT_EQ(back(1, 0), 1.0f);
    EXPECT_EQ(back(0, 1), 2.0f);
  } else {
    try {
      deep_copy(q, dev.view(), col_major);
      ADD_FAILURE() << "no exception";
    } catch (const NotSupported& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("[3, 1]"), std::string::npos) << what;
      EXPECT_NE(what.find("[1, 2]"), std::string::npos) << what;
    }
  }
  q.wait();
}

}  // namespace
}  // namespace portml::test
