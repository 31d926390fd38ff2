// SPDX-License-Identifier: Apache-2.0
//! \file
//! The summation order along K of every portml GEMM (host microkernels of every ISA, and the tiled
//! GEMM of gemm_tiled.hpp): K is cut into S contiguous chunks, a function of K only. Each chunk is one
//! chain from +0 in k order; the chunk sums are then added left to right:
//!   Σ = ((c_0 + c_1) + c_2) + … + c_{S−1},   c_s = Σ_{k in chunk s} A(k)·W(k)  (k ascending, from +0).
//! Because S and the boundaries depend on K alone (never on M, the tile shape, the ISA's row count or
//! the thread split), a row's bits stay independent of the batch. Small tiles run the chunks as
//! independent chains at once (hiding the multiply-add latency); large tiles run them one after the
//! other and fold the partial sums in the same order.
#pragma once

#include <portml/core/macros.hpp>
#include <portml/core/tensor_view.hpp>

namespace portml::kernels {

//! S, the number of chunks of K: 4 for K ≥ 32, 2 for 16 ≤ K < 32, else 1 (a chunk has ≥ 8 terms).
PORTML_HOST_DEVICE constexpr int gemm_k_chunks(index_t k) { return k >= 32 ? 4 : (k >= 16 ? 2 : 1); }

//! The terms of every chunk but the last: q = 8 · ⌊K / (8 · S)⌋ (≥ 8). A multiple of 8, so chunk
//! boundaries fall on whole K steps of the tiled GEMM (gemm_tiled.hpp) where its step is 8 (a step that a
//! boundary cuts is staged twice there); the last chunk takes the K − (S − 1) · q terms that remain (more
//! than q when K is not a multiple of 8 · S).
PORTML_HOST_DEVICE constexpr index_t gemm_k_chunk_length(index_t k) { return 8 * (k / (8 * gemm_k_chunks(k))); }

//! First k of chunk s < S: s · q. Chunk s ends where chunk s + 1 begins; the last one at K.
PORTML_HOST_DEVICE constexpr index_t gemm_k_chunk_begin(index_t k, int s) { return s * gemm_k_chunk_length(k); }

}  // namespace portml::kernels
