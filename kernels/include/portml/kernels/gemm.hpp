// SPDX-License-Identifier: Apache-2.0
//! \file
//! The GEMM entry point of portml: C = epilogue(A · W) on the host backends, with W prepacked once
//! (PackedWeights) and the epilogue a type (bias, activation, per-column scale, residual).
//!
//! Layers (BLIS/CUTLASS style): this header checks arguments and dispatches; gemm/blocking.hpp splits
//! C into tiles shared by every host backend; gemm/microkernel_*.hpp are the register-blocked
//! microkernels of each ISA under the contract in gemm/microkernel.hpp; gemm/epilogue.hpp holds the
//! epilogue types. Dense layers, MLPs and the GNN blocks all call this one function.
//! gemm/openblas.hpp is the optional OpenBLAS provider of the product (GemmConfig::provider);
//! gemm/one_row.hpp runs a single row through a narrow layer (layers::Mlp at batch 1).
#pragma once

#include <cassert>
#include <span>
#include <string>
#include <type_traits>

#include <portml/kernels/gemm/blocking.hpp>
#include <portml/kernels/gemm/epilogue.hpp>
#include <portml/kernels/gemm/isa.hpp>
#include <portml/kernels/gemm/one_row.hpp>
#include <portml/kernels/gemm/openblas.hpp>
#include <portml/kernels/gemm/packed_weights.hpp>
#include <portml/portability/launch.hpp>

namespace portml::kernels {

//! Rows of A taken from `source` by index: row i of A is source row `rows[i]` (a gather fused into
//! the GEMM, for message passing over edges).
template <class T>
struct GatheredRows {
  TensorView<const T, 2> source;
  std::span<const index_t> rows;
};

//! Who computes the product A · W (the epilogue is portml's either way).
enum class GemmProvider {
  //! portml's microkernels: a row's bits are the same whatever the batch size, position and threads.
  portml,
  //! OpenBLAS's cblas_sgemm / cblas_dgemm (cblas_?gemv for one row), then the epilogue. Only in builds
  //! with PORTML_ENABLE_OPENBLAS=ON (else NotSupported), only while OpenBLAS runs one thread (else
  //! NotSupported: set OPENBLAS_NUM_THREADS=1), and a row's bits may depend on the batch size and the
  //! row's position, since OpenBLAS picks its kernels by shape. A must be row-major or column-major
  //! (gathered rows and other strides are NotSupported). Fastest with PackedWeights that keep their
  //! row-major copy (one cblas call per GEMM; without it, one per 128-byte panel). docs/dense.md §6b.
  openblas,
};

inline const char* to_string(GemmProvider p) { return p == GemmProvider::openblas ? "openblas" : "portml"; }

//! Per-call choices. The defaults are what production code wants.
struct GemmConfig {
  //! Microkernel family; Automatic takes the widest one this CPU runs. Tests force each one.
  Isa isa = Isa::automatic;
  //! Use the queue's threads only from this many floating-point operations (2·M·N·K) up (below, one
  //! thread is faster). layers::Mlp::forward applies it to the whole call (2·M·Σ K·N over its layers)
  //! and then runs each thread's rows through all the layers: its layers get one thread each.
  double min_parallel_flops = 4.0e6;
  //! Who computes the product: portml's kernels (the default) or, as an explicit opt-in, OpenBLAS.
  GemmProvider provider = GemmProvider::portml;
};

namespace gemm_detail {

//! The threads a host queue offers: Queue<OpenMP>::num_threads(), a Kokkos space's concurrency, else 1.
template <class Q>
int host_concurrency(const Q& q) {
  if constexpr (requires { q.num_threads(); }) {
    return q.num_threads();
  } else if constexpr (requires { q.space().concurrency(); }) {
    return static_cast<int>(q.space().concurrency());
  } else {
    return 1;
  }
}

[[noreturn]] inline void throw_shape(const std::string& what) { throw ShapeError("portml::kernels::gemm: " + what); }

//! Runs `rows(begin, end)` over the rows of a checked problem: on the calling thread, or, from
//! `min_parallel_flops` operations up, in equal shares of whole tiles of `tile` rows on the queue's threads.
template <Backend B, class T, class Rows>
void split_rows(Queue<B>& q, const Problem<T>& p, index_t k, int tile, double min_parallel_flops, const Rows& rows) {
  const index_t n = p.w->cols();
  const int threads = host_concurrency(q);
  index_t chunks = 1;
  if (threads > 1 &&
      2.0 * static_cast<double>(p.m) * static_cast<double>(n) * static_cast<double>(k) >= min_parallel_flops) {
    chunks = std::min<index_t>(threads, p.m / tile);
  }
  if (chunks <= 1) {
    rows(index_t{0}, p.m);
    return;
  }
  const index_t tiles = (p.m + tile - 1) / tile;
  parallel_for(q, Range1D{chunks}, [&](index_t c) {
    const index_t begin = std::min(p.m, (tiles * c / chunks) * tile);
    const index_t end = std::min(p.m, (tiles * (c + 1) / chunks) * tile);
    rows(begin, end);
  });
}

//! Runs a checked problem on the microkernels of `isa` (resolved, never automatic). A row's bits do not
//! depend on which thread computes it.
template <Backend B, class T>
void run(Queue<B>& q, const Problem<T>& p, index_t k, Isa isa, double min_parallel_flops) {
  split_rows(q, p, k, split_tile_rows(isa), min_parallel_flops,
             [&](index_t begin, index_t end) { gemm_rows(isa, p, begin, end); });
}

//! Runs a problem (shapes checked, A and C set) through OpenBLAS (GemmProvider::openblas): NotSupported,
//! on the calling thread, without the build option, when OpenBLAS would start threads, or for an A that
//! cblas cannot read (gathered rows: `gathered`); then the queue's threads split the rows as for portml's
//! kernels, each share one cblas call per panel of W.
template <Backend B, class T>
void run_openblas(Queue<B>& q, const Problem<T>& p, double min_parallel_flops, bool gathered = false) {
  require_openblas("portml::kernels::gemm");
  if (gathered) {
    throw NotSupported(
        "portml::kernels::gemm: GemmProvider::openblas takes no gathered rows (cblas reads A in place): gather "
        "them into a contiguous tensor first, or use GemmProvider::portml, which fuses the gather");
  }
#if PORTML_ENABLE_OPENBLAS
  const OpenBlasCall<T> call = openblas_call(p.a_row_stride, p.a_col_stride, p.m, *p.w, p.c_row_stride);
  if (p.m == 0 || p.w->cols() == 0) return;
  split_rows(q, p, p.w->rows(), split_tile_rows(widest_isa()), min_parallel_flops,
             [&](index_t begin, index_t end) { openblas_rows(p, call, begin, end); });
#else
  (void)q, (void)p, (void)min_parallel_flops;
#endif
}

template <class T, class E>
Problem<T> make_problem(const PackedWeights<T>& w, TensorView<T, 2> c, const E& ep, index_t m) {
  if (c.extent(0) != m || c.extent(1) != w.cols()) {
    throw_shape("C is " + detail::format_shape(c.extents()) + ", expected [" + std::to_string(m) + ", " +
                std::to_string(w.cols()) + "]");
  }
  if (c.extent(1) > 1 && c.stride(1) != 1) {
    throw NotSupported("portml::kernels::gemm: C must have unit column stride, got strides " +
                       detail::format_shape(c.strides()));
  }
  // Built in place (no copy of EpilogueParams: a copy of a just-written struct stalls on store forwarding
  // and cost ~20 ns per call).
  Problem<T> p{.m = m, .w = &w, .c = c.data(), .c_row_stride = c.stride(0), .ep = ep.template params<T>()};
  if (p.ep.has_residual()) {
    if (p.ep.residual.extents() != c.extents()) {
      throw_shape("residual is " + detail::format_shape(p.ep.residual.extents()) + ", C is " +
                  detail::format_shape(c.extents()));
    }
    if (c.extent(1) > 1 && p.ep.residual.stride(1) != 1) {
      throw NotSupported("portml::kernels::gemm: the residual must have unit column stride");
    }
  }
  return p;
}

}  // namespace gemm_detail

//! C [M, N] = epilogue(A [M, K] · W [K, N]).
//! \param a    any strides (rows and columns); must not overlap C
//! \param w    the packed weights (K = w.rows(), N = w.cols())
//! \param c    unit column stride, any row stride
//! \param ep   an epilogue type (epilogue::Identity, BiasActivation, ScaleBiasActivationResidual, ...)
//! Allocates nothing. Each row's result is bitwise the same for any M, row position and thread count
//! on one ISA. Uses the queue's threads only for at least `cfg.min_parallel_flops` operations (2·M·N·K).
//! Throws ShapeError for mismatched shapes, NotSupported for an unavailable forced ISA.
//! With cfg.provider = GemmProvider::openblas, OpenBLAS computes A · W (see GemmProvider for what
//! changes: no bitwise guarantee across batch sizes; A row- or column-major; NotSupported without the
//! build option or while OpenBLAS would use threads).
template <Backend B, class T, class E = epilogue::Identity>
requires(B::is_host&& GemmEpilogue<E, T>) void gemm(Queue<B>& q, std::type_identity_t<TensorView<const T, 2>> a,
                                                    const PackedWeights<T>& w, std::type_identity_t<TensorView<T, 2>> c,
                                                    const E& ep = {}, const GemmConfig& cfg = {}) {
  if (a.extent(1) != w.rows()) {
    gemm_detail::throw_shape("A is " + detail::format_shape(a.extents()) + " but W has " + std::to_string(w.rows()) +
                             " rows");
  }
  auto p = gemm_detail::make_problem(w, c, ep, a.extent(0));
  p.a = a.data();
  p.a_row_stride = a.stride(0);
  p.a_col_stride = a.stride(1);
  if (cfg.provider == GemmProvider::openblas) {
    gemm_detail::run_openblas(q, p, cfg.min_parallel_flops);
    return;
  }
  if (p.m == 0 || w.cols() == 0) return;
  gemm_detail::run(q, p, w.rows(), resolve_isa(cfg.isa), cfg.min_parallel_flops);
}

//! C [M, N] = epilogue(A · W) with row i of A = a.source row a.rows[i] (M = a.rows.size()).
//! Throws IndexError for an index outside the source rows. GemmProvider::openblas: NotSupported
//! (cblas reads A in place; gather into a contiguous tensor and call the overload above).
template <Backend B, class T, class E = epilogue::Identity>
requires(B::is_host&& GemmEpilogue<E, T>) void gemm(Queue<B>& q, const GatheredRows<T>& a, const PackedWeights<T>& w,
                                                    std::type_identity_t<TensorView<T, 2>> c, const E& ep = {},
                                                    const GemmConfig& cfg = {}) {
  if (a.source.extent(1) != w.rows()) {
    gemm_detail::throw_shape("gathered source is " + detail::format_shape(a.source.extents()) + " but W has " +
                             std::to_string(w.rows()) + " rows");
  }
  const index_t rows = a.source.extent(0);
  for (const index_t r : a.rows) {
    if (r < 0 || r >= rows) {
      throw IndexError("portml::kernels::gemm: gathered row " + std::to_string(r) + " outside [0, " +
                       std::to_string(rows) + ")");
    }
  }
  auto p = gemm_detail::make_problem(w, c, ep, static_cast<index_t>(a.rows.size()));
  p.a = a.source.data();
  p.a_row_stride = a.source.stride(0);
  p.a_col_stride = a.source.stride(1);
  p.a_index = a.rows.data();
  if (cfg.provider == GemmProvider::openblas) {
    gemm_detail::run_openblas(q, p, cfg.min_parallel_flops, true);
    return;
  }
  if (p.m == 0 || w.cols() == 0) return;
  gemm_detail::run(q, p, w.rows(), resolve_isa(cfg.isa), cfg.min_parallel_flops);
}

//! kernels::gemm without the argument checks, for a caller that has checked the shapes once for many
//! calls (Mlp::forward checks its input, output and workspace once per call; the shapes of its layers
//! agree by construction). Preconditions (asserted in debug builds): A is [M, w.rows()], C is
//! [M, w.cols()] with unit column stride, they do not overlap, `ep` has no residual, `isa` is
//! resolve_isa(cfg.isa) (never automatic; unused by GemmProvider::openblas, whose checks of A and of
//! OpenBLAS's threads still run here). Same bits as kernels::gemm.
template <Backend B, class T>
requires(B::is_host) void gemm_prechecked(Queue<B>& q, const TensorView<const T, 2>& a, const PackedWeights<T>& w,
                                          const TensorView<T, 2>& c, const EpilogueParams<T>& ep, Isa isa,
                                          const GemmConfig& cfg = {}) {
  assert(a.extent(1) == w.rows() && c.extent(0) == a.extent(0) && c.extent(1) == w.cols());
  assert(c.extent(1) <= 1 || c.stride(1) == 1);
  assert(!ep.has_residual() && isa != Isa::automatic);
  const gemm_detail::Problem<T> p{.a = a.data(),
                                  .a_row_stride = a.stride(0),
                                  .a_col_stride = a.stride(1),
                                  .m = a.extent(0),
                                  .w = &w,
                                  .c = c.data(),
                                  .c_row_stride = c.stride(0),
                                  .ep = ep};
  if (cfg.provider == GemmProvider::openblas) {
    gemm_detail::run_openblas(q, p, cfg.min_parallel_flops);
    return;
  }
  if (p.m == 0 || w.cols() == 0) return;
  gemm_detail::run(q, p, w.rows(), isa, cfg.min_parallel_flops);
}

}  // namespace portml::kernels
