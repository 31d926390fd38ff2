// SPDX-License-Identifier: Apache-2.0
//! \file
//! The microkernel contract shared by every ISA (BLIS style; see docs/dense.md, "Microkernel contract").
//!
//! A microkernel `kernel<T, MR, NP, HALF>(const MicroTile<T, MR>& t)` computes one MR × (NP · NR) tile
//! (NR = PackedWeights<T>::panel_width), or with HALF one MR × ((NP − ½) · NR) tile,
//!   C(r, j0 + j) = clamp(scale_{j0+j} · Σ_k A(r, k) · W(k, j0 + j) + bias_{j0+j}) [+ residual(r, j0 + j)]
//! for r < MR and j < t.n (t.n ≤ NP · NR; with HALF t.n ≤ (NP − 1) · NR + NR / 2), where
//!  * HALF (a narrow last panel: the layer's last panel holds at most NR / 2 real columns) computes only
//!    the first NR / 2 columns of the last of the NP panels, so no multiply-add is spent on its padding
//!    half (AVX-512 float: one zmm per row instead of two), whose lines are packed NR / 2 elements wide
//!    (PackedWeights' narrow last panel). It skips columns, nothing else: the K order below is the same;
//!  * A(r, k) = t.a[r][k · t.a_col_stride]: any row pointers (gathered or strided rows), any column stride;
//!  * W is NP consecutive packed panels starting at t.b, t.panel_stride elements apart, line k of panel
//!    p at t.b + p · t.panel_stride + k · NR (k · NR / 2 for the narrow last panel of HALF);
//!  * the K terms of every element are summed in the order of gemm/k_chunks.hpp, which depends on K
//!    only: K is cut into S = gemm_k_chunks(K) contiguous chunks (S = 4 for K ≥ 32, 2 for 16 ≤ K < 32,
//!    else 1; chunk s starts at s·q with q = 8·⌊K/(8S)⌋, the last one ends at K), each chunk is one chain from 0 in
//!    k order with the ISA's multiply-add (fused on AVX2/AVX-512, separate multiply and add in the
//!    scalar kernel), and the chunk sums are added left to right, ((c_0 + c_1) + c_2) + c_3. A kernel
//!    may run the chunks as concurrent chains (small tiles: more chains hide the multiply-add latency)
//!    or one after another, folding each chunk sum into the running sum (large tiles): the same bits.
//!    The tile shape never changes this order, so a row's result does not depend on MR, NP, the batch
//!    size, its position in the batch or the thread count;
//!  * C is written, never read (β = 0); columns ≥ t.n are neither read (scale, bias, residual) nor
//!    written; the residual is added only where t.r[r] is not nullptr;
//!  * the microkernel allocates nothing and has no state.
#pragma once

#include <portml/core/tensor_view.hpp>
#include <portml/kernels/gemm/epilogue.hpp>
#include <portml/kernels/gemm/k_chunks.hpp>

namespace portml::kernels::gemm_detail {

//! One MR-row tile handed to a microkernel (all pointers already offset to the tile).
template <class T, int MR>
struct MicroTile {
  const T* a[MR];            //!< row r of A, column 0
  index_t a_col_stride = 1;  //!< elements between A(r, k) and A(r, k + 1)
  index_t k = 0;             //!< K
  const T* b = nullptr;      //!< first packed panel of the tile
  index_t panel_stride = 0;  //!< elements between panels (K · NR)
  T* c[MR];                  //!< row r of C at column j0
  const T* r[MR];            //!< row r of the residual at column j0, or nullptr
  index_t n = 0;             //!< valid columns, 1 ≤ n ≤ NP · NR (with HALF ≤ (NP − 1) · NR + NR / 2)
  const T* scale = nullptr;  //!< at column j0, or nullptr
  const T* bias = nullptr;   //!< at column j0, or nullptr
  RegisterClamp clamp = RegisterClamp::None;
  T slope = T(0);
};

//! Vectors of `per_panel` registers per panel that one row of an NP-panel tile occupies: NP · per_panel,
//! less half a panel's worth with HALF (the narrow last panel of the contract above).
constexpr int tile_vectors(int per_panel, int np, bool half) { return np * per_panel - (half ? per_panel / 2 : 0); }

//! Vector v (`width` elements) of line k of a tile's packed panels, `per_panel` vectors to a panel's line:
//! register v % per_panel of panel v / per_panel, from `b` (line k of the first panel) for the whole
//! panels, from `h` (line k of the narrow last panel, NR / 2 wide) for the vectors after them.
template <int NV, int per_panel, int width, class T>
constexpr const T* panel_vector(const T* b, const T* h, index_t panel_stride, int v) {
  constexpr int whole = NV / per_panel * per_panel;
  return v < whole ? b + (v / per_panel) * panel_stride + (v % per_panel) * width : h + (v - whole) * width;
}

//! Line 0 of the narrow last panel of a tile of NV vectors (`per_panel` to a panel), which follows its
//! whole panels; without one (NV a whole number of panels) t.b, never read through then.
template <int NV, int per_panel, class T, int MR>
const T* narrow_panel(const MicroTile<T, MR>& t) {
  return NV % per_panel != 0 ? t.b + (NV / per_panel) * t.panel_stride : t.b;
}

#if defined(__GNUC__) || defined(__clang__)
#define PORTML_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define PORTML_ALWAYS_INLINE inline
#endif

//! Full unrolling of the small constant-trip loops over registers.
#if defined(__clang__)
#define PORTML_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define PORTML_UNROLL _Pragma("GCC unroll 32")
#else
#define PORTML_UNROLL
#endif

}  // namespace portml::kernels::gemm_detail
