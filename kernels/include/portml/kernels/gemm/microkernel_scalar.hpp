// SPDX-License-Identifier: Apache-2.0
//! \file
//! The portable microkernel: plain C++ on arrays of accumulators (the compiler vectorises it for its
//! baseline target). Correct everywhere; the reference point the SIMD kernels are tested against.
#pragma once

#include <portml/kernels/gemm/microkernel.hpp>
#include <portml/kernels/gemm/packed_weights.hpp>

namespace portml::kernels::gemm_detail {

//! MR × (NP · NR) tile with `acc += a · w` (separate multiply and add).
template <class T, int MR, int NP>
void gemm_scalar_kernel(const MicroTile<T, MR>& t) {
  constexpr index_t nr = PackedWeights<T>::panel_width;
  T acc[MR][NP * nr] = {};
  for (index_t k = 0; k < t.k; ++k) {
    const index_t ko = k * t.a_col_stride;
    PORTML_UNROLL for (int r = 0; r < MR; ++r) {
      const T a = t.a[r][ko];
      PORTML_UNROLL for (int p = 0; p < NP; ++p) {
        const T* w = t.b + p * t.panel_stride + k * nr;
        for (index_t j = 0; j < nr; ++j) {
          const T prod = a * w[j];
          acc[r][p * nr + j] = acc[r][p * nr + j] + prod;
        }
      }
    }
  }
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
  template <class T>
  static constexpr int np(int) {
    return 1;
  }
  template <class T, int MR, int NP>
  static void kernel(const MicroTile<T, MR>& t) {
    gemm_scalar_kernel<T, MR, NP>(t);
  }
};

}  // namespace portml::kernels::gemm_detail
