// SPDX-License-Identifier: Apache-2.0
//! \file
//! The x86 SIMD paths of the kNN brute force on host queues (docs/gnn.md): W query rows of one event
//! (W = 16 with AVX-512, 8 with AVX2) sit in the lanes of one vector per dimension; each candidate's
//! coordinates are broadcast and give its squared distance to the W queries in one vector, eight
//! candidates at a time (eight independent sums); one vector comparison against the queries' current
//! k-th distances (the `lim` lanes) rejects a candidate for all W queries at once, and only the lanes
//! that pass enter the per-query insertion (KnnBody::take, or the AVX-512 path's vector lists). A
//! partial block repeats its last query in the unused lanes, whose limit is −inf, so they never pass.
//!
//! Bits: per (query, candidate) pair the same IEEE operations as KnnBody, in the same order:
//! t = q_d − r_d, then acc = acc + t·t with the product rounded (never an FMA), dimensions in order,
//! the periodic one as |t| and period − |t| where |t| > period / 2. GCC contracts a plain vector
//! multiply and add into an FMA where the target has one (AVX-512 implies FMA in GCC), so the
//! AVX-512 path uses the explicit-rounding forms (`_mm512_mul_round_ps`, `_mm512_add_round_ps` with
//! the current rounding mode), which are never contracted, and the AVX2 path is compiled for "avx2"
//! alone (no FMA). Host builds must not add FMA-enabling -m flags (neither may the scalar path's).
//! Two exact rewrites keep the bits: the first dimension's t·t is the sum itself (0 + x = x for the
//! x ≥ +0 or NaN a square can be), and on AVX-512 every other candidate's difference is computed on
//! the FMA units as −(r_d · 1) + q_d (one rounding of the exact q_d − r_d, the same value and sign of
//! zero as the subtraction), so that the subtractions and sums do not all queue on the two adders.
//! Compiled through function target attributes only and called after isa_available() saw the bits.
#pragma once

#include <portml/core/isa.hpp>
#include <portml/kernels/graph/common.hpp>

#if PORTML_X86_SIMD
#include <immintrin.h>

#include <cstdint>
#include <limits>

#define PORTML_KNN_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl")))
#define PORTML_KNN_TARGET_AVX2 __attribute__((target("avx2")))
#define PORTML_KNN_INLINE inline __attribute__((always_inline))

namespace portml::kernels::graph::detail {

//! 16 float lanes (AVX-512).
struct KnnAvx512 {
  using V = __m512;
  static constexpr int width = 16;
  //! Candidates per step of the scan: 8 chains of additions; with D = 16 the 16 query vectors, the
  //! 8 sums and the temporaries fit in the 32 registers.
  static constexpr int group = 8;
  //! The dimension loop unrolled where D is known (16 query vectors stay in registers).
  static constexpr bool unroll_dims = true;
  PORTML_KNN_TARGET_AVX512 static PORTML_KNN_INLINE V load(const float* p) { return _mm512_loadu_ps(p); }
  PORTML_KNN_TARGET_AVX512 static PORTML_KNN_INLINE V set1(float x) { return _mm512_set1_ps(x); }
  PORTML_KNN_TARGET_AVX512 static PORTML_KNN_INLINE V zero() { return _mm512_setzero_ps(); }
  PORTML_KNN_TARGET_AVX512 static PORTML_KNN_INLINE void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  PORTML_KNN_TARGET_AVX512 static PORTML_KNN_INLINE V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  //! a − b as −(b · 1) + a on the FMA units (the same rounded difference; balances the adders' load).
  PORTML_KNN_TARGET_AVX512 static PORTML_KNN_INLINE V sub_on_fma(V a, V b) {
    return _mm512_mask3_fnmadd_round_ps(b, _mm512_set1_ps(1.0f), a, 0xFFFF, _MM_FROUND_CUR_DIRECTION);
  }
  //! t·t, rounded.
  PORTML_KNN_TARGET_AVX512 static PORTML_KNN_INLINE V square(V t) {
    return _mm512_mask_mul_round_ps(t, 0xFFFF, t, t, _MM_FROUND_CUR_DIRECTION);
  }
  //! acc + t·t, product rounded, no FMA.
  PORTML_KNN_TARGET_AVX512 static PORTML_KNN_INLINE V add_square(V acc, V t) {
    // The masked forms with all lanes set: the unmasked ones trip GCC 12's -Wmaybe-uninitialized.
    const V p = _mm512_mask_mul_round_ps(t, 0xFFFF, t, t, _MM_FROUND_CUR_DIRECTION);
    return _mm512_mask_add_round_ps(acc, 0xFFFF, acc, p, _MM_FROUND_CUR_DIRECTION);
  }
  //! |t|, then period − |t| where |t| > half.
  PORTML_KNN_TARGET_AVX512 static PORTML_KNN_INLINE V wrap(V t, V half, V period) {
    const V a = _mm512_abs_ps(t);
    return _mm512_mask_sub_ps(a, _mm512_cmp_ps_mask(a, half, _CMP_GT_OQ), period, a);
  }
  //! Bit q set where a[q] <= b[q] (false for NaN).
  PORTML_KNN_TARGET_AVX512 static PORTML_KNN_INLINE unsigned less_equal(V a, V b) {
    return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ);
  }
  //! v with lane q set to x.
  PORTML_KNN_TARGET_AVX512 static PORTML_KNN_INLINE V set_lane(V v, int q, float x) {
    return _mm512_mask_mov_ps(v, static_cast<__mmask16>(1u << q), _mm512_set1_ps(x));
  }
};

//! 8 float lanes (AVX2; compiled without FMA, so nothing can be contracted).
struct KnnAvx2 {
  using V = __m256;
  static constexpr int width = 8;
  static constexpr int group = 8;
  //! Not unrolled: with 16 registers GCC's schedule of the unrolled loop spills.
  static constexpr bool unroll_dims = false;
  PORTML_KNN_TARGET_AVX2 static PORTML_KNN_INLINE V load(const float* p) { return _mm256_loadu_ps(p); }
  PORTML_KNN_TARGET_AVX2 static PORTML_KNN_INLINE V set1(float x) { return _mm256_set1_ps(x); }
  PORTML_KNN_TARGET_AVX2 static PORTML_KNN_INLINE V zero() { return _mm256_setzero_ps(); }
  PORTML_KNN_TARGET_AVX2 static PORTML_KNN_INLINE void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  PORTML_KNN_TARGET_AVX2 static PORTML_KNN_INLINE V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  PORTML_KNN_TARGET_AVX2 static PORTML_KNN_INLINE V sub_on_fma(V a, V b) { return _mm256_sub_ps(a, b); }
  PORTML_KNN_TARGET_AVX2 static PORTML_KNN_INLINE V square(V t) { return _mm256_mul_ps(t, t); }
  PORTML_KNN_TARGET_AVX2 static PORTML_KNN_INLINE V add_square(V acc, V t) {
    return _mm256_add_ps(acc, _mm256_mul_ps(t, t));
  }
  PORTML_KNN_TARGET_AVX2 static PORTML_KNN_INLINE V wrap(V t, V half, V period) {
    const V a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), t);
    return _mm256_blendv_ps(a, _mm256_sub_ps(period, a), _mm256_cmp_ps(a, half, _CMP_GT_OQ));
  }
  PORTML_KNN_TARGET_AVX2 static PORTML_KNN_INLINE unsigned less_equal(V a, V b) {
    return static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(a, b, _CMP_LE_OQ)));
  }
  PORTML_KNN_TARGET_AVX2 static PORTML_KNN_INLINE V set_lane(V v, int q, float x) {
    const __m256i lane = _mm256_cmpeq_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(q));
    return _mm256_blendv_ps(v, _mm256_set1_ps(x), _mm256_castsi256_ps(lane));
  }
};

//! Most dimensions of the SIMD brute force (the queries' lanes, 8 KiB with AVX-512, live on the
//! stack); beyond it the portable path runs. ParticleNet's feature-space kNN has D = 64 and 128.
inline constexpr index_t knn_lanes_max_dims = 128;

//! A query's sorted list of its 16 best (d², index) in two AVX-512 vectors (AVX-512 path only): the
//! free slots are the last `slots` lanes, the leading lanes hold (−inf, −1) and never move, an empty
//! slot is (+inf, −1). Lanes are ordered by the total (d², index) order that KnnBody::take keeps, and
//! both ways of adding to it keep the 16 first entries of that order among the list and the offered
//! pairs, so they give the same list whatever mix of them a search uses:
//! * insert: one (d, j) that comes before lane 15 (KnnBody::insert's steps by vector: the lanes that
//!   (d, j) comes before form a suffix; they shift up one lane, the first of them takes (d, j), the
//!   last entry drops out);
//! * merge: up to 16 pairs at once (a bitonic sort of the offered lanes, the padding lanes (+inf,
//!   INT32_MAX) after every real entry, then the lower half of the bitonic merge with the list:
//!   min(list[l], offered[15 − l]) holds the 16 first of the 32, and four exchange steps sort them).
struct KnnList16 {
  static constexpr int width = 16;
  __m512 d;
  __m512i j;

  PORTML_KNN_TARGET_AVX512 static PORTML_KNN_INLINE KnnList16 load(const float* ld, const std::int32_t* lj) {
    return {_mm512_load_ps(ld), _mm512_load_si512(lj)};
  }
  PORTML_KNN_TARGET_AVX512 PORTML_KNN_INLINE void store(float* ld, std::int32_t* lj) const {
    _mm512_store_ps(ld, d);
    _mm512_store_si512(lj, j);
  }
  //! Lanes where (ad, aj) comes before (bd, bj) in the (d², index) order.
  PORTML_KNN_TARGET_AVX512 static PORTML_KNN_INLINE __mmask16 before(__m512 ad, __m512i aj, __m512 bd, __m512i bj) {
    return _mm512_cmp_ps_mask(ad, bd, _CMP_LT_OQ) |
           (_mm512_cmp_ps_mask(ad, bd, _CMP_EQ_OQ) & _mm512_cmplt_epi32_mask(aj, bj));
  }
  //! Inserts (dv, jv) (broadcast), which comes before lane 15.
  PORTML_KNN_TARGET_AVX512 PORTML_KNN_INLINE void insert(__m512 dv, __m512i jv) {
    const __mmask16 after = before(dv, jv, d, j);
    const __mmask16 at = after & static_cast<__mmask16>(-static_cast<int>(after));  // lowest lane of the suffix
    const __mmask16 moved = after & static_cast<__mmask16>(~at);
    const __m512i prev = _mm512_set_epi32(14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0);
    d = _mm512_mask_mov_ps(_mm512_mask_permutexvar_ps(d, moved, prev, d), at, dv);
    j = _mm512_mask_mov_epi32(_mm512_mask_permutexvar_epi32(j, moved, prev, j), at, jv);
  }
  //! The list with (d, j) inserted (memory form, for the brute force's per-query lists).
  PORTML_KNN_TARGET_AVX512 static void insert(float* ld, std::int32_t* lj, float d, std::int32_t j) {
    KnnList16 l = load(ld, lj);
    l.insert(_mm512_set1_ps(d), _mm512_set1_epi32(j));
    l.store(ld, lj);
  }
  //! Merges the lanes `offered` of (od, oj) into the list.
  PORTML_KNN_TARGET_AVX512 PORTML_KNN_INLINE void merge(__m512 od, __m512i oj, __mmask16 offered) {
    KnnList16 o{_mm512_mask_mov_ps(_mm512_set1_ps(std::numeric_limits<float>::infinity()), offered, od),
                _mm512_mask_mov_epi32(_mm512_set1_epi32(std::numeric_limits<std::int32_t>::max()), offered, oj)};
    o.exchange<2, 1>();
    o.exchange<4, 2>();
    o.exchange<4, 1>();
    o.exchange<8, 4>();
    o.exchange<8, 2>();
    o.exchange<8, 1>();
    o.exchange<16, 8>();
    o.exchange<16, 4>();
    o.exchange<16, 2>();
    o.exchange<16, 1>();
    const __m512i reverse = _mm512_set_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512 rd = permute(reverse, o.d);
    const __m512i rj = permute(reverse, o.j);
    const __mmask16 keep = before(d, j, rd, rj);
    d = _mm512_mask_mov_ps(rd, keep, d);
    j = _mm512_mask_mov_epi32(rj, keep, j);
    exchange<32, 8>();
    exchange<32, 4>();
    exchange<32, 2>();
    exchange<32, 1>();
  }
  PORTML_KNN_TARGET_AVX512 PORTML_KNN_INLINE float last_d() const {
    return _mm512_cvtss_f32(permute(_mm512_set1_epi32(width - 1), d));
  }
  PORTML_KNN_TARGET_AVX512 PORTML_KNN_INLINE std::int32_t last_j() const {
    return _mm_cvtsi128_si32(
        _mm512_mask_extracti32x4_epi32(_mm_setzero_si128(), 0xF, permute(_mm512_set1_epi32(width - 1), j), 0));
  }

 private:
  // The masked forms with all lanes set: the unmasked ones trip GCC 12's -Wmaybe-uninitialized.
  PORTML_KNN_TARGET_AVX512 static PORTML_KNN_INLINE __m512 permute(__m512i index, __m512 v) {
    return _mm512_mask_permutexvar_ps(v, 0xFFFF, index, v);
  }
  PORTML_KNN_TARGET_AVX512 static PORTML_KNN_INLINE __m512i permute(__m512i index, __m512i v) {
    return _mm512_mask_permutexvar_epi32(v, 0xFFFF, index, v);
  }
  //! Lanes of a bitonic network's step (block `Size`, partner lane l ^ `Stride`) that keep the later
  //! entry of their pair: the upper lane of an ascending block, the lower one of a descending block.
  static constexpr __mmask16 later_lanes(int size, int stride) {
    unsigned m = 0;
    for (int l = 0; l < width; ++l) {
      if (((l & stride) == 0) != ((l & size) == 0)) m |= 1u << l;
    }
    return static_cast<__mmask16>(m);
  }
  //! One compare-exchange step of the bitonic network.
  template <int Size, int Stride>
  PORTML_KNN_TARGET_AVX512 PORTML_KNN_INLINE void exchange() {
    constexpr __mmask16 later = later_lanes(Size, Stride);
    const __m512i partner = _mm512_xor_si512(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                             _mm512_set1_epi32(Stride));
    const __m512 pd = permute(partner, d);
    const __m512i pj = permute(partner, j);
    // A lane takes its partner's entry when the partner is the one the lane must hold: a later-lane
    // when it comes first (self before partner), an earlier-lane when it does not.
    const __mmask16 take = static_cast<__mmask16>(~(before(d, j, pd, pj) ^ later));
    d = _mm512_mask_mov_ps(d, take, pd);
    j = _mm512_mask_mov_epi32(j, take, pj);
  }
};

//! The state of one block of W queries in the lane scan: the queries' limits (for the take() path),
//! cached k-th entries, counts and, on the AVX-512 path with <= 16 free slots, their lists.
template <int W>
struct KnnLaneBlock {
  alignas(64) float list_d[W][KnnList16::width];
  alignas(64) std::int32_t list_j[W][KnnList16::width];
  alignas(64) float limit[W];
  index_t first[W], worst_j[W], count[W];
  float worst_d[W];
  bool lists, counting;
};

//! The block scan of one ISA: the same body for each, compiled with that ISA's target attribute.
//! `Dims` > 0: D known at compile time (the dimension loops unrolled), 0: D = xq.extent(1).
//! `s` is a KnnBody<float, ...> (its views, options, start_row and take). Queries [i0, i0 + nq),
//! 1 <= nq <= W, reference rows [rbegin, rend); at most knn_lanes_max_dims dimensions. Candidates are
//! taken `Ops::group` at a time (that many independent chains of additions), the rest one at a time.
#define PORTML_KNN_DEFINE_LANE_SCAN(NAME, TARGET, OPS)                                                              \
  /* Dimension d of G candidates (coordinates c[0], c[rs], ...): a[g] += (q_d - c)^2 in the lanes (a[g] = */        \
  /* (q_d - c)^2 for the first), every other difference on the FMA units (sub_on_fma, the same bits). */            \
  template <bool Periodic, bool First, int G>                                                                       \
  TARGET PORTML_KNN_INLINE void NAME##_add_dim(const OPS::V& q, const float* c, index_t rs, bool wrap, OPS::V half, \
                                               OPS::V period, OPS::V(&a)[G]) {                                      \
    for (int g = 0; g < G; ++g) {                                                                                   \
      OPS::V t = g % 2 == 1 ? OPS::sub_on_fma(q, OPS::set1(c[g * rs])) : OPS::sub(q, OPS::set1(c[g * rs]));         \
      if (Periodic && wrap) t = OPS::wrap(t, half, period);                                                         \
      a[g] = First ? OPS::square(t) : OPS::add_square(a[g], t);                                                     \
    }                                                                                                               \
  }                                                                                                                 \
  /* The squared distances of the G candidates at r0, r0 + rs, ... to the W queries (qv[d]). */                     \
  template <int Dims, bool Periodic, int G>                                                                         \
  TARGET PORTML_KNN_INLINE void NAME##_distances(const OPS::V* qv, const float* r0, index_t rs, index_t cs,         \
                                                 index_t dims, index_t pd, OPS::V half, OPS::V period,              \
                                                 OPS::V(&a)[G]) {                                                   \
    /* The first dimension's square is the sum so far (0 + x = x for the x >= +0 or NaN it can be). */              \
    NAME##_add_dim<Periodic, true, G>(qv[0], r0, rs, pd == 0, half, period, a);                                     \
    if constexpr (Dims > 0 && OPS::unroll_dims) {                                                                   \
      _Pragma("GCC unroll 16") for (index_t d = 1; d < Dims; ++d) {                                                 \
        NAME##_add_dim<Periodic, false, G>(qv[d], r0 + d * cs, rs, d == pd, half, period, a);                       \
      }                                                                                                             \
    } else {                                                                                                        \
      for (index_t d = 1; d < dims; ++d) {                                                                          \
        NAME##_add_dim<Periodic, false, G>(qv[d], r0 + d * cs, rs, d == pd, half, period, a);                       \
      }                                                                                                             \
    }                                                                                                               \
  }                                                                                                                 \
  /* Lanes `hit` of candidate j's distances `acc` enter their queries' lists (KnnBody::take's steps); */            \
  /* lim (the queries' limits in the lanes) follows the lists. */                                                   \
  template <class Search>                                                                                           \
  TARGET PORTML_KNN_INLINE void NAME##_offer(const Search& s, KnnLaneBlock<OPS::width>& b, index_t i0, index_t j,   \
                                             unsigned hit, const float* acc, OPS::V& lim) {                         \
    while (hit != 0) {                                                                                              \
      const int q = __builtin_ctz(hit);                                                                             \
      hit &= hit - 1;                                                                                               \
      if constexpr (OPS::width == KnnList16::width) {                                                               \
        if (b.lists) {                                                                                              \
          /* take()'s steps on the vector list (no count: lists are for knn, not radius_graph). */                  \
          const float a = acc[q];                                                                                   \
          if (!(a <= s.max_radius2) || (s.same_set && j == i0 + q)) continue;                                       \
          if (!(a < b.worst_d[q] || (a == b.worst_d[q] && j < b.worst_j[q]))) continue;                             \
          /* The new last entry is (a, j) or the old next-to-last one, whichever comes later: the */                \
          /* limit does not wait for the vector insertion. */                                                       \
          const float pd = b.list_d[q][KnnList16::width - 2];                                                       \
          const std::int32_t pj = b.list_j[q][KnnList16::width - 2];                                                \
          KnnList16 l = KnnList16::load(b.list_d[q], b.list_j[q]);                                                  \
          l.insert(_mm512_set1_ps(a), _mm512_set1_epi32(static_cast<std::int32_t>(j)));                             \
          l.store(b.list_d[q], b.list_j[q]);                                                                        \
          const bool last = pd < a || (pd == a && pj < j);                                                          \
          b.worst_d[q] = last ? a : pd;                                                                             \
          b.worst_j[q] = last ? j : pj;                                                                             \
          lim = OPS::set_lane(lim, q, b.worst_d[q] < s.max_radius2 ? b.worst_d[q] : s.max_radius2);                 \
          continue;                                                                                                 \
        }                                                                                                           \
      }                                                                                                             \
      s.take(i0 + q, j, acc[q], b.first[q], b.worst_d[q], b.worst_j[q], b.count[q], b.limit[q], b.counting);        \
      lim = OPS::set_lane(lim, q, b.limit[q]);                                                                      \
    }                                                                                                               \
  }                                                                                                                 \
  template <int Dims, bool Periodic, class Search>                                                                  \
  TARGET void NAME(const Search& s, index_t i0, index_t nq, index_t rbegin, index_t rend) {                         \
    using Ops = OPS;                                                                                                \
    using V = Ops::V;                                                                                               \
    constexpr int W = Ops::width, G = Ops::group;                                                                   \
    constexpr index_t max_dims = knn_lanes_max_dims;                                                                \
    const index_t dims = Dims > 0 ? Dims : s.xq.extent(1), k = s.nbr.extent(1);                                     \
    KnnLaneBlock<W> b;                                                                                              \
    b.counting = !s.found.empty();                                                                                  \
    alignas(64) float lanes[max_dims][W];                                                                           \
    alignas(64) float acc_out[G][W];                                                                                \
    for (int q = 0; q < W; ++q) {                                                                                   \
      const index_t i = i0 + (q < nq ? q : nq - 1);                                                                 \
      for (index_t d = 0; d < dims; ++d) lanes[d][q] = s.xq(i, d);                                                  \
      b.limit[q] = -std::numeric_limits<float>::infinity();                                                         \
      b.first[q] = 0;                                                                                               \
      b.worst_d[q] = 0.0f;                                                                                          \
      b.worst_j[q] = 0;                                                                                             \
      b.count[q] = 0;                                                                                               \
      if (q >= nq) continue;                                                                                        \
      b.first[q] = s.start_row(i);                                                                                  \
      b.worst_d[q] = s.d2(i, k - 1);                                                                                \
      b.worst_j[q] = s.nbr(i, k - 1);                                                                               \
      b.limit[q] = (!b.counting && b.worst_d[q] < s.max_radius2) ? b.worst_d[q] : s.max_radius2;                    \
    }                                                                                                               \
    if (b.first[0] >= k && !b.counting) return;                                                                     \
    const index_t slots = k - b.first[0];                                                                           \
    /* The AVX-512 path keeps each query's list in vectors (KnnList16) when it has <= 16 free slots. */             \
    b.lists = W == KnnList16::width && !b.counting && slots <= KnnList16::width &&                                  \
              rend <= std::numeric_limits<std::int32_t>::max();                                                     \
    if (b.lists) {                                                                                                  \
      for (int q = 0; q < W; ++q) {                                                                                 \
        for (index_t l = 0; l < KnnList16::width; ++l) {                                                            \
          b.list_d[q][l] = l < KnnList16::width - slots ? -std::numeric_limits<float>::infinity()                   \
                                                        : std::numeric_limits<float>::infinity();                   \
          b.list_j[q][l] = -1;                                                                                      \
        }                                                                                                           \
      }                                                                                                             \
    }                                                                                                               \
    V qv[max_dims];                                                                                                 \
    for (index_t d = 0; d < dims; ++d) qv[d] = Ops::load(lanes[d]);                                                 \
    V lim = Ops::load(b.limit);                                                                                     \
    const V half = Ops::set1(s.period / 2.0f), period = Ops::set1(s.period);                                        \
    const index_t pd = Periodic ? s.periodic_dim : -1;                                                              \
    const index_t rs = s.xr.stride(0), cs = s.xr.stride(1);                                                         \
    const float* xr = s.xr.data();                                                                                  \
    /* Rows packed (stride D, unit column stride): with D known every coordinate's offset is a constant. */         \
    const bool packed = rs == dims && cs == 1;                                                                      \
    index_t j = rbegin;                                                                                             \
    for (; j + G <= rend; j += G) {                                                                                 \
      V a[G];                                                                                                       \
      if (Dims > 0 && packed) {                                                                                     \
        NAME##_distances<Dims, Periodic, G>(qv, xr + j * Dims, Dims, 1, dims, pd, half, period, a);                 \
      } else {                                                                                                      \
        NAME##_distances<Dims, Periodic, G>(qv, xr + j * rs, rs, cs, dims, pd, half, period, a);                    \
      }                                                                                                             \
      unsigned hits = 0; /* bit g: some query may take candidate j + g */                                           \
      for (int g = 0; g < G; ++g) hits |= (Ops::less_equal(a[g], lim) != 0 ? 1u : 0u) << g;                         \
      if (hits == 0) continue; /* the common case */                                                                \
      for (int g = 0; g < G; ++g) Ops::store(acc_out[g], a[g]);                                                     \
      /* Candidates in order, each against the limits its predecessors left (a later one is rechecked). */          \
      while (hits != 0) {                                                                                           \
        const int g = __builtin_ctz(hits);                                                                          \
        hits &= hits - 1;                                                                                           \
        NAME##_offer(s, b, i0, j + g, Ops::less_equal(Ops::load(acc_out[g]), lim), acc_out[g], lim);                \
      }                                                                                                             \
    }                                                                                                               \
    for (; j < rend; ++j) {                                                                                         \
      V a[1];                                                                                                       \
      NAME##_distances<Dims, Periodic, 1>(qv, xr + j * rs, rs, cs, dims, pd, half, period, a);                      \
      const unsigned h = Ops::less_equal(a[0], lim);                                                                \
      if (h == 0) continue;                                                                                         \
      Ops::store(acc_out[0], a[0]);                                                                                 \
      NAME##_offer(s, b, i0, j, h, acc_out[0], lim);                                                                \
    }                                                                                                               \
    if (b.counting) {                                                                                               \
      for (index_t q = 0; q < nq; ++q) s.found(i0 + q) = static_cast<typename Search::index_type>(b.count[q]);      \
    }                                                                                                               \
    if (b.lists) {                                                                                                  \
      for (index_t q = 0; q < nq; ++q) {                                                                            \
        for (index_t f = 0; f < slots; ++f) {                                                                       \
          const index_t l = KnnList16::width - slots + f;                                                           \
          s.nbr(i0 + q, b.first[q] + f) = static_cast<typename Search::index_type>(b.list_j[q][l]);                 \
          s.d2(i0 + q, b.first[q] + f) = b.list_d[q][l];                                                            \
        }                                                                                                           \
      }                                                                                                             \
    }                                                                                                               \
  }

PORTML_KNN_DEFINE_LANE_SCAN(knn_scan_avx512, PORTML_KNN_TARGET_AVX512, KnnAvx512)
PORTML_KNN_DEFINE_LANE_SCAN(knn_scan_avx2, PORTML_KNN_TARGET_AVX2, KnnAvx2)

#undef PORTML_KNN_DEFINE_LANE_SCAN

//! Host work item (b, w) of the SIMD brute force: query rows [offq[b] + W·w, + W) of event b, the
//! last block of an event partial. `Avx512`: 16 lanes, else AVX2's 8. `Dims`: as the scan's.
template <bool Avx512, int Dims, bool Periodic, class Search>
struct KnnLanesBody {
  static constexpr index_t block = Avx512 ? KnnAvx512::width : KnnAvx2::width;
  Search search;
  void operator()(index_t b, index_t w) const {
    const index_t end = search.offq(b + 1);
    const index_t i0 = static_cast<index_t>(search.offq(b)) + w * block;
    if (i0 >= end) return;
    const index_t nq = end - i0 < block ? end - i0 : block;
    if constexpr (Avx512) {
      knn_scan_avx512<Dims, Periodic>(search, i0, nq, search.offr(b), search.offr(b + 1));
    } else {
      knn_scan_avx2<Dims, Periodic>(search, i0, nq, search.offr(b), search.offr(b + 1));
    }
  }
};

//! Rows [s0, s1) of an event's sorted order against query row i (coordinates qc): `sorted` holds the
//! event's row indices and `xs` its coordinates in the same order, column d at xs + d·cstride (the
//! grid's `coords`); distances 16 at a time from contiguous loads, the lanes within the current k-th
//! (other than row i itself) offered to the list: one at a time by insertion when few pass, merged
//! at once when at least `knn_grid_merge_lanes` do (the same list either way, KnnList16).
//! `Dims`: D (1 to 4), so that the dimension loop unrolls.
inline constexpr int knn_grid_merge_lanes = 10;

template <int Dims, class Search>
PORTML_KNN_TARGET_AVX512 PORTML_KNN_INLINE void knn_grid_rows_avx512(const Search& s, const std::int32_t* sorted,
                                                                     const float* xs, index_t cstride, index_t s0,
                                                                     index_t s1, const float* qc, index_t i,
                                                                     KnnList16& list, float& worst_d,
                                                                     std::int32_t& worst_j) {
  using V = KnnAvx512::V;
  constexpr int W = KnnList16::width;
  V qv[Dims];
  for (int d = 0; d < Dims; ++d) qv[d] = KnnAvx512::set1(qc[d]);
  const __m512i self = _mm512_set1_epi32(static_cast<std::int32_t>(i));
  for (index_t p = s0; p < s1; p += W) {
    const auto valid = static_cast<__mmask16>(s1 - p >= W ? 0xFFFFu : (1u << (s1 - p)) - 1u);
    V acc = KnnAvx512::zero();
    for (int d = 0; d < Dims; ++d) {
      const V r = _mm512_maskz_loadu_ps(valid, xs + d * cstride + p);
      acc = KnnAvx512::add_square(acc, KnnAvx512::sub(qv[d], r));
    }
    // Within the k-th (and the radius: limit <= max_radius2; false for NaN).
    const float limit = worst_d < s.max_radius2 ? worst_d : s.max_radius2;
    auto hit = static_cast<__mmask16>(KnnAvx512::less_equal(acc, KnnAvx512::set1(limit)) & valid);
    if (hit == 0) continue;
    const __m512i jv = _mm512_maskz_loadu_epi32(hit, sorted + p);
    hit = static_cast<__mmask16>(hit & ~_mm512_cmpeq_epi32_mask(jv, self));
    if (__builtin_popcount(hit) >= knn_grid_merge_lanes) {
      list.merge(acc, jv, hit);
    } else {
      alignas(64) float accs[W];
      alignas(64) std::int32_t js[W];
      KnnAvx512::store(accs, acc);
      _mm512_store_si512(js, jv);
      unsigned rest = hit;
      while (rest != 0) {
        const int l = __builtin_ctz(rest);
        rest &= rest - 1;
        const float a = accs[l];
        const std::int32_t j = js[l];
        if (!(a < worst_d || (a == worst_d && j < worst_j))) continue;
        list.insert(_mm512_set1_ps(a), _mm512_set1_epi32(j));
        worst_d = list.last_d();
        worst_j = list.last_j();
      }
      continue;
    }
    worst_d = list.last_d();
    worst_j = list.last_j();
  }
}

//! The grid search of one query row on the AVX-512 path (knn_graph with a workspace, D <= 4): the
//! rings of GridQueryBody, with the same stopping rule, but each ring visited as runs of cells that
//! are consecutive in the last dimension, which are consecutive in the grid's sorted order too: a
//! run's rows are taken 16 at a time (coordinates from the grid's column-by-column `coords`, one
//! contiguous load per dimension), their distances computed in the lanes with the brute force's
//! operations (q_d − r_d, product rounded, then the sum, dimensions in order), compared with the
//! current k-th in one instruction, and only the lanes that pass enter the query's KnnList16 (their
//! row indices read from `sorted`). A run is skipped when the box of its cells is surely farther than
//! the current k-th (GridQueryBody::cell_beyond's bound, on the run's box). Needs int32 row indices
//! in `sorted` and `coords` with unit stride, and at most 16 free slots; the caller checks.
//! `Dims`: D = xq.extent(1), 1 to Grid::max_dims.
template <int Dims, class Search, class Grid>
PORTML_KNN_TARGET_AVX512 void knn_grid_query_avx512(const Search& s, const Grid& grid, index_t i) {
  constexpr int W = KnnList16::width;
  constexpr index_t max_dims = Grid::max_dims;
  constexpr float inf = std::numeric_limits<float>::infinity();
  constexpr index_t dims = Dims;
  const index_t k = s.nbr.extent(1);
  const index_t first = s.start_row(i);
  if (first >= k) return;
  const index_t slots = k - first;
  const index_t b = event_of(s.offq, i);
  const index_t begin = s.offq(b), base = begin + b;
  index_t g[max_dims], cq[max_dims];
  float lo[max_dims], side[max_dims], slack[max_dims], qc[max_dims];
  index_t reach = 0;
  for (index_t d = 0; d < dims; ++d) {
    g[d] = grid.gdims(b * max_dims + d);
    lo[d] = grid.geom(b * 2 * max_dims + d);
    side[d] = grid.geom(b * 2 * max_dims + max_dims + d);
    qc[d] = s.xq(i, d);
    const float hi = lo[d] + side[d] * static_cast<float>(g[d]);
    slack[d] = 4e-6f * ((lo[d] < 0.0f ? -lo[d] : lo[d]) + (hi < 0.0f ? -hi : hi));
    cq[d] = Grid::cell_coord(qc[d], lo[d], side[d], g[d]);
    const index_t far = cq[d] > g[d] - 1 - cq[d] ? cq[d] : g[d] - 1 - cq[d];
    reach = far > reach ? far : reach;
  }
  alignas(64) float ld[W];
  alignas(64) std::int32_t lj[W];
  for (int l = 0; l < W; ++l) {
    ld[l] = l < W - slots ? -inf : inf;
    lj[l] = -1;
  }
  KnnList16 list = KnnList16::load(ld, lj);
  float worst_d = inf;
  std::int32_t worst_j = -1;
  const index_t n = s.xr.extent(0);
  const std::int32_t* sorted = &grid.sorted(begin);
  const float* xs = grid.coords.data() + begin;
  const index_t last = dims - 1;
  // True when every point of the cells [c_0, .., c_{D-2}, a..e] is surely at d² > bound.
  const auto run_beyond = [&](const index_t(&c)[max_dims], index_t a, index_t e, float bound) {
    float box = 0.0f;
    for (index_t d = 0; d < dims; ++d) {
      const index_t c0 = d == last ? a : c[d], c1 = d == last ? e : c[d];
      const float below = (lo[d] + side[d] * static_cast<float>(c0)) - qc[d] - slack[d];
      const float above = qc[d] - (lo[d] + side[d] * static_cast<float>(c1 + 1)) - slack[d];
      const float gap = below > 0.0f ? below : (above > 0.0f ? above : 0.0f);
      box += gap * gap;
    }
    return box * 0.9999f > bound;
  };
  for (index_t r = 0; r <= reach; ++r) {
    // The leading dimensions' box [cq - r, cq + r] (clipped), by odometer; the last dimension as runs.
    index_t c[max_dims], lo_c[max_dims], hi_c[max_dims];
    for (index_t d = 0; d < dims; ++d) {
      lo_c[d] = cq[d] - r < 0 ? 0 : cq[d] - r;
      hi_c[d] = cq[d] + r > g[d] - 1 ? g[d] - 1 : cq[d] + r;
      c[d] = lo_c[d];
    }
    for (;;) {
      bool on_ring = r == 0;  // (r = 0: the query's own cell, once)
      index_t lead = 0;
      for (index_t d = 0; d < last; ++d) {
        on_ring = on_ring || c[d] == cq[d] - r || c[d] == cq[d] + r;
        lead = lead * g[d] + c[d];
      }
      // On the ring through a leading dimension: the whole clipped range of the last one; else only
      // its two ends at distance r (if inside the grid).
      index_t runs[2][2];
      int nruns = 0;
      if (on_ring) {
        runs[nruns][0] = lo_c[last];
        runs[nruns++][1] = hi_c[last];
      } else {
        if (cq[last] - r >= 0) {
          runs[nruns][0] = cq[last] - r;
          runs[nruns++][1] = cq[last] - r;
        }
        if (cq[last] + r <= g[last] - 1) {
          runs[nruns][0] = cq[last] + r;
          runs[nruns++][1] = cq[last] + r;
        }
      }
      for (int u = 0; u < nruns; ++u) {
        const index_t a = runs[u][0], e = runs[u][1];
        if (run_beyond(c, a, e, worst_d < s.max_radius2 ? worst_d : s.max_radius2)) continue;
        const index_t cell = lead * g[last] + a;
        knn_grid_rows_avx512<Dims>(s, sorted, xs, n, grid.cell_start(base + cell),
                                   grid.cell_start(base + cell + (e - a) + 1), qc, i, list, worst_d, worst_j);
      }
      index_t d = last - 1;  // odometer over the leading dimensions
      while (d >= 0 && c[d] == hi_c[d]) {
        c[d] = lo_c[d];
        --d;
      }
      if (d < 0) break;
      c[d] += 1;
    }
    // GridQueryBody's stopping rule: a lower bound on the distance of any point in rings > r.
    float gap = inf;
    for (index_t d = 0; d < dims; ++d) {
      if (cq[d] - r - 1 >= 0) {
        const float below = qc[d] - (lo[d] + side[d] * static_cast<float>(cq[d] - r)) - slack[d];
        gap = below < gap ? below : gap;
      }
      if (cq[d] + r + 1 <= g[d] - 1) {
        const float above = (lo[d] + side[d] * static_cast<float>(cq[d] + r + 1)) - qc[d] - slack[d];
        gap = above < gap ? above : gap;
      }
    }
    if (gap > 0.0f) {
      const float bound = gap * gap * 0.9999f;
      if (bound > worst_d || bound > s.max_radius2) break;
    }
  }
  list.store(ld, lj);
  for (index_t f = 0; f < slots; ++f) {
    s.nbr(i, first + f) = static_cast<typename Search::index_type>(lj[W - slots + f]);
    s.d2(i, first + f) = ld[W - slots + f];
  }
}

//! Host work item t of the AVX-512 grid search: the query in the grid's sorted order (cell order,
//! so that neighbouring work items read neighbouring cells).
template <class Search, class Grid>
struct KnnGridLanesBody {
  Search search;
  Grid grid;
  void operator()(index_t t) const {
    const index_t i = grid.sorted(t);
    switch (search.xq.extent(1)) {
      case 1:
        knn_grid_query_avx512<1>(search, grid, i);
        break;
      case 2:
        knn_grid_query_avx512<2>(search, grid, i);
        break;
      case 3:
        knn_grid_query_avx512<3>(search, grid, i);
        break;
      default:
        knn_grid_query_avx512<4>(search, grid, i);
        break;
    }
  }
};

}  // namespace portml::kernels::graph::detail

#endif  // PORTML_X86_SIMD
