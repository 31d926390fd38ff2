// SPDX-License-Identifier: Apache-2.0
//! \file
//! The OpenBLAS provider of the GEMM (GemmConfig::provider = GemmProvider::openblas), compiled only in
//! builds with PORTML_ENABLE_OPENBLAS=ON: C = epilogue(A · W) with the product A · W from
//! cblas_sgemm / cblas_dgemm (cblas_sgemv / cblas_dgemv for one row), then the epilogue applied to C
//! row by row by apply_epilogue_rows below, in the order EpilogueParams defines, with the activations
//! of activation.hpp. An explicit opt-in with a price: OpenBLAS picks its kernels by shape, so a row's
//! bits may depend on the batch size and its position (portml's own kernels guarantee they do not).
//!
//! Threads: portml starts none, and OpenBLAS's pthreads build (Debian's default) runs a pool of its
//! own. Every call checks openblas_get_parallel() and openblas_get_num_threads() and refuses
//! (NotSupported) when OpenBLAS would split the product over threads; portml never calls
//! openblas_set_num_threads (process-wide state). See docs/dense.md §6b.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include <portml/config.hpp>
#include <portml/core/error.hpp>
#include <portml/kernels/activation.hpp>
#include <portml/kernels/gemm/blocking.hpp>
#include <portml/kernels/gemm/epilogue.hpp>
#include <portml/kernels/gemm/packed_weights.hpp>

#if PORTML_ENABLE_OPENBLAS
#include <cblas.h>
#endif

namespace portml::kernels::gemm_detail {

//! The message of a call for the OpenBLAS provider in a build without it.
inline std::string openblas_not_built(const std::string& who) {
  return who +
         ": GemmProvider::openblas needs a portml built with OpenBLAS: configure with "
         "-DPORTML_ENABLE_OPENBLAS=ON (Debian: apt-get install libopenblas-dev)";
}

//! Why OpenBLAS may not run a portml GEMM, from what OpenBLAS reports: `parallel` =
//! openblas_get_parallel() (0 sequential build, 1 pthreads, 2 OpenMP) and `threads` =
//! openblas_get_num_threads(); empty when it may (a sequential build, or one thread). The seam the
//! tests drive with any pair of values.
inline std::string openblas_thread_refusal(int parallel, int threads) {
  if (parallel == 0 || threads <= 1) return {};
  return "portml::kernels::gemm: OpenBLAS would run the product on " + std::to_string(threads) + " threads (its " +
         (parallel == 2 ? "OpenMP" : "pthreads") +
         " build), and portml starts no threads: set OPENBLAS_NUM_THREADS=1 in the process's environment "
         "(OMP_NUM_THREADS=1 also does for the OpenMP build), or link OpenBLAS's serial build "
         "(libopenblas0-serial) or its OpenMP build (libopenblas0-openmp, then threads follow OMP_NUM_THREADS); "
         "portml never calls openblas_set_num_threads, which changes the whole process";
}

//! Throws NotSupported unless this build has OpenBLAS and OpenBLAS runs a call on the calling thread only.
inline void require_openblas([[maybe_unused]] const char* who) {
#if PORTML_ENABLE_OPENBLAS
  const std::string why = openblas_thread_refusal(openblas_get_parallel(), openblas_get_num_threads());
  if (!why.empty()) throw NotSupported(why);
#else
  throw NotSupported(openblas_not_built(who));
#endif
}

//! The element-wise epilogue, after a product computed elsewhere (the BLAS provider): for rows
//! [row_begin, row_end) of C, which hold acc = A · W,
//!   C(i, j) = post(clamp(scale_j · acc(i, j) + bias_j)) + residual(i, j)
//! as EpilogueParams defines it, each step a separate IEEE operation in that order. The register clamp
//! runs as the activation it stands for (RegisterClamp::Relu is ReLU, LeakyRelu is LeakyReLU with the
//! slope, both in activation.hpp), so every activation has its one definition there. Each step is one
//! pass over the row, which is in L1.
template <class T>
void apply_epilogue_rows(const Problem<T>& p, index_t row_begin, index_t row_end) {
  const index_t n = p.w->cols();
  const T* const scale = p.ep.scale;
  const T* const bias = p.ep.bias;
  ActivationSpec clamp{};
  if (p.ep.clamp == RegisterClamp::Relu) clamp = {Activation::Relu, 0.0, 0.0};
  if (p.ep.clamp == RegisterClamp::LeakyRelu) clamp = {Activation::LeakyRelu, static_cast<double>(p.ep.slope), 0.0};
  for (index_t i = row_begin; i < row_end; ++i) {
    T* const c = p.c + i * p.c_row_stride;
    if (scale != nullptr)
      for (index_t j = 0; j < n; ++j) c[j] = c[j] * scale[j];
    if (bias != nullptr)
      for (index_t j = 0; j < n; ++j) c[j] = c[j] + bias[j];
    activation_pass(clamp, c, n);
    post_store_row(p.ep, c, i, 0, n);
  }
}

#if PORTML_ENABLE_OPENBLAS

//! One GEMM as cblas takes it, checked once per call (before any thread split).
template <class T>
struct OpenBlasCall {
  bool a_transposed = false;  //!< A given as Aᵀ [K, M] row-major (unit row stride): CblasTrans
  blasint lda = 1;            //!< A's leading dimension (its row stride, or its column stride when transposed)
  blasint incx = 1;           //!< one row of A as a vector (cblas_?gemv): its column stride
  blasint ldc = 1;
  const T* b = nullptr;      //!< W: the row-major copy, or the first packed panel
  blasint ldb = 1;           //!< N for the row-major copy (panels: each panel's PackedWeights::line_width)
  index_t panel_cols = 0;    //!< columns per cblas call: N, or the panel width
  index_t panel_stride = 0;  //!< elements between the panels' first elements
  index_t panels = 0;        //!< cblas calls per row range: 1, or the panel count
};

//! The cblas description of a GEMM with A [m, k] of strides (a_row_stride, a_col_stride) and C of row
//! stride c_row_stride (unit column stride), or NotSupported naming what cblas cannot take: A whose
//! rows and columns both have non-unit strides (or overlap), C whose rows overlap, sizes beyond
//! cblas's integers. With one row, any column stride of A but 0 works (cblas_?gemv's incx).
template <class T>
OpenBlasCall<T> openblas_call(index_t a_row_stride, index_t a_col_stride, index_t m, const PackedWeights<T>& w,
                              index_t c_row_stride) {
  const index_t k = w.rows(), n = w.cols();
  OpenBlasCall<T> call;
  const auto fail = [&](const std::string& what) {
    throw NotSupported("portml::kernels::gemm: GemmProvider::openblas: " + what +
                       "; give A as a row-major matrix (unit column stride) or use GemmProvider::portml");
  };
  if (m <= 1 || k <= 1) {
    // One row (a vector, any non-zero stride) or one column (K = 1: A's column is strided by its row stride).
    if (m > 1) {  // k == 1
      if (a_row_stride < 1) fail("A [" + std::to_string(m) + ", 1] has row stride " + std::to_string(a_row_stride));
      call.lda = static_cast<blasint>(a_row_stride);
    } else if (k > 1 && a_col_stride < 1) {
      fail("the row of A has column stride " + std::to_string(a_col_stride));
    }
    call.incx = static_cast<blasint>(k > 1 ? a_col_stride : 1);
  } else if (a_col_stride == 1 && a_row_stride >= k) {
    call.lda = static_cast<blasint>(a_row_stride);
  } else if (a_row_stride == 1 && a_col_stride >= m) {
    call.a_transposed = true;
    call.lda = static_cast<blasint>(a_col_stride);
    call.incx = static_cast<blasint>(a_col_stride);
  } else {
    fail("cblas cannot read A [" + std::to_string(m) + ", " + std::to_string(k) + "] with strides [" +
         std::to_string(a_row_stride) + ", " + std::to_string(a_col_stride) + "]");
  }
  if (m > 1 && c_row_stride < n) {
    fail("C has row stride " + std::to_string(c_row_stride) + " < its " + std::to_string(n) + " columns");
  }
  constexpr auto int_max = static_cast<index_t>(std::numeric_limits<blasint>::max());
  if (m > int_max || n > int_max || k > int_max || a_row_stride > int_max || a_col_stride > int_max ||
      c_row_stride > int_max) {
    fail("a size or stride exceeds cblas's " + std::to_string(sizeof(blasint) * 8) + "-bit integers");
  }
  call.ldc = static_cast<blasint>(m > 1 ? c_row_stride : std::max<index_t>(n, 1));
  if (const T* copy = w.row_major(); copy != nullptr) {
    call.b = copy;
    call.ldb = static_cast<blasint>(std::max<index_t>(n, 1));
    call.panel_cols = n;
    call.panels = 1;
  } else {
    call.b = w.panel(0);
    call.panel_cols = PackedWeights<T>::panel_width;
    call.panel_stride = w.panel_stride();
    call.panels = w.panels();
  }
  return call;
}

//! C rows [row_begin, row_end) = A · W through cblas (one call per panel of `call`; cblas_?gemv for one
//! row), then apply_epilogue_rows. β = 0: C is written, never read.
template <class T>
void openblas_rows(const Problem<T>& p, const OpenBlasCall<T>& call, index_t row_begin, index_t row_end) {
  const index_t rows = row_end - row_begin, k = p.w->rows(), n = p.w->cols();
  if (rows <= 0) return;
  if (k == 0) {  // an empty sum (cblas_?gemv would return without writing y)
    for (index_t i = row_begin; i < row_end; ++i)
      for (index_t j = 0; j < n; ++j) p.c[i * p.c_row_stride + j] = T(0);
  }
  for (index_t panel = 0; panel < call.panels && k > 0; ++panel) {
    const index_t j0 = panel * call.panel_cols;
    const auto cols = static_cast<blasint>(std::min(call.panel_cols, n - j0));
    const T* b = call.b + panel * call.panel_stride;
    const blasint ldb = call.b == p.w->row_major() ? call.ldb : static_cast<blasint>(p.w->line_width(panel));
    T* c = p.c + row_begin * p.c_row_stride + j0;
    if (rows == 1) {  // y = Wᵀ x: W is [K, cols] row-major, ld = ldb
      if constexpr (std::is_same_v<T, float>) {
        cblas_sgemv(CblasRowMajor, CblasTrans, static_cast<blasint>(k), cols, 1.0f, b, ldb, p.a_row(row_begin),
                    call.incx, 0.0f, c, 1);
      } else {
        cblas_dgemv(CblasRowMajor, CblasTrans, static_cast<blasint>(k), cols, 1.0, b, ldb, p.a_row(row_begin),
                    call.incx, 0.0, c, 1);
      }
      continue;
    }
    const T* a = p.a + row_begin * p.a_row_stride;
    const auto ta = call.a_transposed ? CblasTrans : CblasNoTrans;
    if constexpr (std::is_same_v<T, float>) {
      cblas_sgemm(CblasRowMajor, ta, CblasNoTrans, static_cast<blasint>(rows), cols, static_cast<blasint>(k), 1.0f, a,
                  call.lda, b, ldb, 0.0f, c, call.ldc);
    } else {
      cblas_dgemm(CblasRowMajor, ta, CblasNoTrans, static_cast<blasint>(rows), cols, static_cast<blasint>(k), 1.0, a,
                  call.lda, b, ldb, 0.0, c, call.ldc);
    }
  }
  apply_epilogue_rows(p, row_begin, row_end);
}

#endif  // PORTML_ENABLE_OPENBLAS

}  // namespace portml::kernels::gemm_detail
