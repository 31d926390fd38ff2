// SPDX-License-Identifier: Apache-2.0
//! \file
//! The scalar descent kernel: one row with several trees interleaved, the batch-1 path and the scalar
//! path of every batch (a row at a time: measured faster than a block of rows with trees outer, for
//! float and double forests alike). It adds the leaves of one row in tree order, starting from the
//! base margin, in the forest's Value type: the same sum, bit for bit, as the SIMD kernels and as
//! XGBoost / LightGBM.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include <portml/bdt/forest.hpp>
#include <portml/core/tensor_view.hpp>

namespace portml::bdt::detail {

//! What a descent must handle besides plain numbers.
enum class Missing {
  none,  //!< the row has no NaN and the forest no zero-as-missing node: go right iff x >= t
  nan,   //!< NaN takes each node's default direction
  zero   //!< as nan, and zero_missing_bit nodes also send |x| <= zero_missing_threshold that way
};

//! 1 when a row with feature value `x` leaves the node to the right: `!(x < t)` for numbers, and for
//! NaN the node's default direction. Integer arithmetic on the two compares, no branch and no select:
//! `x >= t` implies `!(x < t)`, and the two differ only for NaN. Padding and self-looping leaf nodes
//! have a NaN threshold and the NaN-left bit, so every row goes left there, in every mode.
template <Missing M>
std::int32_t go_right(float x, std::uint32_t feature_flags, float t) {
  const auto greater_equal = static_cast<std::uint32_t>(x >= t);  // 0 for NaN
  if constexpr (M == Missing::none) {
    return static_cast<std::int32_t>(greater_equal);
  } else {
    const auto not_less = static_cast<std::uint32_t>(!(x < t));  // 1 for NaN
    const std::uint32_t nan_right = (~feature_flags) >> 31;
    if constexpr (M == Missing::zero) {
      if ((feature_flags & zero_missing_bit) != 0 && std::abs(x) <= zero_missing_threshold) {
        return static_cast<std::int32_t>(nan_right);
      }
    }
    return static_cast<std::int32_t>(greater_equal | (not_less & nan_right));
  }
}

//! Number of trees descended together by the one-row kernel (independent dependency chains; 16
//! measured 7-12 % faster than 8 on the perfect forests of docs/bdt.md's benchmarks).
inline constexpr int row_interleave = 16;

//! Margins of one row: out[g] = base_margin[g] + leaves of the trees of output g, in tree order.
//! Depth > 0: a perfect layout of exactly that depth (fully unrolled); depth 0: the forest's layout
//! and depth read at run time.
//! \param x        the row's first feature; feature j is at x[j * stride]
//! SingleOutput keeps the sum in a register (a sum through memory would chain every add through a
//! store and a load).
template <Missing M, int Depth, bool SingleOutput, class Value, class Stride>
void margins_one_row_impl(const ForestData<Value>& f, const float* x, Stride stride, Value* out) {
  for (std::int32_t g = 0; g < f.num_outputs; ++g) out[g] = f.base_margin[g];
  Value single = f.base_margin[0];
  const auto add = [&](std::int32_t t, Value v) {
    if constexpr (SingleOutput) {
      single += v;
    } else {
      out[f.tree_output[t]] += v;
    }
  };
  const bool perfect = Depth > 0 || f.layout == Layout::perfect;
  const std::int32_t internal = (std::int32_t(1) << (Depth > 0 ? Depth : f.depth)) - 1;
  const auto step = [&](std::int32_t t, std::int32_t& idx) {
    const std::size_t k = perfect ? std::size_t(t) * internal + idx : std::size_t(idx);
    const std::uint32_t ff = f.feature_flags[k];
    const std::int32_t r = go_right<M>(x[index_t(ff & feature_mask) * stride], ff, f.threshold[k]);
    idx = perfect ? 2 * idx + 1 + r : f.left[k] + r;
  };
  const auto leaf = [&](std::int32_t t, std::int32_t idx) {
    return f.leaf_value[perfect ? std::size_t(t) * (internal + 1) + (idx - internal) : std::size_t(idx)];
  };
  // Sparse layout: the perfect top of a tree first (no child array to read), then the sparse nodes.
  constexpr std::int32_t top_internal = (std::int32_t(1) << sparse_top_depth) - 1;
  const auto top_step = [&](std::int32_t t, std::int32_t& idx) {
    const std::size_t k = std::size_t(t) * top_internal + idx;
    const std::uint32_t ff = f.top_feature_flags[k];
    idx = 2 * idx + 1 + go_right<M>(x[index_t(ff & feature_mask) * stride], ff, f.top_threshold[k]);
  };
  const auto top_entry = [&](std::int32_t t, std::int32_t idx) {
    return f.top_entry[std::size_t(t) * (top_internal + 1) + (idx - top_internal)];
  };
  std::int32_t t0 = 0;
  for (; t0 + row_interleave <= f.num_trees; t0 += row_interleave) {
    std::int32_t idx[row_interleave] = {};
    std::int32_t depth = Depth;
    if constexpr (Depth == 0) {
      depth = f.depth;
      if (!perfect) {
        for (std::int32_t level = 0; level < sparse_top_depth; ++level) {
#pragma GCC unroll 16
          for (int j = 0; j < row_interleave; ++j) top_step(t0 + j, idx[j]);
        }
        depth = 0;
        for (int j = 0; j < row_interleave; ++j) {
          idx[j] = top_entry(t0 + j, idx[j]);
          // leaves loop onto themselves: the extra steps of shallower trees are harmless
          depth = std::max(depth, f.tree_depth[t0 + j] - sparse_top_depth);
        }
      }
    }
#pragma GCC unroll 8
    for (std::int32_t level = 0; level < depth; ++level) {
#pragma GCC unroll 16
      for (int j = 0; j < row_interleave; ++j) step(t0 + j, idx[j]);
    }
    for (int j = 0; j < row_interleave; ++j) add(t0 + j, leaf(t0 + j, idx[j]));
  }
  for (; t0 < f.num_trees; ++t0) {  // the last trees, one at a time
    std::int32_t idx = 0;
    std::int32_t depth = Depth > 0 ? Depth : f.depth;
    if (!perfect) {
      for (std::int32_t level = 0; level < sparse_top_depth; ++level) top_step(t0, idx);
      idx = top_entry(t0, idx);
      depth = f.tree_depth[t0] - sparse_top_depth;
    }
    for (std::int32_t level = 0; level < depth; ++level) step(t0, idx);
    add(t0, leaf(t0, idx));
  }
  if constexpr (SingleOutput) out[0] = single;
}

//! Stride: index_t, or std::integral_constant<index_t, 1> for a contiguous row.
template <Missing M, bool SingleOutput, class Value, class Stride>
void margins_one_row_dispatch(const ForestData<Value>& f, const float* x, Stride stride, Value* out) {
  if (f.layout != Layout::perfect) return margins_one_row_impl<M, 0, SingleOutput>(f, x, stride, out);
  switch (f.depth) {
    case 1:
      return margins_one_row_impl<M, 1, SingleOutput>(f, x, stride, out);
    case 2:
      return margins_one_row_impl<M, 2, SingleOutput>(f, x, stride, out);
    case 3:
      return margins_one_row_impl<M, 3, SingleOutput>(f, x, stride, out);
    case 4:
      return margins_one_row_impl<M, 4, SingleOutput>(f, x, stride, out);
    case 5:
      return margins_one_row_impl<M, 5, SingleOutput>(f, x, stride, out);
    case 6:
      return margins_one_row_impl<M, 6, SingleOutput>(f, x, stride, out);
    default:
      return margins_one_row_impl<M, 0, SingleOutput>(f, x, stride, out);
  }
}

//! Number of trees descended together by the default-first walk (measured: 16 hides more of the
//! cache latency of a forest that outgrows L2 than 8 or 12, see docs/bdt.md).
inline constexpr int default_first_interleave = 16;

//! Margins of one row over the default-first nodes (forests that have them: sparse, see
//! DefaultFirstNode): x and -x copied once to the stack, then per node one load of the 8-byte node,
//! one load of the input and one compare, for rows with and without NaN. Trees in groups of
//! default_first_interleave, each group descended to its deepest tree's depth (leaves loop onto
//! themselves); leaves added in tree order.
template <bool SingleOutput, class Value, class Stride>
void margins_one_row_default_first(const ForestData<Value>& f, const float* x, Stride stride, Value* out) {
  const std::int32_t nf = f.num_features;
  float in[2 * default_first_max_features];
  for (std::int32_t j = 0; j < nf; ++j) {
    const float v = x[index_t(j) * stride];
    in[j] = v;
    in[nf + j] = -v;
  }
  const DefaultFirstNode* const nodes = f.default_first_node;
  for (std::int32_t g = 0; g < f.num_outputs; ++g) out[g] = f.base_margin[g];
  Value single = f.base_margin[0];
  const auto add = [&](std::int32_t t, std::int32_t idx) {
    const Value v = f.default_first_leaf[std::bit_cast<std::uint32_t>(nodes[idx].threshold) & default_first_leaf_mask];
    if constexpr (SingleOutput) {
      single += v;
    } else {
      out[f.tree_output[t]] += v;
    }
  };
  const auto step = [&](std::int32_t& idx) {
    const DefaultFirstNode node = nodes[idx];
    idx += static_cast<std::int32_t>(node.word >> 16) +
           static_cast<std::int32_t>(in[node.word & 0xffffu] >= node.threshold);
  };
  constexpr int T = default_first_interleave;
  std::int32_t t0 = 0;
  for (; t0 + T <= f.num_trees; t0 += T) {
    std::int32_t idx[T];
    std::int32_t depth = 0;
    for (int j = 0; j < T; ++j) {
      idx[j] = f.default_first_root[t0 + j];
      depth = std::max(depth, f.tree_depth[t0 + j]);
    }
    for (std::int32_t level = 0; level < depth; ++level) {
#pragma GCC unroll 16
      for (int j = 0; j < T; ++j) step(idx[j]);
    }
    for (int j = 0; j < T; ++j) add(t0 + j, idx[j]);
  }
  for (; t0 < f.num_trees; ++t0) {  // the last trees, one at a time
    std::int32_t idx = f.default_first_root[t0];
    for (std::int32_t level = 0; level < f.tree_depth[t0]; ++level) step(idx);
    add(t0, idx);
  }
  if constexpr (SingleOutput) out[0] = single;
}

template <class Value>
void margins_one_row(const ForestData<Value>& f, const float* x, index_t stride, Value* out) {
  if (f.default_first_node != nullptr) {
    if (stride == 1) {
      const std::integral_constant<index_t, 1> unit{};
      return f.num_outputs == 1 ? margins_one_row_default_first<true>(f, x, unit, out)
                                : margins_one_row_default_first<false>(f, x, unit, out);
    }
    return f.num_outputs == 1 ? margins_one_row_default_first<true>(f, x, stride, out)
                              : margins_one_row_default_first<false>(f, x, stride, out);
  }
  if (f.has_zero_missing) return margins_one_row_dispatch<Missing::zero, false>(f, x, stride, out);
  bool any_nan = false;  // a row without NaN needs one compare per node instead of two
  for (index_t j = 0; j < f.num_features; ++j) any_nan |= std::isnan(x[j * stride]);
  const bool single = f.num_outputs == 1;
  if (any_nan) {
    return single ? margins_one_row_dispatch<Missing::nan, true>(f, x, stride, out)
                  : margins_one_row_dispatch<Missing::nan, false>(f, x, stride, out);
  }
  if (stride == 1 && single) {
    return margins_one_row_dispatch<Missing::none, true>(f, x, std::integral_constant<index_t, 1>{}, out);
  }
  return single ? margins_one_row_dispatch<Missing::none, true>(f, x, stride, out)
                : margins_one_row_dispatch<Missing::none, false>(f, x, stride, out);
}

}  // namespace portml::bdt::detail
