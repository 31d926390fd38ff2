// SPDX-License-Identifier: Apache-2.0
//! \file
//! The blocking layer shared by every host backend: splits C into row tiles and weight-panel groups
//! and hands each tile to the microkernel of the chosen ISA, then runs the post-store epilogue pass.
//! Nothing here allocates; nothing here depends on the backend.
#pragma once

#include <algorithm>
#include <cstddef>

#include <portml/kernels/gemm/microkernel_avx2.hpp>
#include <portml/kernels/gemm/microkernel_avx512.hpp>
#include <portml/kernels/gemm/microkernel_scalar.hpp>

namespace portml::kernels::gemm_detail {

//! One GEMM call after the checks: C [m, n] = epilogue(A [m, k] · W [k, n]).
template <class T>
struct Problem {
  const T* a = nullptr;  //!< A, or the source rows when gathered
  index_t a_row_stride = 0;
  index_t a_col_stride = 1;
  const index_t* a_index = nullptr;  //!< row i of A is source row a_index[i]; nullptr: row i
  index_t m = 0;
  const PackedWeights<T>* w = nullptr;
  T* c = nullptr;
  index_t c_row_stride = 0;
  EpilogueParams<T> ep{};

  const T* a_row(index_t i) const { return a + (a_index != nullptr ? a_index[i] : i) * a_row_stride; }
};

//! Cache blocking of a many-tile call: row tiles are taken in blocks of `tiles_per_block` tiles and at
//! least `min_block_rows` rows, and each block runs over the weight panels in groups of at most
//! `panel_group_bytes`, so that the group stays in L1 while every tile of the block passes over it and
//! the block's rows (A) stay in L2. The weights are then read from L2/L3 once per block instead of once
//! per tile, and streaming activations through L2 at large batch no longer evicts them between tiles.
//! The row floor is for short tiles: 8 AVX2 tiles are only 24 rows, and 16 (48 rows) took AVX2 square
//! 1024 / 2048 SGEMM from 80 / 74 % to 86 / 81 % of the AVX2 peak (docs/dense.md §6e); AVX-512's 8 tiles
//! of 12 rows are above it.
inline constexpr index_t tiles_per_block = 8;
inline constexpr index_t min_block_rows = 48;
inline constexpr std::size_t panel_group_bytes = std::size_t{40} * 1024;

//! Long K: when the rows of one block and one weight panel (K lines of 128 bytes) exceed
//! `block_l2_bytes`, the block's rows cannot stay in L2 while the tiles pass over the panel (K = 2048
//! float on AVX-512: 768 KiB of rows + a 256 KiB panel), so A is re-read from L3 per panel whatever the
//! block height; blocks of at least `long_k_tiles_per_block` tiles then halve how often each panel is
//! read from beyond L2.
//! Square 2048 SGEMM: 82 % → 87–89 % of peak (docs/dense.md §5b; the A copy and K blocks tried there lost).
inline constexpr std::size_t block_l2_bytes = std::size_t{768} * 1024;
inline constexpr index_t long_k_tiles_per_block = 16;

//! Row tiles per cache block for a call with `tile_rows` rows per tile.
template <class T>
index_t block_tiles(const PackedWeights<T>& w, index_t tile_rows) {
  const index_t tiles = std::max(tiles_per_block, (min_block_rows + tile_rows - 1) / tile_rows);
  const auto k = static_cast<std::size_t>(w.rows());
  const std::size_t rows_bytes = static_cast<std::size_t>(tiles * tile_rows) * k * sizeof(T);
  const std::size_t panel_bytes = k * static_cast<std::size_t>(PackedWeights<T>::panel_width) * sizeof(T);
  return rows_bytes + panel_bytes > block_l2_bytes ? std::max(tiles, long_k_tiles_per_block) : tiles;
}

//! The MR-row microkernel of `isa` for exactly `panels` (1 ≤ panels ≤ NP) panels; `half`: the last of
//! them is a narrow last panel (at most NR / 2 columns of t.n fall in it; the microkernel's HALF).
template <class Isa, class T, int MR, int NP>
void call_kernel(index_t panels, bool half, const MicroTile<T, MR>& t) {
  if constexpr (NP >= 1) {
    if (panels == NP) {
      if (half) {
        Isa::template kernel<T, MR, NP, true>(t);
      } else {
        Isa::template kernel<T, MR, NP, false>(t);
      }
    } else {
      call_kernel<Isa, T, MR, NP - 1>(panels, half, t);
    }
  }
}

//! Rows [i0, i0 + MR) against panels [p_begin, p_end): at most NP panels per microkernel call; then
//! the post-store pass (non-register activations, residual) per tile.
template <class Isa, class T, int MR>
void row_tile(const Problem<T>& p, index_t i0, index_t p_begin, index_t p_end) {
  constexpr int np = Isa::template np<T>(MR);
  constexpr index_t nr = PackedWeights<T>::panel_width;
  const PackedWeights<T>& w = *p.w;
  const index_t n = w.cols();
  const bool post = p.ep.post.kind != Activation::Linear;
  const bool fused_residual = p.ep.has_residual() && !post;
  const bool narrow_last = w.narrow_last_panel();
  const index_t panels = w.panels();
  MicroTile<T, MR> t;
  for (int r = 0; r < MR; ++r) t.a[r] = p.a_row(i0 + r);
  t.a_col_stride = p.a_col_stride;
  t.k = w.rows();
  t.panel_stride = w.panel_stride();
  t.clamp = p.ep.clamp;
  t.slope = p.ep.slope;
  // Panels in calls of nearly equal width (7 panels on a 6-panel kernel run as 4 + 3, not 6 + 1: a
  // one-panel call of one row has only two accumulator chains and waits on FMA latency).
  const index_t calls = (p_end - p_begin + np - 1) / np;
  index_t call = 0;
  for (index_t pb = p_begin; pb < p_end; ++call) {
    const index_t panels_here =
        calls == 1 ? p_end - p_begin : (p_end - p_begin) / calls + (call < (p_end - p_begin) % calls ? 1 : 0);
    const index_t j0 = pb * nr;
    t.b = w.panel(pb);
    t.n = std::min(panels_here * nr, n - j0);
    for (int r = 0; r < MR; ++r) {
      t.c[r] = p.c + (i0 + r) * p.c_row_stride + j0;
      t.r[r] = fused_residual ? &p.ep.residual(i0 + r, j0) : nullptr;
    }
    t.scale = p.ep.scale != nullptr ? p.ep.scale + j0 : nullptr;
    t.bias = p.ep.bias != nullptr ? p.ep.bias + j0 : nullptr;
    // The call holding the layer's last panel runs the HALF form when that panel is narrow (at most
    // NR / 2 real columns, packed NR / 2 wide): its padding half is neither read nor computed.
    call_kernel<Isa, T, MR, np>(panels_here, narrow_last && pb + panels_here == panels, t);
    if (post) {  // (without a post activation the residual was fused into the microkernel's store)
      for (int r = 0; r < MR; ++r) post_store_row(p.ep, t.c[r], i0 + r, j0, t.n);
    }
    pb += panels_here;
  }
}

//! row_tile for a run-time row count 1 ≤ mr ≤ Isa::mr_max.
template <class Isa, class T, int MR = 1>
void row_tile_dispatch(int mr, const Problem<T>& p, index_t i0, index_t p_begin, index_t p_end) {
  if constexpr (MR <= Isa::mr_max) {
    if (mr == MR) {
      row_tile<Isa, T, MR>(p, i0, p_begin, p_end);
    } else {
      row_tile_dispatch<Isa, T, MR + 1>(mr, p, i0, p_begin, p_end);
    }
  }
}

//! Rows [row_begin, row_end) of C. Up to Isa::mr_max rows are one tile; more are split into tiles of at
//! most Isa::tile_rows rows and nearly equal height (13 rows on a 12-row kernel run as 7 + 6, not
//! 12 + 1), so the time per row changes smoothly with the batch size.
template <class Isa, class T>
void gemm_rows(const Problem<T>& p, index_t row_begin, index_t row_end) {
  const index_t rows = row_end - row_begin;
  if (rows <= 0) return;
  const PackedWeights<T>& w = *p.w;
  if (rows <= Isa::mr_max) {  // the small-batch paths: one tile, all panels in one pass, NP per call
    row_tile_dispatch<Isa, T>(static_cast<int>(rows), p, row_begin, 0, p.w->panels());
    return;
  }
  const index_t tiles = (rows + Isa::tile_rows - 1) / Isa::tile_rows;
  // Heights differ by at most one row: the first (rows % tiles) tiles take one more.
  const auto tile_begin = [&](index_t tile) {
    return row_begin + tile * (rows / tiles) + std::min(tile, rows % tiles);
  };
  const index_t panel_bytes = std::max<index_t>(1, w.panel_stride() * static_cast<index_t>(sizeof(T)));
  const index_t group = std::max<index_t>(1, static_cast<index_t>(panel_group_bytes) / panel_bytes);
  const index_t block = block_tiles(w, Isa::tile_rows);
  for (index_t b0 = 0; b0 < tiles; b0 += block) {
    const index_t b1 = std::min(tiles, b0 + block);
    for (index_t pg = 0; pg < w.panels(); pg += group) {
      const index_t pe = std::min(w.panels(), pg + group);
      for (index_t tile = b0; tile < b1; ++tile) {
        const index_t i0 = tile_begin(tile);
        row_tile_dispatch<Isa, T>(static_cast<int>(tile_begin(tile + 1) - i0), p, i0, pg, pe);
      }
    }
  }
}

//! gemm_rows on the microkernels of `isa` (already resolved, never Automatic).
template <class T>
void gemm_rows(Isa isa, const Problem<T>& p, index_t row_begin, index_t row_end) {
  switch (isa) {
#if PORTML_X86_SIMD
    case Isa::avx512:
      gemm_rows<IsaAvx512, T>(p, row_begin, row_end);
      return;
    case Isa::avx2:
      gemm_rows<IsaAvx2, T>(p, row_begin, row_end);
      return;
#endif
    default:
      gemm_rows<IsaScalar, T>(p, row_begin, row_end);
      return;
  }
}

//! Height of the tiles that `isa` cuts a call of many rows into (rows per tile that make a thread's share
//! worth having).
inline int split_tile_rows(Isa isa) {
#if PORTML_X86_SIMD
  if (isa == Isa::avx512) return IsaAvx512::tile_rows;
  if (isa == Isa::avx2) return IsaAvx2::tile_rows;
#endif
  return IsaScalar::tile_rows;
}

}  // namespace portml::kernels::gemm_detail
