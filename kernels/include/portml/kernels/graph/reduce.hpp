// SPDX-License-Identifier: Apache-2.0
//! \file
//! Gather and reduction primitives of graph networks (docs/gnn.md): gather_rows, ell_reduce over
//! fixed-degree neighbour lists, segment_reduce over CSR segments, scatter_reduce over COO edges (a
//! stable sort by destination: a counting sort on host queues, a radix sort on GPUs; then
//! segment_reduce), segment_softmax and global_pool.
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

  //! One feature (GPUs take one per work item): the running value in a register, so that no store to
  //! Y (which may alias M as far as the compiler knows) orders the loads of the next rows. The same
  //! operations in the same order as run(), so the same bits.
  template <Reduce Op>
  PORTML_HOST_DEVICE void run_one(index_t i, index_t f) const {
    const index_t begin = indptr(i), end = indptr(i + 1);
    T acc = fold_identity<Op, T>();
    // Four rows' loads before their folds (the same folds in the same order): a GPU thread then waits
    // for memory once per four rows of its segment.
    index_t r = begin;
    for (; r + 4 <= end; r += 4) {
      const index_t e0 = row(r), e1 = row(r + 1), e2 = row(r + 2), e3 = row(r + 3);
      const T v0 = m(e0, f), v1 = m(e1, f), v2 = m(e2, f), v3 = m(e3, f);
      acc = fold<Op>(fold<Op>(fold<Op>(fold<Op>(acc, v0), v1), v2), v3);
    }
    for (; r < end; ++r) acc = fold<Op>(acc, m(row(r), f));
    if (end == begin) {
      acc = T(0);
    } else if (Op == Reduce::mean) {
      acc /= static_cast<T>(end - begin);
    }
    y(i, f) = acc;
  }

  template <Reduce Op>
  PORTML_HOST_DEVICE void run(index_t i, index_t f0, index_t f1) const {
    if (f1 - f0 == 1) return run_one<Op>(i, f0);
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

//! How the GPU path of scatter_reduce sorts the destinations (detail::sort_by_destination): a stable
//! LSD radix sort of the keys in [0, N), least significant digit first, in `passes` passes of
//! `digit_bits`-bit digits: passes = ceil(bits / 8) for the bits of N − 1, and the bits shared out
//! evenly over the passes (N = 10 000: 14 bits, two passes of 7; N = 70 000: 17 bits, three of 6).
//! Each pass cuts the keys into tiles of radix_sort_tile consecutive elements, one team each.
struct RadixSortShape {
  index_t passes = 0;      //!< 0 when N ≤ 1 (every key is 0: the order is the identity)
  index_t digit_bits = 0;  //!< ≤ radix_sort_max_digit_bits
  index_t radix = 1;       //!< 2^digit_bits buckets
  index_t tiles = 0;       //!< ceil(E / radix_sort_tile): the teams of the count and scatter kernels
  int team = 0;            //!< threads per team of the count and scatter kernels
  //! Elements of the (digit, tile) count table: radix · tiles when there is a pass, else 0.
  index_t table() const { return passes > 0 ? radix * tiles : 0; }
};

inline constexpr index_t radix_sort_max_digit_bits = 8;
//! Keys a thread of the count and scatter kernels loads before it uses any of them.
inline constexpr index_t radix_sort_load_group = 8;
//! Consecutive keys per team. A thread's count of a digit and its prefix over the team's threads are
//! at most this, so they are kept as uint16_t.
inline constexpr index_t radix_sort_tile = 2048;
//! Threads of the one team that scans the count table, and the table entries each takes per chunk.
inline constexpr int radix_sort_scan_team = 512;
inline constexpr index_t radix_sort_scan_per_thread = 8;
//! Team scratch of the scan: the chunk (padded runs) and the two arrays of the team scan
//! (44 KiB with 512 threads: under the 48 KiB a block may use without opting in, and under HIP's 64).
inline constexpr std::size_t radix_sort_scan_scratch_bytes =
    (static_cast<std::size_t>(radix_sort_scan_team) * (radix_sort_scan_per_thread + 1) + 2 * radix_sort_scan_team) *
    sizeof(index_t);

inline RadixSortShape radix_sort_shape(index_t num_nodes, index_t num_edges) {
  RadixSortShape shape;
  index_t bits = 0;
  while ((index_t(1) << bits) < num_nodes) ++bits;
  shape.passes = (bits + radix_sort_max_digit_bits - 1) / radix_sort_max_digit_bits;
  shape.digit_bits = shape.passes > 0 ? (bits + shape.passes - 1) / shape.passes : 0;
  shape.radix = index_t(1) << shape.digit_bits;
  shape.tiles = (num_edges + radix_sort_tile - 1) / radix_sort_tile;
  // The count rows, [team][radix + 2] uint16_t, take about 33 KiB: 128 threads up to 128 buckets.
  shape.team = shape.radix > 128 ? 64 : 128;
  return shape;
}

//! Elements of `Index` the GPU path's radix sort takes from scatter_reduce's scratch: none without a
//! pass; the keys of the one pass and the count table; or, from two passes on, two key buffers, a
//! second edge order to alternate with perm, and the table.
inline index_t radix_sort_scratch_size(index_t num_nodes, index_t num_edges) {
  const RadixSortShape shape = radix_sort_shape(num_nodes, num_edges);
  if (shape.passes == 0) return 0;
  return (shape.passes == 1 ? num_edges : 3 * num_edges) + shape.table();
}

//! Team scratch of the count and scatter kernels: the count rows, then the tile's base position per
//! digit.
PORTML_HOST_DEVICE constexpr std::size_t radix_sort_count_rows_bytes(index_t team, index_t radix) {
  const auto bytes = static_cast<std::size_t>(team * (radix + 2)) * sizeof(std::uint16_t);
  return (bytes + sizeof(index_t) - 1) / sizeof(index_t) * sizeof(index_t);
}
inline std::size_t radix_sort_team_scratch_bytes(const RadixSortShape& shape) {
  return radix_sort_count_rows_bytes(shape.team, shape.radix) + static_cast<std::size_t>(shape.radix) * sizeof(index_t);
}

//! One tile of a radix pass: team b takes keys [b·tile, b·tile + tile); its thread t the contiguous
//! sub-run [t·V, t·V + V) of the tile, V = ceil(tile / team size), so the tile's order is the threads'
//! order, then each thread's. Correct for any team size (the launch asks for shape.team).
template <class Index, class Space>
struct RadixTile {
  TensorView<const Index, 1, Space> keys;
  TensorView<Index, 1, Space> table;  //!< [radix][tiles], digit-major
  index_t shift;
  index_t radix;
  index_t tiles;

  PORTML_HOST_DEVICE index_t digit(Index key) const { return (static_cast<index_t>(key) >> shift) & (radix - 1); }
  //! uint16_t per row: an odd number of 32-bit words, so that the rows of a warp start in different banks.
  PORTML_HOST_DEVICE index_t pitch() const { return radix + 2; }

  template <class TeamT>
  PORTML_HOST_DEVICE void sub_run(const TeamT& team, index_t& begin, index_t& end) const {
    const index_t n = keys.extent(0), threads = team.team_size();
    const index_t first = team.league_rank() * radix_sort_tile;
    const index_t last = first + radix_sort_tile < n ? first + radix_sort_tile : n;
    const index_t per = (radix_sort_tile + threads - 1) / threads;
    begin = first + static_cast<index_t>(team.team_rank()) * per;
    begin = begin < last ? begin : last;
    end = begin + per < last ? begin + per : last;
  }

  //! Row t of the count rows in scratch = the digit counts of thread t's sub-run (one writer per row,
  //! no atomics); returns the rows after a barrier.
  template <class TeamT>
  PORTML_HOST_DEVICE std::uint16_t* count_rows(const TeamT& team) const {
    std::uint16_t* rows = team_scratch<std::uint16_t>(team);
    std::uint16_t* own = rows + static_cast<index_t>(team.team_rank()) * pitch();
    for (index_t d = 0; d < radix; ++d) own[d] = 0;
    index_t begin = 0, end = 0;
    sub_run(team, begin, end);
    // The keys in groups of radix_sort_load_group: the loads of a group are independent of the counts,
    // so a GPU thread waits for memory once per group, not once per key.
    constexpr index_t group = radix_sort_load_group;
    for (index_t p = begin; p < end; p += group) {
      index_t d[group] = {};
      for (index_t j = 0; j < group; ++j)
        if (p + j < end) d[j] = digit(keys(p + j));
      for (index_t j = 0; j < group && p + j < end; ++j) own[d[j]] = static_cast<std::uint16_t>(own[d[j]] + 1);
    }
    team.barrier();
    return rows;
  }
};

//! Radix pass, kernel 1 (one team per tile): table[d][b] = the number of keys of tile b with digit d.
template <class Index, class Space>
struct RadixCountBody {
  RadixTile<Index, Space> tile;
  template <class TeamT>
  PORTML_HOST_DEVICE void operator()(const TeamT& team) const {
    const std::uint16_t* rows = tile.count_rows(team);
    const index_t threads = team.team_size(), pitch = tile.pitch();
    for (index_t d : team_elements(team, tile.radix)) {
      index_t total = 0;
      for (index_t t = 0; t < threads; ++t) total += rows[t * pitch + d];
      tile.table(d * tile.tiles + team.league_rank()) = static_cast<Index>(total);
    }
  }
};

//! Radix pass, kernel 2 (one team): the exclusive prefix sum of the table in place, in digit-major
//! order, so table[d][b] becomes the first output position of tile b's keys with digit d. The table is
//! taken in chunks of radix_sort_scan_per_thread · team size entries: the team loads a chunk into
//! scratch with consecutive threads on consecutive entries (one load per thread and step, all of them
//! independent), thread t sums its run of radix_sort_scan_per_thread consecutive entries, the team
//! scans those sums (log2(team size) steps through scratch), each thread rewrites its run as
//! exclusive prefixes (plus the chunks before), and the team stores the chunk back the way it loaded
//! it. Any table size works (40 chunks' worth of work per thread at the former one-run-per-thread
//! layout became 3 chunks at E = 160 k, N = 10 k).
template <class Index, class Space>
struct RadixScanBody {
  TensorView<Index, 1, Space> table;
  //! Where entry q of a chunk lives in scratch: thread q / V's run, padded by one so that the runs of a
  //! warp's threads start in different banks.
  PORTML_HOST_DEVICE static index_t slot(index_t q) {
    constexpr index_t v = radix_sort_scan_per_thread;
    return q / v * (v + 1) + q % v;
  }
  template <class TeamT>
  PORTML_HOST_DEVICE void operator()(const TeamT& team) const {
    constexpr index_t v = radix_sort_scan_per_thread;
    const index_t n = table.extent(0), threads = team.team_size(), t = team.team_rank();
    const index_t chunk = threads * v;
    index_t* buf = team_scratch<index_t>(team);
    index_t* a = buf + threads * (v + 1);
    index_t* b = a + threads;
    index_t carry = 0;
    for (index_t base = 0; base < n; base += chunk) {
      for (index_t j = 0; j < v; ++j) {
        const index_t q = j * threads + t, p = base + q;
        buf[slot(q)] = p < n ? static_cast<index_t>(table(p)) : 0;
      }
      team.barrier();
      index_t* own = buf + t * (v + 1);
      index_t sum = 0;
      for (index_t j = 0; j < v; ++j) sum += own[j];
      a[t] = sum;
      team.barrier();
      for (index_t off = 1; off < threads; off *= 2) {
        b[t] = t >= off ? a[t] + a[t - off] : a[t];
        team.barrier();
        index_t* const read = b;
        b = a;
        a = read;
      }
      index_t run = carry + a[t] - sum;
      carry += a[threads - 1];
      for (index_t j = 0; j < v; ++j) {
        const index_t c = own[j];
        own[j] = run;
        run += c;
      }
      team.barrier();
      for (index_t j = 0; j < v; ++j) {
        const index_t q = j * threads + t, p = base + q;
        if (p < n) table(p) = static_cast<Index>(buf[slot(q)]);
      }
      team.barrier();  // buf and the scan's arrays are reused by the next chunk
    }
  }
};

//! Radix pass, kernel 3 (one team per tile): the stable scatter. The count rows are made again and
//! turned, digit by digit, into exclusive prefixes over the threads; a key then goes to
//! table[d][b] (the tile's base for its digit) + the keys of digit d in earlier threads of the tile +
//! those earlier in its own sub-run. Every position comes from counts, none from an atomic's order, so
//! equal digits keep their order and the result is the counting sort's on any backend.
template <class Index, class Space>
struct RadixScatterBody {
  RadixTile<Index, Space> tile;
  TensorView<const Index, 1, Space> order_in;  //!< empty: the identity (the first pass)
  TensorView<Index, 1, Space> keys_out;
  TensorView<Index, 1, Space> order_out;
  template <class TeamT>
  PORTML_HOST_DEVICE void operator()(const TeamT& team) const {
    std::uint16_t* rows = tile.count_rows(team);
    const index_t threads = team.team_size(), pitch = tile.pitch();
    auto* base = reinterpret_cast<index_t*>(reinterpret_cast<unsigned char*>(rows) +
                                            radix_sort_count_rows_bytes(threads, tile.radix));
    constexpr index_t group = radix_sort_load_group;
    for (index_t d : team_elements(team, tile.radix)) {
      // Digit d's counts down the threads become exclusive prefixes; a group's counts are read before
      // any of its prefixes is written, so the reads do not wait on the writes one by one.
      index_t run = 0;
      for (index_t t0 = 0; t0 < threads; t0 += group) {
        std::uint16_t c[group] = {};
        for (index_t j = 0; j < group; ++j)
          if (t0 + j < threads) c[j] = rows[(t0 + j) * pitch + d];
        for (index_t j = 0; j < group && t0 + j < threads; ++j) {
          rows[(t0 + j) * pitch + d] = static_cast<std::uint16_t>(run);
          run += c[j];
        }
      }
      base[d] = static_cast<index_t>(tile.table(d * tile.tiles + team.league_rank()));
    }
    team.barrier();
    std::uint16_t* own = rows + static_cast<index_t>(team.team_rank()) * pitch;
    index_t begin = 0, end = 0;
    tile.sub_run(team, begin, end);
    // The keys in groups, loads first, as in RadixTile::count_rows.
    for (index_t p = begin; p < end; p += group) {
      Index key[group] = {}, order[group] = {};
      for (index_t j = 0; j < group; ++j) {
        if (p + j < end) {
          key[j] = tile.keys(p + j);
          order[j] = order_in.empty() ? static_cast<Index>(p + j) : order_in(p + j);
        }
      }
      for (index_t j = 0; j < group && p + j < end; ++j) {
        const index_t d = tile.digit(key[j]);
        const index_t out = base[d] + own[d];
        own[d] = static_cast<std::uint16_t>(own[d] + 1);
        keys_out(out) = key[j];
        order_out(out) = order[j];
      }
    }
  }
};

//! Work item i: order[i] = i (the sort without a pass: N ≤ 1).
template <class Index, class Space>
struct IdentityOrderBody {
  TensorView<Index, 1, Space> order;
  PORTML_HOST_DEVICE void operator()(index_t i) const { order(i) = static_cast<Index>(i); }
};

//! Work item p in [0, E]: indptr[i] = p for the destinations i in (keys[p − 1], keys[p]] of the sorted
//! keys, with keys[−1] = −1 and keys[E] = N: the position where the run of destination i starts, or
//! would start if it is empty. Each indptr entry is written once; no search. A run of empty
//! destinations is written by one work item (N of them when every edge goes to the last node).
template <class Index, class Space>
struct IndptrFromSortedBody {
  TensorView<const Index, 1, Space> keys;
  TensorView<Index, 1, Space> indptr;
  PORTML_HOST_DEVICE void operator()(index_t p) const {
    const index_t e = keys.extent(0), n = indptr.extent(0) - 1;
    const index_t prev = p == 0 ? -1 : static_cast<index_t>(keys(p - 1));
    const index_t cur = p == e ? n : static_cast<index_t>(keys(p));
    for (index_t i = prev + 1; i <= cur; ++i) indptr(i) = static_cast<Index>(p);
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
//! (E), and scratch: a cursor (N) for the host's counting sort, or the radix sort's buffers on GPUs
//! (detail::radix_sort_scratch_size: with N = 10 000, E = 160 000 that is 3 E + 128 · 79). Exactly what
//! the larger of the two uses; one size for every backend.
inline index_t scatter_reduce_workspace_size(index_t num_nodes, index_t num_edges) {
  return num_nodes + 1 + num_edges + std::max(num_nodes, detail::radix_sort_scratch_size(num_nodes, num_edges));
}

namespace detail {

//! perm = the edge ids stably sorted by destination, and indptr its CSR offsets. Host queues run the
//! O(N + E) counting sort on one work item; GPU queues (and the Serial queue emulating one) the radix
//! sort (RadixSortShape): per pass three kernels (RadixCountBody, RadixScanBody, RadixScatterBody),
//! then IndptrFromSortedBody: 3 · passes + 1 launches (7 for 256 < N ≤ 65 536), no host
//! synchronisation, no allocation. Both give the same perm.
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
  const RadixSortShape shape = radix_sort_shape(n, e);
  if (shape.passes == 0 || e == 0) {  // every key is 0, or no key: perm is the identity
    if (e > 0) parallel_for(q, Range1D{e}, IdentityOrderBody<Index, S>{perm});
    parallel_for(q, Range1D{e + 1}, IndptrFromSortedBody<Index, S>{dst, indptr});
    return;
  }
  // Scratch: keys_a [E], the table, then (two passes or more) keys_b [E] and order_b [E]. The passes
  // alternate between (keys_a, perm) and (keys_b, order_b) so that the last one writes perm; the first
  // reads dst and the identity.
  const auto keys_a = scratch.row_slice(0, e);
  const auto table = scratch.row_slice(e, e + shape.table());
  const auto keys_b = shape.passes > 1 ? scratch.row_slice(e + shape.table(), 2 * e + shape.table()) : keys_a;
  const auto order_b = shape.passes > 1 ? scratch.row_slice(2 * e + shape.table(), 3 * e + shape.table()) : perm;
  const LaunchConfig per_tile{shape.tiles, shape.team, radix_sort_team_scratch_bytes(shape)};
  const LaunchConfig one_team{1, radix_sort_scan_team, radix_sort_scan_scratch_bytes};
  TensorView<const Index, 1, S> keys_in = dst, order_in;
  for (index_t pass = 0; pass < shape.passes; ++pass) {
    const bool to_perm = (shape.passes - 1 - pass) % 2 == 0;
    const auto keys_out = to_perm ? keys_a : keys_b;
    const auto order_out = to_perm ? perm : order_b;
    const RadixTile<Index, S> tile{keys_in, table, pass * shape.digit_bits, shape.radix, shape.tiles};
    launch(q, per_tile, RadixCountBody<Index, S>{tile});
    launch(q, one_team, RadixScanBody<Index, S>{table});
    launch(q, per_tile, RadixScatterBody<Index, S>{tile, order_in, keys_out, order_out});
    keys_in = keys_out;
    order_in = order_out;
  }
  parallel_for(q, Range1D{e + 1}, IndptrFromSortedBody<Index, S>{keys_in, indptr});
}

}  // namespace detail

//! Y[i, f] = op over the edges e with dst[e] = i of M[e, f], for M [E, F], dst [E] (values in
//! [0, N)), Y [N, F]; `mean` divides by the edge count, an empty destination gives 0. Deterministic
//! by default (ScatterMode::sorted): a stable sort by destination in `workspace` (a counting sort on
//! host queues, an LSD radix sort on GPUs: detail::sort_by_destination), then segment_reduce, so
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
