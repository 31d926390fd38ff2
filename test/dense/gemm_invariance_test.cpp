// SPDX-License-Identifier: Apache-2.0
// Properties of the GEMM entry point beyond accuracy: a row's bits do not depend on the batch size,
// its position in the batch, the backend or the thread count; every ISA sums in exactly the documented
// K order (chunks of kernels/gemm/k_chunks.hpp); gathered and strided inputs give the same bits as the
// dense input; one row through gemm_one_row gives the bits of gemm; a call allocates nothing.
#include <array>
#include <cmath>
#include <cstring>

#include "allocation_counter.hpp"
#include "dense_test_util.hpp"

namespace portml::test {
namespace {

using kernels::Activation;

template <class Case>
class GemmInvariance : public BackendTest<Case> {};
TYPED_TEST_SUITE(GemmInvariance, HostCases, CaseNames);

template <class T>
bool same_bits(const T* a, const T* b, index_t n) {
  return std::memcmp(a, b, sizeof(T) * static_cast<std::size_t>(n)) == 0;
}

template <class Case, class T>
void check_batch_invariance(index_t k, index_t n) {
  auto q = Case::make_queue();
  std::mt19937 rng(11);
  constexpr index_t total = 61;
  Tensor<T, 2> a({total, k}), w({k, n}), full({total, n});
  fill_uniform(a, rng);
  fill_uniform(w, rng);
  const auto bias = uniform_vector<T>(n, rng);
  const kernels::PackedWeights<T> packed(w.view());
  const kernels::epilogue::BiasActivation<T> ep{bias.data(), kernels::make_activation(Activation::Gelu)};
  for (Isa isa : runnable_isas()) {
    // min_parallel_flops 0: the OpenMP and Kokkos queues split every batch over their threads.
    const kernels::GemmConfig cfg{.isa = isa, .min_parallel_flops = 0.0};
    kernels::gemm(q, a.view(), packed, full.view(), ep, cfg);
    Queue<backend::Serial> serial;
    for (index_t m : {1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 17, 24, 25, 33}) {
      for (index_t start : {index_t{0}, index_t{5}, total - m}) {
        Tensor<T, 2> part({m, n});
        kernels::gemm(q, TensorView<const T, 2>(a.view()).row_slice(start, start + m), packed, part.view(), ep, cfg);
        for (index_t i = 0; i < m; ++i) {
          ASSERT_TRUE(same_bits(&part(i, 0), &full(start + i, 0), n))
              << Case::name << " " << to_string(isa) << ": row " << start + i << " differs in a batch of " << m
              << " starting at " << start;
        }
      }
    }
    // ... and from a one-thread serial run of the whole batch.
    Tensor<T, 2> serial_full({total, n});
    kernels::gemm(serial, a.view(), packed, serial_full.view(), ep, cfg);
    ASSERT_TRUE(same_bits(serial_full.data(), full.data(), total * n)) << Case::name << " " << to_string(isa);
  }
}

TYPED_TEST(GemmInvariance, RowBitsIndependentOfBatchPositionAndThreadsFloat) {
  check_batch_invariance<TypeParam, float>(70, 100);
}
TYPED_TEST(GemmInvariance, RowBitsIndependentOfBatchPositionAndThreadsDouble) {
  check_batch_invariance<TypeParam, double>(33, 50);
}
TYPED_TEST(GemmInvariance, RowBitsIndependentOfBatchPositionAndThreadsLongK) {
  check_batch_invariance<TypeParam, float>(1100, 40);
}

// Narrow layers (N ≤ 32: one panel) run 4 K chunks as concurrent chains at one row, 2 at two and three
// rows, one after another from four rows up; K = 37 (4 chunks, the last one 1 longer), 23 (2 chunks), 9.
TYPED_TEST(GemmInvariance, RowBitsIndependentOfBatchPositionAndThreadsNarrow) {
  check_batch_invariance<TypeParam, float>(37, 20);
  check_batch_invariance<TypeParam, float>(23, 5);
  check_batch_invariance<TypeParam, float>(9, 32);
  check_batch_invariance<TypeParam, double>(50, 9);
  check_batch_invariance<TypeParam, double>(16, 40);
}

// A narrow last panel (gemm/blocking.hpp): 16 of 32 columns in the last of 7 float panels.
TYPED_TEST(GemmInvariance, RowBitsIndependentOfBatchPositionAndThreadsNarrowLastPanel) {
  check_batch_invariance<TypeParam, float>(70, 208);
}

// Long K: rows 4 KiB (K = 1024) and 8 KiB (K = 2048) apart, and K on both sides of the long-K cache
// block of gemm/blocking.hpp (AVX-512 float: 8 tiles up to K = 1536, 16 from K = 1537; AVX2: blocks of
// 16 three-row tiles, 8 of them in these 391 rows). Over two blocks of 16 twelve-row tiles, each row
// gives the bits of a batch-1 call and of a gathered input.
template <class Case, class T>
void check_long_k_blocks(index_t k) {
  auto q = Case::make_queue();
  std::mt19937 rng(17);
  constexpr index_t m = 2 * 16 * 12 + 7, n = 40;
  Tensor<T, 2> a({m, k}), w({k, n}), full({m, n}), gathered({m, n});
  fill_uniform(a, rng);
  fill_uniform(w, rng);
  const auto bias = uniform_vector<T>(n, rng);
  const kernels::PackedWeights<T> packed(w.view());
  const kernels::epilogue::BiasActivation<T> ep{bias.data(), kernels::make_activation(Activation::Relu)};
  std::vector<index_t> reversed;
  for (index_t i = m - 1; i >= 0; --i) reversed.push_back(i);
  for (Isa isa : runnable_isas()) {
    const kernels::GemmConfig cfg{.isa = isa, .min_parallel_flops = 0.0};
    kernels::gemm(q, a.view(), packed, full.view(), ep, cfg);
    kernels::gemm(q, kernels::GatheredRows<T>{a.view(), reversed}, packed, gathered.view(), ep, cfg);
    for (index_t i = 0; i < m; ++i) {
      ASSERT_TRUE(same_bits(&gathered(m - 1 - i, 0), &full(i, 0), n))
          << Case::name << " " << to_string(isa) << " K " << k << ": gathered row " << i;
    }
    Queue<backend::Serial> serial;
    for (index_t i = 0; i < m; ++i) {
      const bool edge = i % 12 == 0 || i % 12 == 11;  // around tile and block boundaries
      if (!edge && i % 17 != 5) continue;
      Tensor<T, 2> one({1, n});
      kernels::gemm(serial, TensorView<const T, 2>(a.view()).row_slice(i, i + 1), packed, one.view(), ep, cfg);
      ASSERT_TRUE(same_bits(one.data(), &full(i, 0), n))
          << Case::name << " " << to_string(isa) << " K " << k << ": row " << i << " differs from a batch of 1";
    }
  }
}

// Tiles per cache block: 8 twelve-row AVX-512 tiles, 16 long-K ones; short tiles fill a block of at least
// 48 rows (16 three-row AVX2 tiles, 12 four-row scalar ones), and the long-K rule never shrinks it.
TEST(GemmBlocking, BlockTiles) {
  using kernels::gemm_detail::block_tiles;
  const auto tiles = [](index_t k, index_t rows) {
    Tensor<float, 2> w({k, 1});
    return block_tiles(kernels::PackedWeights<float>(w.view()), rows);
  };
  EXPECT_EQ(tiles(650, 12), kernels::gemm_detail::tiles_per_block);
  EXPECT_EQ(tiles(1536, 12), kernels::gemm_detail::tiles_per_block);
  EXPECT_EQ(tiles(1537, 12), kernels::gemm_detail::long_k_tiles_per_block);
  EXPECT_EQ(tiles(2048, 12), kernels::gemm_detail::long_k_tiles_per_block);
  EXPECT_EQ(tiles(650, 3), 16);
  EXPECT_EQ(tiles(2048, 3), 16);
  EXPECT_EQ(tiles(4096, 3), 16);
  EXPECT_EQ(tiles(650, 4), 12);
  EXPECT_EQ(tiles(4096, 4), 16);
  EXPECT_EQ(tiles(64, 7), 8);
}

TYPED_TEST(GemmInvariance, LongKBlocksGiveBatchOneAndGatheredBits) {
  for (index_t k : {1024, 1536, 1537, 2048}) check_long_k_blocks<TypeParam, float>(k);
  check_long_k_blocks<TypeParam, double>(1024);
}

// m = 14: tiles of 7 rows on AVX-512, 3 (and 2) on AVX2, 4 (and 2) on the scalar kernel; m = 24: two
// 12-row tiles on AVX-512.
template <class T>
void check_documented_order(index_t k, index_t n, index_t m = 14) {
  std::mt19937 rng(23);
  Tensor<T, 2> a({m, k}), w({k, n}), c({m, n});
  fill_uniform(a, rng);
  fill_uniform(w, rng);
  const auto bias = uniform_vector<T>(n, rng);
  const kernels::PackedWeights<T> packed(w.view());
  const kernels::epilogue::BiasActivation<T> ep{bias.data(), {}};
  Queue<backend::Serial> q;
  for (Isa isa : runnable_isas()) {
    // 1–4 rows are one tile each (4: AVX2's 4-row tile, run as its panel's two column halves).
    for (index_t rows : {index_t{1}, index_t{2}, index_t{3}, index_t{4}, m}) {
      kernels::gemm(q, TensorView<const T, 2>(a.view()).row_slice(0, rows), packed, c.view().row_slice(0, rows), ep,
                    {.isa = isa});
      for (index_t i = 0; i < rows; ++i) {
        for (index_t j = 0; j < n; ++j) {
          const T want = documented_gemm_element(a, i, w, j, bias[static_cast<std::size_t>(j)], isa != Isa::scalar);
          ASSERT_TRUE(same_bits(&c(i, j), &want, 1)) << to_string(isa) << " K " << k << " N " << n << " batch " << rows
                                                     << " (" << i << ", " << j << "): " << c(i, j) << " vs " << want;
        }
      }
    }
  }
}

// N = 192 and 128: at 2 rows (6 panels of floats, 2 × 6 of doubles) and 3 rows (4 panels) the AVX-512
// tiles hold the rows' broadcasts and stream the W vectors (gemm_avx512_step's second form).
TEST(GemmOrder, EveryIsaSumsInTheDocumentedOrder) {
  const std::array<std::array<index_t, 2>, 9> shapes{
      {{1, 3}, {15, 33}, {16, 32}, {31, 5}, {32, 64}, {35, 20}, {130, 100}, {40, 192}, {40, 128}}};
  for (auto [k, n] : shapes) {
    check_documented_order<float>(k, n);
    check_documented_order<double>(k, n);
  }
}

// A narrow last panel (N mod NR in 1 … NR/2: NR = 32 floats, 16 doubles) is computed without its padding
// half (gemm/blocking.hpp); the other columns and the K order stay. N on both sides of half a panel
// (float 48 / 49, double 24 / 25), a last panel of 8 columns after 6 full ones (N = 200, the DeepJet
// head: at batch 1 the AVX-512 kernel runs it as 4 + 3 panels) and a one-panel layer of 6 columns.
TEST(GemmOrder, NarrowLastPanelSumsInTheDocumentedOrder) {
  for (auto [k, n] : {std::array<index_t, 2>{40, 6}, {40, 48}, {37, 49}, {33, 200}}) {
    check_documented_order<float>(k, n);
    check_documented_order<float>(k, n, 24);
  }
  for (auto [k, n] : {std::array<index_t, 2>{40, 8}, {40, 24}, {37, 25}, {33, 200}}) {
    check_documented_order<double>(k, n);
    check_documented_order<double>(k, n, 24);
  }
}

// Gathered rows and a column-strided A give exactly the bits of the dense, contiguous input.
TYPED_TEST(GemmInvariance, GatheredAndStridedInputsMatchDenseBits) {
  auto q = TypeParam::make_queue();
  std::mt19937 rng(12);
  constexpr index_t rows = 40, k = 21, n = 45;
  Tensor<float, 2> src({rows, k}), w({k, n}), wide({rows, 2 * k});
  fill_uniform(src, rng);
  fill_uniform(w, rng);
  const kernels::PackedWeights<float> packed(w.view());
  const auto bias = uniform_vector<float>(n, rng);
  const kernels::epilogue::BiasActivation<float> ep{bias.data(), kernels::make_activation(Activation::Relu)};
  std::vector<index_t> index;
  for (index_t i = 0; i < 29; ++i) index.push_back((i * 7 + 3) % rows);
  for (Isa isa : runnable_isas()) {
    const kernels::GemmConfig cfg{.isa = isa, .min_parallel_flops = 0.0};
    Tensor<float, 2> dense_in({29, k}), want({29, n}), got({29, n});
    for (index_t i = 0; i < 29; ++i)
      for (index_t p = 0; p < k; ++p) dense_in(i, p) = src(index[static_cast<std::size_t>(i)], p);
    kernels::gemm(q, dense_in.view(), packed, want.view(), ep, cfg);
    kernels::gemm(q, kernels::GatheredRows<float>{src.view(), index}, packed, got.view(), ep, cfg);
    ASSERT_TRUE(same_bits(want.data(), got.data(), 29 * n)) << "gathered, " << to_string(isa);
    // column stride 2: A(i, p) = wide(i, 2p)
    for (index_t i = 0; i < rows; ++i)
      for (index_t p = 0; p < k; ++p) wide(i, 2 * p) = src(i, p);
    const TensorView<const float, 2> strided(wide.data(), {rows, k}, {2 * k, 2});
    Tensor<float, 2> want_all({rows, n}), got_all({rows, n});
    kernels::gemm(q, src.view(), packed, want_all.view(), ep, cfg);
    kernels::gemm(q, strided, packed, got_all.view(), ep, cfg);
    ASSERT_TRUE(same_bits(want_all.data(), got_all.data(), rows * n)) << "strided, " << to_string(isa);
  }
}

// kernels::gemm_one_row (one row through a layer: the row-kernel calls of a OneRowPlan, at most 4 vectors
// each, on AVX-512 and AVX2; a one-row gemm_rows on the scalar ISA) gives, on every ISA, the bits of kernels::gemm
// for that row of a batch: K on both sides of every chunk count and with extra terms in the last chunk
// (0, 1, 7 … 130), N from one column to one call's 4 vectors and past them, over several calls (AVX-512 /
// AVX2: 64 / 32 floats, 32 / 16 doubles a call; a narrow last panel at N mod NR ≤ NR / 2, alone in its
// call or after a whole panel: 112, 144, 200), every register clamp, a post-store activation, a per-column scale, no
// bias, and a column-strided row. For the bias-only linear epilogue also the documented K order.
template <class T>
void check_one_row(index_t k, index_t n) {
  std::mt19937 rng(static_cast<unsigned>(29 + 131 * k + n));
  constexpr index_t m = 3, row = 1, stride = 3;
  Tensor<T, 2> a({m, k}), wide({m, stride * k + 1}), w({k, n}), c({m, n});
  fill_uniform(a, rng);
  fill_uniform(w, rng);
  for (index_t i = 0; i < m; ++i)
    for (index_t p = 0; p < k; ++p) wide(i, stride * p) = a(i, p);
  const auto bias = uniform_vector<T>(n, rng);
  const auto scale = uniform_vector<T>(n, rng, 0.5, 2.0);
  const kernels::PackedWeights<T> packed(w.view());
  const std::array<kernels::EpilogueParams<T>, 6> epilogues{
      kernels::make_epilogue_params<T>(nullptr, bias.data(), {}),
      kernels::make_epilogue_params<T>(nullptr, bias.data(), kernels::make_activation(Activation::Relu)),
      kernels::make_epilogue_params<T>(nullptr, bias.data(), kernels::ActivationSpec{Activation::LeakyRelu, 0.1, 0.0}),
      kernels::make_epilogue_params<T>(nullptr, bias.data(), kernels::make_activation(Activation::Sigmoid)),
      kernels::make_epilogue_params<T>(scale.data(), bias.data(), kernels::make_activation(Activation::Relu)),
      kernels::make_epilogue_params<T>(nullptr, nullptr, {})};
  Queue<backend::Serial> q;
  std::vector<T> got(static_cast<std::size_t>(n) + 1);
  for (Isa isa : runnable_isas()) {
    const kernels::OneRowPlan<T> plan(isa, packed);
    for (std::size_t e = 0; e < epilogues.size(); ++e) {
      const kernels::EpilogueParams<T>* params = &epilogues[e];
      kernels::gemm(q, a.view(), packed, c.view(), kernels::epilogue::Precomputed<T>{params}, {.isa = isa});
      const T guard = T(12345);
      for (const bool strided : {false, true}) {
        got.assign(got.size(), guard);
        if (strided) {
          kernels::gemm_one_row(plan, &wide(row, 0), stride, packed, got.data(), *params);
        } else {
          kernels::gemm_one_row(plan, a.data() + row * k, index_t{1}, packed, got.data(), *params);  // K may be 0
        }
        const auto where = [&] {
          return std::string(to_string(isa)) + " K " + std::to_string(k) + " N " + std::to_string(n) + " epilogue " +
                 std::to_string(e) + (strided ? " (strided row)" : "");
        };
        ASSERT_TRUE(same_bits(got.data(), &c(row, 0), n)) << where();
        ASSERT_EQ(got[static_cast<std::size_t>(n)], guard) << where() << ": wrote past N";
        if (e == 0) {
          for (index_t j = 0; j < n; ++j) {
            const T want = documented_gemm_element(a, row, w, j, bias[static_cast<std::size_t>(j)], isa != Isa::scalar);
            ASSERT_TRUE(same_bits(&got[static_cast<std::size_t>(j)], &want, 1)) << where() << " column " << j;
          }
        }
      }
    }
  }
}

TEST(GemmOneRow, EveryIsaGivesTheBitsOfGemm) {
  for (const index_t k : {0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 40, 64, 67, 130}) {
    for (const index_t n : {1,  5,  8,  9,  15, 16,  17,  24,  25,  31,  32,  33,  47, 48,
                            49, 63, 64, 65, 96, 100, 112, 113, 129, 144, 145, 200, 257}) {
      check_one_row<float>(k, n);
      check_one_row<double>(k, n);
    }
  }
}

TEST(GemmAllocations, CallAllocatesNothing) {
  std::mt19937 rng(13);
  Tensor<float, 2> a({50, 64}), w({64, 100}), c({50, 100}), res({50, 100});
  fill_uniform(a, rng);
  fill_uniform(w, rng);
  const kernels::PackedWeights<float> packed(w.view());
  const auto bias = uniform_vector<float>(100, rng);
  const kernels::epilogue::ScaleBiasActivationResidual<float> ep{
      nullptr, bias.data(), kernels::make_activation(Activation::Tanh), res.view()};
  Queue<backend::Serial> serial;
  const auto isas = runnable_isas();
  for (Isa isa : isas) {
    kernels::gemm(serial, a.view(), packed, c.view(), ep, {.isa = isa});  // warm-up (static initialisers)
    const long before = allocation_count();
    kernels::gemm(serial, a.view(), packed, c.view(), ep, {.isa = isa});
    kernels::gemm(serial, a.view(), packed, c.view(), kernels::epilogue::Identity{}, {.isa = isa});
    EXPECT_EQ(allocation_count() - before, 0) << to_string(isa);
  }
#if PORTML_ENABLE_OPENMP
  Queue<backend::OpenMP> omp(2);
  kernels::gemm(omp, a.view(), packed, c.view(), ep, {.min_parallel_flops = 0.0});
  const long before = allocation_count();
  kernels::gemm(omp, a.view(), packed, c.view(), ep, {.min_parallel_flops = 0.0});
  EXPECT_EQ(allocation_count() - before, 0) << "OpenMP, 2 threads";
#endif
}

TEST(GemmIsa, EveryCompiledIsaRunsOnThisCpu) {
  const auto f = detect_cpu_features();
  const auto isas = runnable_isas();
  std::string names;
  for (Isa isa : isas) names += std::string(to_string(isa)) + " ";
  RecordProperty("isas", names);
  std::printf("GEMM microkernels exercised on this CPU: %s\n", names.c_str());
  EXPECT_EQ(isas.front(), Isa::scalar);
  if (PORTML_X86_SIMD && f.avx512() && f.fma) {
    EXPECT_EQ(isas.size(), 3u);
  }
}

}  // namespace
}  // namespace portml::test
