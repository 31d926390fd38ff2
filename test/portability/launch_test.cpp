// SPDX-License-Identifier: Apache-2.0
// The launch API on every backend: 1-D and 2-D ranges, hierarchical launches with scratch and
// barriers, reductions, copies and queue ordering. One body, run on each backend case.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "../common/backend_cases.hpp"
#include "test_kernels_extern.hpp"

namespace portml::test {
namespace {

template <class Case>
class Launch : public BackendTest<Case> {};
TYPED_TEST_SUITE(Launch, AllCases, CaseNames);

TYPED_TEST(Launch, Range1DCoversEveryIndexOnce) {
  using B = typename TypeParam::backend;
  auto q = TypeParam::make_queue();
  for (index_t n : {index_t(0), index_t(1), index_t(257), index_t(10000)}) {
    Tensor<float, 1, memory_space_t<B>> d({n});
    fill_affine<B>(q, d.view(), 0.5f, 3.0f);
    const auto h = this->to_host(q, d.view());
    for (index_t i = 0; i < n; ++i) ASSERT_EQ(h(i), 0.5f * static_cast<float>(i) + 3.0f) << "n=" << n << " i=" << i;
  }
}

TYPED_TEST(Launch, Range2DWritesRowMajorAndStridedViews) {
  using B = typename TypeParam::backend;
  using S = memory_space_t<B>;
  auto q = TypeParam::make_queue();
  const index_t n0 = 37, n1 = 45;
  Tensor<float, 1> hx({n0}), hy({n1});
  for (index_t i = 0; i < n0; ++i) hx(i) = static_cast<float>(i);
  for (index_t j = 0; j < n1; ++j) hy(j) = static_cast<float>(j);
  auto x = this->to_device(q, hx);
  auto y = this->to_device(q, hy);
  // Row-major output, then a column-major view of the same size.
  Tensor<float, 2, S> out({n0, n1});
  outer_sum<B>(q, x.view(), y.view(), out.view());
  Tensor<float, 1, S> storage({n0 * n1});
  const auto col_major = TensorView<float, 2, S>::col_major(storage.data(), {n0, n1});
  outer_sum<B>(q, x.view(), y.view(), col_major);
  const auto h = this->to_host(q, TensorView<const float, 2, S>(out.view()));
  const auto hc = this->to_host(q, TensorView<const float, 1, S>(storage.view()));
  for (index_t i = 0; i < n0; ++i) {
    for (index_t j = 0; j < n1; ++j) {
      ASSERT_EQ(h(i, j), 100.0f * i + j);
      ASSERT_EQ(hc(j * n0 + i), 100.0f * i + j);
    }
  }
}

TYPED_TEST(Launch, TeamScratchAndBarrier) {
  using B = typename TypeParam::backend;
  auto q = TypeParam::make_queue();
  const index_t n = 1000;  // last tile is partial
  Tensor<float, 1> hin({n});
  for (index_t i = 0; i < n; ++i) hin(i) = static_cast<float>(i);
  auto in = this->to_device(q, hin);
  for (int team_size : {1, 4, 32, 64}) {
    Tensor<float, 1, memory_space_t<B>> out({n});
    reverse_tiles<B>(q, in.view(), out.view(), 96, team_size);
    const auto h = this->to_host(q, out.view());
    for (index_t i = 0; i < n; ++i) {
      const index_t base = i / 96 * 96, len = std::min<index_t>(96, n - base);
      ASSERT_EQ(h(i), static_cast<float>(base + len - 1 - (i - base))) << "team_size=" << team_size << " i=" << i;
    }
  }
}

TYPED_TEST(Launch, TeamScratchBeyond48KiB) {
  // GPUs need an explicit opt-in above 48 KiB of shared memory per block; the launch does it.
  using B = typename TypeParam::backend;
  auto q = TypeParam::make_queue();
  const index_t n = 40000, tile = 16384;  // 64 KiB of float scratch per team
  Tensor<float, 1> hin({n});
  for (index_t i = 0; i < n; ++i) hin(i) = static_cast<float>(i);
  auto in = this->to_device(q, hin);
  Tensor<float, 1, memory_space_t<B>> out({n});
  reverse_tiles<B>(q, in.view(), out.view(), static_cast<int>(tile), 256);
  const auto h = this->to_host(q, out.view());
  for (index_t i = 0; i < n; ++i) {
    const index_t base = i / tile * tile, len = std::min<index_t>(tile, n - base);
    ASSERT_EQ(h(i), static_cast<float>(base + len - 1 - (i - base))) << "i=" << i;
  }
}

TYPED_TEST(Launch, TeamTreeReductionWithManyBarriers) {
  using B = typename TypeParam::backend;
  auto q = TypeParam::make_queue();
  const index_t n = 5000, tile = 128, tiles = (n + tile - 1) / tile;
  Tensor<double, 1> hin({n});
  for (index_t i = 0; i < n; ++i) hin(i) = static_cast<double>(i % 17);
  auto in = this->to_device(q, hin);
  for (int team_size : {1, 2, 16, 128}) {
    Tensor<double, 1, memory_space_t<B>> out({tiles});
    tile_sums<B>(q, in.view(), out.view(), static_cast<int>(tile), team_size);
    const auto h = this->to_host(q, out.view());
    for (index_t t = 0; t < tiles; ++t) {
      double want = 0;
      for (index_t i = t * tile; i < std::min(n, (t + 1) * tile); ++i) want += hin(i);
      ASSERT_EQ(h(t), want) << "team_size=" << team_size << " tile=" << t;
    }
  }
}

TYPED_TEST(Launch, ReductionsAreExactAndRepeatable) {
  using B = typename TypeParam::backend;
  auto q = TypeParam::make_queue();
  for (index_t n : {index_t(0), index_t(1), index_t(4095), index_t(4096), index_t(100003)}) {
    Tensor<double, 1> hx({n});
    Tensor<float, 1> hf({n});
    double want = 0;
    for (index_t i = 0; i < n; ++i) {
      hx(i) = static_cast<double>((i * 7919) % 1000);  // integers: every summation order is exact
      want += hx(i);
      hf(i) = static_cast<float>((i * 104729) % 2003) - 1000.0f;
    }
    auto x = this->to_device(q, hx);
    auto f = this->to_device(q, hf);
    EXPECT_EQ(reduce_sum<B>(q, x.view()), want) << "n=" << n;
    const float mx = reduce_max<B>(q, f.view()), mn = reduce_min<B>(q, f.view());
    if (n == 0) {
      EXPECT_EQ(mx, std::numeric_limits<float>::lowest());
      EXPECT_EQ(mn, std::numeric_limits<float>::max());
    } else {
      float wmx = hf(0), wmn = hf(0);
      for (index_t i = 0; i < n; ++i) wmx = std::max(wmx, hf(i)), wmn = std::min(wmn, hf(i));
      EXPECT_EQ(mx, wmx);
      EXPECT_EQ(mn, wmn);
    }
  }
}

TYPED_TEST(Launch, NonIntegerSumIsBitwiseRepeatable) {
  using B = typename TypeParam::backend;
  auto q = TypeParam::make_queue();
  const index_t n = 50000;
  Tensor<double, 1> hx({n});
  for (index_t i = 0; i < n; ++i) hx(i) = std::sin(0.37 * static_cast<double>(i)) * 1e3;
  auto x = this->to_device(q, hx);
  const double first = reduce_sum<B>(q, x.view());
  for (int rep = 0; rep < 5; ++rep) ASSERT_EQ(reduce_sum<B>(q, x.view()), first);
  if constexpr (B::is_host) {
    // Every host backend shares one chunked order: compare with Serial bit for bit.
    Queue<backend::Serial> serial;
    ASSERT_EQ(reduce_sum<backend::Serial>(serial, hx.view()), first);
  }
}

TYPED_TEST(Launch, MaxAndMinPropagateNaN) {
  using B = typename TypeParam::backend;
  auto q = TypeParam::make_queue();
  Tensor<float, 1> hf({10000});
  hf(7777) = std::numeric_limits<float>::quiet_NaN();
  auto f = this->to_device(q, hf);
  EXPECT_TRUE(std::isnan(reduce_max<B>(q, f.view())));
  EXPECT_TRUE(std::isnan(reduce_min<B>(q, f.view())));
}

TYPED_TEST(Launch, WorkOnOneQueueRunsInSubmissionOrder) {
  using B = typename TypeParam::backend;
  auto q = TypeParam::make_queue();
  const index_t n = 1 << 16;
  Tensor<float, 1> h({n});
  for (index_t i = 0; i < n; ++i) h(i) = static_cast<float>(i % 100);
  Tensor<float, 1, memory_space_t<B>> d({n});
  deep_copy(q, d.view(), h.view());  // asynchronous on GPUs
  scale_add<B>(q, d.view(), 1.0f, 1.0f);
  scale_add<B>(q, d.view(), 2.0f, 0.0f);
  scale_add<B>(q, d.view(), 1.0f, -3.0f);
  Tensor<float, 1> back({n});
  deep_copy(q, back.view(), TensorView<const float, 1, memory_space_t<B>>(d.view()));
  q.wait();
  for (index_t i = 0; i < n; ++i) ASSERT_EQ(back(i), (h(i) + 1.0f) * 2.0f - 3.0f);
}

TYPED_TEST(Launch, PitchedCopyOfRowSlice) {
  using B = typename TypeParam::backend;
  auto q = TypeParam::make_queue();
  Tensor<float, 2> h({6, 5});
  for (index_t i = 0; i < 6; ++i)
    for (index_t j = 0; j < 5; ++j) h(i, j) = static_cast<float>(10 * i + j);
  auto d = this->to_device(q, h);
  // Columns 1..3 of rows 2..4: rows contiguous, row pitch 5.
  const auto sub = TensorView<float, 2, memory_space_t<B>>(d.data() + 2 * 5 + 1, {3, 3}, {5, 1});
  Tensor<float, 2> out({3, 3});
  deep_copy(q, out.view(), TensorView<const float, 2, memory_space_t<B>>(sub));
  q.wait();
  for (index_t i = 0; i < 3; ++i)
    for (index_t j = 0; j < 3; ++j) ASSERT_EQ(out(i, j), h(i + 2, j + 1));
}

TYPED_TEST(Launch, EmptyLaunchesDoNothing) {
  using B = typename TypeParam::backend;
  auto q = TypeParam::make_queue();
  Tensor<float, 1, memory_space_t<B>> empty({0});
  fill_affine<B>(q, empty.view(), 1.0f, 1.0f);
  reverse_tiles<B>(q, empty.view(), empty.view(), 8, 4);
  q.wait();
  SUCCEED();
}

TYPED_TEST(Launch, NegativeExtentIsAnError) {
  auto q = TypeParam::make_queue();
  if constexpr (TypeParam::backend::is_host) {  // device launches only exist in device-compiled files
    EXPECT_THROW(parallel_for(q, Range1D{-1}, [](index_t) {}), ShapeError);
    EXPECT_THROW(parallel_for(q, Range2D{3, -2}, [](index_t, index_t) {}), ShapeError);
  } else {
    Tensor<float, 2, memory_space_t<typename TypeParam::backend>> storage({2, 2});
    EXPECT_THROW(outer_sum<typename TypeParam::backend>(
                     q, storage.view().row(0), storage.view().row(1),
                     TensorView<float, 2, memory_space_t<typename TypeParam::backend>>(storage.data(), {-1, 2})),
                 ShapeError);
  }
}

}  // namespace
}  // namespace portml::test
