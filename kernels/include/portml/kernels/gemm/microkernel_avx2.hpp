// SPDX-License-Identifier: Apache-2.0
//! \file
//! AVX2 + FMA microkernels (256-bit). Compiled for AVX2 through function target attributes only and
//! called only after resolve_isa() saw the feature bits.
#pragma once

#include <portml/kernels/gemm/isa.hpp>
#include <portml/kernels/gemm/microkernel.hpp>
#include <portml/kernels/gemm/packed_weights.hpp>

#if PORTML_X86_SIMD
#include <immintrin.h>

#define PORTML_TARGET_AVX2 __attribute__((target("avx2,fma")))

namespace portml::kernels::gemm_detail {

//! 256-bit vector operations on T.
template <class T>
struct Avx2;

template <>
struct Avx2<float> {
  using V = __m256;
  using Mask = __m256i;
  static constexpr int width = 8;
  PORTML_TARGET_AVX2 static PORTML_ALWAYS_INLINE V zero() { return _mm256_setzero_ps(); }
  PORTML_TARGET_AVX2 static PORTML_ALWAYS_INLINE V load_aligned(const float* p) { return _mm256_load_ps(p); }
  PORTML_TARGET_AVX2 static PORTML_ALWAYS_INLINE void store_aligned(float* p, V v) { _mm256_store_ps(p, v); }
  PORTML_TARGET_AVX2 static PORTML_ALWAYS_INLINE V broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  PORTML_TARGET_AVX2 static PORTML_ALWAYS_INLINE V set1(float x) { return _mm256_set1_ps(x); }
  PORTML_TARGET_AVX2 static PORTML_ALWAYS_INLINE V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  PORTML_TARGET_AVX2 static PORTML_ALWAYS_INLINE V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  PORTML_TARGET_AVX2 static PORTML_ALWAYS_INLINE V add(V a, V b) { return _mm256_add_ps(a, b); }
  PORTML_TARGET_AVX2 static PORTML_ALWAYS_INLINE V max(V a, V b) { return _mm256_max_ps(a, b); }
  PORTML_TARGET_AVX2 static PORTML_ALWAYS_INLINE Mask lanes(index_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n < width ? n : width)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  PORTML_TARGET_AVX2 static PORTML_ALWAYS_INLINE V load(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  PORTML_TARGET_AVX2 static PORTML_ALWAYS_INLINE void store(float* p, V v, Mask m) { _mm256_maskstore_ps(p, m, v); }
};

template <>
struct Avx2<double> {
  using V = __m256d;
  using Mask = __m256i;
  static constexpr int width = 4;
  PORTML_TARGET_AVX2 static PORTML_ALWAYS_INLINE V zero() { return _mm256_setzero_pd(); }
  PORTML_TARGET_AVX2 static PORTML_ALWAYS_INLINE V load_aligned(const double* p) { return _mm256_load_pd(p); }
  PORTML_TARGET_AVX2 static PORTML_ALWAYS_INLINE void store_aligned(double* p, V v) { _mm256_store_pd(p, v); }
  PORTML_TARGET_AVX2 static PORTML_ALWAYS_INLINE V broadcast(const double* p) { return _mm256_broadcast_sd(p); }
  PORTML_TARGET_AVX2 static PORTML_ALWAYS_INLINE V set1(double x) { return _mm256_set1_pd(x); }
  PORTML_TARGET_AVX2 static PORTML_ALWAYS_INLINE V fmadd(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  PORTML_TARGET_AVX2 static PORTML_ALWAYS_INLINE V mul(V a, V b) { return _mm256_mul_pd(a, b); }
  PORTML_TARGET_AVX2 static PORTML_ALWAYS_INLINE V add(V a, V b) { return _mm256_add_pd(a, b); }
  PORTML_TARGET_AVX2 static PORTML_ALWAYS_INLINE V max(V a, V b) { return _mm256_max_pd(a, b); }
  PORTML_TARGET_AVX2 static PORTML_ALWAYS_INLINE Mask lanes(index_t n) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n < width ? n : width), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  PORTML_TARGET_AVX2 static PORTML_ALWAYS_INLINE V load(const double* p, Mask m) { return _mm256_maskload_pd(p, m); }
  PORTML_TARGET_AVX2 static PORTML_ALWAYS_INLINE void store(double* p, V v, Mask m) { _mm256_maskstore_pd(p, m, v); }
};

//! The 16 ymm registers of AVX2.
inline constexpr int avx2_registers = 16;

//! acc += A(·, k) · W(k, ·) for the MR rows and NV vectors of a tile: one multiply-add per register.
//! Vector v is register v % per_panel of panel v / per_panel (NV < NP · per_panel: the narrow last panel);
//! with SUB, the NV < per_panel vectors are the first of one whole panel's line (`b` a column offset
//! into it).
//! `b` is line k of the first panel, `h` line k of the narrow last panel (its lines are NR / 2 wide; unused
//! when NV is a whole number of panels), `ko` = k · a_col_stride.
//! With HOLD (MR > 1 rows, and the tile's accumulators, the NV W vectors and one broadcast fit in the
//! registers), each W vector is loaded once per k and held in a register while the rows' broadcasts
//! stream through it; the empty asm statement emits nothing and only stops GCC from folding the load
//! into every row's multiply-add, which read each W vector MR times per k (batch 2 1.35–1.40×,
//! docs/dense.md §6g). The asm holds a local that a lambda returns: held as elements of an array, the
//! vectors were also stored to the stack every k. Without HOLD (one row, or the 3 × 4 tile: 17
//! registers) the W vectors are memory operands. The order of the multiply-adds into each accumulator,
//! and so every bit, is the same in both forms.
template <class T, int MR, int NV, bool SUB, bool HOLD>
PORTML_TARGET_AVX2 PORTML_ALWAYS_INLINE void gemm_avx2_step(typename Avx2<T>::V (&acc)[MR][NV],
                                                            const T* const (&a_rows)[MR], const T* b,
                                                            index_t panel_stride, const T* h, index_t ko) {
  using S = Avx2<T>;
  using V = typename S::V;
  constexpr int per_panel = static_cast<int>(PackedWeights<T>::panel_width) / S::width;
  const auto w_at = [&](int v) {
    return SUB ? b + v * S::width : panel_vector<NV, per_panel, S::width>(b, h, panel_stride, v);
  };
  if constexpr (HOLD) {
    const auto load_held = [&](int v) PORTML_TARGET_AVX2 {
      V w = S::load_aligned(w_at(v));
      __asm__("" : "+x"(w));
      return w;
    };
    V w[NV];
    PORTML_UNROLL for (int v = 0; v < NV; ++v) w[v] = load_held(v);
    PORTML_UNROLL for (int r = 0; r < MR; ++r) {
      const V a = S::broadcast(a_rows[r] + ko);
      PORTML_UNROLL for (int v = 0; v < NV; ++v) acc[r][v] = S::fmadd(a, w[v], acc[r][v]);
    }
  } else {
    PORTML_UNROLL for (int r = 0; r < MR; ++r) {
      const V a = S::broadcast(a_rows[r] + ko);
      PORTML_UNROLL for (int v = 0; v < NV; ++v) acc[r][v] = S::fmadd(a, S::load_aligned(w_at(v)), acc[r][v]);
    }
  }
}

//! MR rows × NV vectors: NV ymm accumulators per row and chunk (whole panels of 4 ymm, then the narrow
//! last panel's 1 or 2; with SUB, NV columns of one whole panel from t.b on). CC of the K chunks
//! (gemm/k_chunks.hpp) run at once as independent chains; groups of CC chunks run one after another, the
//! running sum kept in `part` between groups.
// `part` (`sum` of the row kernel) is written by group 0 before any later group reads it; GCC 12 cannot
// see that.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
template <class T, int MR, int NV, int CC, bool SUB = false>
PORTML_TARGET_AVX2 void gemm_avx2_kernel(const MicroTile<T, MR>& t) {
  using S = Avx2<T>;
  using V = typename S::V;
  constexpr index_t nr = PackedWeights<T>::panel_width;
  const int groups = gemm_k_chunks(t.k) / CC;  // CC divides S (both powers of two, CC ≤ S)
  const index_t q = gemm_k_chunk_length(t.k);  // terms per chunk; the last chunk takes the rest
  const T* a_rows[MR];
  PORTML_UNROLL for (int r = 0; r < MR; ++r) a_rows[r] = t.a[r];
  const index_t cs = t.a_col_stride;
  const T* const narrow = narrow_panel<NV, static_cast<int>(nr) / S::width>(t);  // HALF's last panel
  constexpr bool hold = MR > 1 && CC * MR * NV + NV + 1 <= avx2_registers;
  V acc[CC][MR][NV];
  alignas(32) T part[MR][NV * S::width];
  for (int g = 0; g < groups; ++g) {
    PORTML_UNROLL for (int c = 0; c < CC; ++c) {
      PORTML_UNROLL for (int r = 0; r < MR; ++r) {
        PORTML_UNROLL for (int v = 0; v < NV; ++v) acc[c][r][v] = S::zero();
      }
    }
    const index_t k0 = static_cast<index_t>(g) * CC * q;
    const bool last = g + 1 == groups;
    if constexpr (CC == 1) {  // one chunk: [k0, k0 + q), the last one to K
      const T* b = t.b + k0 * nr;
      const T* h = narrow + k0 * (nr / 2);
      const index_t k_end = last ? t.k : k0 + q;
      for (index_t kk = k0; kk < k_end; ++kk, b += nr, h += nr / 2) {
        gemm_avx2_step<T, MR, NV, SUB, hold>(acc[0], a_rows, b, t.panel_stride, h, kk * cs);
      }
    } else {  // CC chunks of q terms side by side, then the last chunk's K − S·q extra terms
      for (index_t j = 0; j < q; ++j) {
        PORTML_UNROLL for (int c = 0; c < CC; ++c) {
          const index_t kk = k0 + c * q + j;
          gemm_avx2_step<T, MR, NV, SUB, hold>(acc[c], a_rows, t.b + kk * nr, t.panel_stride, narrow + kk * (nr / 2),
                                               kk * cs);
        }
      }
      if (last) {
        for (index_t kk = k0 + CC * q; kk < t.k; ++kk) {
          gemm_avx2_step<T, MR, NV, SUB, hold>(acc[CC - 1], a_rows, t.b + kk * nr, t.panel_stride,
                                               narrow + kk * (nr / 2), kk * cs);
        }
      }
    }
    // Fold left to right into acc[0]: ((running + c_0) + c_1) + …
    PORTML_UNROLL for (int r = 0; r < MR; ++r) {
      PORTML_UNROLL for (int v = 0; v < NV; ++v) {
        V x = acc[0][r][v];
        if (g > 0) x = S::add(S::load_aligned(&part[r][v * S::width]), x);
        PORTML_UNROLL for (int c = 1; c < CC; ++c) x = S::add(x, acc[c][r][v]);
        acc[0][r][v] = x;
        if (!last) S::store_aligned(&part[r][v * S::width], x);
      }
    }
  }
  PORTML_UNROLL for (int v = 0; v < NV; ++v) {
    const index_t col = static_cast<index_t>(v) * S::width;
    if (col >= t.n) break;
    const auto m = S::lanes(t.n - col);
    const V scale = t.scale != nullptr ? S::load(t.scale + col, m) : S::zero();
    const V bias = t.bias != nullptr ? S::load(t.bias + col, m) : S::zero();
    const V slope = S::set1(t.slope);
    PORTML_UNROLL for (int r = 0; r < MR; ++r) {
      V x = acc[0][r][v];
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

//! One row through NV vectors of a layer's columns (gemm/one_row.hpp): c[j] = clamp(scale · Σ_k a[k · cs]
//! · W(k, j) + bias) for the columns j < w.cols() of W's panel p0 (a whole panel, or the narrow last
//! panel's 1 or 2 vectors). The K order of gemm/k_chunks.hpp and the epilogue of gemm_avx2_kernel, so
//! the same bits as its 1-row tile; but no MicroTile: the arguments stay in registers, the running sum
//! of the CC-chunk groups too, and the W vectors are memory operands of the multiply-adds. No residual.
template <class T, int NV, int CC>
PORTML_TARGET_AVX2 void gemm_avx2_row(const T* a, index_t cs, const PackedWeights<T>& w, index_t p0,
                                      const EpilogueParams<T>& ep, T* c) {
  using S = Avx2<T>;
  using V = typename S::V;
  constexpr index_t nr = PackedWeights<T>::panel_width;
  constexpr int per_panel = static_cast<int>(nr) / S::width;
  const index_t k = w.rows();
  const index_t col0 = p0 * nr;
  const index_t n = w.cols() - col0;         // the columns from col0 on (the stores stop at n)
  const int groups = gemm_k_chunks(k) / CC;  // CC divides S (both powers of two, CC ≤ S)
  const index_t q = gemm_k_chunk_length(k);
  const index_t ps = w.panel_stride();
  // Panel 0 spelt out: the only call for a layer of at most 4 vectors, without the multiply by p0 before
  // the first load (1–2 ns of a 23 ns call on the L1 net's layers, docs/dense.md §6i).
  const T* const b = p0 == 0 ? w.panel(0) : w.panel(p0);
  const T* const narrow = NV % per_panel != 0 ? b + (NV / per_panel) * ps : b;
  const T* const a_rows[1] = {a};
  V sum[NV];
  for (int g = 0; g < groups; ++g) {
    V acc[CC][1][NV];
    PORTML_UNROLL for (int i = 0; i < CC; ++i) { PORTML_UNROLL for (int v = 0; v < NV; ++v) acc[i][0][v] = S::zero(); }
    const index_t k0 = static_cast<index_t>(g) * CC * q;
    for (index_t j = 0; j < q; ++j) {
      PORTML_UNROLL for (int i = 0; i < CC; ++i) {
        const index_t kk = k0 + i * q + j;
        gemm_avx2_step<T, 1, NV, false, false>(acc[i], a_rows, b + kk * nr, ps, narrow + kk * (nr / 2), kk * cs);
      }
    }
    if (g + 1 == groups) {  // the last chunk's K − S·q extra terms
      for (index_t kk = k0 + CC * q; kk < k; ++kk) {
        gemm_avx2_step<T, 1, NV, false, false>(acc[CC - 1], a_rows, b + kk * nr, ps, narrow + kk * (nr / 2), kk * cs);
      }
    }
    // Fold left to right: ((running + c_0) + c_1) + …
    PORTML_UNROLL for (int v = 0; v < NV; ++v) {
      V x = g > 0 ? S::add(sum[v], acc[0][0][v]) : acc[0][0][v];
      PORTML_UNROLL for (int i = 1; i < CC; ++i) x = S::add(x, acc[i][0][v]);
      sum[v] = x;
    }
  }
  // The epilogue's arguments read once: the stores to c could alias them as far as the compiler knows.
  const T* const scale = ep.scale != nullptr ? ep.scale + col0 : nullptr;
  const T* const bias = ep.bias != nullptr ? ep.bias + col0 : nullptr;
  const RegisterClamp clamp = ep.clamp;
  const T slope = ep.slope;
  T* const out = c + col0;
  PORTML_UNROLL for (int v = 0; v < NV; ++v) {
    const index_t col = static_cast<index_t>(v) * S::width;
    if (col >= n) break;
    const auto m = S::lanes(n - col);
    V x = sum[v];
    if (scale != nullptr) x = S::mul(x, S::load(scale + col, m));
    if (bias != nullptr) x = S::add(x, S::load(bias + col, m));
    if (clamp == RegisterClamp::Relu) {
      x = S::max(S::zero(), x);
    } else if (clamp == RegisterClamp::LeakyRelu) {
      x = S::max(S::mul(S::set1(slope), x), x);
    }
    S::store(out + col, x, m);
  }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

//! Tile shapes: 16 ymm registers hold at most 12 accumulators, so up to 3 rows of one panel, or one
//! row of 3 panels. A call of exactly 4 rows is one tile of 4 rows × one panel, run as the panel's two
//! column halves of 2 ymm (8 accumulators each; each half reads one 64-byte line of the panel per k):
//! the 4 rows read the weights once, where tiles of 2 + 2 rows read them twice (1.34–1.55× on the nets
//! at batch 4). Calls of more rows are cut into 3-row tiles (`tile_rows`): 4-row tiles were 5–15 %
//! slower there (more broadcasts per multiply-add). A narrow last panel (at most NR / 2 columns, packed
//! NR / 2 wide) takes 2 ymm per row, and 1 when it has at most one vector's columns (N mod NR ≤ 8 floats:
//! N = 200, 100, 6, 5): the rest of its packed line is neither read nor computed.
struct IsaAvx2 {
  static constexpr int mr_max = 4;
  static constexpr int tile_rows = 3;
  template <class T>
  static constexpr int np(int mr) {
    return mr == 1 ? 3 : 1;
  }
  template <class T, int MR, int NP, bool HALF>
  static void kernel(const MicroTile<T, MR>& t) {
    constexpr index_t nr = PackedWeights<T>::panel_width;
    constexpr int nv = tile_vectors(static_cast<int>(nr) / Avx2<T>::width, NP, HALF);
    if constexpr (HALF) {
      if (t.n - (NP - 1) * nr <= Avx2<T>::width) return run<T, MR, nv - 1>(t);
    } else if constexpr (MR == 4) {  // NP == 1: the panel's two column halves one after the other
      constexpr index_t half = nr / 2;
      for (index_t j = 0; j < t.n; j += half) {
        MicroTile<T, MR> h = t;
        h.b = t.b + j;
        h.n = t.n - j < half ? t.n - j : half;
        for (int r = 0; r < MR; ++r) {
          h.c[r] = t.c[r] + j;
          h.r[r] = t.r[r] != nullptr ? t.r[r] + j : nullptr;
        }
        h.scale = t.scale != nullptr ? t.scale + j : nullptr;
        h.bias = t.bias != nullptr ? t.bias + j : nullptr;
        run<T, MR, nv / 2, true>(h);
      }
      return;
    }
    run<T, MR, nv>(t);
  }

 private:
  //! MR × NV accumulators per K chunk. Fewer than 8 independent chains wait on the multiply-add latency
  //! (4 cycles on 2 pipes), so a tile of at most 6 accumulators runs 2 K chunks at once and one of at
  //! most 3 runs 4 (up to 12 chains; the chunk sums fold in the same order, so the bits do not change).
  template <class T, int MR, int NV, bool SUB = false>
  static void run(const MicroTile<T, MR>& t) {
    const int chunks = gemm_k_chunks(t.k);
    if constexpr (MR * NV <= 3) {
      if (chunks >= 4) return gemm_avx2_kernel<T, MR, NV, 4, SUB>(t);
    }
    if constexpr (MR * NV <= 6) {
      if (chunks >= 2) return gemm_avx2_kernel<T, MR, NV, 2, SUB>(t);
    }
    gemm_avx2_kernel<T, MR, NV, 1, SUB>(t);
  }

 public:
  //! The row kernel of NV ≤ 4 vectors for K = k (gemm/one_row.hpp): up to 4 K chunks at once for
  //! NV ≤ 2, up to 2 for NV = 3–4 (CC·NV accumulators, NV running sums and CC broadcasts in 16 ymm).
  template <class T, int NV>
  static auto row(index_t k) {
    static_assert(NV >= 1 && NV <= 4);
    const int s = gemm_k_chunks(k);
    if constexpr (NV <= 2) {
      if (s >= 4) return &gemm_avx2_row<T, NV, 4>;
    }
    if (s >= 2) return &gemm_avx2_row<T, NV, 2>;
    return &gemm_avx2_row<T, NV, 1>;
  }
};

}  // namespace portml::kernels::gemm_detail

#endif  // PORTML_X86_SIMD
