// SPDX-License-Identifier: Apache-2.0
//! \file
//! One row of A through a layer: C[0, N) = epilogue(a · W), for a caller that runs a single row through
//! a chain of layers (layers::Mlp at batch 1). Where N is at most four SIMD vectors (AVX-512: 64 floats or
//! 32 doubles; AVX2: 32 or 16) the ISA's row kernel runs: its arguments stay in registers, with none of
//! the tile set-up of gemm_rows (the MicroTile, the panel calls, the C prefetch), and it keeps the K order
//! of gemm/k_chunks.hpp and the microkernels' epilogue, so the bits are those of kernels::gemm for that
//! row on the same ISA. Any other layer (wider, or the scalar ISA) runs as a one-row gemm_rows: the same
//! bits again. Nothing is checked here; nothing allocates.
#pragma once

#include <cassert>

#include <portml/kernels/gemm/blocking.hpp>

namespace portml::kernels {

//! The most SIMD vectors of one row that the row kernels take.
inline constexpr int one_row_max_vectors = 4;

namespace gemm_detail {

//! Vectors of `width` elements that one row of W's N columns takes in the packed layout: NR / width per
//! whole panel, then the narrow last panel's columns rounded up to whole vectors.
template <class T>
index_t one_row_vectors(const PackedWeights<T>& w, index_t width) {
  constexpr index_t nr = PackedWeights<T>::panel_width;
  const index_t whole = w.narrow_last_panel() ? w.panels() - 1 : w.panels();
  const index_t rest = w.cols() - whole * nr;  // the narrow last panel's columns, else ≤ 0
  return whole * (nr / width) + (rest > 0 ? (rest + width - 1) / width : 0);
}

//! The row kernel of `Isa` for NV = 1 … one_row_max_vectors vectors.
template <class Isa, class T, int NV = 1>
void row_kernel(index_t nv, const T* a, index_t cs, const PackedWeights<T>& w, const EpilogueParams<T>& ep, T* c) {
  if constexpr (NV <= one_row_max_vectors) {
    if (nv == NV) return Isa::template row<T, NV>(a, cs, w, ep, c);
    row_kernel<Isa, T, NV + 1>(nv, a, cs, w, ep, c);
  }
}

}  // namespace gemm_detail

//! c[0, N) = epilogue(a · W) for one row a (A(0, k) = a[k · a_col_stride]), N = w.cols(): the bits of
//! kernels::gemm on that row with the same ISA. Preconditions (asserted in debug builds): `isa` is
//! resolved (never automatic), `ep` has no residual, c[0, N) does not overlap the row.
template <class T>
void gemm_one_row(Isa isa, const T* a, index_t a_col_stride, const PackedWeights<T>& w, T* c,
                  const EpilogueParams<T>& ep) {
  assert(isa != Isa::automatic && !ep.has_residual());
  const index_t n = w.cols();
  if (n == 0) return;
#if PORTML_X86_SIMD
  if (isa == Isa::avx512 || isa == Isa::avx2) {
    const index_t width = isa == Isa::avx512 ? gemm_detail::Avx512<T>::width : gemm_detail::Avx2<T>::width;
    const index_t nv = gemm_detail::one_row_vectors(w, width);
    if (nv <= one_row_max_vectors) {
      if (isa == Isa::avx512) {
        gemm_detail::row_kernel<gemm_detail::IsaAvx512>(nv, a, a_col_stride, w, ep, c);
      } else {
        gemm_detail::row_kernel<gemm_detail::IsaAvx2>(nv, a, a_col_stride, w, ep, c);
      }
      if (ep.post.kind != Activation::Linear) post_store_row(ep, c, 0, 0, n);
      return;
    }
  }
#endif
  const gemm_detail::Problem<T> p{
      .a = a, .a_row_stride = 0, .a_col_stride = a_col_stride, .m = 1, .w = &w, .c = c, .c_row_stride = n, .ep = ep};
  gemm_detail::gemm_rows(isa, p, 0, 1);
}

}  // namespace portml::kernels
