// SPDX-License-Identifier: Apache-2.0
//! \file
//! Vocabulary shared by the graph primitives: the reduction and option enums, the argument checks
//! (shapes on the host; index and offset values through a reduction on the queue's own backend, so
//! device-resident arrays are checked where they live), and small device-side helpers.
#pragma once

#include <cstdint>
#include <limits>
#include <string>

#include <portml/config.hpp>
#include <portml/portability/launch.hpp>

namespace portml::kernels::graph {

//! How the rows of one neighbour set or segment are combined. An empty set gives 0 for every kind.
enum class Reduce {
  sum,   //!< Σ rows
  mean,  //!< Σ rows / divisor (see MeanDivisor)
  max,   //!< element-wise maximum; a NaN in the set gives NaN
  min,   //!< element-wise minimum; a NaN in the set gives NaN
};

//! Divisor of Reduce::mean in ell_reduce.
enum class MeanDivisor {
  valid,  //!< the number of valid (non -1) slots: PyG
  k,      //!< the fixed degree k, empty slots included: cmspepr accumulate_knn
};

//! Whether a kNN graph holds each point itself.
enum class SelfMode {
  exclude,        //!< never a neighbour of itself (PyG loop=False, ParticleNet)
  include_first,  //!< slot 0 is the point itself with d² = 0 (cmspepr select_knn, GravNet)
};

//! Name of a Reduce value, for messages.
inline const char* reduce_name(Reduce r) {
  switch (r) {
    case Reduce::sum:
      return "sum";
    case Reduce::mean:
      return "mean";
    case Reduce::max:
      return "max";
    case Reduce::min:
      return "min";
  }
  return "?";
}

namespace detail {

//! Calls `body.template operator()<Op>()` with the run-time `op` as a template argument: the one
//! switch from a Reduce value to the kernel instantiated for it.
template <class Body>
PORTML_HOST_DEVICE void with_reduce(Reduce op, const Body& body) {
  switch (op) {
    case Reduce::sum:
      body.template operator()<Reduce::sum>();
      break;
    case Reduce::mean:
      body.template operator()<Reduce::mean>();
      break;
    case Reduce::max:
      body.template operator()<Reduce::max>();
      break;
    case Reduce::min:
      body.template operator()<Reduce::min>();
      break;
  }
}

//! One step of a reduction: the running value `acc` joined with `v`. max/min keep a NaN once seen
//! (NaN in, NaN out), written as selects so that loops over features vectorise.
template <Reduce Op, class T>
PORTML_HOST_DEVICE inline T fold(T acc, T v) {
  if constexpr (Op == Reduce::max) {
    return (acc == acc && !(v <= acc)) ? v : acc;
  } else if constexpr (Op == Reduce::min) {
    return (acc == acc && !(v >= acc)) ? v : acc;
  } else {
    return acc + v;
  }
}

//! The value a reduction starts from.
template <Reduce Op, class T>
PORTML_HOST_DEVICE inline T fold_identity() {
  if constexpr (Op == Reduce::max) {
    return -std::numeric_limits<T>::infinity();
  } else if constexpr (Op == Reduce::min) {
    return std::numeric_limits<T>::infinity();
  } else {
    return T(0);
  }
}

//! Features per work item of a row-wise kernel: a whole row on host backends (one work item streams
//! the row, which vectorises), one feature on GPUs (consecutive threads take consecutive features).
//! Either way each output element is folded in the same order, so the bits do not change.
template <Backend B>
index_t feature_block(index_t features) {
  if constexpr (B::is_host) {
    return features > 0 ? features : 1;
  } else {
    return 1;
  }
}

//! The event b with offsets[b] <= row < offsets[b + 1] (offsets non-decreasing, row in range); the
//! last such b when empty events share the offset.
template <class Index, class Space>
PORTML_HOST_DEVICE inline index_t event_of(const TensorView<const Index, 1, Space>& offsets, index_t row) {
  index_t lo = 0, hi = offsets.extent(0) - 1;  // invariant: offsets[lo] <= row < offsets[hi]
  while (hi - lo > 1) {
    const index_t mid = lo + (hi - lo) / 2;
    if (static_cast<index_t>(offsets(mid)) <= row) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo;
}

//! Position of the first offsets entry breaking "offsets[0] = 0, non-decreasing, offsets[B] = total"
//! (Min over positions; extent when none).
template <class Index, class Space>
struct FirstBadOffset {
  TensorView<const Index, 1, Space> offsets;
  index_t total;
  PORTML_HOST_DEVICE void operator()(index_t i, index_t& acc) const {
    const index_t last = offsets.extent(0) - 1;
    const index_t v = offsets(i);
    const bool bad =
        (i == 0 && v != 0) || (i > 0 && v < static_cast<index_t>(offsets(i - 1))) || (i == last && v != total);
    if (bad && i < acc) acc = i;
  }
};

//! Position (row · cols + col) of the first index outside [lo, hi) (Min over rows; size when none).
//! The view is read as rows of a matrix so that ELL neighbour lists [N, k] are checked too.
template <class Index, class Space>
struct FirstBadIndex {
  TensorView<const Index, 2, Space> idx;
  index_t lo, hi;
  PORTML_HOST_DEVICE void operator()(index_t row, index_t& acc) const {
    const index_t cols = idx.extent(1);
    for (index_t c = 0; c < cols; ++c) {
      const index_t v = idx(row, c);
      if ((v < lo || v >= hi) && row * cols + c < acc) acc = row * cols + c;
    }
  }
};

//! One element of a backend's array, copied to the host (for an error message).
template <Backend B, class Index>
index_t fetch_one(Queue<B>& q, const TensorView<const Index, 2, memory_space_t<B>>& v, index_t p) {
  const index_t cols = v.extent(1);
  Index host = 0;
  const TensorView<const Index, 2, memory_space_t<B>> one(&v(p / cols, p % cols), {1, 1}, v.strides());
  deep_copy(q, TensorView<Index, 2, HostSpace>(&host, {1, 1}), one);
  q.wait();
  return static_cast<index_t>(host);
}

}  // namespace detail

//! Throws ShapeError unless `offsets` [B+1] starts at 0, never decreases and ends at `total`.
//! The values are read on the queue's backend (a short reduction), so device arrays are checked too.
template <Backend B, class Index>
void check_offsets(Queue<B>& q, const char* op, const char* what, TensorView<const Index, 1, memory_space_t<B>> offsets,
                   index_t total) {
  if (offsets.extent(0) < 1) {
    throw ShapeError(std::string(op) + ": " + what + " must have at least one entry (B + 1 with B >= 0)");
  }
  const index_t n = offsets.extent(0);
  const index_t bad =
      parallel_reduce(q, Range1D{n}, detail::FirstBadOffset<Index, memory_space_t<B>>{offsets, total}, Min<index_t>{});
  if (bad >= n) return;
  const TensorView<const Index, 2, memory_space_t<B>> as_matrix(offsets.data(), {n, 1}, {offsets.stride(0), 1});
  const index_t v = detail::fetch_one<B, Index>(q, as_matrix, bad);
  std::string why;
  if (bad == 0 && v != 0) {
    why = "must start at 0";
  } else if (bad == n - 1 && v != total) {
    why = "must end at " + std::to_string(total);
  } else {
    why = "must not decrease";
  }
  throw ShapeError(std::string(op) + ": " + what + " " + why + ": " + what + "[" + std::to_string(bad) +
                   "] = " + std::to_string(v));
}

//! Throws IndexError naming the first entry of `idx` outside [lo, hi).
template <Backend B, class Index>
void check_indices(Queue<B>& q, const char* op, const char* what, TensorView<const Index, 2, memory_space_t<B>> idx,
                   index_t lo, index_t hi) {
  const index_t n = idx.size();
  if (n == 0) return;
  const index_t bad = parallel_reduce(q, Range1D{idx.extent(0)},
                                      detail::FirstBadIndex<Index, memory_space_t<B>>{idx, lo, hi}, Min<index_t>{});
  if (bad >= n) return;
  const index_t v = detail::fetch_one<B, Index>(q, idx, bad);
  const index_t cols = idx.extent(1);
  const std::string where = cols == 1 ? "[" + std::to_string(bad) + "]"
                                      : "[" + std::to_string(bad / cols) + ", " + std::to_string(bad % cols) + "]";
  throw IndexError(std::string(op) + ": " + what + where + " = " + std::to_string(v) + " outside [" +
                   std::to_string(lo) + ", " + std::to_string(hi) + ")");
}

//! A 1-D index view seen as a column [n, 1] (for check_indices).
template <class Index, class Space>
TensorView<const Index, 2, Space> as_column(const TensorView<const Index, 1, Space>& v) {
  return TensorView<const Index, 2, Space>(v.data(), {v.extent(0), 1}, {v.stride(0), 1});
}

//! Throws ShapeError unless `v` has the expected extent in dimension d.
inline void check_extent(const char* op, const char* what, std::size_t d, index_t got, index_t want) {
  if (got != want) {
    throw ShapeError(std::string(op) + ": " + what + " has extent " + std::to_string(got) + " in dimension " +
                     std::to_string(d) + ", expected " + std::to_string(want));
  }
}

}  // namespace portml::kernels::graph
