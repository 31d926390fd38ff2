// SPDX-License-Identifier: Apache-2.0
//! \file
//! The portable microkernel: plain C++ on arrays of accumulators (the compiler vectorises it for its
//! baseline target). Correct everywhere; the reference point the SIMD kernels are tested against.
#pragma once

#include <portml/kernels/gemm/microkernel.hpp>
#include <portml/kernels/gemm/packed_weights.hpp>

namespace portml::kernels::gemm_detail {

//! MR × (NP · NR) tile with `acc += a · w` (separate multiply and add), the K chunks of
//! gemm/k_chunks.hpp one after another, each folded into `sum` as it ends. With HALF the last panel is
//! narrow: lines of NR / 2 elements, its padding half neither stored nor computed.
template <class T, int MR, int NP, bool HALF>
void gemm_scalar_kernel(const MicroTile<T, MR>& t) {
  constexpr index_t nr = PackedWeights<T>::panel_width;
  const int chunks = gemm_k_chunks(t.k);
  T sum[MR][NP * nr] = {};
  for (int s = 0; s < chunks; ++s) {
    T acc[MR][NP * nr] = {};
    const index_t k_end = s + 1 == chunks ? t.k : gemm_k_chunk_begin(t.k, s + 1);
    for (index_t k = gemm_k_chunk_begin(t.k, s); k < k_end; ++k) {
      const index_t ko = k * t.a_col_stride;
      PORTML_UNROLL for (int r = 0; r < MR; ++r) {
        const T a = t.a[r][ko];
        PORTML_UNROLL for (int p = 0; p < NP; ++p) {
          const index_t cols = HALF && p + 1 == NP ? nr / 2 : nr;  // the narrow last panel's line width
          const T* w = t.b + p * t.panel_stride + k * cols;
          for (index_t j = 0; j < cols; ++j) {
            const T prod = a * w[j];
            acc[r][p * nr + j] = acc[r][p * nr + j] + prod;
          }
        }
      }
    }
    for (int r = 0; r < MR; ++r) {
      for (index_t j = 0; j < NP * nr; ++j) sum[r][j] = s == 0 ? acc[r][j] : sum[r][j] + acc[r][j];
    }
  }
  T(&acc)[MR][NP * nr] = sum;
  for (int r = 0; r < MR; ++r) {
    for (index_t j = 0; j < t.n; ++j) {
      T v = acc[r][j];
      if (t.scale != nullptr) v = v * t.scale[j];
      if (t.bias != nullptr) v = v + t.bias[j];
      if (t.clamp == RegisterClamp::Relu) {
        v = v < T(0) ? T(0) : v;
      } else if (t.clamp == RegisterClamp::LeakyRelu) {
        const T s = t.slope * v;
        v = s > v ? s : v;
      }
      if (t.r[r] != nullptr) v = v + t.r[r][j];
      t.c[r][j] = v;
    }
  }
}

//! Tile shapes of the scalar kernel.
struct IsaScalar {
  static constexpr int mr_max = 4;
  static constexpr int tile_rows = 4;
  template <class T>
  static constexpr int np(int) {
    return 1;
  }
  template <class T, int MR, int NP, bool HALF>
  static void kernel(const MicroTile<T, MR>& t) {
    gemm_scalar_kernel<T, MR, NP, HALF>(t);
  }
};

}  // namespace portml::kernels::gemm_detail
