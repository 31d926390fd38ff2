// SPDX-License-Identifier: Apache-2.0
// The OpenBLAS provider of the GEMM (GemmConfig::provider = GemmProvider::openblas,
// kernels/gemm/openblas.hpp) against the naive reference kernel and a double-precision oracle: every
// epilogue, float and double, batch 1 to 4095, N not a multiple of the panel width, W as panels and as
// the row-major copy, A row-major, row-strided, transposed and (one row) column-strided, on Serial,
// OpenMP with 2 threads and Kokkos; the refusals (gathered rows, strides cblas cannot take, OpenBLAS
// with threads: the message through its seam, and for real in the ctest entry that sets
// OPENBLAS_NUM_THREADS=2); NotSupported in a build without PORTML_ENABLE_OPENBLAS. The MLP fixtures of
// test/data/dense through the provider are in mlp_openblas_test.cpp. Every test that needs OpenBLAS
// skips, saying why, in a build without it.
#include <cstdlib>
#include <string>

#include <portml/layers/dense.hpp>
#include <portml/layers/mlp.hpp>

#include "allocation_counter.hpp"
#include "dense_test_util.hpp"

namespace portml::test {
namespace {

using kernels::Activation;
using kernels::ActivationSpec;
using kernels::GemmProvider;

#define PORTML_SKIP_WITHOUT_OPENBLAS()                                                                   \
  if (!PORTML_ENABLE_OPENBLAS) {                                                                         \
    GTEST_SKIP() << "built without PORTML_ENABLE_OPENBLAS: GemmProvider::openblas is NotSupported here " \
                    "(GemmOpenBlasBuild.NotSupportedWithoutTheBuildOption checks that)";                 \
  }

// The oracle's bound γ_{K+2}·(|s|·Σ|a·w| + |b|) holds for any summation order (Higham, Thm 3.1), so it
// bounds OpenBLAS's product as it bounds portml's. The activation: |f(x) − f(y)| ≤ 2·|x − y| for every
// activation here, and it rounds to a few ulps itself: 8 ulps of the result plus 8 eps absolute (the
// tolerance of gemm_test.cpp, for the same reasons).
template <class T>
double activation_tolerance(double bound, double want) {
  return 2.0 * bound + 8.0 * unit_roundoff<T>() * (std::abs(want) + 1.0);
}

//! How the test lays out A [m, k] in memory.
enum class ALayout {
  contiguous,      //!< row-major, row stride k
  row_strided,     //!< the first k columns of an [m, k + 5] matrix (lda = k + 5); C likewise inside [m, n + 3]
  transposed,      //!< the transposed view of a contiguous [k, m] matrix: unit row stride (CblasTrans)
  column_strided,  //!< one row with column stride 3 (cblas_?gemv's incx); m must be 1
};

const char* name(ALayout l) {
  switch (l) {
    case ALayout::contiguous:
      return "contiguous";
    case ALayout::row_strided:
      return "row-strided";
    case ALayout::transposed:
      return "transposed";
    case ALayout::column_strided:
      return "column-strided";
  }
  return "?";
}

struct Epilogue {
  ActivationSpec act{};
  bool scale = false, bias = false, residual = false;
};

//! gemm with the OpenBLAS provider on `q` against the double oracle, element by element; with the
//! Identity epilogue also against kernels::reference::matmul (both within the oracle's bound of the exact
//! product). `row_major`: W keeps its row-major copy (one cblas call) or not (one call per panel).
template <class T, Backend B>
void check_openblas(Queue<B>& q, index_t m, index_t k, index_t n, const Epilogue& e, bool row_major, ALayout layout,
                    std::mt19937& rng, double min_parallel_flops = 4.0e6) {
  const index_t a_pad = layout == ALayout::row_strided ? 5 : 0, c_pad = layout == ALayout::row_strided ? 3 : 0;
  const index_t a_cols = layout == ALayout::column_strided ? 3 * k : k + a_pad;
  Tensor<T, 2> a_store(layout == ALayout::transposed ? Extents<2>{k, m} : Extents<2>{m, a_cols});
  Tensor<T, 2> w({k, n}), residual({m, n}), c_store({m, n + c_pad});
  fill_uniform(a_store, rng);
  fill_uniform(w, rng);
  fill_uniform(residual, rng);
  for (index_t i = 0; i < c_store.size(); ++i) c_store.data()[i] = T(7);  // β = 0: never read
  TensorView<const T, 2> a;
  switch (layout) {
    case ALayout::contiguous:
    case ALayout::row_strided:
      a = TensorView<const T, 2>(a_store.data(), {m, k}, {a_cols, 1});
      break;
    case ALayout::transposed:
      a = TensorView<const T, 2>(a_store.view()).transposed();
      break;
    case ALayout::column_strided:
      a = TensorView<const T, 2>(a_store.data(), {m, k}, {a_cols, 3});
      break;
  }
  const TensorView<T, 2> c(c_store.data(), {m, n}, {n + c_pad, 1});
  const auto scale = uniform_vector<T>(n, rng, 0.5, 2.0);
  const auto bias = uniform_vector<T>(n, rng);
  const kernels::PackedWeights<T> packed(w.view(), row_major);
  ASSERT_EQ(packed.row_major() != nullptr, row_major);
  const kernels::epilogue::ScaleBiasActivationResidual<T> ep{
      e.scale ? scale.data() : nullptr, e.bias ? bias.data() : nullptr, e.act,
      e.residual ? TensorView<const T, 2>(residual.view()) : TensorView<const T, 2>{}};
  kernels::gemm(q, a, packed, c, ep, {.min_parallel_flops = min_parallel_flops, .provider = GemmProvider::openblas});
  const bool identity = !e.scale && !e.bias && !e.residual && e.act.kind == Activation::Linear;
  Tensor<T, 2> ref({m, n});
  if (identity) {
    Queue<backend::Serial> serial;
    kernels::reference::matmul<backend::Serial, T>(serial, a, w.view(), ref.view());
  }
  const auto where = [&](index_t i, index_t j) {
    return std::string(B::name) + " " + (std::is_same_v<T, float> ? "float " : "double ") + std::to_string(m) + "x" +
           std::to_string(k) + "x" + std::to_string(n) + " " + name(layout) + (row_major ? " row-major W" : " panels") +
           " act " + kernels::activation_name(e.act.kind) + (e.scale ? " scale" : "") + (e.bias ? " bias" : "") +
           (e.residual ? " residual" : "") + " at (" + std::to_string(i) + ", " + std::to_string(j) + ")";
  };
  for (index_t i = 0; i < m; ++i) {
    for (index_t j = 0; j < n; ++j) {
      const auto o = oracle_element<T>(a, i, w.view(), j, ep.scale, ep.bias);
      double want = kernels::apply_activation(e.act, o.z);
      if (e.residual) want += static_cast<double>(residual(i, j));
      const double got = static_cast<double>(c(i, j));
      ASSERT_NEAR(got, want, activation_tolerance<T>(o.bound, want)) << where(i, j);
      if (identity) {
        ASSERT_NEAR(got, static_cast<double>(ref(i, j)), 2 * o.bound) << where(i, j) << " vs reference";
      }
    }
  }
  for (index_t i = 0; i < m; ++i)  // the padding of C is untouched
    for (index_t j = n; j < n + c_pad; ++j) ASSERT_EQ(c_store(i, j), T(7)) << where(i, j) << " (padding)";
}

template <class T>
class GemmOpenBlas : public ::testing::Test {};
using Scalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(GemmOpenBlas, Scalars);

// Batch 1 (cblas_?gemv) to 4095, odd sizes; N below, at, between and above the panel widths (16 doubles,
// 32 floats); K = 1, odd, and the DeepJet head's 650; both W operands; against the reference kernel.
TYPED_TEST(GemmOpenBlas, BatchSizesAgainstTheReferenceKernel) {
  PORTML_SKIP_WITHOUT_OPENBLAS();
  std::mt19937 rng(31);
  Queue<backend::Serial> q;
  for (const bool row_major : {true, false}) {
    for (index_t m : {1, 2, 3, 7, 13, 33, 101, 257}) {
      for (auto [k, n] : {std::array<index_t, 2>{1, 1}, {7, 33}, {64, 31}, {65, 130}, {3, 100}, {650, 6}}) {
        check_openblas<TypeParam>(q, m, k, n, {}, row_major, ALayout::contiguous, rng);
      }
    }
    check_openblas<TypeParam>(q, 1023, 37, 70, {}, row_major, ALayout::contiguous, rng);
    check_openblas<TypeParam>(q, 4095, 19, 45, {}, row_major, ALayout::contiguous, rng);
  }
}

TYPED_TEST(GemmOpenBlas, EveryEpilogue) {
  PORTML_SKIP_WITHOUT_OPENBLAS();
  std::mt19937 rng(32);
  Queue<backend::Serial> q;
  for (const bool row_major : {true, false}) {
    for (auto kind :
         {Activation::Linear, Activation::Relu, Activation::LeakyRelu, Activation::Elu, Activation::Selu,
          Activation::Sigmoid, Activation::Tanh, Activation::Silu, Activation::Gelu, Activation::HardSigmoid}) {
      const auto act = kernels::make_activation(kind);
      check_openblas<TypeParam>(q, 1, 40, 70, {act, false, true, false}, row_major, ALayout::contiguous, rng);
      check_openblas<TypeParam>(q, 5, 40, 70, {act, false, true, false}, row_major, ALayout::contiguous, rng);
      check_openblas<TypeParam>(q, 14, 17, 33, {act, true, true, true}, row_major, ALayout::contiguous, rng);
      check_openblas<TypeParam>(q, 1, 17, 33, {act, true, true, true}, row_major, ALayout::contiguous, rng);
    }
    // LeakyReLU with a slope outside (0, 1) (the post-store activation), Clip, scale alone, residual alone.
    check_openblas<TypeParam>(q, 3, 9, 40, {{Activation::LeakyRelu, 1.5, 0.0}, false, true, true}, row_major,
                              ALayout::contiguous, rng);
    check_openblas<TypeParam>(q, 6, 21, 35, {{Activation::Clip, -0.5, 0.75}, true, true, false}, row_major,
                              ALayout::contiguous, rng);
    check_openblas<TypeParam>(q, 9, 30, 20, {{}, true, false, false}, row_major, ALayout::contiguous, rng);
    check_openblas<TypeParam>(q, 9, 30, 20, {{}, false, false, true}, row_major, ALayout::contiguous, rng);
  }
}

// A with a row stride above K, A given transposed (unit row stride: CblasTrans), one row with column
// stride 3 (cblas_?gemv's incx), and C with a row stride above N (its padding untouched).
TYPED_TEST(GemmOpenBlas, StridedAndTransposedA) {
  PORTML_SKIP_WITHOUT_OPENBLAS();
  std::mt19937 rng(33);
  Queue<backend::Serial> q;
  const Epilogue relu{kernels::make_activation(Activation::Relu), false, true, false};
  for (const bool row_major : {true, false}) {
    for (index_t m : {1, 2, 13, 40}) {
      check_openblas<TypeParam>(q, m, 37, 45, relu, row_major, ALayout::row_strided, rng);
      check_openblas<TypeParam>(q, m, 37, 45, relu, row_major, ALayout::transposed, rng);
      check_openblas<TypeParam>(q, m, 1, 45, {}, row_major, ALayout::row_strided, rng);
      check_openblas<TypeParam>(q, m, 1, 45, {}, row_major, ALayout::transposed, rng);
    }
    check_openblas<TypeParam>(q, 1, 37, 45, relu, row_major, ALayout::column_strided, rng);
  }
}

// The queue's threads split the rows as for portml's kernels (each share its own cblas calls, a share of
// one row a cblas_?gemv): every host backend, every split from 1 to 3 tiles per thread.
template <class Case>
class GemmOpenBlasThreadsSplit : public BackendTest<Case> {};
TYPED_TEST_SUITE(GemmOpenBlasThreadsSplit, HostCases, CaseNames);

TYPED_TEST(GemmOpenBlasThreadsSplit, RowSharesOnEveryHostBackend) {
  PORTML_SKIP_WITHOUT_OPENBLAS();
  std::mt19937 rng(34);
  auto q = TypeParam::make_queue();
  const Epilogue tanh_all{kernels::make_activation(Activation::Tanh), true, true, true};
  for (index_t m : {13, 24, 25, 37, 61, 300}) {
    check_openblas<float>(q, m, 50, 70, tanh_all, true, ALayout::contiguous, rng, 0.0);
    check_openblas<double>(q, m, 50, 70, tanh_all, false, ALayout::row_strided, rng, 0.0);
    check_openblas<float>(q, m, 50, 70, tanh_all, false, ALayout::transposed, rng, 0.0);
  }
}

// The product is OpenBLAS's; portml's side (checks, thread split, epilogue) allocates nothing.
TEST(GemmOpenBlasAllocations, CallAllocatesNothing) {
  PORTML_SKIP_WITHOUT_OPENBLAS();
  std::mt19937 rng(35);
  Tensor<float, 2> a({50, 64}), w({64, 100}), c({50, 100}), res({50, 100});
  fill_uniform(a, rng);
  fill_uniform(w, rng);
  const auto bias = uniform_vector<float>(100, rng);
  const kernels::epilogue::ScaleBiasActivationResidual<float> ep{
      nullptr, bias.data(), kernels::make_activation(Activation::Tanh), res.view()};
  const kernels::GemmConfig blas{.provider = GemmProvider::openblas};
  for (const bool row_major : {true, false}) {
    const kernels::PackedWeights<float> packed(w.view(), row_major);
    Queue<backend::Serial> serial;
    kernels::gemm(serial, a.view(), packed, c.view(), ep, blas);  // warm-up
    const long before = allocation_count();
    kernels::gemm(serial, a.view(), packed, c.view(), ep, blas);
    kernels::gemm(serial, a.view().row_slice(0, 1), packed, c.view().row_slice(0, 1),
                  kernels::epilogue::BiasActivation<float>{bias.data(), kernels::make_activation(Activation::Relu)},
                  blas);
    EXPECT_EQ(allocation_count() - before, 0) << (row_major ? "row-major W" : "panels");
  }
}

// What cblas cannot take is NotSupported, with the way out in the message, before any thread starts.
TEST(GemmOpenBlasRefusals, GatheredRowsAndStridesCblasCannotRead) {
  PORTML_SKIP_WITHOUT_OPENBLAS();
  Tensor<float, 2> a({8, 12}), w({6, 5}), c({4, 5});
  for (index_t i = 0; i < a.size(); ++i) a.data()[i] = 1.0f;
  for (index_t i = 0; i < w.size(); ++i) w.data()[i] = 1.0f;
  const kernels::PackedWeights<float> packed(w.view(), true);
  Queue<backend::Serial> q;
  const kernels::GemmConfig blas{.provider = GemmProvider::openblas};
  const auto expect_refusal = [&](auto&& call, const std::string& says) {
    try {
      call();
      ADD_FAILURE() << "no NotSupported; expected one saying '" << says << "'";
    } catch (const NotSupported& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("GemmProvider::portml"), std::string::npos) << e.what();
    }
  };
  const std::vector<index_t> rows{0, 3, 1, 2};
  const TensorView<const float, 2> source(a.data(), {8, 6}, {12, 1});
  expect_refusal(
      [&] {
        kernels::gemm(q, kernels::GatheredRows<float>{source, rows}, packed, c.view(), {}, blas);
      },
      "gathered rows");
  // Every other row and every other column: neither stride is 1.
  const TensorView<const float, 2> both(a.data(), {4, 6}, {24, 2});
  expect_refusal([&] { kernels::gemm(q, both, packed, c.view(), {}, blas); }, "strides [24, 2]");
  // Rows that overlap (row stride 1 < K, column stride 1).
  const TensorView<const float, 2> overlapping(a.data(), {4, 6}, {1, 1});
  expect_refusal([&] { kernels::gemm(q, overlapping, packed, c.view(), {}, blas); }, "strides [1, 1]");
  // C whose rows overlap.
  const TensorView<float, 2> c_overlapping(c.data(), {4, 5}, {2, 1});
  const TensorView<const float, 2> a46(a.data(), {4, 6}, {12, 1});
  expect_refusal([&] { kernels::gemm(q, a46, packed, c_overlapping, {}, blas); }, "C has row stride 2");
  // A row with column stride 0 (one value broadcast along K): cblas's incx cannot be 0.
  const TensorView<const float, 2> broadcast(a.data(), {1, 6}, {6, 0});
  expect_refusal([&] { kernels::gemm(q, broadcast, packed, c.view().row_slice(0, 1), {}, blas); }, "column stride 0");
  // portml's kernels take all of them.
  EXPECT_NO_THROW(kernels::gemm(q, both, packed, c.view()));
  EXPECT_NO_THROW(kernels::gemm(q, kernels::GatheredRows<float>{source, rows}, packed, c.view()));
}

// The thread rule through its seam: any (openblas_get_parallel(), openblas_get_num_threads()) pair.
TEST(GemmOpenBlasThreads, RefusalMessageNamesTheFix) {
  using kernels::gemm_detail::openblas_thread_refusal;
  EXPECT_EQ(openblas_thread_refusal(0, 8), "");  // the sequential build never starts threads
  EXPECT_EQ(openblas_thread_refusal(1, 1), "");
  EXPECT_EQ(openblas_thread_refusal(2, 1), "");
  const std::string pthreads = openblas_thread_refusal(1, 4);
  for (const char* says : {"4 threads", "pthreads", "OPENBLAS_NUM_THREADS=1", "libopenblas0-serial",
                           "libopenblas0-openmp", "portml starts no threads", "openblas_set_num_threads"}) {
    EXPECT_NE(pthreads.find(says), std::string::npos) << says << " not in: " << pthreads;
  }
  const std::string openmp = openblas_thread_refusal(2, 2);
  EXPECT_NE(openmp.find("OpenMP build"), std::string::npos) << openmp;
  EXPECT_NE(openmp.find("OMP_NUM_THREADS=1"), std::string::npos) << openmp;
}

// The thread rule for real: refused exactly when this process's OpenBLAS would use threads (a parallel
// build with more than one thread), and portml does not change OpenBLAS's thread count. Under ctest's
// OPENBLAS_NUM_THREADS=1 the call is accepted; the ctest entry GemmOpenBlasThreads.RefusedUnderTwoThreads
// runs this test with OPENBLAS_NUM_THREADS=2 and PORTML_TEST_EXPECT_OPENBLAS_REFUSAL=1, where it must be
// refused (or skips, saying so, when OpenBLAS runs one thread anyway: a sequential build, one CPU).
TEST(GemmOpenBlasThreads, RefusedExactlyWhenOpenBlasWouldUseThreads) {
  PORTML_SKIP_WITHOUT_OPENBLAS();
#if PORTML_ENABLE_OPENBLAS
  const int parallel = openblas_get_parallel(), threads = openblas_get_num_threads();
  const bool refuse = parallel != 0 && threads > 1;
  if (std::getenv("PORTML_TEST_EXPECT_OPENBLAS_REFUSAL") != nullptr && !refuse) {
    GTEST_SKIP() << "OpenBLAS runs one thread here (openblas_get_parallel() = " << parallel
                 << ", openblas_get_num_threads() = " << threads << "): no refusal to show";
  }
  Tensor<float, 2> a({30, 16}), w({16, 40}), c({30, 40});
  std::mt19937 rng(36);
  fill_uniform(a, rng);
  fill_uniform(w, rng);
  const kernels::PackedWeights<float> packed(w.view(), true);
  Queue<backend::Serial> q;
  const kernels::GemmConfig blas{.provider = GemmProvider::openblas};
  layers::MlpConfig config;
  config.inputs = {{"x", 16}};
  layers::LayerConfig dense;
  dense.inputs = 16;
  dense.outputs = 4;
  dense.weights.assign(64, 0.25);
  config.layers.push_back(dense);
  const layers::Mlp<float> model(config, GemmProvider::openblas);
  std::vector<std::byte> ws(model.workspace_bytes(30));
  Tensor<float, 2> y({30, 4});
  if (refuse) {
    try {
      kernels::gemm(q, a.view(), packed, c.view(), {}, blas);
      ADD_FAILURE() << "OpenBLAS runs " << threads << " threads, and the call was not refused";
    } catch (const NotSupported& e) {
      EXPECT_NE(std::string(e.what()).find("OPENBLAS_NUM_THREADS=1"), std::string::npos) << e.what();
    }
    EXPECT_THROW(model.forward(q, a.view(), y.view(), ws, blas), NotSupported);
#if PORTML_ENABLE_OPENMP
    Queue<backend::OpenMP> omp(2);  // refused on the calling thread, before the threads' row ranges
    EXPECT_THROW(
        model.forward(omp, a.view(), y.view(), ws, {.min_parallel_flops = 0.0, .provider = GemmProvider::openblas}),
        NotSupported);
#endif
  } else {
    EXPECT_NO_THROW(kernels::gemm(q, a.view(), packed, c.view(), {}, blas));
    EXPECT_NO_THROW(model.forward(q, a.view(), y.view(), ws, blas));
  }
  EXPECT_NO_THROW(kernels::gemm(q, a.view(), packed, c.view()));  // portml's kernels either way
  EXPECT_EQ(openblas_get_num_threads(), threads) << "portml changed OpenBLAS's thread count";
#endif
}

// A build without the option: the provider, and a Dense or Mlp built for it, are NotSupported with how
// to enable it.
TEST(GemmOpenBlasBuild, NotSupportedWithoutTheBuildOption) {
  if (PORTML_ENABLE_OPENBLAS) {
    GTEST_SKIP() << "this build has PORTML_ENABLE_OPENBLAS=ON; the refusal of a build without it runs in the "
                    "builds without it (every CI stage but release)";
  }
  Tensor<float, 2> a({3, 4}), w({4, 2}), c({3, 2});
  const kernels::PackedWeights<float> packed(w.view());
  Queue<backend::Serial> q;
  const kernels::GemmConfig blas{.provider = GemmProvider::openblas};
  const auto expect_hint = [](auto&& call) {
    try {
      call();
      ADD_FAILURE() << "no NotSupported";
    } catch (const NotSupported& e) {
      EXPECT_NE(std::string(e.what()).find("-DPORTML_ENABLE_OPENBLAS=ON"), std::string::npos) << e.what();
    }
  };
  expect_hint([&] { kernels::gemm(q, a.view(), packed, c.view(), {}, blas); });
  const std::vector<index_t> rows{0, 1, 2};
  expect_hint([&] { kernels::gemm(q, kernels::GatheredRows<float>{a.view(), rows}, packed, c.view(), {}, blas); });
  Tensor<float, 2> a0({0, 4}), c0({0, 2});
  expect_hint([&] { kernels::gemm(q, a0.view(), packed, c0.view(), {}, blas); });  // even with nothing to do
  const std::vector<double> weights(8, 1.0);
  expect_hint([&] { (void)layers::Dense<float>(4, 2, weights, {}, {}, GemmProvider::openblas); });
  layers::MlpConfig config;
  config.inputs = {{"x", 4}};
  layers::LayerConfig dense;
  dense.inputs = 4;
  dense.outputs = 2;
  dense.weights = weights;
  config.layers.push_back(dense);
  expect_hint([&] { (void)layers::Mlp<float>(config, GemmProvider::openblas); });
  const layers::Mlp<float> model(config);
  std::vector<std::byte> ws(model.workspace_bytes(3));
  expect_hint([&] { model.forward(q, a.view(), c.view(), ws, blas); });
  EXPECT_NO_THROW(model.forward(q, a.view(), c.view(), ws));
}

}  // namespace
}  // namespace portml::test
