// SPDX-License-Identifier: Apache-2.0
// Tensor and TensorView on the host: layouts, slices, ownership, mirrors, copies, and the errors.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include <portml/portml.hpp>

namespace portml {
namespace {

TEST(TensorView, RowMajorByDefault) {
  std::vector<float> data(12);
  const TensorView<float, 2> v(data.data(), {3, 4});
  EXPECT_EQ(v.stride(0), 4);
  EXPECT_EQ(v.stride(1), 1);
  EXPECT_EQ(v.size(), 12);
  EXPECT_TRUE(v.is_contiguous());
  v(2, 1) = 5.0f;
  EXPECT_EQ(data[9], 5.0f);
}

TEST(TensorView, ColumnMajorAndTransposed) {
  std::vector<float> data(6);
  const auto v = TensorView<float, 2>::col_major(data.data(), {2, 3});
  EXPECT_EQ(v.stride(0), 1);
  EXPECT_EQ(v.stride(1), 2);
  EXPECT_FALSE(v.is_contiguous());
  v(1, 2) = 7.0f;
  EXPECT_EQ(data[5], 7.0f);
  const auto t = v.transposed();
  EXPECT_EQ(t.extent(0), 3);
  EXPECT_EQ(t(2, 1), 7.0f);
  EXPECT_TRUE(t.is_contiguous());  // the transpose of a column-major matrix is row-major
}

TEST(TensorView, RowSliceAndRow) {
  std::vector<int> data(20);
  for (int i = 0; i < 20; ++i) data[i] = i;
  const TensorView<int, 2> v(data.data(), {5, 4});
  const auto s = v.row_slice(1, 3);
  EXPECT_EQ(s.extent(0), 2);
  EXPECT_EQ(s(0, 0), 4);
  EXPECT_EQ(s(1, 3), 11);
  const auto r = v.row(4);
  EXPECT_EQ(r.extent(0), 4);
  EXPECT_EQ(r(2), 18);
  EXPECT_THROW(v.row_slice(2, 6), IndexError);
  EXPECT_THROW(v.row_slice(3, 2), IndexError);
  EXPECT_THROW(v.row(5), IndexError);
}

TEST(TensorView, ConstViewFromMutable) {
  std::vector<double> data(4, 1.5);
  const TensorView<double, 1> v(data.data(), {4});
  const TensorView<const double, 1> c = v;
  EXPECT_EQ(c(3), 1.5);
  static_assert(!std::is_convertible_v<TensorView<const double, 1>, TensorView<double, 1>>,
                "a read-only view must not convert back to a mutable one");
}

TEST(TensorView, BoundsCheckedAccess) {
#if PORTML_BOUNDS_CHECK
  std::vector<float> data(6);
  const TensorView<float, 2> v(data.data(), {2, 3});
  try {
    v(1, 3);
    FAIL() << "no exception";
  } catch (const IndexError& e) {
    EXPECT_STREQ(e.what(), "portml::TensorView: index 3 out of range [0, 3) in dimension 1");
  }
  EXPECT_THROW(v(-1, 0), IndexError);
#else
  GTEST_SKIP() << "bounds checks are compiled out (NDEBUG build; define PORTML_BOUNDS_CHECK=1 to enable)";
#endif
}

TEST(Tensor, AlignedZeroInitialisedAndMoveOnly) {
  Tensor<float, 3> t({2, 3, 5});
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.data()) % default_alignment, 0u);
  for (index_t i = 0; i < t.size(); ++i) EXPECT_EQ(t.data()[i], 0.0f);
  t(1, 2, 4) = 3.0f;
  Tensor<float, 3> u = std::move(t);
  EXPECT_EQ(u(1, 2, 4), 3.0f);
  EXPECT_EQ(t.data(), nullptr);  // NOLINT(bugprone-use-after-move): moved-from state is specified
  static_assert(!std::is_copy_constructible_v<Tensor<float, 1>>);
  Tensor<float, 1> empty({0});
  EXPECT_EQ(empty.data(), nullptr);
  EXPECT_THROW((Tensor<float, 2>({2, -1})), ShapeError);
}

TEST(Tensor, HostMirrorAliasesHostMemory) {
  Tensor<float, 2> t({2, 2});
  auto m = create_mirror_view(t.view());
  EXPECT_TRUE(m.aliases());
  EXPECT_EQ(m.view().data(), t.data());
  deep_copy(m.view(), t.view());  // a no-op
}

TEST(DeepCopy, StridedHostCopy) {
  std::vector<float> src(6), dst(6);
  for (int i = 0; i < 6; ++i) src[i] = static_cast<float>(i);
  const auto s = TensorView<const float, 2>::col_major(src.data(), {2, 3});
  const TensorView<float, 2> d(dst.data(), {2, 3});
  deep_copy(d, s);
  EXPECT_EQ(d(0, 0), 0.0f);
  EXPECT_EQ(d(1, 0), 1.0f);
  EXPECT_EQ(d(0, 1), 2.0f);
  EXPECT_EQ(d(1, 2), 5.0f);
}

TEST(DeepCopy, ShapeMismatchNamesBothShapes) {
  Tensor<float, 2> a({2, 3}), b({3, 2});
  try {
    deep_copy(a.view(), b.view());
    FAIL() << "no exception";
  } catch (const ShapeError& e) {
    EXPECT_STREQ(e.what(), "portml::deep_copy: shape mismatch: destination [2, 3] vs source [3, 2]");
  }
  Queue<backend::Serial> q;
  EXPECT_THROW(deep_copy(q, a.view(), b.view()), ShapeError);
}

}  // namespace
}  // namespace portml
