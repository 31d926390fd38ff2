// SPDX-License-Identifier: Apache-2.0
//! \file
//! Gather and reduction primitives of graph networks (docs/gnn.md): gather_rows, ell_reduce over
//! fixed-degree neighbour lists, segment_reduce over CSR segments, scatter_reduce over COO edges (a
//! stable counting sort, then segment_reduce), segment_softmax and global_pool.
//!
//! Every output element is computed by one work item that folds its inputs in a fixed order (ELL
//! slot order, CSR order, or ascending edge id for COO), so the results are the same bits on every
//! run and for any thread count, and an event's result does not depend on the rest of the batch.
//! The one exception is opt-in: scatter_reduce with ScatterMode::atomic (see there).
//! Index arrays use `Index` (int32_t by default, int64_t for PyG interop); indices and offsets are
//! checked before any kernel runs and a bad value throws IndexError or ShapeError naming it.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include <portml/kernels/graph/common.hpp>
#include <portml/portability/atomic.hpp>

namespace portml::kernels::graph {

namespace detail {

//! Work item (i, fb) of Y = X[idx] with -1 giving `fill`: features [fb·fw, fb·fw + fw) of row i.
template <class T, class Index, class Space>
struct GatherRowsBody {
  TensorView<const T, 2, Space> x;
  TensorView<const Index, 1, Space> idx;
  TensorView<T, 2, Space> y;
  T fill;
  index_t fw;
  PORTML_HOST_DEVICE void operator()(index_t i, index_t fb) const {
    const index_t f0 = fb * fw, f1 = f0 + fw < y.extent(1) ? f0 + fw : y.extent(1);
    const index_t r = idx(i);
    if (f0 >= f1) return;
    // Row pointers (idx was checked): the copy loop is then a plain strided loop that the host
    // compiler versions for unit stride and vectorises.
    T* out = &y(i, f0);
    const index_t ys = y.stride(1);
    if (r < 0) {
      for (index_t f = 0; f < f1 - f0; ++f) out[f * ys] = fill;
    } else {
      const T* in = &x(r, f0);
      const index_t xs = x.stride(1);
      for (index_t f = 0; f < f1 - f0; ++f) out[f * ys] = in[f * xs];
    }
  }
};

//! Work item (i, fb): Y[i, f] for the features f of block fb, reduced over the valid slots of
//! nbr[i, :] of M[i, :, f] in slot order. The running value lives in Y itself.
template <class T, class Index, class Space>
struct EllReduceBody {
  TensorView<const T, 3, Space> m;
  TensorView<const Index, 2, Space> nbr;
  TensorView<T, 2, Space> y;
  Reduce op;
  MeanDivisor div;
  index_t fw;

  template <Reduce Op>
  PORTML_HOST_DEVICE void run(index_t i, index_t f0, index_t f1) const {
    const index_t k = nbr.extent(1);
    for (index_t f = f0; f < f1; ++f) y(i, f) = fold_identity<Op, T>();
    index_t count = 0;
    for (index_t s = 0; s < k; ++s) {
      if (nbr(i, s) < 0) continue;
      ++count;
      for (index_t f = f0; f < f1; ++f) y(i, f) = fold<Op>(y(i, f), m(i, s, f));
    }
    if (count == 0) {
      for (index_t f = f0; f < f1; ++f) y(i, f) = T(0);
    } else if (Op == Reduce::mean) {
      const T divisor = static_cast<T>(div == MeanDivisor::k ? k : count);
      for (index_t f = f0; f < f1; ++f) y(i, f) /= divisor;
    }
  }

  PORTML_HOST_DEVICE void operator()(index_t i, index_t fb) const {
    const index_t f0 = fb * fw, f1 = f0 + fw < y.extent(1) ? f0 + fw : y.extent(1);
    with_reduce(op, [&]<Reduce Op>() { run<Op>(i, f0, f1); });
  }
};

//! Work item (i, fb): Y[i, f] for the features f of block fb, reduced over rows
//! [indptr[i], indptr[i + 1]) of M in order, read through `perm` when it is given (row r of the
//! segment is M[perm[r]]). `arg` (optional) receives the M row that gave the max/min (the first
//! one on ties; the first NaN), or M's row count for an empty segment.
template <class T, class Index, class Space>
struct SegmentReduceBody {
  TensorView<const T, 2, Space> m;
  TensorView<const Index, 1, Space> indptr;
  TensorView<const Index, 1, Space> perm;  // empty: identity
  TensorView<T, 2, Space> y;
  TensorView<Index, 2, Space> arg;  // empty: not wanted
  Reduce op;
  index_t fw;

  static constexpr index_t prefetch_distance = 8;

  PORTML_HOST_DEVICE index_t row(index_t r) const { return perm.empty() ? r : static_cast<index_t>(perm(r)); }

  template <Reduce Op>
  PORTML_HOST_DEVICE void run(index_t i, index_t f0, index_t f1) const {
    const index_t begin = indptr(i), end = indptr(i + 1);
    for (index_t f = f0; f < f1; ++f) y(i, f) = fold_identity<Op, T>();
    for (index_t r = begin; r < end; ++r) {
      const index_t e = row(r);
#if !PORTML_DEVICE_PASS && defined(__GNUC__)
      // Rows read through perm are scattered in memory: ask for a later one early.
      if (!perm.empty() && r + prefetch_distance < perm.extent(0)) {
        const index_t later = perm(r + prefetch_distance);
        for (index_t f = f0; f < f1; f += 64 / static_cast<index_t>(sizeof(T))) __builtin_prefetch(&m(later, f));
      }
#endif
      for (index_t f = f0; f < f1; ++f) y(i, f) = fold<Op>(y(i, f), m(e, f));
    }
    if (end == begin) {
      for (index_t f = f0; f < f1; ++f) y(i, f) = T(0);
    } else if (Op == Reduce::mean) {
      const T divisor = static_cast<T>(end - begin);
      for (index_t f = f0; f < f1; ++f) y(i, f) /= divisor;
    }
  }

  //! max/min with the position of the result: the same fold, one feature at a time.
  template <Reduce Op>
  PORTML_HOST_DEVICE void run_arg(index_t i, index_t f0, index_t f1) const {
    const index_t begin = indptr(i), end = indptr(i + 1);
    for (index_t f = f0; f < f1; ++f) {
      T acc = fold_identity<Op, T>();
      index_t best = m.extent(0);
      for (index_t r = begin; r < end; ++r) {
        const index_t e = row(r);
        const T next = fold<Op>(acc, m(e, f));
        const bool same = next == acc || (next != next && acc != acc);
        if (best == m.extent(0) || !same) best = e;
        acc = next;
      }
      y(i, f) = end == begin ? T(0) : acc;
      arg(i, f) = static_cast<Index>(best);
    }
  }

  PORTML_HOST_DEVICE void operator()(index_t i, index_t fb) const {
    const index_t f0 = fb * fw, f1 = f0 + fw < y.extent(1) ? f0 + fw : y.extent(1);
    with_reduce(op, [&]<Reduce Op>() {
      if constexpr (Op == Reduce::max || Op == Reduce::min) {
        if (!arg.empty()) return run_arg<Op>(i, f0, f1);  // arg-max / arg-min requested
      }
      run<Op>(i, f0, f1);
    });
  }
};

//! The stable counting sort of COO destinations, on one work item: indptr [N+1] (CSR by
//! destination), cursor [N] (scratch) and perm [E] (edge ids grouped by destination, ascending
//! within each).
template <class Index, class Space>
struct CountingSortBody {
  TensorView<const Index, 1, Space> dst;
  TensorView<Index, 1, Space> indptr;
  TensorView<Index, 1, Space> cursor;
  TensorView<Index, 1, Space> perm;
  PORTML_HOST_DEVICE void operator()(index_t) const {
    const index_t n = cursor.extent(0), e_count = dst.extent(0);
    for (index_t i = 0; i <= n; ++i) indptr(i) = 0;
    for (index_t e = 0; e < e_count; ++e) indptr(static_cast<index_t>(dst(e)) + 1) += 1;
    for (index_t i = 0; i < n; ++i) {
      indptr(i + 1) += indptr(i);
      cursor(i) = indptr(i);
    }
    for (index_t e = 0; e < e_count; ++e) {
      const index_t d = dst(e);
      perm(static_cast<index_t>(cursor(d))) = static_cast<Index>(e);
      cursor(d) += 1;
    }
  }
};

//! One pass of the parallel stable merge sort of destinations (the GPU path of scatter_reduce): runs
//! of `width` sorted keys are merged in pairs. Work item p finds its place from its rank in its own
//! run plus the number of keys of the partner run that precede it: those smaller for an element of
//! the left run, those smaller or equal for one of the right run, so equal keys keep their order.
//! No atomics and no data-dependent scheduling: the result is the counting sort's, on any backend.
template <class Index, class Space>
struct MergePassBody {
  TensorView<const Index, 1, Space> keys_in;
  TensorView<const Index, 1, Space> perm_in;
  TensorView<Index, 1, Space> keys_out;
  TensorView<Index, 1, Space> perm_out;
  index_t width;
  PORTML_HOST_DEVICE void operator()(index_t p) const {
    const index_t e_count = keys_in.extent(0);
    const index_t base = (p / (2 * width)) * (2 * width);
    const bool left = p < base + width;
    const index_t own_begin = left ? base : base + width;
    const index_t other_begin = left ? base + width : base;
    const index_t other_end = left ? (base + 2 * width < e_count ? base + 2 * width : e_count) : base + width;
    const Index key = keys_in(p);
    // Binary search in [other_begin, other_end) for the first key > key (left: >= key).
    index_t lo = other_begin < e_count ? other_begin : e_count, hi = other_end < e_count ? other_end : e_count;
    while (lo < hi) {
      const index_t mid = lo + (hi - lo) / 2;
      const Index k = keys_in(mid);
      if (left ? k < key : k <= key) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    const index_t rank_other = lo - (other_begin < e_count ? other_begin : e_count);
    const index_t out = base + (p - own_begin) + rank_other;
    keys_out(out) = key;
    perm_out(out) = perm_in(p);
  }
};

//! Work item i: keys[i] = dst[i], perm[i] = i (the input of the first merge pass).
template <class Index, class Space>
struct SortInitBody {
  TensorView<const Index, 1, Space> dst;
  TensorView<Index, 1, Space> keys;
  TensorView<Index, 1, Space> perm;
  PORTML_HOST_DEVICE void operator()(index_t i) const {
    keys(i) = dst(i);
    perm(i) = static_cast<Index>(i);
  }
};

//! Work item i: to[i] = from[i].
template <class Index, class Space>
struct CopyBody {
  TensorView<const Index, 1, Space> from;
  TensorView<Index, 1, Space> to;
  PORTML_HOST_DEVICE void operator()(index_t i) const { to(i) = from(i); }
};

//! Work item i: indptr[i] = the first position of the sorted keys holding a key >= i (i in [0, N]).
template <class Index, class Space>
struct IndptrFromSortedBody {
  TensorView<const Index, 1, Space> keys;
  TensorView<Index, 1, Space> indptr;
  PORTML_HOST_DEVICE void operator()(index_t i) const {
    index_t lo = 0, hi = keys.extent(0);
    while (lo < hi) {
      const index_t mid = lo + (hi - lo) / 2;
      if (static_cast<index_t>(keys(mid)) < i) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    indptr(i) = static_cast<Index>(lo);
  }
};

//! Work item (i, h): softmax of S[r, h] over the rows r of segment i.
template <class T, class Index, class Space>
struct SegmentSoftmaxBody {
  TensorView<const T, 2, Space> s;
  TensorView<const Index, 1, Space> indptr;
  TensorView<T, 2, Space> p;
  PORTML_HOST_DEVICE void operator()(index_t i, index_t h) const {
    using std::exp;
    const index_t begin = indptr(i), end = indptr(i + 1);
    T mx = -std::numeric_limits<T>::infinity();
    for (index_t r = begin; r < end; ++r) mx = fold<Reduce::max>(mx, s(r, h));
    if (mx == -std::numeric_limits<T>::infinity()) {  // every entry masked: no weight anywhere
      for (index_t r = begin; r < end; ++r) p(r, h) = T(0);
      return;
    }
    T sum = T(0);
    for (index_t r = begin; r < end; ++r) {
      const T w = exp(s(r, h) - mx);
      p(r, h) = w;
      sum += w;
    }
    for (index_t r = begin; r < end; ++r) p(r, h) /= sum;
  }
};

}  // namespace detail

//! Y[m] = X[idx[m]] for X [N, F], idx [M], Y [M, F]; idx = -1 gives a row of `fill`.
//! Throws ShapeError on mismatched shapes, IndexError for an index outside [-1, N).
template <Backend B, class T, class Index = std::int32_t>
void gather_rows(Queue<B>& q, TensorView<const T, 2, memory_space_t<B>> x,
                 TensorView<const Index, 1, memory_space_t<B>> idx, TensorView<T, 2, memory_space_t<B>> y,
                 T fill = T(0)) {
  constexpr const char* op = "portml::kernels::graph::gather_rows";
  check_extent(op, "Y", 0, y.extent(0), idx.extent(0));
  check_extent(op, "Y", 1, y.extent(1), x.extent(1));
  check_indices<B, Index>(q, op, "idx", as_column(idx), -1, x.extent(0));
  const index_t fw = detail::feature_block<B>(y.extent(1));
  parallel_for(q, Range2D{y.extent(0), (y.extent(1) + fw - 1) / fw},
               detail::GatherRowsBody<T, Index, memory_space_t<B>>{x, idx, y, fill, fw});
}

//! Y[i, f] = op over the valid slots s of nbr[i, :] (nbr[i, s] != -1) of M[i, s, f], for M [N, k, F],
//! nbr [N, k], Y [N, F]. Slots are folded in slot order; an empty set gives 0; `div` picks the mean's
//! divisor (valid slots or k). Only the validity of nbr entries is used: -1 or any row index >= 0.
template <Backend B, class T, class Index = std::int32_t>
void ell_reduce(Queue<B>& q, TensorView<const T, 3, memory_space_t<B>> m,
                TensorView<const Index, 2, memory_space_t<B>> nbr, TensorView<T, 2, memory_space_t<B>> y, Reduce op,
                MeanDivisor div = MeanDivisor::valid) {
  constexpr const char* op_name = "portml::kernels::graph::ell_reduce";
  check_extent(op_name, "nbr", 0, nbr.extent(0), m.extent(0));
  check_extent(op_name, "nbr", 1, nbr.extent(1), m.extent(1));
  check_extent(op_name, "Y", 0, y.extent(0), m.extent(0));
  check_extent(op_name, "Y", 1, y.extent(1), m.extent(2));
  check_indices<B, Index>(q, op_name, "nbr", nbr, -1, std::numeric_limits<Index>::max());
  const index_t fw = detail::feature_block<B>(y.extent(1));
  parallel_for(q, Range2D{y.extent(0), (y.extent(1) + fw - 1) / fw},
               detail::EllReduceBody<T, Index, memory_space_t<B>>{m, nbr, y, op, div, fw});
}

//! Y[i, f] = op over rows [indptr[i], indptr[i + 1]) of M[:, f] (torch_scatter segment_csr), for
//! M [E, F], indptr [N+1] (0, non-decreasing, ending at E), Y [N, F]. Rows are folded in order; an
//! empty segment gives 0. For max/min, `arg` [N, F] (optional, pass an empty view to skip) receives
//! the row that gave the result (the first on ties), or E for an empty segment.
template <Backend B, class T, class Index = std::int32_t>
void segment_reduce(Queue<B>& q, TensorView<const T, 2, memory_space_t<B>> m,
                    TensorView<const Index, 1, memory_space_t<B>> indptr, TensorView<T, 2, memory_space_t<B>> y,
                    Reduce op, TensorView<Index, 2, memory_space_t<B>> arg = {}) {
  constexpr const char* op_name = "portml::kernels::graph::segment_reduce";
  check_extent(op_name, "indptr", 0, indptr.extent(0), y.extent(0) + 1);
  check_extent(op_name, "Y", 1, y.extent(1), m.extent(1));
  if (!arg.empty()) {
    if (op != Reduce::max && op != Reduce::min) {
      throw ShapeError(std::string(op_name) + ": arg is only produced by max and min, not " + reduce_name(op));
    }
    check_extent(op_name, "arg", 0, arg.extent(0), y.extent(0));
    check_extent(op_name, "arg", 1, arg.extent(1), y.extent(1));
  }
  check_offsets<B, Index>(q, op_name, "indptr", indptr, m.extent(0));
  const index_t fw = detail::feature_block<B>(y.extent(1));
  parallel_for(q, Range2D{y.extent(0), (y.extent(1) + fw - 1) / fw},
               detail::SegmentReduceBody<T, Index, memory_space_t<B>>{m, indptr, {}, y, arg, op, fw});
}

//! How scatter_reduce groups the edges of a destination.
enum class ScatterMode {
  sorted,  //!< deterministic (the default): a stable sort by destination, then each destination folds its
           //!< edges in ascending edge order; the same bits on every backend, run and thread count
  atomic,  //!< opt-in: each edge updates its destination with atomic operations, in no fixed order. No sort
           //!< (on GPUs several times faster for large E); sum and mean differ from run to run in their last
           //!< bits, max and min give the same values as `sorted` except that the sign of a zero result may
           //!< differ when both zeros occur
};

inline const char* scatter_mode_name(ScatterMode mode) { return mode == ScatterMode::atomic ? "atomic" : "sorted"; }

namespace detail {

//! ScatterMode::atomic, first pass: Y[i, f] = the fold's identity, count[i] = 0.
template <class T, class Index, class Space>
struct AtomicScatterInitBody {
  TensorView<T, 2, Space> y;
  TensorView<Index, 1, Space> count;
  Reduce op;

  PORTML_HOST_DEVICE void operator()(index_t i, index_t f) const {
    with_reduce(op, [&]<Reduce Op>() { y(i, f) = fold_identity<Op, T>(); });
    if (f == 0) count(i) = Index(0);
  }
};

//! ScatterMode::atomic, second pass: work item (e, f) folds M[e, f] into Y[dst[e], f] atomically (an atomic add
//! for sum and mean, a compare-and-swap loop of the same fold as the sorted mode for max and min); feature 0
//! also counts the edge.
template <class T, class Index, class Space>
struct AtomicScatterBody {
  TensorView<const T, 2, Space> m;
  TensorView<const Index, 1, Space> dst;
  TensorView<T, 2, Space> y;
  TensorView<Index, 1, Space> count;
  Reduce op;

  PORTML_HOST_DEVICE void operator()(index_t e, index_t f) const {
    const index_t i = static_cast<index_t>(dst(e));
    const T v = m(e, f);
    with_reduce(op, [&]<Reduce Op>() {
      if constexpr (Op == Reduce::max || Op == Reduce::min) {
        atomic_update(&y(i, f), [v](T acc) { return fold<Op>(acc, v); });
      } else {
        atomic_add(&y(i, f), v);
      }
    });
    if (f == 0) atomic_add(&count(i), Index(1));
  }
};

//! ScatterMode::atomic, last pass: an empty destination gives 0; mean divides by the edge count.
template <class T, class Index, class Space>
struct AtomicScatterFinishBody {
  TensorView<T, 2, Space> y;
  TensorView<const Index, 1, Space> count;
  Reduce op;

  PORTML_HOST_DEVICE void operator()(index_t i, index_t f) const {
    const Index c = count(i);
    if (c == Index(0)) {
      y(i, f) = T(0);
    } else if (op == Reduce::mean) {
      y(i, f) /= static_cast<T>(c);
    }
  }
};

}  // namespace detail

//! Elements of `Index` that scatter_reduce needs as workspace: indptr (N + 1), the sorted edge order
//! (E), and scratch: a cursor (N) for the host's counting sort, or keys and order of the merge passes
//! (3 E) on GPUs. One size for every backend.
inline index_t scatter_reduce_workspace_size(index_t num_nodes, index_t num_edges) {
  return num_nodes + 1 + num_edges + std::max(num_nodes, 3 * num_edges);
}

namespace detail {

//! perm = the edge ids stably sorted by destination, and indptr its CSR offsets. Host queues run the
//! O(N + E) counting sort on one work item; GPU queues (and the Serial queue emulating one) the
//! log2(E) passes of MergePassBody, then one binary search per destination. Both give the same perm.
template <Backend B, class Index>
void sort_by_destination(Queue<B>& q, TensorView<const Index, 1, memory_space_t<B>> dst,
                         TensorView<Index, 1, memory_space_t<B>> indptr, TensorView<Index, 1, memory_space_t<B>> perm,
                         TensorView<Index, 1, memory_space_t<B>> scratch) {
  using S = memory_space_t<B>;
  const index_t n = indptr.extent(0) - 1, e = dst.extent(0);
  if (!runs_gpu_teams(q)) {
    parallel_for(q, Range1D{1}, CountingSortBody<Index, S>{dst, indptr, scratch.row_slice(0, n), perm});
    return;
  }
  // Ping-pong between (keys_a, perm) and (keys_b, perm_b); the first pass reads dst and the identity.
  const auto keys_a = scratch.row_slice(0, e);
  const auto keys_b = scratch.row_slice(e, 2 * e);
  const auto perm_b = scratch.row_slice(2 * e, 3 * e);
  parallel_for(q, Range1D{e}, SortInitBody<Index, S>{dst, keys_a, perm});
  bool in_a = true;
  for (index_t width = 1; width < e; width *= 2) {
    if (in_a) {
      parallel_for(q, Range1D{e}, MergePassBody<Index, S>{keys_a, perm, keys_b, perm_b, width});
    } else {
      parallel_for(q, Range1D{e}, MergePassBody<Index, S>{keys_b, perm_b, keys_a, perm, width});
    }
    in_a = !in_a;
  }
  if (!in_a) parallel_for(q, Range1D{e}, CopyBody<Index, S>{perm_b, perm});
  parallel_for(q, Range1D{n + 1}, IndptrFromSortedBody<Index, S>{in_a ? keys_a : keys_b, indptr});
}

}  // namespace detail

//! Y[i, f] = op over the edges e with dst[e] = i of M[e, f], for M [E, F], dst [E] (values in
//! [0, N)), Y [N, F]; `mean` divides by the edge count, an empty destination gives 0. Deterministic
//! by default (ScatterMode::sorted): a stable sort by destination in `workspace` (a counting sort on
//! host queues, a parallel merge sort on GPUs: detail::sort_by_destination), then segment_reduce, so
//! the edges of a destination are folded in ascending edge order on every backend; after the call the
//! first N + 1 elements of `workspace` hold the CSR indptr. ScatterMode::atomic (opt-in, meant for
//! GPUs) skips the sort and updates Y with atomics: see ScatterMode for what that gives up; the first
//! N elements of `workspace` then hold the edge count of each destination. Either way `workspace`
//! holds at least scatter_reduce_workspace_size(N, E) elements.
template <Backend B, class T, class Index = std::int32_t>
void scatter_reduce(Queue<B>& q, TensorView<const T, 2, memory_space_t<B>> m,
                    TensorView<const Index, 1, memory_space_t<B>> dst, TensorView<T, 2, memory_space_t<B>> y, Reduce op,
                    TensorView<Index, 1, memory_space_t<B>> workspace, ScatterMode mode = ScatterMode::sorted) {
  constexpr const char* op_name = "portml::kernels::graph::scatter_reduce";
  const index_t n = y.extent(0), e = m.extent(0);
  check_extent(op_name, "dst", 0, dst.extent(0), e);
  check_extent(op_name, "Y", 1, y.extent(1), m.extent(1));
  if (workspace.extent(0) < scatter_reduce_workspace_size(n, e)) {
    throw ShapeError(std::string(op_name) + ": workspace has " + std::to_string(workspace.extent(0)) +
                     " elements, scatter_reduce_workspace_size gives " +
                     std::to_string(scatter_reduce_workspace_size(n, e)));
  }
  if (e > static_cast<index_t>(std::numeric_limits<Index>::max())) {
    throw ShapeError(std::string(op_name) + ": " + std::to_string(e) + " edges do not fit the index type");
  }
  check_indices<B, Index>(q, op_name, "dst", as_column(dst), 0, n);
  if (mode == ScatterMode::atomic) {
    using S = memory_space_t<B>;
    const index_t f = y.extent(1);
    const auto count = workspace.row_slice(0, n);
    if (n == 0 || f == 0) return;
    parallel_for(q, Range2D{n, f}, detail::AtomicScatterInitBody<T, Index, S>{y, count, op});
    if (e > 0) parallel_for(q, Range2D{e, f}, detail::AtomicScatterBody<T, Index, S>{m, dst, y, count, op});
    parallel_for(q, Range2D{n, f}, detail::AtomicScatterFinishBody<T, Index, S>{y, count, op});
    return;
  }
  const auto indptr = workspace.row_slice(0, n + 1);
  const auto perm = workspace.row_slice(n + 1, n + 1 + e);
  detail::sort_by_destination<B, Index>(q, dst, indptr, perm, workspace.row_slice(n + 1 + e, workspace.extent(0)));
  const index_t fw = detail::feature_block<B>(y.extent(1));
  parallel_for(q, Range2D{n, (y.extent(1) + fw - 1) / fw},
               detail::SegmentReduceBody<T, Index, memory_space_t<B>>{m, indptr, perm, y, {}, op, fw});
}

//! P[r, h] = exp(S[r, h] - max) / Σ exp(S[r', h] - max) over the rows r, r' of r's segment in
//! indptr [N+1] (0, non-decreasing, ending at E), for S, P [E, H]. -inf entries get 0; a segment
//! whose entries are all -inf gets 0 everywhere.
template <Backend B, class T, class Index = std::int32_t>
void segment_softmax(Queue<B>& q, TensorView<const T, 2, memory_space_t<B>> s,
                     TensorView<const Index, 1, memory_space_t<B>> indptr, TensorView<T, 2, memory_space_t<B>> p) {
  constexpr const char* op_name = "portml::kernels::graph::segment_softmax";
  check_extent(op_name, "P", 0, p.extent(0), s.extent(0));
  check_extent(op_name, "P", 1, p.extent(1), s.extent(1));
  check_offsets<B, Index>(q, op_name, "indptr", indptr, s.extent(0));
  parallel_for(q, Range2D{indptr.extent(0) - 1, s.extent(1)},
               detail::SegmentSoftmaxBody<T, Index, memory_space_t<B>>{s, indptr, p});
}

//! Y[b, f] = op over the rows of event b, [offsets[b], offsets[b + 1]), of X[:, f], for X [N, F],
//! offsets [B+1], Y [B, F]. `mean` divides by the event's real row count; an empty event gives 0.
template <Backend B, class T, class Index = std::int32_t>
void global_pool(Queue<B>& q, TensorView<const T, 2, memory_space_t<B>> x,
                 TensorView<const Index, 1, memory_space_t<B>> offsets, TensorView<T, 2, memory_space_t<B>> y,
                 Reduce op) {
  constexpr const char* op_name = "portml::kernels::graph::global_pool";
  check_extent(op_name, "offsets", 0, offsets.extent(0), y.extent(0) + 1);
  check_extent(op_name, "Y", 1, y.extent(1), x.extent(1));
  check_offsets<B, Index>(q, op_name, "offsets", offsets, x.extent(0));
  const index_t fw = detail::feature_block<B>(y.extent(1));
  parallel_for(q, Range2D{y.extent(0), (y.extent(1) + fw - 1) / fw},
               detail::SegmentReduceBody<T, Index, memory_space_t<B>>{x, offsets, {}, y, {}, op, fw});
}

//! The explicit instantiations of the reductions for a device backend.
#define PORTML_GRAPH_REDUCE_INSTANTIATE(PREFIX, BACKEND, T, INDEX)                                                     \
  PREFIX template void gather_rows<BACKEND, T, INDEX>(                                                                 \
      Queue<BACKEND>&, TensorView<const T, 2, memory_space_t<BACKEND>>,                                                \
      TensorView<const INDEX, 1, memory_space_t<BACKEND>>, TensorView<T, 2, memory_space_t<BACKEND>>, T);              \
  PREFIX template void ell_reduce<BACKEND, T, INDEX>(Queue<BACKEND>&, TensorView<const T, 3, memory_space_t<BACKEND>>, \
                                                     TensorView<const INDEX, 2, memory_space_t<BACKEND>>,              \
                                                     TensorView<T, 2, memory_space_t<BACKEND>>, Reduce, MeanDivisor);  \
  PREFIX template void segment_reduce<BACKEND, T, INDEX>(                                                              \
      Queue<BACKEND>&, TensorView<const T, 2, memory_space_t<BACKEND>>,                                                \
      TensorView<const INDEX, 1, memory_space_t<BACKEND>>, TensorView<T, 2, memory_space_t<BACKEND>>, Reduce,          \
      TensorView<INDEX, 2, memory_space_t<BACKEND>>);                                                                  \
  PREFIX template void scatter_reduce<BACKEND, T, INDEX>(                                                              \
      Queue<BACKEND>&, TensorView<const T, 2, memory_space_t<BACKEND>>,                                                \
      TensorView<const INDEX, 1, memory_space_t<BACKEND>>, TensorView<T, 2, memory_space_t<BACKEND>>, Reduce,          \
      TensorView<INDEX, 1, memory_space_t<BACKEND>>, ScatterMode);                                                     \
  PREFIX template void segment_softmax<BACKEND, T, INDEX>(                                                             \
      Queue<BACKEND>&, TensorView<const T, 2, memory_space_t<BACKEND>>,                                                \
      TensorView<const INDEX, 1, memory_space_t<BACKEND>>, TensorView<T, 2, memory_space_t<BACKEND>>);                 \
  PREFIX template void global_pool<BACKEND, T, INDEX>(                                                                 \
      Queue<BACKEND>&, TensorView<const T, 2, memory_space_t<BACKEND>>,                                                \
      TensorView<const INDEX, 1, memory_space_t<BACKEND>>, TensorView<T, 2, memory_space_t<BACKEND>>, Reduce);

#if !defined(__CUDACC__) && !defined(__HIPCC__)
// Host code links the device instantiations from the kernel libraries.
#if PORTML_ENABLE_CUDA
PORTML_GRAPH_REDUCE_INSTANTIATE(extern, backend::Cuda, float, std::int32_t)
PORTML_GRAPH_REDUCE_INSTANTIATE(extern, backend::Cuda, float, std::int64_t)
#endif
#if PORTML_ENABLE_HIP
PORTML_GRAPH_REDUCE_INSTANTIATE(extern, backend::Hip, float, std::int32_t)
PORTML_GRAPH_REDUCE_INSTANTIATE(extern, backend::Hip, float, std::int64_t)
#endif
#endif

}  // namespace portml::kernels::graph
