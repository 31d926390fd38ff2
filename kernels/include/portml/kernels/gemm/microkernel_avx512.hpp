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
  PORTML_TARGET_AVX512 static PORTML_ALWAYS_INLINE void store_aligned(float* p, V v) { _mm512_store_ps(p, v); }
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
  PORTML_TARGET_AVX512 static PORTML_ALWAYS_INLINE void store_aligned(double* p, V v) { _mm512_store_pd(p, v); }
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

//! The 32 zmm registers of AVX-512.
inline constexpr int avx512_registers = 32;

//! Keeps a W vector that MR > 1 rows multiply in a register: loaded once per k. Without this, GCC folds
//! the load into each row's multiply-add when two or three rows use it, so that every W vector was read
//! two or three times per k; on an Intel Xeon (Emerald Rapids) a 2- or 3-row call then took as long as a
//! 4-row one, or longer (docs/dense.md §6c). An empty asm statement that takes the register as input and
//! output: it emits nothing and only stops the folding.
template <int MR, class V>
PORTML_TARGET_AVX512 PORTML_ALWAYS_INLINE void hold_in_register(V& w) {
  if constexpr (MR > 1) __asm__("" : "+v"(w));
}

//! acc += A(·, k) · W(k, ·) for the MR rows and NV vectors of a tile: one multiply-add per register.
//! Vector v is register v % per_panel of panel v / per_panel (NV < NP · per_panel: the narrow last panel).
//! `b` is line k of the first panel, `h` line k of the narrow last panel (its lines are NR / 2 wide; unused
//! when NV is a whole number of panels), `ko` = k · a_col_stride.
//! Each W vector is loaded once per k. When the accumulators, the NV W vectors and one broadcast fit in
//! the registers (12 × 2, 4 × 6, 2 × 8 zmm), the W line is held while the rows' broadcasts stream through
//! it; otherwise (2 × 12 and 3 × 8 zmm: 37 and 33 registers) the MR broadcasts are held and the W vectors
//! stream, one at a time. The order of the multiply-adds into each accumulator, and so every bit, is the
//! same in both forms.
template <class T, int MR, int NV>
PORTML_TARGET_AVX512 PORTML_ALWAYS_INLINE void gemm_avx512_step(typename Avx512<T>::V (&acc)[MR][NV],
                                                                const T* const (&a_rows)[MR], const T* b,
                                                                index_t panel_stride, const T* h, index_t ko) {
  using S = Avx512<T>;
  using V = typename S::V;
  constexpr int per_panel = static_cast<int>(PackedWeights<T>::panel_width) / S::width;
  const auto load_w = [&](int v) PORTML_TARGET_AVX512 {
    V w = S::load_aligned(panel_vector<NV, per_panel, S::width>(b, h, panel_stride, v));
    hold_in_register<MR>(w);
    return w;
  };
  if constexpr (MR * NV + NV + 1 <= avx512_registers) {
    V w[NV];
    PORTML_UNROLL for (int v = 0; v < NV; ++v) w[v] = load_w(v);
    PORTML_UNROLL for (int r = 0; r < MR; ++r) {
      const V a = S::broadcast(a_rows[r] + ko);
      PORTML_UNROLL for (int v = 0; v < NV; ++v) acc[r][v] = S::fmadd(a, w[v], acc[r][v]);
    }
  } else {
    static_assert(MR * NV + MR + 1 <= avx512_registers, "the tile does not fit the registers in either form");
    V a[MR];
    PORTML_UNROLL for (int r = 0; r < MR; ++r) a[r] = S::broadcast(a_rows[r] + ko);
    PORTML_UNROLL for (int v = 0; v < NV; ++v) {
      const V w = load_w(v);
      PORTML_UNROLL for (int r = 0; r < MR; ++r) acc[r][v] = S::fmadd(a[r], w, acc[r][v]);
    }
  }
}

//! Asks for the lines of the tile's C (MR rows × NV vectors, the columns < t.n) before the K loop, so that
//! they arrive while it runs instead of stalling the stores at its end. At large batch C does not fit
//! L2 (4096 rows × 256 floats: 4 MiB), and a 12-row tile's 24 stores to lines that are not in the cache
//! then held up the next tile: 61 → 70 % of peak for a 4096 × 64 × 256 layer on an Intel Xeon
//! (docs/dense.md §6d). A hint only: it changes no result.
template <class T, int MR, int NV>
PORTML_TARGET_AVX512 PORTML_ALWAYS_INLINE void prefetch_c_tile(const MicroTile<T, MR>& t) {
  constexpr int width = Avx512<T>::width;
  PORTML_UNROLL for (int r = 0; r < MR; ++r) {
    PORTML_UNROLL for (int v = 0; v < NV; ++v) {
      if (v * width < t.n) _mm_prefetch(reinterpret_cast<const char*>(t.c[r] + v * width), _MM_HINT_T0);
    }
  }
}

// `part` (`sum` of the row kernel) is written by group 0 before any later group reads it; GCC 12 cannot
// see that.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
//! MR rows × NV vectors (NV / per_panel panels, rounded up); CC of the K chunks (gemm/k_chunks.hpp) run
//! at once as independent chains; groups of CC chunks run one after another, the running sum kept in
//! `part` between groups.
template <class T, int MR, int NV, int CC>
PORTML_TARGET_AVX512 void gemm_avx512_kernel(const MicroTile<T, MR>& t) {
  using S = Avx512<T>;
  using V = typename S::V;
  constexpr index_t nr = PackedWeights<T>::panel_width;
  const int groups = gemm_k_chunks(t.k) / CC;  // CC divides S (both powers of two, CC ≤ S)
  const index_t q = gemm_k_chunk_length(t.k);  // terms per chunk; the last chunk takes the rest
  const T* a_rows[MR];
  PORTML_UNROLL for (int r = 0; r < MR; ++r) a_rows[r] = t.a[r];
  const index_t cs = t.a_col_stride;
  const T* const narrow = narrow_panel<NV, static_cast<int>(nr) / S::width>(t);  // HALF's last panel
  prefetch_c_tile<T, MR, NV>(t);
  V acc[CC][MR][NV];
  alignas(64) T part[MR][NV * S::width];
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
        gemm_avx512_step<T, MR, NV>(acc[0], a_rows, b, t.panel_stride, h, kk * cs);
      }
    } else {  // CC chunks of q terms side by side, then the last chunk's K − S·q extra terms
      for (index_t j = 0; j < q; ++j) {
        PORTML_UNROLL for (int c = 0; c < CC; ++c) {
          const index_t kk = k0 + c * q + j;
          gemm_avx512_step<T, MR, NV>(acc[c], a_rows, t.b + kk * nr, t.panel_stride, narrow + kk * (nr / 2), kk * cs);
        }
      }
      if (last) {
        for (index_t kk = k0 + CC * q; kk < t.k; ++kk) {
          gemm_avx512_step<T, MR, NV>(acc[CC - 1], a_rows, t.b + kk * nr, t.panel_stride, narrow + kk * (nr / 2),
                                      kk * cs);
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
  // Epilogue in registers, per vector of columns [v·width, v·width + width).
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
//! · W(k, j) + bias) for the columns j < w.cols() of W's panels from p0 on (whole panels, then the narrow
//! last panel's vector when the NV vectors reach it). The K order of gemm/k_chunks.hpp and the epilogue
//! of gemm_avx512_kernel, so the same bits as its 1-row tile; but no MicroTile: the arguments stay in
//! registers, the running sum of the CC-chunk groups too, and the W vectors are memory operands of the
//! multiply-adds (one row reads each once). No residual.
template <class T, int NV, int CC>
PORTML_TARGET_AVX512 void gemm_avx512_row(const T* a, index_t cs, const PackedWeights<T>& w, index_t p0,
                                          const EpilogueParams<T>& ep, T* c) {
  using S = Avx512<T>;
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
        gemm_avx512_step<T, 1, NV>(acc[i], a_rows, b + kk * nr, ps, narrow + kk * (nr / 2), kk * cs);
      }
    }
    if (g + 1 == groups) {  // the last chunk's K − S·q extra terms
      for (index_t kk = k0 + CC * q; kk < k; ++kk) {
        gemm_avx512_step<T, 1, NV>(acc[CC - 1], a_rows, b + kk * nr, ps, narrow + kk * (nr / 2), kk * cs);
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

//! Tile shapes: up to 12 rows (24 accumulators); fewer rows take more panels so that at least 8
//! independent accumulators hide the FMA latency (the small-M paths: 1, 2, 4, 8 rows and the rest).
//! Tiles with fewer than 8 accumulators per chunk (1 row of 1–3 panels, 2 rows of 1 panel: N ≤ 96 at
//! batch 1–2) run 2 or 4 K chunks at once instead. A narrow last panel (HALF) takes one zmm per row.
struct IsaAvx512 {
  static constexpr int mr_max = 12;
  static constexpr int tile_rows = 12;
  template <class T>
  static constexpr int np(int mr) {
    const int budget = 24 / (mr * 2);
    return budget < 1 ? 1 : (budget > 6 ? 6 : budget);
  }
  //! K chunks run at once by a tile of MR rows × NV zmm.
  static constexpr int chunks_at_once(int mr, int nv) {
    const int chains = mr * nv;
    return chains >= 8 ? 1 : (chains >= 4 ? 2 : 4);
  }
  template <class T, int MR, int NP, bool HALF>
  static void kernel(const MicroTile<T, MR>& t) {
    constexpr int nv = tile_vectors(static_cast<int>(PackedWeights<T>::panel_width) / Avx512<T>::width, NP, HALF);
    constexpr int cc = chunks_at_once(MR, nv);
    const int s = gemm_k_chunks(t.k);
    if constexpr (cc >= 4) {
      if (s >= 4) return gemm_avx512_kernel<T, MR, nv, 4>(t);
    }
    if constexpr (cc >= 2) {
      if (s >= 2) return gemm_avx512_kernel<T, MR, nv, 2>(t);
    }
    gemm_avx512_kernel<T, MR, nv, 1>(t);
  }
  //! The row kernel of NV ≤ 4 vectors for K = k (gemm/one_row.hpp): all the K chunks at once (at most
  //! 16 accumulators).
  template <class T, int NV>
  static auto row(index_t k) {
    static_assert(NV >= 1 && NV <= 4);
    const int s = gemm_k_chunks(k);
    if (s >= 4) return &gemm_avx512_row<T, NV, 4>;
    if (s >= 2) return &gemm_avx512_row<T, NV, 2>;
    return &gemm_avx512_row<T, NV, 1>;
  }
};

}  // namespace portml::kernels::gemm_detail

#endif  // PORTML_X86_SIMD
