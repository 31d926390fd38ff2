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

//! The layouts of VectorAndScalarStagingGiveTheDocumentedBits: how A, W and C lie in device memory.
enum class Layout {
  contiguous,  //!< row-major, K and N multiples of 4: every staged vector and C group whole
  wide,        //!< rows of whole vectors (strides 40 / 72) but K = 37, N = 70: the last vector of a row is cut
  misaligned,  //!< the wide layout one element further: no aligned vector anywhere, element by element
  transposed,  //!< A column-major (unit row stride), W and C wide
};

TYPED_TEST(GemmTiled, VectorAndScalarStagingGiveTheDocumentedBits) {
  using B = typename TypeParam::backend;
  using S = memory_space_t<B>;
  auto q = TypeParam::make_queue();
  const bool fused = !B::is_host;
  // Every shape, a batch with tails in every tile shape, bit for bit against the documented order, and
  // C's padding untouched.
  const auto check = [&]<class T>(Layout layout) {
    const bool whole = layout == Layout::contiguous;
    const index_t m = 150, k = whole ? 36 : 37, n = whole ? 68 : 70;
    const index_t a_cols = whole ? k : 40, w_cols = whole ? n : 72, c_cols = w_cols;
    const index_t off = layout == Layout::misaligned ? 1 : 0;
    std::mt19937 rng(53);
    Tensor<T, 2> a({m, k}), w({k, n}), bias2({1, n});
    fill_uniform(a, rng);
    fill_uniform(w, rng);
    fill_uniform(bias2, rng);
    Tensor<T, 1> bias({n});
    for (index_t j = 0; j < n; ++j) bias(j) = bias2(0, j);
    // Device buffers in the layout, padding filled with a sentinel that must neither be read nor written.
    const T sentinel = T(1e30);
    const bool transposed = layout == Layout::transposed;
    Tensor<T, 2> a_mem({transposed ? k : m, (transposed ? m : a_cols) + off});
    Tensor<T, 2> w_mem({k, w_cols + off}), c_mem({m, c_cols + off});
    for (auto* t : {&a_mem, &w_mem, &c_mem}) {
      for (index_t i = 0; i < t->size(); ++i) t->data()[i] = sentinel;
    }
    for (index_t i = 0; i < m; ++i) {
      for (index_t p = 0; p < k; ++p) (transposed ? a_mem(p, i) : a_mem(i, p + off)) = a(i, p);
    }
    for (index_t p = 0; p < k; ++p) {
      for (index_t j = 0; j < n; ++j) w_mem(p, j + off) = w(p, j);
    }
    const auto da = this->to_device(q, a_mem);
    const auto dw = this->to_device(q, w_mem);
    const auto db = this->to_device(q, bias);
    const TensorView<const T, 2, S> av = transposed
                                             ? TensorView<const T, 2, S>(da.data(), {m, k}, {1, m})
                                             : TensorView<const T, 2, S>(da.data() + off, {m, k}, {a_mem.extent(1), 1});
    const TensorView<const T, 2, S> wv(dw.data() + off, {k, n}, {w_mem.extent(1), 1});
    for (auto shape : all_shapes) {
      auto dc = this->to_device(q, c_mem);
      const TensorView<T, 2, S> cv(dc.data() + off, {m, n}, {c_mem.extent(1), 1});
      kernels::gemm_tiled<B, T>(q, av, wv, cv, db.data(), {}, shape);
      const auto c = this->to_host(q, TensorView<const T, 2, S>(dc.view()));
      for (index_t i = 0; i < m; ++i) {
        for (index_t j = 0; j < c.extent(1); ++j) {
          const bool inside = j >= off && j < n + off;
          const T want = inside ? documented_gemm_element(a, i, w, j - off, bias(j - off), fused) : sentinel;
          ASSERT_EQ(c(i, j), want) << TypeParam::name << " " << kernels::gemm_tiled_shape_name(shape) << " layout "
                                   << static_cast<int>(layout) << " sizeof(T) " << sizeof(T) << " at (" << i << ", "
                                   << j - off << ")" << (inside ? "" : " (padding)");
        }
      }
    }
  };
  for (auto layout : {Layout::contiguous, Layout::wide, Layout::misaligned, Layout::transposed}) {
    check.template operator()<float>(layout);
    check.template operator()<double>(layout);
  }
}

TEST(GemmTiledShape, AutomaticChoice) {
  using kernels::gemm_tiled_shape;
  EXPECT_EQ(gemm_tiled_shape(1, 64, 64), GemmTiledShape::tile16);          // batch 1
  EXPECT_EQ(gemm_tiled_shape(1024, 64, 64), GemmTiledShape::tile16);       // 16 teams of 64 × 64: too few
  EXPECT_EQ(gemm_tiled_shape(65536, 6, 64), GemmTiledShape::tile16);       // narrow output layer
  EXPECT_EQ(gemm_tiled_shape(65536, 64, 64), GemmTiledShape::tile64);      // N < 128
  EXPECT_EQ(gemm_tiled_shape(65536, 128, 128), GemmTiledShape::tile64);    // 512 teams of 128², but short K
  EXPECT_EQ(gemm_tiled_shape(65536, 128, 512), GemmTiledShape::tile128);   // long K
  EXPECT_EQ(gemm_tiled_shape(4096, 128, 256), GemmTiledShape::tile64);     // 128 teams of 64²: one wave
  EXPECT_EQ(gemm_tiled_shape(4096, 64, 64), GemmTiledShape::tile16);       // 64 teams of 64²
  EXPECT_EQ(gemm_tiled_shape(2048, 2048, 2048), GemmTiledShape::tile128);  // 256 teams, long K
  EXPECT_EQ(gemm_tiled_shape(1024, 1024, 1024), GemmTiledShape::tile64);   // 64 teams of 128², 256 of 64²
  EXPECT_EQ(gemm_tiled_shape(0, 0, 0), GemmTiledShape::tile16);
  EXPECT_EQ(gemm_tiled_shape(2048, 2048, 2048, GemmTiledShape::tile64), GemmTiledShape::tile64);
  EXPECT_EQ(gemm_tiled_shape(2048, 2048, 2048, GemmTiledShape::tile16), GemmTiledShape::tile16);
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
