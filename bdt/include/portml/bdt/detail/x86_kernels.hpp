// SPDX-License-Identifier: Apache-2.0
//! \file
//! SIMD block kernels for float and double forests on x86-64: rows in the vector lanes, trees outer,
//! four independent lane groups interleaved per tree level so the gathers overlap. The decisions are
//! made on float lanes in both cases (every threshold is the Forest's float32 one, exact for float32
//! inputs); only the leaves and the sums are `Value`: a float forest adds a lane group's leaves in one
//! float vector, a double forest in two double vectors of half the width (AVX-512: 16 rows = one zmm of
//! features and nodes, two zmm of sums). Each lane adds its own row's leaves in tree order, so the sums
//! equal the scalar kernels' bit for bit. The functions carry `target` attributes and are only called
//! after a run-time CPU feature check.
#pragma once

#include <cstdint>
#include <type_traits>

#include <portml/bdt/forest.hpp>
#include <portml/core/isa.hpp>

#if PORTML_X86_SIMD
#include <immintrin.h>
#endif

namespace portml::bdt::detail {

//! Rows per block of the AVX2 (4 x 8 lanes) and AVX-512 (4 x 16 lanes) kernels.
inline constexpr int avx2_block_rows = 32;
inline constexpr int avx512_block_rows = 64;

#if PORTML_X86_SIMD

// GCC 12 warns (-Wuninitialized) inside the unmasked AVX-512 gather intrinsics, whose pass-through
// operand is left undefined: these use the masked forms with a zero pass-through and all lanes on.
__attribute__((target("avx512f"), always_inline)) inline __m512i gather_epi32_512(__m512i index, const void* base,
                                                                                  int) {
  return _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), __mmask16(0xffff), index, base, 4);
}
__attribute__((target("avx512f"), always_inline)) inline __m512 gather_ps_512(__m512i index, const void* base, int) {
  return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), __mmask16(0xffff), index, base, 4);
}
// The same for the other intrinsics the double forests use (their unmasked forms leave a pass-through
// undefined): the masked forms with a zero pass-through and all lanes on.
//! The low (half 0) or high (half 1) eight 32-bit lanes of v.
template <int Half>
__attribute__((target("avx512f"), always_inline)) inline __m256i half_256(__m512i v) {
  return _mm512_maskz_extracti64x4_epi64(__mmask8(0xf), v, Half);
}
//! The eight 32-bit lanes of v sign-extended to 64 bits.
__attribute__((target("avx512f"), always_inline)) inline __m512i widen_epi32_512(__m256i v) {
  return _mm512_maskz_cvtepi32_epi64(__mmask8(0xff), v);
}
__attribute__((target("avx512f"), always_inline)) inline __m512d gather_pd_512(__m256i index, const double* base) {
  return _mm512_mask_i32gather_pd(_mm512_setzero_pd(), __mmask8(0xff), index, base, 8);
}
__attribute__((target("avx2"), always_inline)) inline __m256d gather_pd_256(__m128i index, const double* base) {
  return _mm256_mask_i32gather_pd(_mm256_setzero_pd(), base, index, _mm256_castsi256_pd(_mm256_set1_epi64x(-1)), 8);
}

//! AVX2: a[i] += leaves[index[i]] for the 8 lanes (rows) of a lane group; a double forest's 8 sums are
//! two vectors of 4.
template <class Value>
__attribute__((target("avx2,fma"), always_inline)) inline void add_leaves_avx2(Value* a, __m256i index,
                                                                               const Value* leaves) {
  if constexpr (std::is_same_v<Value, float>) {
    const __m256 leaf = _mm256_i32gather_ps(leaves, index, 4);
    _mm256_storeu_ps(a, _mm256_add_ps(_mm256_loadu_ps(a), leaf));
  } else {
    const __m256d low = gather_pd_256(_mm256_castsi256_si128(index), leaves);
    const __m256d high = gather_pd_256(_mm256_extracti128_si256(index, 1), leaves);
    _mm256_storeu_pd(a, _mm256_add_pd(_mm256_loadu_pd(a), low));
    _mm256_storeu_pd(a + 4, _mm256_add_pd(_mm256_loadu_pd(a + 4), high));
  }
}

//! AVX-512: a[i] += leaves[index[i]] for the 16 lanes (rows) of a lane group; a double forest's 16 sums
//! are two vectors of 8.
template <class Value>
__attribute__((target("avx512f"), always_inline)) inline void add_leaves_512(Value* a, __m512i index,
                                                                             const Value* leaves) {
  if constexpr (std::is_same_v<Value, float>) {
    _mm512_storeu_ps(a, _mm512_add_ps(_mm512_loadu_ps(a), gather_ps_512(index, leaves, 4)));
  } else {
    const __m512d low = gather_pd_512(half_256<0>(index), leaves);
    const __m512d high = gather_pd_512(half_256<1>(index), leaves);
    _mm512_storeu_pd(a, _mm512_add_pd(_mm512_loadu_pd(a), low));
    _mm512_storeu_pd(a + 8, _mm512_add_pd(_mm512_loadu_pd(a + 8), high));
  }
}

//! AVX2: adds the leaves of every tree to acc[g * 32 + r] for rows r < rows. Row r's feature j is at
//! x[r * row_stride + j]; (rows - 1) * row_stride + num_features must fit in int32.
template <Layout L, class Value>
__attribute__((target("avx2,fma"))) void accumulate_block_avx2(const ForestData<Value>& f, const float* x,
                                                               std::int32_t row_stride, int rows, Value* acc) {
  constexpr int G = 4, W = 8, B = G * W;
  constexpr bool perfect = L == Layout::perfect;
  const std::int32_t internal = (std::int32_t(1) << f.depth) - 1;
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i feature_bits = _mm256_set1_epi32(static_cast<std::int32_t>(feature_mask));
  const __m256i one = _mm256_set1_epi32(1);
  __m256i row_offset[G];
  for (int b = 0; b < G; ++b) {
    // Lanes past the last row read the last row again (valid memory); their sums are never stored.
    const __m256i row = _mm256_min_epi32(_mm256_add_epi32(lane, _mm256_set1_epi32(b * W)), _mm256_set1_epi32(rows - 1));
    row_offset[b] = _mm256_mullo_epi32(row, _mm256_set1_epi32(row_stride));
  }
  for (std::int32_t t = 0; t < f.num_trees; ++t) {
    const std::uint32_t* ff_base = f.feature_flags;
    const float* th_base = f.threshold;
    __m256i idx[G];
    std::int32_t depth;
    if constexpr (perfect) {
      ff_base += std::size_t(t) * internal;
      th_base += std::size_t(t) * internal;
      depth = f.depth;
      for (int b = 0; b < G; ++b) idx[b] = _mm256_setzero_si256();
    } else {
      depth = f.tree_depth[t];
      for (int b = 0; b < G; ++b) idx[b] = _mm256_set1_epi32(f.tree_root[t]);
    }
    const auto* ff_ptr = reinterpret_cast<const int*>(ff_base);
    for (std::int32_t level = 0; level < depth; ++level) {
      for (int b = 0; b < G; ++b) {
        const __m256i ff = _mm256_i32gather_epi32(ff_ptr, idx[b], 4);
        const __m256 th = _mm256_i32gather_ps(th_base, idx[b], 4);
        const __m256i at = _mm256_add_epi32(row_offset[b], _mm256_and_si256(ff, feature_bits));
        const __m256 v = _mm256_i32gather_ps(x, at, 4);
        const __m256 not_less = _mm256_cmp_ps(v, th, _CMP_NLT_UQ);
        const __m256 greater_equal = _mm256_cmp_ps(v, th, _CMP_GE_OQ);
        // The sign bit of the node word is "NaN goes left": pick >= there, !< elsewhere.
        const __m256i right = _mm256_castps_si256(_mm256_blendv_ps(not_less, greater_equal, _mm256_castsi256_ps(ff)));
        if constexpr (perfect) {
          idx[b] = _mm256_sub_epi32(_mm256_add_epi32(_mm256_add_epi32(idx[b], idx[b]), one), right);
        } else {
          idx[b] = _mm256_sub_epi32(_mm256_i32gather_epi32(f.left, idx[b], 4), right);
        }
      }
    }
    Value* a = acc + std::size_t(f.tree_output[t]) * B;
    const Value* leaves = perfect ? f.leaf_value + std::size_t(t) * (internal + 1) : f.leaf_value;
    for (int b = 0; b < G; ++b) {
      const __m256i k = perfect ? _mm256_sub_epi32(idx[b], _mm256_set1_epi32(internal)) : idx[b];
      add_leaves_avx2(a + b * W, k, leaves);
    }
  }
}

//! AVX-512: as accumulate_block_avx2 with 16 lanes, acc[g * 64 + r] (the path for perfect forests
//! deeper than accumulate_block_avx512_resident takes).
template <Layout L, class Value>
__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl"))) void accumulate_block_avx512(const ForestData<Value>& f,
                                                                                           const float* x,
                                                                                           std::int32_t row_stride,
                                                                                           int rows, Value* acc) {
  constexpr int G = 4, W = 16, B = G * W;
  constexpr bool perfect = L == Layout::perfect;
  const std::int32_t internal = (std::int32_t(1) << f.depth) - 1;
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i feature_bits = _mm512_set1_epi32(static_cast<std::int32_t>(feature_mask));
  const __m512i one = _mm512_set1_epi32(1);
  __m512i row_offset[G];
  for (int b = 0; b < G; ++b) {
    const __m512i row = _mm512_maskz_min_epi32(__mmask16(0xffff), _mm512_add_epi32(lane, _mm512_set1_epi32(b * W)),
                                               _mm512_set1_epi32(rows - 1));
    row_offset[b] = _mm512_mullo_epi32(row, _mm512_set1_epi32(row_stride));
  }
  for (std::int32_t t = 0; t < f.num_trees; ++t) {
    const std::uint32_t* ff_base = f.feature_flags;
    const float* th_base = f.threshold;
    __m512i idx[G];
    std::int32_t depth;
    if constexpr (perfect) {
      ff_base += std::size_t(t) * internal;
      th_base += std::size_t(t) * internal;
      depth = f.depth;
      for (int b = 0; b < G; ++b) idx[b] = _mm512_setzero_si512();
    } else {
      depth = f.tree_depth[t];
      for (int b = 0; b < G; ++b) idx[b] = _mm512_set1_epi32(f.tree_root[t]);
    }
    for (std::int32_t level = 0; level < depth; ++level) {
      for (int b = 0; b < G; ++b) {
        const __m512i ff = gather_epi32_512(idx[b], ff_base, 4);
        const __m512 th = gather_ps_512(idx[b], th_base, 4);
        const __m512i at = _mm512_add_epi32(row_offset[b], _mm512_and_si512(ff, feature_bits));
        const __m512 v = gather_ps_512(at, x, 4);
        const __mmask16 nan_left = _mm512_movepi32_mask(ff);
        const __mmask16 right = (_mm512_cmp_ps_mask(v, th, _CMP_GE_OQ) & nan_left) |
                                (_mm512_cmp_ps_mask(v, th, _CMP_NLT_UQ) & static_cast<__mmask16>(~nan_left));
        if constexpr (perfect) {
          const __m512i left = _mm512_add_epi32(_mm512_add_epi32(idx[b], idx[b]), one);
          idx[b] = _mm512_mask_add_epi32(left, right, left, one);
        } else {
          const __m512i left = gather_epi32_512(idx[b], f.left, 4);
          idx[b] = _mm512_mask_add_epi32(left, right, left, one);
        }
      }
    }
    Value* a = acc + std::size_t(f.tree_output[t]) * B;
    const Value* leaves = perfect ? f.leaf_value + std::size_t(t) * (internal + 1) : f.leaf_value;
    for (int b = 0; b < G; ++b) {
      const __m512i k = perfect ? _mm512_sub_epi32(idx[b], _mm512_set1_epi32(internal)) : idx[b];
      add_leaves_512(a + b * W, k, leaves);
    }
  }
}

//! Deepest perfect forest run by accumulate_block_avx512_resident (64 leaves in four registers).
inline constexpr int avx512_resident_max_depth = 6;

//! Looks up entry `index` (per lane) of a table of N <= 64 32-bit values held in registers.
template <int N>
__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl"), always_inline)) inline __m512i table_lookup(
    const __m512i* table, __m512i index) {
  if constexpr (N <= 16) {
    return _mm512_maskz_permutexvar_epi32(__mmask16(0xffff), index, table[0]);
  } else if constexpr (N <= 32) {
    return _mm512_permutex2var_epi32(table[0], index, table[1]);
  } else {
    const __m512i low = _mm512_permutex2var_epi32(table[0], index, table[1]);
    const __m512i high = _mm512_permutex2var_epi32(table[2], index, table[3]);
    return _mm512_mask_blend_epi32(_mm512_test_epi32_mask(index, _mm512_set1_epi32(32)), low, high);
  }
}

//! The first min(count, 16) 32-bit values at p, zeros after them.
__attribute__((target("avx512f"), always_inline)) inline __m512i load_first_512(const void* p, int count) {
  return _mm512_maskz_loadu_epi32(static_cast<__mmask16>(count >= 16 ? 0xffff : (1u << count) - 1), p);
}

//! Entry `index` (per 64-bit lane, < 16) of the 16 doubles in table[0] and table[1].
__attribute__((target("avx512f"), always_inline)) inline __m512d lookup_pair_pd(const __m512i* table, __m512i index) {
  return _mm512_permutex2var_pd(_mm512_castsi512_pd(table[0]), index, _mm512_castsi512_pd(table[1]));
}

//! Looks up entry `index` (per 64-bit lane) of a table of N <= 64 doubles held in registers (8 per
//! register).
template <int N>
__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl"), always_inline)) inline __m512d table_lookup_pd(
    const __m512i* table, __m512i index) {
  if constexpr (N <= 8) {
    return _mm512_maskz_permutexvar_pd(__mmask8(0xff), index, _mm512_castsi512_pd(table[0]));
  } else if constexpr (N <= 16) {
    return lookup_pair_pd(table, index);
  } else {
    const __mmask8 bit4 = _mm512_test_epi64_mask(index, _mm512_set1_epi64(16));
    const __m512d low = _mm512_mask_blend_pd(bit4, lookup_pair_pd(table, index), lookup_pair_pd(table + 2, index));
    if constexpr (N <= 32) return low;
    const __m512d high = _mm512_mask_blend_pd(bit4, lookup_pair_pd(table + 4, index), lookup_pair_pd(table + 6, index));
    return _mm512_mask_blend_pd(_mm512_test_epi64_mask(index, _mm512_set1_epi64(32)), low, high);
  }
}

//! Registers holding a tree's leaves in the register-resident kernel: up to 64 leaves (depth 6), 16
//! floats or 8 doubles per register.
template <class Value>
inline constexpr int leaf_registers = 64 / (64 / int(sizeof(Value)));

//! Loads the N leaves at lv into table[0, N * sizeof(Value) / 64) (zeros past N).
template <class Value, int N>
__attribute__((target("avx512f"), always_inline)) inline void load_leaf_table(const Value* lv, __m512i* table) {
  constexpr int per_register = 64 / int(sizeof(Value));
  for (int q = 0; q * per_register < N; ++q) {
    const int count = N - q * per_register;
    if constexpr (std::is_same_v<Value, float>) {
      table[q] = load_first_512(lv + q * per_register, count);
    } else {
      table[q] =
          _mm512_maskz_loadu_epi64(static_cast<__mmask8>(count >= 8 ? 0xff : (1u << count) - 1), lv + q * per_register);
    }
  }
}

//! a[i] += leaf[offset[i]] for the 16 lanes (rows) of a lane group, the N leaves in registers
//! (load_leaf_table); a double forest's 16 sums are two vectors of 8.
template <class Value, int N>
__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl"), always_inline)) inline void add_leaves_from_table(
    Value* a, const __m512i* table, __m512i offset) {
  if constexpr (std::is_same_v<Value, float>) {
    const __m512 value = _mm512_castsi512_ps(table_lookup<N>(table, offset));
    _mm512_storeu_ps(a, _mm512_add_ps(_mm512_loadu_ps(a), value));
  } else {
    const __m512d low = table_lookup_pd<N>(table, widen_epi32_512(half_256<0>(offset)));
    const __m512d high = table_lookup_pd<N>(table, widen_epi32_512(half_256<1>(offset)));
    _mm512_storeu_pd(a, _mm512_add_pd(_mm512_loadu_pd(a), low));
    _mm512_storeu_pd(a + 8, _mm512_add_pd(_mm512_loadu_pd(a + 8), high));
  }
}

//! Levels of a tree whose feature values are read with plain loads (and blends) from the transposed tile
//! rather than gathered: level l has 2^l nodes, so l < 4 costs at most 8 loads and 7 blends.
inline constexpr int avx512_loaded_levels = 4;

//! The feature values of 16 rows (from row0 of the tile) at a loaded level: node n of the level reads
//! column[2^Level - 1 + n]; each lane picks its node from the bits of `offset` with a tree of blends.
template <int Level>
__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl"), always_inline)) inline __m512 load_level(
    const float* const* column, __m512i offset, int row0) {
  constexpr int count = 1 << Level, first = count - 1;
  __m512 c[count];
  for (int n = 0; n < count; ++n) c[n] = _mm512_loadu_ps(column[first + n] + row0);
  for (int bit = 0; bit < Level; ++bit) {
    const __mmask16 odd = _mm512_test_epi32_mask(offset, _mm512_set1_epi32(1 << bit));
    for (int n = 0; n < (count >> (bit + 1)); ++n) c[n] = _mm512_mask_blend_ps(odd, c[2 * n], c[2 * n + 1]);
  }
  return c[0];
}

//! load_level for a level known at run time (< avx512_loaded_levels).
__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl"), always_inline)) inline __m512 load_level_any(
    int level, const float* const* column, __m512i offset, int row0) {
  switch (level) {
    case 0:
      return load_level<0>(column, offset, row0);
    case 1:
      return load_level<1>(column, offset, row0);
    case 2:
      return load_level<2>(column, offset, row0);
    default:
      return load_level<3>(column, offset, row0);
  }
}

//! AVX-512, perfect layout of depth D <= 6, on a transposed tile of 64 rows (feature j of row r at
//! tile[j * 64 + r]). Each tree is loaded once per block into registers (level by level: node words,
//! thresholds, then the leaves: 16 floats or 8 doubles a register) and nodes and leaves are looked up
//! with in-register permutes. The top levels read the feature values with vector loads from the tile
//! (every lane of a level-l node set uses one of 2^l features), the deeper ones gather them. Same per-row
//! sums as the other kernels.
template <int D, class Value>
__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl"))) void accumulate_block_avx512_resident(
    const ForestData<Value>& f, const float* tile, Value* acc) {
  static_assert(D >= 1 && D <= avx512_resident_max_depth);
  constexpr int G = 4, W = 16, B = G * W;
  constexpr int internal = (1 << D) - 1, leaves = 1 << D;
  constexpr int loaded = D < avx512_loaded_levels ? D : avx512_loaded_levels;
  constexpr int loaded_nodes = (1 << loaded) - 1;
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i feature_bits = _mm512_set1_epi32(static_cast<std::int32_t>(feature_mask));
  const __m512i one = _mm512_set1_epi32(1);
  for (std::int32_t t = 0; t < f.num_trees; ++t) {
    const std::uint32_t* ff = f.feature_flags + std::size_t(t) * internal;
    const float* th = f.threshold + std::size_t(t) * internal;
    const Value* lv = f.leaf_value + std::size_t(t) * leaves;
    __m512i node_word[D][2] = {}, node_threshold[D][2] = {}, leaf[leaf_registers<Value>] = {};
#pragma GCC unroll 8
    for (int level = 0; level < D; ++level) {
      const int count = 1 << level, first = count - 1;
      node_word[level][0] = load_first_512(ff + first, count);
      node_threshold[level][0] = load_first_512(th + first, count);
      if (count > 16) {
        node_word[level][1] = load_first_512(ff + first + 16, count - 16);
        node_threshold[level][1] = load_first_512(th + first + 16, count - 16);
      }
    }
    load_leaf_table<Value, leaves>(lv, leaf);
    // The tile column of each node of the loaded levels (sized for the deepest case, so that the
    // loaded-level code of shallow instantiations indexes a valid, if unused, entry).
    const float* column[(1 << avx512_loaded_levels) - 1] = {};
    for (int k = 0; k < loaded_nodes; ++k) column[k] = tile + std::size_t(ff[k] & feature_mask) * B;
    __m512i offset[G];  // position within the current level
    for (int b = 0; b < G; ++b) offset[b] = _mm512_setzero_si512();
#pragma GCC unroll 8
    for (int level = 0; level < D; ++level) {
#pragma GCC unroll 4
      for (int b = 0; b < G; ++b) {
        __m512i word, threshold_bits;
        if (level < 5) {
          word = _mm512_maskz_permutexvar_epi32(__mmask16(0xffff), offset[b], node_word[level][0]);
          threshold_bits = _mm512_maskz_permutexvar_epi32(__mmask16(0xffff), offset[b], node_threshold[level][0]);
        } else {
          word = table_lookup<32>(node_word[level], offset[b]);
          threshold_bits = table_lookup<32>(node_threshold[level], offset[b]);
        }
        const __m512 threshold = _mm512_castsi512_ps(threshold_bits);
        __m512 v;
        if (level < loaded) {
          v = load_level_any(level, column, offset[b], b * W);
        } else {
          const __m512i row = _mm512_add_epi32(lane, _mm512_set1_epi32(b * W));
          const __m512i at = _mm512_add_epi32(
              _mm512_maskz_slli_epi32(__mmask16(0xffff), _mm512_and_si512(word, feature_bits), 6), row);
          v = gather_ps_512(at, tile, 4);
        }
        const __mmask16 nan_left = _mm512_movepi32_mask(word);
        const __mmask16 right = (_mm512_cmp_ps_mask(v, threshold, _CMP_GE_OQ) & nan_left) |
                                (_mm512_cmp_ps_mask(v, threshold, _CMP_NLT_UQ) & static_cast<__mmask16>(~nan_left));
        const __m512i twice = _mm512_add_epi32(offset[b], offset[b]);
        offset[b] = _mm512_mask_add_epi32(twice, right, twice, one);
      }
    }
    Value* a = acc + std::size_t(f.tree_output[t]) * B;
#pragma GCC unroll 4
    for (int b = 0; b < G; ++b) add_leaves_from_table<Value, leaves>(a + b * W, leaf, offset[b]);
  }
}

//! AVX-512, sparse layout, on a transposed tile of 64 rows (as accumulate_block_avx512_resident): the
//! top sparse_top_depth levels of each tree come from its perfect top, held in registers with the
//! feature values loaded from the tile; below them the descent gathers node data and feature values
//! from the sparse arrays and the tile. Same per-row sums as the other kernels.
template <class Value>
__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl"))) void accumulate_block_avx512_sparse_tiled(
    const ForestData<Value>& f, const float* tile, Value* acc) {
  static_assert(sparse_top_depth == avx512_loaded_levels, "the top levels are the loaded levels");
  constexpr int G = 4, W = 16, B = G * W;
  constexpr int top_internal = (1 << sparse_top_depth) - 1;
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i feature_bits = _mm512_set1_epi32(static_cast<std::int32_t>(feature_mask));
  const __m512i one = _mm512_set1_epi32(1);
  const __mmask16 all = 0xffff;
  for (std::int32_t t = 0; t < f.num_trees; ++t) {
    const std::uint32_t* ff = f.top_feature_flags + std::size_t(t) * top_internal;
    const __m512i words = load_first_512(ff, top_internal);
    const __m512i thresholds = load_first_512(f.top_threshold + std::size_t(t) * top_internal, top_internal);
    const __m512i entries = load_first_512(f.top_entry + std::size_t(t) * (top_internal + 1), top_internal + 1);
    const float* column[top_internal];
    for (int k = 0; k < top_internal; ++k) column[k] = tile + std::size_t(ff[k] & feature_mask) * B;
    __m512i node[G];
#pragma GCC unroll 4
    for (int b = 0; b < G; ++b) {
      __m512i offset = _mm512_setzero_si512();
#pragma GCC unroll 4
      for (int level = 0; level < sparse_top_depth; ++level) {
        const __m512i slot = _mm512_add_epi32(offset, _mm512_set1_epi32((1 << level) - 1));
        const __m512i word = _mm512_maskz_permutexvar_epi32(all, slot, words);
        const __m512 threshold = _mm512_castsi512_ps(_mm512_maskz_permutexvar_epi32(all, slot, thresholds));
        const __m512 v = load_level_any(level, column, offset, b * W);
        const __mmask16 nan_left = _mm512_movepi32_mask(word);
        const __mmask16 right = (_mm512_cmp_ps_mask(v, threshold, _CMP_GE_OQ) & nan_left) |
                                (_mm512_cmp_ps_mask(v, threshold, _CMP_NLT_UQ) & static_cast<__mmask16>(~nan_left));
        const __m512i twice = _mm512_add_epi32(offset, offset);
        offset = _mm512_mask_add_epi32(twice, right, twice, one);
      }
      node[b] = _mm512_maskz_permutexvar_epi32(all, offset, entries);
    }
    const std::int32_t below = f.tree_depth[t] - sparse_top_depth;  // leaves loop onto themselves
    for (std::int32_t level = 0; level < below; ++level) {
#pragma GCC unroll 4
      for (int b = 0; b < G; ++b) {
        const __m512i word = gather_epi32_512(node[b], f.feature_flags, 4);
        const __m512 threshold = gather_ps_512(node[b], f.threshold, 4);
        const __m512i left = gather_epi32_512(node[b], f.left, 4);
        const __m512i row = _mm512_add_epi32(lane, _mm512_set1_epi32(b * W));
        const __m512i at = _mm512_add_epi32(_mm512_maskz_slli_epi32(all, _mm512_and_si512(word, feature_bits), 6), row);
        const __m512 v = gather_ps_512(at, tile, 4);
        const __mmask16 nan_left = _mm512_movepi32_mask(word);
        const __mmask16 right = (_mm512_cmp_ps_mask(v, threshold, _CMP_GE_OQ) & nan_left) |
                                (_mm512_cmp_ps_mask(v, threshold, _CMP_NLT_UQ) & static_cast<__mmask16>(~nan_left));
        node[b] = _mm512_mask_add_epi32(left, right, left, one);
      }
    }
    Value* a = acc + std::size_t(f.tree_output[t]) * B;
#pragma GCC unroll 4
    for (int b = 0; b < G; ++b) add_leaves_512(a + b * W, node[b], f.leaf_value);
  }
}

//! accumulate_block_avx512_resident for the forest's depth (1 to avx512_resident_max_depth).
template <class Value>
__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl"))) void accumulate_block_avx512_resident_any(
    const ForestData<Value>& f, const float* tile, Value* acc) {
  switch (f.depth) {
    case 1:
      return accumulate_block_avx512_resident<1>(f, tile, acc);
    case 2:
      return accumulate_block_avx512_resident<2>(f, tile, acc);
    case 3:
      return accumulate_block_avx512_resident<3>(f, tile, acc);
    case 4:
      return accumulate_block_avx512_resident<4>(f, tile, acc);
    case 5:
      return accumulate_block_avx512_resident<5>(f, tile, acc);
    default:
      return accumulate_block_avx512_resident<6>(f, tile, acc);
  }
}

#endif  // PORTML_X86_SIMD

}  // namespace portml::bdt::detail
