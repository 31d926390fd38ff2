// SPDX-License-Identifier: Apache-2.0
//! \file
//! AVX-512 microkernels. Compiled for AVX-512 through function target attributes only (the rest of the
//! program keeps its baseline flags) and called only after resolve_isa() saw the feature bits.
#pragma once

#include <portml/kernels/gemm/isa.hpp>
#include <portml/kernels/gemm/microkernel.hpp>
#include <portml/kernels/gemm/packed_weights.hpp>

#if PORTML_X86_SIMD
#include <immintrin.h>

#define PORTML_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))

namespace portml::kernels::gemm_detail {

//! 512-bit vector operations on T.
template <class T>
struct Avx512;

template <>
struct Avx512<float> {
  using V = __m512;
  using Mask = __mmask16;
  static constexpr int width = 16;
  PORTML_TARGET_AVX512 static PORTML_ALWAYS_INLINE V zero() { return _mm512_setzero_ps(); }
  PORTML_TARGET_AVX512 static PORTML_ALWAYS_INLINE V load(const float* p) { return _mm512_loadu_ps(p); }
  PORTML_TARGET_AVX512 static PORTML_ALWAYS_INLINE V load_aligned(const float* p) { return _mm512_load_ps(p); }
  PORTML_TARGET_AVX512 static PORTML_ALWAYS_INLINE V broadcast(const float* p) { return _mm512_set1_ps(*p); }
  PORTML_TARGET_AVX512 static PORTML_ALWAYS_INLINE V set1(float x) { return _mm512_set1_ps(x); }
  PORTML_TARGET_AVX512 static PORTML_ALWAYS_INLINE V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  PORTML_TARGET_AVX512 static PORTML_ALWAYS_INLINE V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  PORTML_TARGET_AVX512 static PORTML_ALWAYS_INLINE V add(V a, V b) { return _mm512_add_ps(a, b); }
  PORTML_TARGET_AVX512 static PORTML_ALWAYS_INLINE V max(V a, V b) {
    return _mm512_mask_max_ps(a, Mask(0xFFFF), a, b);  // the unmasked form trips GCC 12's -Wmaybe-uninitialized
  }
  static Mask lanes(index_t n) { return n >= width ? Mask(0xFFFF) : Mask((1u << n) - 1u); }
  PORTML_TARGET_AVX512 static PORTML_ALWAYS_INLINE V load(const float* p, Mask m) {
    return _mm512_maskz_loadu_ps(m, p);
  }
  PORTML_TARGET_AVX512 static PORTML_ALWAYS_INLINE void store(float* p, V v, Mask m) { _mm512_mask_storeu_ps(p, m, v); }
};

template <>
struct Avx512<double> {
  using V = __m512d;
  using Mask = __mmask8;
  static constexpr int width = 8;
  PORTML_TARGET_AVX512 static PORTML_ALWAYS_INLINE V zero() { return _mm512_setzero_pd(); }
  PORTML_TARGET_AVX512 static PORTML_ALWAYS_INLINE V load(const double* p) { return _mm512_loadu_pd(p); }
  PORTML_TARGET_AVX512 static PORTML_ALWAYS_INLINE V load_aligned(const double* p) { return _mm512_load_pd(p); }
  PORTML_TARGET_AVX512 static PORTML_ALWAYS_INLINE V broadcast(const double* p) { return _mm512_set1_pd(*p); }
  PORTML_TARGET_AVX512 static PORTML_ALWAYS_INLINE V set1(double x) { return _mm512_set1_pd(x); }
  PORTML_TARGET_AVX512 static PORTML_ALWAYS_INLINE V fmadd(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  PORTML_TARGET_AVX512 static PORTML_ALWAYS_INLINE V mul(V a, V b) { return _mm512_mul_pd(a, b); }
  PORTML_TARGET_AVX512 static PORTML_ALWAYS_INLINE V add(V a, V b) { return _mm512_add_pd(a, b); }
  PORTML_TARGET_AVX512 static PORTML_ALWAYS_INLINE V max(V a, V b) { return _mm512_mask_max_pd(a, Mask(0xFF), a, b); }
  static Mask lanes(index_t n) { return n >= width ? Mask(0xFF) : Mask((1u << n) - 1u); }
  PORTML_TARGET_AVX512 static PORTML_ALWAYS_INLINE V load(const double* p, Mask m) {
    return _mm512_maskz_loadu_pd(m, p);
  }
  PORTML_TARGET_AVX512 static PORTML_ALWAYS_INLINE void store(double* p, V v, Mask m) {
    _mm512_mask_storeu_pd(p, m, v);
  }
};

//! MR × (NP · NR) tile: NP · 2 zmm accumulators per row, B loaded once per k and reused by the MR
//! broadcast rows (`gemm_avx512_12x32` for float at MR = 12, NP = 1).
template <class T, int MR, int NP>
PORTML_TARGET_AVX512 void gemm_avx512_kernel(const MicroTile<T, MR>& t) {
  using S = Avx512<T>;
  using V = typename S::V;
  constexpr index_t nr = PackedWeights<T>::panel_width;
  constexpr int per_panel = static_cast<int>(nr) / S::width;
  constexpr int nv = NP * per_panel;
  V acc[MR][nv];
  PORTML_UNROLL for (int r = 0; r < MR; ++r) { PORTML_UNROLL for (int v = 0; v < nv; ++v) acc[r][v] = S::zero(); }
  const T* a_rows[MR];
  PORTML_UNROLL for (int r = 0; r < MR; ++r) a_rows[r] = t.a[r];
  const index_t cs = t.a_col_stride;
  const T* b = t.b;
  for (index_t k = 0; k < t.k; ++k) {
    V w[nv];
    PORTML_UNROLL for (int p = 0; p < NP; ++p) {
      PORTML_UNROLL for (int u = 0; u < per_panel; ++u) w[p * per_panel + u] =
          S::load_aligned(b + p * t.panel_stride + u * S::width);
    }
    b += nr;
    const index_t ko = k * cs;
    PORTML_UNROLL for (int r = 0; r < MR; ++r) {
      const V a = S::broadcast(a_rows[r] + ko);
      PORTML_UNROLL for (int v = 0; v < nv; ++v) acc[r][v] = S::fmadd(a, w[v], acc[r][v]);
    }
  }
  // Epilogue in registers, per vector of columns [v·width, v·width + width).
  PORTML_UNROLL for (int v = 0; v < nv; ++v) {
    const index_t col = static_cast<index_t>(v) * S::width;
    if (col >= t.n) break;
    const auto m = S::lanes(t.n - col);
    const V scale = t.scale != nullptr ? S::load(t.scale + col, m) : S::zero();
    const V bias = t.bias != nullptr ? S::load(t.bias + col, m) : S::zero();
    const V slope = S::set1(t.slope);
    PORTML_UNROLL for (int r = 0; r < MR; ++r) {
      V x = acc[r][v];
      if (t.scale != nullptr) x = S::mul(x, scale);
      if (t.bias != nullptr) x = S::add(x, bias);
      if (t.clamp == RegisterClamp::Relu) {
        x = S::max(S::zero(), x);
      } else if (t.clamp == RegisterClamp::LeakyRelu) {
        x = S::max(S::mul(slope, x), x);
      }
      if (t.r[r] != nullptr) x = S::add(x, S::load(t.r[r] + col, m));
      S::store(t.c[r] + col, x, m);
    }
  }
}

//! Tile shapes: up to 12 rows (24 accumulators); fewer rows take more panels so that at least 8
//! independent accumulators hide the FMA latency (the small-M paths: 1, 2, 4, 8 rows and the rest).
struct IsaAvx512 {
  static constexpr int mr_max = 12;
  template <class T>
  static constexpr int np(int mr) {
    const int budget = 24 / (mr * 2);
    return budget < 1 ? 1 : (budget > 6 ? 6 : budget);
  }
  template <class T, int MR, int NP>
  static void kernel(const MicroTile<T, MR>& t) {
    gemm_avx512_kernel<T, MR, NP>(t);
  }
};

}  // namespace portml::kernels::gemm_detail

#endif  // PORTML_X86_SIMD
