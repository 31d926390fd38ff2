// SPDX-License-Identifier: Apache-2.0
//! \file
//! QuickScorer (Lucchese et al., SIGIR 2015) and its vectorised form V-QuickScorer (SIGIR 2016) for
//! shallow forests: trees of depth <= 6 (<= 64 leaves), perfect layout, no zero-as-missing nodes.
//!
//! Tables, built once from a Forest: for every feature, its split nodes sorted by threshold, each with
//! its tree and the bits of the leaves of its left subtree ("clear" bits; leaves numbered left to
//! right). Evaluating a row: every tree starts with all its leaf bits set; for each feature, the nodes
//! whose test sends the row right (Forest's rule: right iff `!(x < t)`, i.e. a prefix of the sorted
//! list for a number; for NaN the nodes whose default direction is right) clear their left subtree's
//! bits from their tree's bit vector. The exit leaf of a tree is then its lowest set bit. The leaves
//! are added in tree order starting from the base margin, in the forest's Value: the same sum as the
//! descent kernels, so the same bits.
//!
//! Paths: scalar (one row at a time; float and double forests), and for float forests AVX-512 (16 rows
//! with 32-bit leaf vectors for depth <= 5, 8 rows with 64-bit vectors for depth 6) and AVX2 (8 or 4
//! rows), rows in the lanes: a node is applied to the lanes whose row goes right, and a feature's scan
//! stops at the first node no lane passes. Measured against the descent kernels in docs/bdt.md
//! (QuickScorer section): the AVX2 path of predict_margins runs it for the forests of dispatched()
//! (float, perfect, depth <= 5), where it is 1.6-2.5x the AVX2 descent; everywhere else the descent
//! kernels are faster, and the other paths here are the benchmark's `portml_qs`.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <numeric>
#include <string>
#include <type_traits>
#include <vector>

#include <portml/bdt/forest.hpp>
#include <portml/core/error.hpp>
#include <portml/core/isa.hpp>
#include <portml/core/tensor_view.hpp>

#if PORTML_X86_SIMD
#include <immintrin.h>
#endif

namespace portml::bdt::detail {

//! Deepest forest QuickScorer takes: 2^6 = 64 leaves, one 64-bit word per tree.
inline constexpr int quickscorer_max_depth = 6;
//! Deepest forest the AVX2 path of predict_margins evaluates with QuickScorer (32-bit leaf vectors, 8
//! rows; at depth 6 the 64-bit, 4-row form only ties the AVX2 descent).
inline constexpr int quickscorer_dispatch_max_depth = 5;

//! Read-only pointers to a QuickScorer's tables: what the kernels see.
template <class Value>
struct QuickScorerData {
  std::int32_t num_features = 0, num_outputs = 1, num_trees = 0, depth = 0;
  const std::int32_t* offset = nullptr;      //!< per feature + 1: its nodes are [offset[j], offset[j + 1])
  const float* threshold = nullptr;          //!< per node, ascending within a feature
  const std::int32_t* tree = nullptr;        //!< per node
  const std::uint64_t* clear = nullptr;      //!< per node: the leaf bits of its left subtree
  const std::int32_t* nan_offset = nullptr;  //!< per feature + 1: the nodes where a NaN goes right
  const std::int32_t* nan_tree = nullptr;
  const std::uint64_t* nan_clear = nullptr;
  const Value* leaf_value = nullptr;          //!< 2^depth per tree, left to right
  const std::int32_t* tree_output = nullptr;  //!< per tree
  const Value* base_margin = nullptr;         //!< per output
};

//! N elements on the stack, or one heap array for a larger request (evaluation allocates nothing for
//! forests within the stack bounds).
template <class T, std::size_t N>
class QuickScorerBuffer {
 public:
  explicit QuickScorerBuffer(std::size_t n) {
    if (n > N) {
      heap_ = std::make_unique<T[]>(n);
      data_ = heap_.get();
    }
  }
  QuickScorerBuffer(const QuickScorerBuffer&) = delete;
  QuickScorerBuffer& operator=(const QuickScorerBuffer&) = delete;
  T* data() { return data_; }

 private:
  alignas(64) T stack_[N];
  std::unique_ptr<T[]> heap_;
  T* data_ = stack_;
};

//! Leaf-vector words kept on the stack (64 KiB: 1024 trees x 16 rows x 32 bits, or 8 rows x 64 bits).
inline constexpr std::size_t quickscorer_stack_words = 8192;
//! Features and outputs of a row block kept on the stack.
inline constexpr std::size_t quickscorer_stack_features = 128;
inline constexpr std::size_t quickscorer_stack_outputs = 16;
//! Rows of the widest block (AVX-512, 32-bit words).
inline constexpr int quickscorer_max_lanes = 16;

#if PORTML_X86_SIMD

//! AVX-512, depth <= 5: 16 rows, one 32-bit leaf vector per (tree, row). tile: feature j of row r at
//! tile[j * 16 + r]; v: num_trees * 16 words; acc: num_outputs * 16 sums, started from the base margin.
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl"))) inline void quickscorer_block_avx512_w32(
    QuickScorerData<float> d, const float* tile, std::uint32_t* v, float* acc) {
  const __m512i ones = _mm512_set1_epi32(-1);
  for (std::int32_t t = 0; t < d.num_trees; ++t) _mm512_store_si512(v + std::size_t(t) * 16, ones);
  for (std::int32_t j = 0; j < d.num_features; ++j) {
    const __m512 x = _mm512_load_ps(tile + std::size_t(j) * 16);
    const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    for (std::int32_t i = d.offset[j], end = d.offset[j + 1]; i < end; ++i) {
      const __mmask16 right = _mm512_cmp_ps_mask(x, _mm512_set1_ps(d.threshold[i]), _CMP_GE_OQ);
      if (right == 0) break;  // thresholds ascend: no later node of this feature sends a lane right
      std::uint32_t* p = v + std::size_t(d.tree[i]) * 16;
      const __m512i w = _mm512_load_si512(p);
      _mm512_store_si512(
          p, _mm512_maskz_andnot_epi32(__mmask16(0xffff),
                                       _mm512_maskz_mov_epi32(right, _mm512_set1_epi32(std::int32_t(d.clear[i]))), w));
    }
    if (nan == 0) continue;
    for (std::int32_t i = d.nan_offset[j], end = d.nan_offset[j + 1]; i < end; ++i) {
      std::uint32_t* p = v + std::size_t(d.nan_tree[i]) * 16;
      const __m512i w = _mm512_load_si512(p);
      _mm512_store_si512(
          p, _mm512_maskz_andnot_epi32(
                 __mmask16(0xffff), _mm512_maskz_mov_epi32(nan, _mm512_set1_epi32(std::int32_t(d.nan_clear[i]))), w));
    }
  }
  const std::int32_t leaves = std::int32_t(1) << d.depth;
  const __m512i bias = _mm512_set1_epi32(127);
  const __mmask16 all = 0xffff;  // masked forms: GCC 12 warns in the unmasked ones (undefined pass-through)
  __m512 single = _mm512_load_ps(acc);
  for (std::int32_t t = 0; t < d.num_trees; ++t) {
    const __m512i w = _mm512_load_si512(v + std::size_t(t) * 16);
    // lowest set bit 2^k, exact as a float: its exponent field is k + 127
    const __m512i low = _mm512_and_si512(w, _mm512_sub_epi32(_mm512_setzero_si512(), w));
    const __m512i k = _mm512_sub_epi32(
        _mm512_maskz_srli_epi32(all, _mm512_castps_si512(_mm512_maskz_cvtepu32_ps(all, low)), 23), bias);
    const float* leaf = d.leaf_value + std::size_t(t) * leaves;
    __m512 value;
    if (leaves <= 16) {
      value = _mm512_maskz_permutexvar_ps(all, k, _mm512_maskz_loadu_ps(__mmask16((1u << leaves) - 1u), leaf));
    } else {
      value = _mm512_permutex2var_ps(_mm512_loadu_ps(leaf), k, _mm512_loadu_ps(leaf + 16));
    }
    if (d.num_outputs == 1) {
      single = _mm512_add_ps(single, value);
    } else {
      float* a = acc + std::size_t(d.tree_output[t]) * 16;
      _mm512_store_ps(a, _mm512_add_ps(_mm512_load_ps(a), value));
    }
  }
  if (d.num_outputs == 1) _mm512_store_ps(acc, single);
}

//! AVX-512, depth 6: 8 rows, one 64-bit leaf vector per (tree, row); tile[j * 8 + r], acc[g * 8 + r].
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl"))) inline void quickscorer_block_avx512_w64(
    QuickScorerData<float> d, const float* tile, std::uint64_t* v, float* acc) {
  const __m512i ones = _mm512_set1_epi64(-1);
  for (std::int32_t t = 0; t < d.num_trees; ++t) _mm512_store_si512(v + std::size_t(t) * 8, ones);
  for (std::int32_t j = 0; j < d.num_features; ++j) {
    const __m256 x = _mm256_load_ps(tile + std::size_t(j) * 8);
    const __mmask8 nan = _mm256_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    for (std::int32_t i = d.offset[j], end = d.offset[j + 1]; i < end; ++i) {
      const __mmask8 right = _mm256_cmp_ps_mask(x, _mm256_set1_ps(d.threshold[i]), _CMP_GE_OQ);
      if (right == 0) break;
      std::uint64_t* p = v + std::size_t(d.tree[i]) * 8;
      const __m512i w = _mm512_load_si512(p);
      _mm512_store_si512(
          p, _mm512_maskz_andnot_epi32(__mmask16(0xffff),
                                       _mm512_maskz_mov_epi64(right, _mm512_set1_epi64(std::int64_t(d.clear[i]))), w));
    }
    if (nan == 0) continue;
    for (std::int32_t i = d.nan_offset[j], end = d.nan_offset[j + 1]; i < end; ++i) {
      std::uint64_t* p = v + std::size_t(d.nan_tree[i]) * 8;
      const __m512i w = _mm512_load_si512(p);
      _mm512_store_si512(
          p, _mm512_maskz_andnot_epi32(
                 __mmask16(0xffff), _mm512_maskz_mov_epi64(nan, _mm512_set1_epi64(std::int64_t(d.nan_clear[i]))), w));
    }
  }
  const std::int32_t leaves = std::int32_t(1) << d.depth;
  const __m512i bias = _mm512_set1_epi64(1023);
  const __mmask8 all = 0xff;
  __m256 single = _mm256_load_ps(acc);
  for (std::int32_t t = 0; t < d.num_trees; ++t) {
    const __m512i w = _mm512_load_si512(v + std::size_t(t) * 8);
    // lowest set bit 2^k, exact as a double: its exponent field is k + 1023
    const __m512i low = _mm512_and_si512(w, _mm512_sub_epi64(_mm512_setzero_si512(), w));
    const __m512i k = _mm512_sub_epi64(
        _mm512_maskz_srli_epi64(all, _mm512_castpd_si512(_mm512_maskz_cvtepu64_pd(all, low)), 52), bias);
    const __m256 value =
        _mm512_mask_i64gather_ps(_mm256_setzero_ps(), __mmask8(0xff), k, d.leaf_value + std::size_t(t) * leaves, 4);
    if (d.num_outputs == 1) {
      single = _mm256_add_ps(single, value);
    } else {
      float* a = acc + std::size_t(d.tree_output[t]) * 8;
      _mm256_store_ps(a, _mm256_add_ps(_mm256_load_ps(a), value));
    }
  }
  if (d.num_outputs == 1) _mm256_store_ps(acc, single);
}

//! AVX2, depth <= 5: 8 rows, 32-bit leaf vectors; tile[j * 8 + r], acc[g * 8 + r].
__attribute__((target("avx2,fma"))) inline void quickscorer_block_avx2_w32(QuickScorerData<float> d, const float* tile,
                                                                           std::uint32_t* v, float* acc) {
  const __m256i ones = _mm256_set1_epi32(-1);
  for (std::int32_t t = 0; t < d.num_trees; ++t)
    _mm256_store_si256(reinterpret_cast<__m256i*>(v + std::size_t(t) * 8), ones);
  for (std::int32_t j = 0; j < d.num_features; ++j) {
    const __m256 x = _mm256_load_ps(tile + std::size_t(j) * 8);
    const __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
    for (std::int32_t i = d.offset[j], end = d.offset[j + 1]; i < end; ++i) {
      const __m256 right = _mm256_cmp_ps(x, _mm256_set1_ps(d.threshold[i]), _CMP_GE_OQ);
      if (_mm256_movemask_ps(right) == 0) break;
      auto* p = reinterpret_cast<__m256i*>(v + std::size_t(d.tree[i]) * 8);
      const __m256i off = _mm256_and_si256(_mm256_castps_si256(right), _mm256_set1_epi32(std::int32_t(d.clear[i])));
      _mm256_store_si256(p, _mm256_andnot_si256(off, _mm256_load_si256(p)));
    }
    if (_mm256_movemask_ps(nan) == 0) continue;
    for (std::int32_t i = d.nan_offset[j], end = d.nan_offset[j + 1]; i < end; ++i) {
      auto* p = reinterpret_cast<__m256i*>(v + std::size_t(d.nan_tree[i]) * 8);
      const __m256i off = _mm256_and_si256(_mm256_castps_si256(nan), _mm256_set1_epi32(std::int32_t(d.nan_clear[i])));
      _mm256_store_si256(p, _mm256_andnot_si256(off, _mm256_load_si256(p)));
    }
  }
  const std::int32_t leaves = std::int32_t(1) << d.depth;
  const __m256i exponent = _mm256_set1_epi32(0xff);
  const __m256i bias = _mm256_set1_epi32(127);
  __m256 single = _mm256_load_ps(acc);
  for (std::int32_t t = 0; t < d.num_trees; ++t) {
    const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(v + std::size_t(t) * 8));
    // lowest set bit 2^k; as a signed int converted to float (2^31 gives -2^31) the exponent field is k + 127
    const __m256i low = _mm256_and_si256(w, _mm256_sub_epi32(_mm256_setzero_si256(), w));
    const __m256i k = _mm256_sub_epi32(
        _mm256_and_si256(_mm256_srli_epi32(_mm256_castps_si256(_mm256_cvtepi32_ps(low)), 23), exponent), bias);
    const __m256 value = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), d.leaf_value + std::size_t(t) * leaves, k,
                                                  _mm256_castsi256_ps(ones), 4);
    if (d.num_outputs == 1) {
      single = _mm256_add_ps(single, value);
    } else {
      float* a = acc + std::size_t(d.tree_output[t]) * 8;
      _mm256_store_ps(a, _mm256_add_ps(_mm256_load_ps(a), value));
    }
  }
  if (d.num_outputs == 1) _mm256_store_ps(acc, single);
}

//! AVX2, depth 6: 4 rows, 64-bit leaf vectors; tile[j * 4 + r], acc[g * 4 + r].
__attribute__((target("avx2,fma"))) inline void quickscorer_block_avx2_w64(QuickScorerData<float> d, const float* tile,
                                                                           std::uint64_t* v, float* acc) {
  const __m256i ones = _mm256_set1_epi32(-1);
  for (std::int32_t t = 0; t < d.num_trees; ++t)
    _mm256_store_si256(reinterpret_cast<__m256i*>(v + std::size_t(t) * 4), ones);
  for (std::int32_t j = 0; j < d.num_features; ++j) {
    const __m128 x = _mm_load_ps(tile + std::size_t(j) * 4);
    const __m256i nan = _mm256_cvtepi32_epi64(_mm_castps_si128(_mm_cmp_ps(x, x, _CMP_UNORD_Q)));
    for (std::int32_t i = d.offset[j], end = d.offset[j + 1]; i < end; ++i) {
      const __m128 right = _mm_cmp_ps(x, _mm_set1_ps(d.threshold[i]), _CMP_GE_OQ);
      if (_mm_movemask_ps(right) == 0) break;
      auto* p = reinterpret_cast<__m256i*>(v + std::size_t(d.tree[i]) * 4);
      const __m256i off = _mm256_and_si256(_mm256_cvtepi32_epi64(_mm_castps_si128(right)),
                                           _mm256_set1_epi64x(std::int64_t(d.clear[i])));
      _mm256_store_si256(p, _mm256_andnot_si256(off, _mm256_load_si256(p)));
    }
    if (_mm256_movemask_pd(_mm256_castsi256_pd(nan)) == 0) continue;
    for (std::int32_t i = d.nan_offset[j], end = d.nan_offset[j + 1]; i < end; ++i) {
      auto* p = reinterpret_cast<__m256i*>(v + std::size_t(d.nan_tree[i]) * 4);
      const __m256i off = _mm256_and_si256(nan, _mm256_set1_epi64x(std::int64_t(d.nan_clear[i])));
      _mm256_store_si256(p, _mm256_andnot_si256(off, _mm256_load_si256(p)));
    }
  }
  const std::int32_t leaves = std::int32_t(1) << d.depth;
  const __m256i zero = _mm256_setzero_si256();
  const __m256i exponent = _mm256_set1_epi64x(0xff);
  const __m256i bias = _mm256_set1_epi64x(127);
  const __m256i thirty_two = _mm256_set1_epi64x(32);
  __m128 single = _mm_load_ps(acc);
  for (std::int32_t t = 0; t < d.num_trees; ++t) {
    const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(v + std::size_t(t) * 4));
    // lowest set bit 2^k: in the low 32 bits (k < 32) or the high ones (k - 32); either half's exponent
    // as a float (see the 32-bit kernel), plus 32 when the bit is in the high half
    const __m256i low = _mm256_and_si256(w, _mm256_sub_epi64(zero, w));
    const __m256i high = _mm256_srli_epi64(low, 32);
    const __m256i bit = _mm256_or_si256(low, high);  // the set half, in the low 32 bits of each lane
    const __m256i e = _mm256_and_si256(_mm256_srli_epi32(_mm256_castps_si256(_mm256_cvtepi32_ps(bit)), 23), exponent);
    const __m256i k =
        _mm256_add_epi64(_mm256_sub_epi64(e, bias), _mm256_andnot_si256(_mm256_cmpeq_epi64(high, zero), thirty_two));
    const __m128 value = _mm256_mask_i64gather_ps(_mm_setzero_ps(), d.leaf_value + std::size_t(t) * leaves, k,
                                                  _mm_castsi128_ps(_mm_set1_epi32(-1)), 4);
    if (d.num_outputs == 1) {
      single = _mm_add_ps(single, value);
    } else {
      float* a = acc + std::size_t(d.tree_output[t]) * 4;
      _mm_store_ps(a, _mm_add_ps(_mm_load_ps(a), value));
    }
  }
  if (d.num_outputs == 1) _mm_store_ps(acc, single);
}

#endif  // PORTML_X86_SIMD

//! QuickScorer tables of a Forest, built once; evaluation is `const`.
template <class Value>
class QuickScorer {
 public:
  //! Empty when `forest` can be evaluated by QuickScorer, else why not (depth, layout, zero-as-missing).
  static std::string unsupported_reason(const Forest<Value>& forest) {
    if (forest.max_depth() > quickscorer_max_depth) {
      return "QuickScorer: depth " + std::to_string(forest.max_depth()) + " above " +
             std::to_string(quickscorer_max_depth) + " (more than 64 leaves per tree)";
    }
    if (forest.layout() != Layout::perfect) return "QuickScorer: the forest is not in the perfect layout";
    if (forest.has_zero_missing()) return "QuickScorer: zero-as-missing splits are not supported";
    return {};
  }

  //! The dispatch rule: whether Forest builds these tables and predict_margins' AVX2 path runs them
  //! (float forests in the perfect layout of depth <= quickscorer_dispatch_max_depth without
  //! zero-as-missing nodes, on a CPU with AVX2). Every other forest and path runs the descent kernels.
  static bool dispatched(const Forest<Value>& forest) {
    return std::is_same_v<Value, float> && unsupported_reason(forest).empty() &&
           forest.max_depth() <= quickscorer_dispatch_max_depth && isa_available(Isa::avx2);
  }

  //! Throws NotSupported with unsupported_reason() when the forest does not fit.
  explicit QuickScorer(const Forest<Value>& forest);

  //! Bytes held by the tables (node lists, leaves, tree outputs, base margins).
  std::size_t memory_bytes() const {
    return (offset_.size() + tree_.size() + nan_offset_.size() + nan_tree_.size() + tree_output_.size()) * 4 +
           threshold_.size() * 4 + (clear_.size() + nan_clear_.size()) * 8 +
           (leaf_value_.size() + base_margin_.size()) * sizeof(Value);
  }

  std::int32_t depth() const { return depth_; }
  //! Bits of a leaf vector on the SIMD paths (32 for depth <= 5, else 64).
  int word_bits() const { return depth_ <= 5 ? 32 : 64; }
  //! Rows per block of the SIMD path `isa` (AVX-512 16 or 8, AVX2 8 or 4; 1 for scalar).
  int block_rows(Isa isa) const {
    const int lanes = isa == Isa::avx512 ? 16 : isa == Isa::avx2 ? 8 : 1;
    return word_bits() == 64 && lanes > 1 ? lanes / 2 : lanes;
  }

  QuickScorerData<Value> data() const {
    QuickScorerData<Value> d;
    d.num_features = num_features_;
    d.num_outputs = static_cast<std::int32_t>(base_margin_.size());
    d.num_trees = static_cast<std::int32_t>(tree_output_.size());
    d.depth = depth_;
    d.offset = offset_.data();
    d.threshold = threshold_.data();
    d.tree = tree_.data();
    d.clear = clear_.data();
    d.nan_offset = nan_offset_.data();
    d.nan_tree = nan_tree_.data();
    d.nan_clear = nan_clear_.data();
    d.leaf_value = leaf_value_.data();
    d.tree_output = tree_output_.data();
    d.base_margin = base_margin_.data();
    return d;
  }

  //! Margins of one row (the trees' inputs: a forest's input transformation is not applied here):
  //! feature j at x[j * stride], num_outputs margins to out. Scalar, allocation-free within the bounds.
  void margins_row(const float* x, index_t stride, Value* out) const {
    if (depth_ <= 5) {
      QuickScorerBuffer<std::uint32_t, quickscorer_stack_words / 8> v(tree_output_.size());
      row_scalar(x, stride, out, v.data());
    } else {
      QuickScorerBuffer<std::uint64_t, quickscorer_stack_words / 8> v(tree_output_.size());
      row_scalar(x, stride, out, v.data());
    }
  }

  //! Margins of a batch x [n, num_features] (any strides) into out [n, num_outputs]. `isa`: automatic
  //! (the widest SIMD path for float forests, scalar for double), or one forced (NotSupported when the
  //! CPU lacks it or the forest is double).
  void margins(TensorView<const float, 2> x, TensorView<Value, 2> out, Isa isa = Isa::automatic) const;

 private:
  template <class Word>
  void row_scalar(const float* x, index_t stride, Value* out, Word* v) const;
  template <class Word, class Kernel>
  void blocks(const TensorView<const float, 2>& x, const TensorView<Value, 2>& out, int lanes, Kernel kernel) const;

  std::int32_t num_features_ = 0, depth_ = 0;
  std::vector<std::int32_t> offset_, tree_, nan_offset_, nan_tree_, tree_output_;
  std::vector<float> threshold_;
  std::vector<std::uint64_t> clear_, nan_clear_;
  std::vector<Value> leaf_value_, base_margin_;
};

// ---- implementation ----------------------------------------------------------------------------------

template <class Value>
QuickScorer<Value>::QuickScorer(const Forest<Value>& forest) {
  const std::string reason = unsupported_reason(forest);
  if (!reason.empty()) throw NotSupported("portml::bdt::" + reason);
  const ForestData<Value> f = forest.data();
  num_features_ = f.num_features;
  depth_ = f.depth;
  const std::int32_t internal = (std::int32_t(1) << depth_) - 1;
  struct Entry {
    float threshold;
    std::int32_t tree;
    std::uint64_t clear;
  };
  std::vector<std::vector<Entry>> by_feature(static_cast<std::size_t>(num_features_));
  std::vector<std::vector<Entry>> nan_right(static_cast<std::size_t>(num_features_));
  for (std::int32_t t = 0; t < f.num_trees; ++t) {
    for (std::int32_t k = 0; k < internal; ++k) {  // level order
      const std::size_t node = std::size_t(t) * internal + k;
      const float th = f.threshold[node];
      if (std::isnan(th)) continue;  // padding: every row goes left, nothing to clear
      std::int32_t level = 0;
      while ((std::int32_t(2) << level) - 1 <= k) ++level;
      const std::int32_t position = k - ((std::int32_t(1) << level) - 1);
      const std::int32_t span = std::int32_t(1) << (depth_ - level);  // leaves under the node
      const std::uint64_t left = ((std::uint64_t(1) << (span / 2)) - 1) << (position * span);
      const std::uint32_t ff = f.feature_flags[node];
      const std::size_t j = ff & feature_mask;
      by_feature[j].push_back({th, t, left});
      if ((ff & nan_left_bit) == 0) nan_right[j].push_back({th, t, left});
    }
  }
  offset_.push_back(0);
  nan_offset_.push_back(0);
  for (std::size_t j = 0; j < by_feature.size(); ++j) {
    // Ascending thresholds; ties in tree and subtree order (a total order: std::sort needs no buffer).
    std::sort(by_feature[j].begin(), by_feature[j].end(), [](const Entry& a, const Entry& b) {
      if (a.threshold != b.threshold) return a.threshold < b.threshold;
      return a.tree != b.tree ? a.tree < b.tree : a.clear < b.clear;
    });
    for (const Entry& e : by_feature[j]) {
      threshold_.push_back(e.threshold);
      tree_.push_back(e.tree);
      clear_.push_back(e.clear);
    }
    for (const Entry& e : nan_right[j]) {
      nan_tree_.push_back(e.tree);
      nan_clear_.push_back(e.clear);
    }
    offset_.push_back(static_cast<std::int32_t>(threshold_.size()));
    nan_offset_.push_back(static_cast<std::int32_t>(nan_tree_.size()));
  }
  leaf_value_.assign(f.leaf_value, f.leaf_value + f.num_leaf_values);
  tree_output_.assign(f.tree_output, f.tree_output + f.num_trees);
  base_margin_.assign(f.base_margin, f.base_margin + f.num_outputs);
}

template <class Value>
template <class Word>
void QuickScorer<Value>::row_scalar(const float* x, index_t stride, Value* out, Word* v) const {
  const QuickScorerData<Value> d = data();  // locals: the stores to v cannot change them
  const auto num_trees = static_cast<std::size_t>(d.num_trees);
  std::fill_n(v, num_trees, ~Word(0));
  for (std::int32_t j = 0; j < d.num_features; ++j) {
    const float xj = x[index_t(j) * stride];
    if (std::isnan(xj)) {
      for (std::int32_t i = d.nan_offset[j], end = d.nan_offset[j + 1]; i < end; ++i) {
        v[d.nan_tree[i]] &= ~Word(d.nan_clear[i]);
      }
      continue;
    }
    for (std::int32_t i = d.offset[j], end = d.offset[j + 1]; i < end; ++i) {
      if (xj < d.threshold[i]) break;  // thresholds ascend: the row goes left at every later node
      v[d.tree[i]] &= ~Word(d.clear[i]);
    }
  }
  const std::size_t leaves = std::size_t(1) << d.depth;
  const auto exit_leaf = [&](std::size_t t) {
    if constexpr (sizeof(Word) == 4) {
      return std::size_t(__builtin_ctz(v[t]));
    } else {
      return std::size_t(__builtin_ctzll(v[t]));
    }
  };
  if (d.num_outputs == 1) {
    Value sum = d.base_margin[0];
    for (std::size_t t = 0; t < num_trees; ++t) sum += d.leaf_value[t * leaves + exit_leaf(t)];
    out[0] = sum;
    return;
  }
  std::copy_n(d.base_margin, d.num_outputs, out);
  for (std::size_t t = 0; t < num_trees; ++t) out[d.tree_output[t]] += d.leaf_value[t * leaves + exit_leaf(t)];
}

template <class Value>
template <class Word, class Kernel>
void QuickScorer<Value>::blocks(const TensorView<const float, 2>& x, const TensorView<Value, 2>& out, int lanes,
                                Kernel kernel) const {
  const index_t n = x.extent(0), nf = num_features_;
  const auto k = static_cast<index_t>(base_margin_.size());
  QuickScorerBuffer<float, quickscorer_stack_features * quickscorer_max_lanes> tile(std::size_t(nf) * lanes);
  QuickScorerBuffer<Value, quickscorer_stack_outputs * quickscorer_max_lanes> acc(std::size_t(k) * lanes);
  QuickScorerBuffer<Word, quickscorer_stack_words * 8 / sizeof(Word)> v(tree_output_.size() * lanes);
  for (index_t r0 = 0; r0 < n; r0 += lanes) {
    const int rows = static_cast<int>(std::min<index_t>(lanes, n - r0));
    // Transposed: feature j of row r at tile[j * lanes + r]; the lanes past the batch's last row are zeros.
    for (int r = 0; r < rows; ++r) {
      const float* row = &x(r0 + r, 0);
      const index_t stride = x.stride(1);
      for (index_t j = 0; j < nf; ++j) tile.data()[j * lanes + r] = row[j * stride];
    }
    if (rows < lanes)
      for (index_t j = 0; j < nf; ++j) std::fill(tile.data() + j * lanes + rows, tile.data() + (j + 1) * lanes, 0.0f);
    for (index_t g = 0; g < k; ++g) std::fill_n(acc.data() + g * lanes, lanes, base_margin_[g]);
    kernel(tile.data(), v.data(), acc.data());
    for (int r = 0; r < rows; ++r)
      for (index_t g = 0; g < k; ++g) out(r0 + r, g) = acc.data()[g * lanes + r];
  }
}

template <class Value>
void QuickScorer<Value>::margins(TensorView<const float, 2> x, TensorView<Value, 2> out, Isa isa) const {
  const auto k = static_cast<index_t>(base_margin_.size());
  if (x.extent(1) != num_features_ || out.extent(0) != x.extent(0) || out.extent(1) != k) {
    throw ShapeError("portml::bdt::QuickScorer::margins: input " + portml::detail::format_shape(x.extents()) +
                     ", output " + portml::detail::format_shape(out.extents()) + " for " +
                     std::to_string(num_features_) + " features and " + std::to_string(k) + " outputs");
  }
  if (isa != Isa::automatic && !isa_available(isa)) {
    throw NotSupported(std::string("portml::bdt::QuickScorer: ISA ") + to_string(isa) +
                       " is not supported by this CPU");
  }
  if (isa != Isa::automatic && isa != Isa::scalar && !std::is_same_v<Value, float>) {
    throw NotSupported("portml::bdt::QuickScorer: the SIMD paths run float forests only");
  }
  const Isa resolved = isa != Isa::automatic ? isa : std::is_same_v<Value, float> ? widest_isa() : Isa::scalar;
#if PORTML_X86_SIMD
  if constexpr (std::is_same_v<Value, float>) {
    const QuickScorerData<float> d = data();
    if (resolved == Isa::avx512 && word_bits() == 32) {
      return blocks<std::uint32_t>(x, out, 16, [&](const float* tile, std::uint32_t* v, float* acc) {
        quickscorer_block_avx512_w32(d, tile, v, acc);
      });
    }
    if (resolved == Isa::avx512) {
      return blocks<std::uint64_t>(x, out, 8, [&](const float* tile, std::uint64_t* v, float* acc) {
        quickscorer_block_avx512_w64(d, tile, v, acc);
      });
    }
    if (resolved == Isa::avx2 && word_bits() == 32) {
      return blocks<std::uint32_t>(x, out, 8, [&](const float* tile, std::uint32_t* v, float* acc) {
        quickscorer_block_avx2_w32(d, tile, v, acc);
      });
    }
    if (resolved == Isa::avx2) {
      return blocks<std::uint64_t>(x, out, 4, [&](const float* tile, std::uint64_t* v, float* acc) {
        quickscorer_block_avx2_w64(d, tile, v, acc);
      });
    }
  }
#endif
  (void)resolved;
  QuickScorerBuffer<Value, quickscorer_stack_outputs> row(out.stride(1) == 1 ? 0 : std::size_t(k));
  for (index_t r = 0; r < x.extent(0); ++r) {
    Value* o = out.stride(1) == 1 ? &out(r, 0) : row.data();
    margins_row(&x(r, 0), x.stride(1), o);
    if (out.stride(1) != 1)
      for (index_t g = 0; g < k; ++g) out(r, g) = row.data()[g];
  }
}

}  // namespace portml::bdt::detail
