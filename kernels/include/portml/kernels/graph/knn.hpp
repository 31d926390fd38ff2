// SPDX-License-Identifier: Apache-2.0
//! \file
//! Graph construction per event of a ragged batch (docs/gnn.md): knn_graph, the bipartite knn and
//! radius_graph. All three share one exact search: the squared L2 distance in the difference form
//! Σ_d (q_d − r_d)² summed over dimensions in order (optionally with one periodic dimension such as
//! φ), and a sorted insertion into the output row that orders candidates by (d², row index), so ties
//! go to the lower index. The search is a brute force over the event's rows with eight queries per
//! work item (each candidate coordinate is loaded once for eight accumulators), or, for knn_graph
//! with a workspace in 1 to 4 dimensions, a per-event uniform grid that visits the same candidates
//! that can matter and so gives the same result. On x86 hosts (float) both have SIMD paths chosen at
//! run time through KnnOptions::isa (knn_lanes_x86.hpp: 16 or 8 queries in vector lanes; the grid's
//! cell runs 16 rows at a time), with the same bits. GPU queues run KnnTeamBody (each query's candidates
//! split over several threads of a team, staged in scratch), one dispatch point: knn_team_shape.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <numbers>
#include <string>
#include <type_traits>

#include <portml/core/error.hpp>
#include <portml/core/isa.hpp>
#include <portml/kernels/graph/common.hpp>
#include <portml/kernels/graph/knn_lanes_x86.hpp>

namespace portml::kernels::graph {

//! Options of knn_graph / knn / radius_graph.
template <class T>
struct KnnOptions {
  //! knn_graph only: whether a point is its own neighbour (in slot 0, d² = 0).
  SelfMode self_mode = SelfMode::exclude;
  //! Candidates with d² > max_radius2 are ignored (their slots stay -1 / +inf).
  T max_radius2 = std::numeric_limits<T>::infinity();
  //! A dimension whose difference wraps around: |Δ| > period / 2 becomes period − |Δ| (ParticleNet's
  //! Δφ). Coordinates of that dimension must lie within one period. -1: none.
  int periodic_dim = -1;
  T period = T(2) * std::numbers::pi_v<T>;
  //! Host brute force (float): the SIMD path (AVX-512: 16 queries per vector, AVX2: 8) or the
  //! portable one (`scalar`); `automatic` takes the widest this CPU runs. Every path gives the same
  //! bits. A forced path this build or CPU lacks throws NotSupported. GPU queues ignore it.
  Isa isa = Isa::automatic;
};

namespace detail {

#if !defined(__CUDACC__) && !defined(__HIPCC__) && defined(__GNUC__)
inline constexpr bool host_vector_lanes = true;
#else
inline constexpr bool host_vector_lanes = false;
#endif

//! Q values of T, one per query of a block, all zero at first. Each lane's arithmetic is one IEEE
//! operation per lane whatever the storage, so the storage does not change any bit.
template <class T, int Q, bool Vector = (Q * sizeof(T) % 16 == 0) && host_vector_lanes>
struct Lanes {
  T v[Q] = {};
  PORTML_HOST_DEVICE T operator[](int q) const { return v[q]; }
  PORTML_HOST_DEVICE void set(int q, T x) { v[q] = x; }
  //! this += (a − c)², lane by lane.
  PORTML_HOST_DEVICE void add_square_diff(const Lanes& a, T c) {
    for (int q = 0; q < Q; ++q) {
      const T t = a.v[q] - c;
      v[q] += t * t;
    }
  }
};

#if !defined(__CUDACC__) && !defined(__HIPCC__) && defined(__GNUC__)
//! Host compilers (GCC, Clang): 16-byte GNU vectors, which every x86-64 / AArch64 target keeps in
//! SIMD registers (wider GNU vectors without the matching ISA flags live in memory).
template <class T, int Q>
struct Lanes<T, Q, true> {
  typedef T Vector __attribute__((vector_size(16)));  // NOLINT: the attribute needs typedef
  static constexpr int per = static_cast<int>(16 / sizeof(T));
  static constexpr int count = Q / per;
  static_assert(Q % per == 0, "portml: Lanes of whole 16-byte vectors");
  Vector v[count] = {};
  T operator[](int q) const { return v[q / per][q % per]; }
  void set(int q, T x) { v[q / per][q % per] = x; }
  void add_square_diff(const Lanes& a, T c) {
    for (int h = 0; h < count; ++h) {
      const Vector t = a.v[h] - c;
      v[h] += t * t;
    }
  }
};
#endif

//! Rows of event b (Max over events).
template <class Index, class Space>
struct EventSizeBody {
  TensorView<const Index, 1, Space> offsets;
  PORTML_HOST_DEVICE void operator()(index_t b, index_t& acc) const {
    const index_t n = static_cast<index_t>(offsets(b + 1)) - static_cast<index_t>(offsets(b));
    acc = n > acc ? n : acc;
  }
};

//! The shared exact search. Work item (b, w) handles query rows [8w, 8w + 8) of event b: a full block
//! scans the event's reference rows for its eight queries together, a partial last block one query at
//! a time; both paths perform the same arithmetic per (query, candidate) pair, so the result does not
//! depend on the blocking.
template <class T, class Index, class Space>
struct KnnBody {
  static constexpr index_t block = 8;             //!< queries per work item
  static constexpr index_t max_staged_dims = 32;  //!< up to this D the block's queries are staged locally
  using index_type = Index;

  TensorView<const T, 2, Space> xq;
  TensorView<const Index, 1, Space> offq;
  TensorView<const T, 2, Space> xr;
  TensorView<const Index, 1, Space> offr;
  TensorView<Index, 2, Space> nbr;
  TensorView<T, 2, Space> d2;
  TensorView<Index, 1, Space> found;  // optional: candidates within the radius (self not counted)
  bool same_set;                      // knn_graph: the query and reference rows are the same rows
  SelfMode self_mode;
  T max_radius2;
  int periodic_dim;
  T period;

  //! Inserts candidate (d, j) into the sorted slots [first, k) of row i; `worst_*` cache slot k − 1.
  PORTML_HOST_DEVICE void insert(index_t i, index_t first, T d, index_t j, T& worst_d, index_t& worst_j) const {
    if (!(d < worst_d || (d == worst_d && j < worst_j))) return;
    // Row pointers and strides: the shift loop is the hot path of small events.
    const index_t last = nbr.extent(1) - 1;
    T* dr = &d2(i, 0);
    Index* nr = &nbr(i, 0);
    const index_t ds = d2.stride(1), ns = nbr.stride(1);
    index_t pos = last;
    while (pos > first) {
      const T pd = dr[(pos - 1) * ds];
      const index_t pj = nr[(pos - 1) * ns];
      if (!(d < pd || (d == pd && j < pj))) break;
      dr[pos * ds] = pd;
      nr[pos * ns] = static_cast<Index>(pj);
      --pos;
    }
    dr[pos * ds] = d;
    nr[pos * ns] = static_cast<Index>(j);
    worst_d = dr[last * ds];
    worst_j = nr[last * ns];
  }

  //! Empties row i (and puts the point itself in slot 0 for include_first); returns the first free slot.
  PORTML_HOST_DEVICE index_t start_row(index_t i) const {
    for (index_t s = 0; s < nbr.extent(1); ++s) {
      nbr(i, s) = Index(-1);
      d2(i, s) = std::numeric_limits<T>::infinity();
    }
    if (same_set && self_mode == SelfMode::include_first) {
      nbr(i, 0) = static_cast<Index>(i);
      d2(i, 0) = T(0);
      return 1;
    }
    return 0;
  }

  //! Coordinate d of the Q queries [i0, i0 + Q) as lanes: the staged copy when there is one.
  template <int Q, bool Staged>
  PORTML_HOST_DEVICE Lanes<T, Q> query_lanes(const Lanes<T, Q> (&staged)[max_staged_dims], index_t i0,
                                             index_t d) const {
    if constexpr (Staged) {
      return staged[d];
    } else {
      Lanes<T, Q> l;
      for (int q = 0; q < Q; ++q) l.set(q, xq(i0 + q, d));
      return l;
    }
  }

  //! acc += Σ_{d in [d0, d1)} (queries − reference row j)², dimensions in order.
  template <int Q, bool Staged>
  PORTML_HOST_DEVICE void add_squares(Lanes<T, Q>& acc, const Lanes<T, Q> (&staged)[max_staged_dims], index_t i0,
                                      index_t j, index_t d0, index_t d1) const {
    Lanes<T, Q> sum = acc;  // a local copy stays in registers across the loop
    for (index_t d = d0; d < d1; ++d) sum.add_square_diff(query_lanes<Q, Staged>(staged, i0, d), xr(j, d));
    acc = sum;
  }

  //! The same for two reference rows at once (two independent chains of additions).
  template <int Q, bool Staged>
  PORTML_HOST_DEVICE void add_squares2(Lanes<T, Q>& acc0, Lanes<T, Q>& acc1,
                                       const Lanes<T, Q> (&staged)[max_staged_dims], index_t i0, index_t j0, index_t j1,
                                       index_t d0, index_t d1) const {
    Lanes<T, Q> s0 = acc0, s1 = acc1;
    for (index_t d = d0; d < d1; ++d) {
      const Lanes<T, Q> qd = query_lanes<Q, Staged>(staged, i0, d);
      s0.add_square_diff(qd, xr(j0, d));
      s1.add_square_diff(qd, xr(j1, d));
    }
    acc0 = s0;
    acc1 = s1;
  }

  //! Candidate j at distance a for query row i (the per-query step of offer): the radius, the
  //! point itself, the count, and the insertion when (a, j) beats the cached k-th entry.
  PORTML_HOST_DEVICE void take(index_t i, index_t j, T a, index_t first, T& worst_d, index_t& worst_j, index_t& count,
                               T& limit, bool counting) const {
    if (!(a <= max_radius2)) return;  // also drops NaN
    if (same_set && j == i) return;
    ++count;
    if (first < nbr.extent(1) && (a < worst_d || (a == worst_d && j < worst_j))) {
      insert(i, first, a, j, worst_d, worst_j);
      if (!counting) limit = worst_d < max_radius2 ? worst_d : max_radius2;
    }
  }

  //! Offers candidate j with the block's distances `acc` to the Q queries' lists.
  template <int Q>
  PORTML_HOST_DEVICE void offer(index_t i0, index_t j, const Lanes<T, Q>& acc, const index_t (&first)[Q],
                                T (&worst_d)[Q], index_t (&worst_j)[Q], index_t (&count)[Q], T (&limit)[Q],
                                bool counting) const {
    // Cheap common case first: no query of the block can take (or count) this candidate.
    int hit = 0;
    for (int q = 0; q < Q; ++q) hit |= acc[q] <= limit[q] ? 1 : 0;
    if (hit == 0) return;
    for (int q = 0; q < Q; ++q) take(i0 + q, j, acc[q], first[q], worst_d[q], worst_j[q], count[q], limit[q], counting);
  }

  //! Scans reference rows [rbegin, rend) for the Q query rows [i0, i0 + Q). With `Staged` the
  //! queries' coordinates are first copied to local lanes (one per dimension); the arithmetic is the
  //! same either way.
  template <int Q, bool Staged>
  PORTML_HOST_DEVICE void scan(index_t i0, index_t rbegin, index_t rend) const {
    const index_t dims = xq.extent(1);
    const index_t k = nbr.extent(1);
    index_t first[Q], worst_j[Q], count[Q];
    T worst_d[Q];
    Lanes<T, Q> staged[max_staged_dims];
    for (int q = 0; q < Q; ++q) {
      first[q] = start_row(i0 + q);
      worst_d[q] = d2(i0 + q, k - 1);
      worst_j[q] = nbr(i0 + q, k - 1);
      count[q] = 0;
      if constexpr (Staged) {
        for (index_t d = 0; d < dims; ++d) staged[d].set(q, xq(i0 + q, d));
      }
    }
    // k = 1 with include_first leaves no slot to fill; the scan then only counts (radius_graph).
    if (first[0] >= k && found.empty()) return;
    // limit[q]: no candidate above it can be taken by query q (nor counted, when counting).
    const bool counting = !found.empty();
    T limit[Q];
    for (int q = 0; q < Q; ++q) {
      limit[q] = (!counting && worst_d[q] < max_radius2) ? worst_d[q] : max_radius2;
    }
    const T half = period / T(2);
    index_t j = rbegin;
    if (periodic_dim < 0) {  // two candidates at a time
      for (; j + 1 < rend; j += 2) {
        Lanes<T, Q> acc0, acc1;
        add_squares2<Q, Staged>(acc0, acc1, staged, i0, j, j + 1, 0, dims);
        offer<Q>(i0, j, acc0, first, worst_d, worst_j, count, limit, counting);
        offer<Q>(i0, j + 1, acc1, first, worst_d, worst_j, count, limit, counting);
      }
    }
    for (; j < rend; ++j) {
      Lanes<T, Q> acc;
      // Dimensions in order: the plain ones before the periodic one, the periodic one (wrapped),
      // the plain ones after it.
      if (periodic_dim < 0) {
        add_squares<Q, Staged>(acc, staged, i0, j, 0, dims);
      } else {
        const index_t split = periodic_dim;
        add_squares<Q, Staged>(acc, staged, i0, j, 0, split);
        const T c = xr(j, split);
        const Lanes<T, Q> qs = query_lanes<Q, Staged>(staged, i0, split);
        for (int q = 0; q < Q; ++q) {
          T v = qs[q] - c;
          v = v < T(0) ? -v : v;
          if (v > half) v = period - v;
          acc.set(q, acc[q] + v * v);
        }
        add_squares<Q, Staged>(acc, staged, i0, j, split + 1, dims);
      }
      offer<Q>(i0, j, acc, first, worst_d, worst_j, count, limit, counting);
    }
    if (!found.empty()) {
      for (int q = 0; q < Q; ++q) found(i0 + q) = static_cast<Index>(count[q]);
    }
  }

  //! Work item (b, w): query rows [offq[b] + 8w, offq[b] + 8w + 8) of event b, against event b's
  //! reference rows; a partial last block is searched row by row.
  PORTML_HOST_DEVICE void operator()(index_t b, index_t w) const {
    const index_t end = offq(b + 1);
    const index_t i0 = static_cast<index_t>(offq(b)) + w * block;
    if (i0 >= end) return;
    const index_t rbegin = offr(b), rend = offr(b + 1);
    if (i0 + block <= end) {
      if (xq.extent(1) <= max_staged_dims) {
        scan<block, true>(i0, rbegin, rend);
      } else {
        scan<block, false>(i0, rbegin, rend);
      }
      return;
    }
    for (index_t i = i0; i < end; ++i) scan<1, false>(i, rbegin, rend);
  }
};

//! The first GPU decomposition of the same search, kept for what KnnTeamBody does not take (D > 16,
//! more than 32 free slots): one query row per work item. A GPU needs the threads:
//! with eight queries per work item one event of 10 000 points is 1250 threads, most of an H200 idle,
//! and the staged lanes spill to local memory (19.6 ms there, PyTorch's cdist + topk 2.0 ms). The
//! arithmetic per (query, candidate) pair is KnnBody's, so the result is the same bit for bit.
template <class T, class Index, class Space>
struct KnnRowBody {
  KnnBody<T, Index, Space> search;
  index_t largest;  //!< rows of the largest event: work item t is row t % largest of event t / largest
  PORTML_HOST_DEVICE void operator()(index_t t) const {
    const index_t b = t / largest;
    const index_t i = static_cast<index_t>(search.offq(b)) + t % largest;
    if (i >= static_cast<index_t>(search.offq(b + 1))) return;
    search.template scan<1, false>(i, search.offr(b), search.offr(b + 1));
  }
};

#if defined(__CUDACC__) || defined(__HIPCC__)
#define PORTML_KNN_UNROLL _Pragma("unroll")
#elif defined(__GNUC__) && !defined(__clang__)
#define PORTML_KNN_UNROLL _Pragma("GCC unroll 32")
#elif defined(__clang__)
#define PORTML_KNN_UNROLL _Pragma("unroll")
#else
#define PORTML_KNN_UNROLL
#endif

//! Whether (d, j) comes before (od, oj) in the neighbour order: by d², then by the lower index.
template <class T, class I, class J>
PORTML_HOST_DEVICE bool knn_before(T d, I j, T od, J oj) {
  return d < od || (d == od && static_cast<index_t>(j) < static_cast<index_t>(oj));
}

//! How KnnTeamBody shares the work out; `split` = 1 means the one-query-per-thread KnnRowBody.
struct KnnTeamShape {
  index_t split = 1;              //!< S: threads per query, each scanning every S-th candidate of a tile
  int team = 0;                   //!< threads per team (a multiple of 64 and of S)
  index_t tile = 0;               //!< candidates staged in scratch at a time (= team)
  std::size_t scratch_bytes = 0;  //!< max(candidate tile, merge buffers)
};

//! Largest free slot count (k, or k − 1 with the point itself first) and dimension count of the
//! team kernel: its lists and the query live in registers, indexed by compile-time constants.
inline constexpr index_t knn_team_max_slots = 32;
inline constexpr index_t knn_team_max_dims = 16;
//! Threads (rows · S) the split aims for, and the largest split. Measured on an H200 (docs/gnn.md):
//! one event of 10 000 rows is fastest at S = 4 to 8, 50 000 rows (one event or 1000 jets) at S = 2.
inline constexpr index_t knn_team_target_threads = index_t(1) << 15;
inline constexpr index_t knn_team_max_split = 16;
//! Threads per team; halved (to no fewer than 64) while the scratch does not fit the limit below.
inline constexpr int knn_team_threads = 128;
//! Scratch per team: what CUDA gives without opting in, and below HIP's 64 KiB.
inline constexpr std::size_t knn_team_scratch_limit = 48 * 1024;

//! Scratch of a team of `team` threads: the candidate tile [dims][tile + 1] (the odd pitch keeps the
//! staging stores of a warp in distinct banks), reused for the merge: per writing thread (at most
//! team / 2 at once) a count and `slots` (index, d²) pairs.
inline std::size_t knn_team_scratch_bytes(index_t team, index_t dims, index_t slots, std::size_t real_bytes,
                                          std::size_t index_bytes) {
  const auto tile = static_cast<std::size_t>(dims * (team + 1)) * real_bytes;
  const auto writers = static_cast<std::size_t>(team / 2);
  const std::size_t merge =
      writers * sizeof(index_t) + writers * static_cast<std::size_t>(slots) * (index_bytes + real_bytes);
  return tile > merge ? tile : merge;
}

//! The one dispatch point of the GPU brute force (knn_graph, knn and radius_graph on GPU queues).
//! S is the smallest power of two from 2 to knn_team_max_split with rows · S ≥ knn_team_target_threads,
//! then halved (not below 2) while the largest event has fewer than 2 · slots candidates per thread.
//! S = 1, i.e. KnnRowBody, only where KnnTeamBody does not apply: D > 16, more than 32 free slots,
//! or no team of 64 to 128 threads whose scratch fits.
inline KnnTeamShape knn_team_shape(index_t rows, index_t largest, index_t dims, index_t slots, std::size_t real_bytes,
                                   std::size_t index_bytes) {
  KnnTeamShape shape;
  if (dims < 1 || dims > knn_team_max_dims || slots > knn_team_max_slots) return shape;
  index_t split = 2;
  while (split < knn_team_max_split && rows * split < knn_team_target_threads) split *= 2;
  while (split > 2 && largest < split * 2 * slots) split /= 2;
  int team = knn_team_threads;
  while (team > 64 && knn_team_scratch_bytes(team, dims, slots, real_bytes, index_bytes) > knn_team_scratch_limit)
    team /= 2;
  const std::size_t bytes = knn_team_scratch_bytes(team, dims, slots, real_bytes, index_bytes);
  if (bytes > knn_team_scratch_limit) return shape;
  return {split, team, team, bytes};
}

//! The GPU brute force (GPU queues only: they run teams of exactly the requested size, which the body
//! checks). A team takes team / S queries of one event, and each query's
//! candidates are split over S threads. Per tile, the team stages `tile` candidates in scratch
//! ([dim][candidate]); thread s of a query scans candidates s, s + S, ... of the tile against its
//! query (held in registers), with KnnBody's arithmetic per pair and its threshold test, keeping a
//! sorted partial list of its share's best (d², index) in registers. Then the S lists of a query are
//! merged pairwise in log2 S rounds through scratch, and thread 0 writes the row. The (d², index)
//! order is a total order over distinct candidates, so the k best do not depend on the split: the
//! row is the host's, bit for bit. K: compile-time list length (≥ free slots; unused leading slots
//! hold −inf so every index is a constant); DQ: compile-time bound on D.
template <class T, class Index, class Space, int K, int DQ>
struct KnnTeamBody {
  KnnBody<T, Index, Space> search;
  KnnTeamShape shape;

  //! First team of event b: floor(offq[b] / P) + b for P = team / S query rows per team. Event b gets
  //! floor(offq[b + 1] / P) − floor(offq[b] / P) + 1 ≥ ceil(rows_b / P) teams, so the launch needs
  //! floor(rows / P) + B teams however ragged the events are (at most one idle team per event).
  PORTML_HOST_DEVICE index_t first_team(index_t b) const {
    return static_cast<index_t>(search.offq(b)) / (shape.team / shape.split) + b;
  }

  //! Inserts (d, j), which comes before the last entry, into the sorted list (constant indices only).
  PORTML_HOST_DEVICE static void insert(T (&ld)[K], Index (&lj)[K], T d, Index j) {
    PORTML_KNN_UNROLL for (int p = K - 1; p > 0; --p) {
      if (knn_before(d, j, ld[p - 1], lj[p - 1])) {
        ld[p] = ld[p - 1];
        lj[p] = lj[p - 1];
      } else if (knn_before(d, j, ld[p], lj[p])) {
        ld[p] = d;
        lj[p] = j;
      }
    }
    if (knn_before(d, j, ld[0], lj[0])) {
      ld[0] = d;
      lj[0] = j;
    }
  }

  //! d² of the query `qv` and the staged candidate whose first coordinate is col[0]: KnnBody::scan's
  //! operations for one pair, dimensions in order, the periodic one wrapped. Both kinds of dimension
  //! end in the one statement `acc += t * t`, which a device compiler contracts into an FMA as it does
  //! in KnnBody (same bits as KnnRowBody on a GPU, checked on an H200).
  PORTML_HOST_DEVICE T distance(const T (&qv)[DQ], const T* col, index_t pitch, index_t dims) const {
    const T half = search.period / T(2);
    T acc = T(0);
    PORTML_KNN_UNROLL for (int d = 0; d < DQ; ++d) {
      if (d >= dims) break;
      T t = qv[d] - col[d * pitch];
      if (d == search.periodic_dim) {
        t = t < T(0) ? -t : t;
        if (t > half) t = search.period - t;
      }
      acc += t * t;
    }
    return acc;
  }

  template <class TeamT>
  PORTML_HOST_DEVICE void operator()(const TeamT& team) const {
    const index_t split = shape.split, per_team = shape.team / split;
    // The event of this team: the last b with first_team(b) <= league rank (binary search).
    index_t b = 0, past = search.offq.extent(0) - 1;
    while (past - b > 1) {
      const index_t mid = b + (past - b) / 2;
      if (first_team(mid) <= team.league_rank()) {
        b = mid;
      } else {
        past = mid;
      }
    }
    const index_t qbegin = static_cast<index_t>(search.offq(b)) + (team.league_rank() - first_team(b)) * per_team;
    const index_t qend = search.offq(b + 1);
    const index_t rbegin = search.offr(b), rend = search.offr(b + 1);
    if (qbegin >= qend) return;  // the whole team: no barrier is skipped by part of it
    if (team.team_size() != shape.team) {
      // Only queues with GPU-shaped teams launch this body, and they give teams the requested size.
      // (A fallback for smaller teams, inlined here, would cost the kernel 40-60 registers.)
#if PORTML_DEVICE_PASS
      printf("portml::kernels::graph (kNN search): KnnTeamBody needs teams of %d threads, got %d\n", shape.team,
             team.team_size());
      PORTML_DEVICE_TRAP();
#else
      throw Error("portml::kernels::graph (kNN search): KnnTeamBody needs teams of " + std::to_string(shape.team) +
                  " threads, got " + std::to_string(team.team_size()));
#endif
    }
    const index_t t = team.team_rank(), s = t % split, i = qbegin + t / split;
    const bool active = i < qend;
    const index_t dims = search.xq.extent(1), k = search.nbr.extent(1);
    const index_t first = search.same_set && search.self_mode == SelfMode::include_first ? 1 : 0;
    const index_t slots = k - first;
    const bool counting = !search.found.empty();
    constexpr T inf = std::numeric_limits<T>::infinity();
    T ld[K];
    Index lj[K];
    PORTML_KNN_UNROLL for (int p = 0; p < K; ++p) {
      ld[p] = p < K - slots ? -inf : inf;
      lj[p] = Index(-1);
    }
    T qv[DQ];
    PORTML_KNN_UNROLL for (int d = 0; d < DQ; ++d) qv[d] = (active && d < dims) ? search.xq(i, d) : T(0);
    index_t count = 0;
    T limit = counting ? search.max_radius2 : (ld[K - 1] < search.max_radius2 ? ld[K - 1] : search.max_radius2);
    T* tile = team_scratch<T>(team);
    const index_t pitch = shape.tile + 1;
    if (slots > 0 || counting) {
      for (index_t j0 = rbegin; j0 < rend; j0 += shape.tile) {
        const index_t staged = rend - j0 < shape.tile ? rend - j0 : shape.tile;
        team.barrier();  // the previous tile is read
        for (index_t e : team_elements(team, staged * dims))
          tile[(e % dims) * pitch + e / dims] = search.xr(j0 + e / dims, e % dims);
        team.barrier();
        if (!active) continue;
        for (index_t c = s; c < staged; c += split) {
          const T a = distance(qv, tile + c, pitch, dims);
          if (!(a <= limit)) continue;  // the common case; also drops NaN
          const index_t j = j0 + c;
          if (!(a <= search.max_radius2) || (search.same_set && j == i)) continue;
          ++count;
          if (knn_before(a, j, ld[K - 1], lj[K - 1])) {
            insert(ld, lj, a, static_cast<Index>(j));
            if (!counting) limit = ld[K - 1] < search.max_radius2 ? ld[K - 1] : search.max_radius2;
          }
        }
      }
    }
    // Merge: in round h the threads with s % 2h == h hand their list (the last `slots` entries) and
    // count over scratch to thread s − h. Writer t uses buffer t / 2 (writers are ≥ 2 apart).
    index_t* counts = team_scratch<index_t>(team);
    Index* bj = reinterpret_cast<Index*>(counts + shape.team / 2);
    T* bd = reinterpret_cast<T*>(bj + (shape.team / 2) * slots);
    for (index_t h = 1; h < split; h *= 2) {
      team.barrier();  // the tile (or the previous round's buffers) is read
      if (active && s % (2 * h) == h) {
        const index_t buf = t / 2;
        counts[buf] = count;
        PORTML_KNN_UNROLL for (int p = 0; p < K; ++p) {
          if (p >= K - slots) {
            bj[buf * slots + p - (K - slots)] = lj[p];
            bd[buf * slots + p - (K - slots)] = ld[p];
          }
        }
      }
      team.barrier();
      if (active && s % (2 * h) == 0) {
        const index_t buf = (t + h) / 2;
        count += counts[buf];
        for (index_t r = 0; r < slots; ++r) {
          const T d = bd[buf * slots + r];
          const Index j = bj[buf * slots + r];
          if (!knn_before(d, j, ld[K - 1], lj[K - 1])) break;  // the list is sorted: no later entry fits
          insert(ld, lj, d, j);
        }
      }
    }
    if (!active || s != 0) return;
    search.start_row(i);
    PORTML_KNN_UNROLL for (int p = 0; p < K; ++p) {
      if (p >= K - slots && lj[p] >= 0) {
        search.nbr(i, first + p - (K - slots)) = lj[p];
        search.d2(i, first + p - (K - slots)) = ld[p];
      }
    }
    if (counting) search.found(i) = static_cast<Index>(count);
  }
};

//! Number of valid slots of ELL row i, written to counts[i + 1].
template <class Index, class Space>
struct CountValidBody {
  TensorView<const Index, 2, Space> nbr;
  TensorView<Index, 1, Space> counts;
  PORTML_HOST_DEVICE void operator()(index_t i) const {
    index_t c = 0;
    for (index_t s = 0; s < nbr.extent(1); ++s) c += nbr(i, s) >= 0 ? 1 : 0;
    counts(i + 1) = static_cast<Index>(c);
  }
};

//! In-place inclusive prefix sum of counts[1..N] with counts[0] = 0, on one work item.
template <class Index, class Space>
struct PrefixSumBody {
  TensorView<Index, 1, Space> counts;
  PORTML_HOST_DEVICE void operator()(index_t) const {
    counts(0) = 0;
    for (index_t i = 1; i < counts.extent(0); ++i) counts(i) += counts(i - 1);
  }
};

//! Copies the valid slots of ELL row i to src[indptr[i] ...].
template <class Index, class Space>
struct CompactBody {
  TensorView<const Index, 2, Space> nbr;
  TensorView<const Index, 1, Space> indptr;
  TensorView<Index, 1, Space> src;
  PORTML_HOST_DEVICE void operator()(index_t i) const {
    index_t out = indptr(i);
    for (index_t s = 0; s < nbr.extent(1); ++s) {
      if (nbr(i, s) >= 0) src(out++) = nbr(i, s);
    }
  }
};

//! Largest value of a count array (Max over entries).
template <class Index, class Space>
struct MaxOfBody {
  TensorView<const Index, 1, Space> v;
  PORTML_HOST_DEVICE void operator()(index_t i, index_t& acc) const {
    if (static_cast<index_t>(v(i)) > acc) acc = v(i);
  }
};

//! Most dimensions the grid search handles (beyond it knn_graph uses the brute force).
inline constexpr index_t grid_max_dims = 4;
//! The grid search is used when some event has at least this many rows (a chosen threshold, not tuned).
inline constexpr index_t grid_min_event = 512;

//! Per-event uniform grid: parameters and a stable counting sort of the event's rows by cell.
//! Workspace (Index): sorted [N], cell_start [N + B + 1] (event b's ncell + 1 entries start at
//! offsets[b] + b), dims [B * 4]; (T): origin and cell size per event and dimension [B * 8], then the
//! coordinates in sorted order column by column, `coords[d * N + s] = x(sorted[s], d)` [4 * N] (so a
//! run of cells is one contiguous range per dimension for the AVX-512 search).
//! An event of n rows gets at most max(n / 4, 1) cells (n / 2 in 4-D), split over the dimensions in
//! proportion to the event's extent in each.
template <class T, class Index, class Space>
struct GridBuildBody {
  static constexpr index_t max_dims = grid_max_dims;
  TensorView<const T, 2, Space> x;
  TensorView<const Index, 1, Space> offsets;
  TensorView<Index, 1, Space> sorted;
  TensorView<Index, 1, Space> cell_start;
  TensorView<Index, 1, Space> gdims;
  TensorView<T, 1, Space> geom;
  TensorView<T, 1, Space> coords;

  //! Cell coordinate of value v in a dimension of g cells from lo with the given side (NaN: 0).
  PORTML_HOST_DEVICE static index_t cell_coord(T v, T lo, T side, index_t g) {
    const T t = (v - lo) / side;
    if (!(t >= T(0))) return 0;
    return t < static_cast<T>(g) ? static_cast<index_t>(t) : g - 1;
  }

  PORTML_HOST_DEVICE index_t cell_of(index_t i, index_t b) const {
    const index_t dims = x.extent(1);
    index_t cell = 0;
    for (index_t d = 0; d < dims; ++d) {
      const index_t g = gdims(b * grid_max_dims + d);
      cell = cell * g +
             cell_coord(x(i, d), geom(b * 2 * grid_max_dims + d), geom(b * 2 * grid_max_dims + grid_max_dims + d), g);
    }
    return cell;
  }

  PORTML_HOST_DEVICE void operator()(index_t b) const {
    const index_t dims = x.extent(1);
    const index_t begin = offsets(b), end = offsets(b + 1), n = end - begin;
    T lo[grid_max_dims], hi[grid_max_dims];
    for (index_t d = 0; d < dims; ++d) {
      lo[d] = n > 0 ? x(begin, d) : T(0);
      hi[d] = lo[d];
      for (index_t i = begin; i < end; ++i) {
        const T v = x(i, d);
        lo[d] = v < lo[d] ? v : lo[d];
        hi[d] = v > hi[d] ? v : hi[d];
      }
    }
    // Cells: repeatedly split the dimension with the widest cells while the total stays within
    // the target (at least one cell). Non-finite coordinates give one cell (a brute force of the event).
    bool finite = true;
    for (index_t d = 0; d < dims; ++d) finite = finite && (hi[d] - lo[d] <= std::numeric_limits<T>::max());
    // Rows per cell: a few measurements on uniform and normal points (k = 16) were flat between 2 and 8
    // in 3-D; 2 was faster in 4-D.
    const index_t per_cell = dims >= 4 ? 2 : 4;
    const index_t target = (n / per_cell > 1 && finite) ? n / per_cell : 1;
    index_t g[grid_max_dims];
    index_t total = 1;
    for (index_t d = 0; d < dims; ++d) g[d] = 1;
    for (;;) {
      index_t widest = -1;
      T width = T(0);
      for (index_t d = 0; d < dims; ++d) {
        const T w = (hi[d] - lo[d]) / static_cast<T>(g[d]);
        if (w > width) {
          width = w;
          widest = d;
        }
      }
      if (widest < 0 || total / g[widest] * (g[widest] + 1) > target) break;
      total = total / g[widest] * (g[widest] + 1);
      g[widest] += 1;
    }
    for (index_t d = 0; d < dims; ++d) {
      gdims(b * grid_max_dims + d) = static_cast<Index>(g[d]);
      const T side = hi[d] > lo[d] ? (hi[d] - lo[d]) / static_cast<T>(g[d]) : T(1);
      geom(b * 2 * grid_max_dims + d) = lo[d];
      geom(b * 2 * grid_max_dims + grid_max_dims + d) = side;
    }
    // Stable counting sort of the event's rows by cell.
    const index_t base = begin + b;
    for (index_t c = 0; c <= total; ++c) cell_start(base + c) = 0;
    for (index_t i = begin; i < end; ++i) cell_start(base + cell_of(i, b) + 1) += 1;
    for (index_t c = 0; c < total; ++c) cell_start(base + c + 1) += cell_start(base + c);
    // cell_start[c] now holds the first slot of cell c; fill in order, then shift back.
    for (index_t i = begin; i < end; ++i) {
      const index_t c = cell_of(i, b);
      sorted(begin + static_cast<index_t>(cell_start(base + c))) = static_cast<Index>(i);
      cell_start(base + c) += 1;
    }
    for (index_t c = total; c > 0; --c) cell_start(base + c) = cell_start(base + c - 1);
    cell_start(base) = 0;
    const index_t rows = x.extent(0);
    for (index_t d = 0; d < dims; ++d) {
      for (index_t s = begin; s < end; ++s) coords(d * rows + s) = x(static_cast<index_t>(sorted(s)), d);
    }
  }
};

//! Grid search of one query row: rings of cells at growing Chebyshev distance from the query's
//! cell, each candidate taken through the brute force's own distance and insertion, stopping once
//! no unvisited cell can hold a point at d² ≤ the current k-th (with a safety margin for rounding),
//! so the result equals the brute force's.
template <class T, class Index, class Space>
struct GridQueryBody {
  KnnBody<T, Index, Space> search;
  GridBuildBody<T, Index, Space> grid;

  //! True when every point of cell c is surely at d² > bound from query i: the squared distance
  //! from the query to the cell's box, each gap shortened by the rounding slack, with a 1e-4 margin.
  PORTML_HOST_DEVICE bool cell_beyond(index_t i, const index_t (&c)[grid_max_dims], const T (&lo)[grid_max_dims],
                                      const T (&side)[grid_max_dims], const T (&slack)[grid_max_dims], T bound) const {
    const index_t dims = search.xq.extent(1);
    T box = T(0);
    for (index_t d = 0; d < dims; ++d) {
      const T q = search.xq(i, d);
      const T below = (lo[d] + side[d] * static_cast<T>(c[d])) - q - slack[d];
      const T above = q - (lo[d] + side[d] * static_cast<T>(c[d] + 1)) - slack[d];
      const T gap = below > T(0) ? below : (above > T(0) ? above : T(0));
      box += gap * gap;
    }
    return box * T(0.9999) > bound;
  }

  PORTML_HOST_DEVICE void operator()(index_t i) const {
    const index_t dims = search.xq.extent(1);
    const index_t k = search.nbr.extent(1);
    const index_t first = search.start_row(i);
    if (first >= k) return;
    const index_t b = event_of(search.offq, i);
    const index_t begin = search.offq(b), base = begin + b;
    index_t g[grid_max_dims], cq[grid_max_dims];
    T lo[grid_max_dims], side[grid_max_dims], slack[grid_max_dims];
    index_t reach = 0;  // rings needed to cover the whole grid
    for (index_t d = 0; d < dims; ++d) {
      g[d] = grid.gdims(b * grid_max_dims + d);
      lo[d] = grid.geom(b * 2 * grid_max_dims + d);
      side[d] = grid.geom(b * 2 * grid_max_dims + grid_max_dims + d);
      const T hi = lo[d] + side[d] * static_cast<T>(g[d]);
      // Cells are assigned by rounded arithmetic: allow for boundaries off by a few ulps.
      slack[d] = T(4e-6) * ((lo[d] < T(0) ? -lo[d] : lo[d]) + (hi < T(0) ? -hi : hi));
      cq[d] = GridBuildBody<T, Index, Space>::cell_coord(search.xq(i, d), lo[d], side[d], g[d]);
      const index_t far = cq[d] > g[d] - 1 - cq[d] ? cq[d] : g[d] - 1 - cq[d];
      reach = far > reach ? far : reach;
    }
    T worst_d = search.d2(i, k - 1);
    index_t worst_j = search.nbr(i, k - 1);
    for (index_t r = 0; r <= reach; ++r) {
      // Every cell of the box [cq - r, cq + r] (clipped) at Chebyshev distance exactly r.
      index_t c[grid_max_dims], lo_c[grid_max_dims], hi_c[grid_max_dims];
      for (index_t d = 0; d < dims; ++d) {
        lo_c[d] = cq[d] - r < 0 ? 0 : cq[d] - r;
        hi_c[d] = cq[d] + r > g[d] - 1 ? g[d] - 1 : cq[d] + r;
        c[d] = lo_c[d];
      }
      for (;;) {
        bool on_ring = false;
        index_t cell = 0;
        for (index_t d = 0; d < dims; ++d) {
          on_ring = on_ring || c[d] == cq[d] - r || c[d] == cq[d] + r;
          cell = cell * g[d] + c[d];
        }
        // A cell whose box is surely farther than the current k-th (or the radius) is skipped.
        if (on_ring &&
            !cell_beyond(i, c, lo, side, slack, worst_d < search.max_radius2 ? worst_d : search.max_radius2)) {
          const index_t s0 = grid.cell_start(base + cell), s1 = grid.cell_start(base + cell + 1);
          for (index_t s = s0; s < s1; ++s) {
            const index_t j = grid.sorted(begin + s);
            if (j == i) continue;
            T acc = T(0);
            for (index_t d = 0; d < dims; ++d) {
              const T v = search.xq(i, d) - search.xr(j, d);
              acc += v * v;
            }
            if (!(acc <= search.max_radius2)) continue;
            if (acc < worst_d || (acc == worst_d && j < worst_j)) search.insert(i, first, acc, j, worst_d, worst_j);
          }
        }
        index_t d = dims - 1;  // odometer over the box
        while (d >= 0 && c[d] == hi_c[d]) {
          c[d] = lo_c[d];
          --d;
        }
        if (d < 0) break;
        c[d] += 1;
      }
      // Lower bound on the distance of any point in rings > r: the gap from the query to the box.
      T gap = std::numeric_limits<T>::infinity();
      for (index_t d = 0; d < dims; ++d) {
        const T q = search.xq(i, d);
        if (cq[d] - r - 1 >= 0) {
          const T below = q - (lo[d] + side[d] * static_cast<T>(cq[d] - r)) - slack[d];
          gap = below < gap ? below : gap;
        }
        if (cq[d] + r + 1 <= g[d] - 1) {
          const T above = (lo[d] + side[d] * static_cast<T>(cq[d] + r + 1)) - q - slack[d];
          gap = above < gap ? above : gap;
        }
      }
      if (gap > T(0)) {
        const T bound = gap * gap * T(0.9999);
        if (bound > worst_d || bound > search.max_radius2) break;
      }
    }
  }
};

//! The argument checks shared by knn_graph, knn and radius_graph.
template <Backend B, class T, class Index>
void check_knn(Queue<B>& q, const char* op, TensorView<const T, 2, memory_space_t<B>> xq,
               TensorView<const Index, 1, memory_space_t<B>> offq, TensorView<const T, 2, memory_space_t<B>> xr,
               TensorView<const Index, 1, memory_space_t<B>> offr, TensorView<Index, 2, memory_space_t<B>> nbr,
               TensorView<T, 2, memory_space_t<B>> d2, const KnnOptions<T>& opt, bool same_set) {
  if (nbr.extent(1) < 1)
    throw ShapeError(std::string(op) + ": k must be at least 1, got " + std::to_string(nbr.extent(1)));
  check_extent(op, "nbr", 0, nbr.extent(0), xq.extent(0));
  check_extent(op, "d2", 0, d2.extent(0), nbr.extent(0));
  check_extent(op, "d2", 1, d2.extent(1), nbr.extent(1));
  check_extent(op, "reference points", 1, xr.extent(1), xq.extent(1));
  check_extent(op, "reference offsets", 0, offr.extent(0), offq.extent(0));
  if (opt.periodic_dim < -1 || opt.periodic_dim >= xq.extent(1)) {
    throw ShapeError(std::string(op) + ": periodic_dim " + std::to_string(opt.periodic_dim) +
                     " is not -1 or a dimension of " + std::to_string(xq.extent(1)));
  }
  if (opt.periodic_dim >= 0 && !(opt.period > T(0))) {
    throw ShapeError(std::string(op) + ": the period must be positive, got " + std::to_string(opt.period));
  }
  if (!(opt.max_radius2 >= T(0))) {
    throw ShapeError(std::string(op) + ": max_radius2 must be >= 0, got " + std::to_string(opt.max_radius2));
  }
  if (xq.extent(0) > static_cast<index_t>(std::numeric_limits<Index>::max()) ||
      xr.extent(0) > static_cast<index_t>(std::numeric_limits<Index>::max())) {
    throw ShapeError(std::string(op) + ": row count does not fit the index type");
  }
  check_offsets<B, Index>(q, op, same_set ? "offsets" : "query offsets", offq, xq.extent(0));
  if (!same_set) check_offsets<B, Index>(q, op, "reference offsets", offr, xr.extent(0));
}

//! Launches KnnTeamBody with the list length and dimension bound that cover `slots` and D.
template <Backend B, class T, class Index>
void knn_search_teams(Queue<B>& q, const KnnBody<T, Index, memory_space_t<B>>& search, const KnnTeamShape& shape,
                      index_t events, index_t slots) {
  using S = memory_space_t<B>;
  const LaunchConfig cfg{search.xq.extent(0) / (shape.team / shape.split) + events, shape.team, shape.scratch_bytes};
  const index_t dims = search.xq.extent(1);
  if (slots <= 16) {
    if (dims <= 4) {
      launch(q, cfg, KnnTeamBody<T, Index, S, 16, 4>{search, shape});
    } else {
      launch(q, cfg, KnnTeamBody<T, Index, S, 16, 16>{search, shape});
    }
  } else {
    if (dims <= 4) {
      launch(q, cfg, KnnTeamBody<T, Index, S, 32, 4>{search, shape});
    } else {
      launch(q, cfg, KnnTeamBody<T, Index, S, 32, 16>{search, shape});
    }
  }
}

//! The host brute-force path a call runs: `requested` itself (NotSupported if this build or CPU
//! lacks it) or, for `automatic`, the widest available one.
inline Isa knn_resolve_isa(Isa requested) {
  if (requested == Isa::automatic) return widest_isa();
  if (!isa_available(requested)) {
    throw NotSupported(std::string("portml::kernels::graph (kNN search): the ") + to_string(requested) +
                       " path is not compiled in or this CPU lacks the instructions");
  }
  return requested;
}

#if PORTML_X86_SIMD
//! The SIMD brute force on a host queue: one work item per (event, block of 16 or 8 queries). D = 3
//! and 16 (points, ParticleNet-like feature spaces) get scans with the dimension loops unrolled.
template <Backend B, bool Avx512, class Search>
void knn_search_lanes(Queue<B>& q, const Search& search, index_t events, index_t largest, bool periodic) {
  constexpr index_t block = KnnLanesBody<Avx512, 0, false, Search>::block;
  const Range2D range{events, largest > 0 ? (largest + block - 1) / block : 0};
  const index_t dims = search.xq.extent(1);
  if (periodic) {
    parallel_for(q, range, KnnLanesBody<Avx512, 0, true, Search>{search});
  } else if (dims == 3) {
    parallel_for(q, range, KnnLanesBody<Avx512, 3, false, Search>{search});
  } else if (dims == 16) {
    parallel_for(q, range, KnnLanesBody<Avx512, 16, false, Search>{search});
  } else {
    parallel_for(q, range, KnnLanesBody<Avx512, 0, false, Search>{search});
  }
}
#endif

template <Backend B, class T, class Index>
void knn_search(Queue<B>& q, const char* op, TensorView<const T, 2, memory_space_t<B>> xq,
                TensorView<const Index, 1, memory_space_t<B>> offq, TensorView<const T, 2, memory_space_t<B>> xr,
                TensorView<const Index, 1, memory_space_t<B>> offr, TensorView<Index, 2, memory_space_t<B>> nbr,
                TensorView<T, 2, memory_space_t<B>> d2, const KnnOptions<T>& opt, bool same_set,
                TensorView<Index, 1, memory_space_t<B>> found) {
  check_knn<B, T, Index>(q, op, xq, offq, xr, offr, nbr, d2, opt, same_set);
  const index_t events = offq.extent(0) - 1;
  const index_t largest =
      parallel_reduce(q, Range1D{events}, EventSizeBody<Index, memory_space_t<B>>{offq}, Max<index_t>{});
  const KnnBody<T, Index, memory_space_t<B>> search{
      xq, offq, xr, offr, nbr, d2, found, same_set, opt.self_mode, opt.max_radius2, opt.periodic_dim, opt.period};
  if (!runs_gpu_teams(q)) {
    // One work item per (event, block of queries): blocks never straddle events.
    const Isa isa = knn_resolve_isa(opt.isa);
#if PORTML_X86_SIMD
    if constexpr (std::is_same_v<T, float> && B::is_host) {
      if (isa != Isa::scalar && xq.extent(1) <= knn_lanes_max_dims) {
        if (isa == Isa::avx512) {
          knn_search_lanes<B, true>(q, search, events, largest, opt.periodic_dim >= 0);
        } else {
          knn_search_lanes<B, false>(q, search, events, largest, opt.periodic_dim >= 0);
        }
        return;
      }
    }
#endif
    (void)isa;
    const index_t block = KnnBody<T, Index, memory_space_t<B>>::block;
    parallel_for(q, Range2D{events, largest > 0 ? (largest + block - 1) / block : 0}, search);
  } else if (largest > 0) {
    const index_t slots = nbr.extent(1) - (same_set && opt.self_mode == SelfMode::include_first ? 1 : 0);
    const KnnTeamShape shape = knn_team_shape(xq.extent(0), largest, xq.extent(1), slots, sizeof(T), sizeof(Index));
    if (shape.split > 1) {
      knn_search_teams<B, T, Index>(q, search, shape, events, slots);
    } else {
      parallel_for(q, Range1D{events * largest}, KnnRowBody<T, Index, memory_space_t<B>>{search, largest});
    }
  }
}

}  // namespace detail

//! The k nearest rows of each row's own event, for X [N, D], offsets [B+1], nbr [N, k], d2 [N, k]
//! (k = nbr's second extent, ≥ 1). Row i's slots hold global row indices ascending by (d², index);
//! slots beyond the event's candidates or beyond max_radius2 hold -1 and +inf. Candidates whose
//! distance is NaN or +inf are never neighbours. Throws ShapeError for mismatched shapes, bad
//! offsets or options.
template <Backend B, class T, class Index = std::int32_t>
void knn_graph(Queue<B>& q, TensorView<const T, 2, memory_space_t<B>> x,
               TensorView<const Index, 1, memory_space_t<B>> offsets, TensorView<Index, 2, memory_space_t<B>> nbr,
               TensorView<T, 2, memory_space_t<B>> d2, const KnnOptions<T>& options = {}) {
  detail::knn_search<B, T, Index>(q, "portml::kernels::graph::knn_graph", x, offsets, x, offsets, nbr, d2, options,
                                  true, {});
}

//! Workspace of knn_graph's grid search, in elements of each type.
struct KnnWorkspaceSize {
  index_t indices = 0;  //!< elements of Index
  index_t reals = 0;    //!< elements of T
};

//! What knn_graph with a workspace needs for N rows in B events.
//! Indices: sorted rows, cell starts, grid dimensions; reals: grid geometry, then the sorted rows'
//! coordinates column by column (grid_max_dims columns of N, whatever D is).
inline KnnWorkspaceSize knn_graph_workspace_size(index_t num_rows, index_t num_events) {
  return {2 * num_rows + num_events + 1 + detail::grid_max_dims * num_events,
          2 * detail::grid_max_dims * num_events + detail::grid_max_dims * num_rows};
}

//! Caller-provided workspace of knn_graph (sizes from knn_graph_workspace_size).
template <class T, class Index, class Space>
struct KnnWorkspace {
  TensorView<Index, 1, Space> indices;
  TensorView<T, 1, Space> reals;
};

//! knn_graph with a workspace: for D ≤ 4 without a periodic dimension it searches a per-event
//! uniform grid (rings of cells around the query's cell, stopped by a conservative distance bound),
//! otherwise the brute force. The output is the same as without a workspace, bit for bit.
template <Backend B, class T, class Index = std::int32_t>
void knn_graph(Queue<B>& q, TensorView<const T, 2, memory_space_t<B>> x,
               TensorView<const Index, 1, memory_space_t<B>> offsets, TensorView<Index, 2, memory_space_t<B>> nbr,
               TensorView<T, 2, memory_space_t<B>> d2, const KnnOptions<T>& options,
               KnnWorkspace<T, Index, memory_space_t<B>> workspace) {
  constexpr const char* op = "portml::kernels::graph::knn_graph";
  using S = memory_space_t<B>;
  const index_t dims = x.extent(1);
  // GPUs: the brute force, KnnTeamBody (the grid is built per event on one work item,
  // which a GPU runs on one thread: 11 ms for one event of 10 000 points on an H200).
  if (dims > detail::grid_max_dims || dims < 1 || options.periodic_dim >= 0 || runs_gpu_teams(q)) {
    knn_graph<B, T, Index>(q, x, offsets, nbr, d2, options);
    return;
  }
  detail::check_knn<B, T, Index>(q, op, x, offsets, x, offsets, nbr, d2, options, true);
  const index_t n = x.extent(0), events = offsets.extent(0) - 1;
  // Small events (jets) are faster with the blocked brute force; the results are the same.
  const index_t largest = parallel_reduce(q, Range1D{events}, detail::EventSizeBody<Index, S>{offsets}, Max<index_t>{});
  if (largest < detail::grid_min_event) {
    knn_graph<B, T, Index>(q, x, offsets, nbr, d2, options);
    return;
  }
  const KnnWorkspaceSize need = knn_graph_workspace_size(n, events);
  if (workspace.indices.extent(0) < need.indices || workspace.reals.extent(0) < need.reals) {
    throw ShapeError(std::string(op) + ": workspace has " + std::to_string(workspace.indices.extent(0)) +
                     " indices and " + std::to_string(workspace.reals.extent(0)) +
                     " reals, knn_graph_workspace_size gives " + std::to_string(need.indices) + " and " +
                     std::to_string(need.reals));
  }
  const detail::GridBuildBody<T, Index, S> grid{
      x,
      offsets,
      workspace.indices.row_slice(0, n),
      workspace.indices.row_slice(n, 2 * n + events + 1),
      workspace.indices.row_slice(2 * n + events + 1, need.indices),
      workspace.reals.row_slice(0, 2 * detail::grid_max_dims * events),
      workspace.reals.row_slice(2 * detail::grid_max_dims * events, need.reals)};
  parallel_for(q, Range1D{events}, grid);
  const detail::KnnBody<T, Index, S> search{
      x, offsets, x, offsets, nbr, d2, {}, true, options.self_mode, options.max_radius2, -1, options.period};
#if PORTML_X86_SIMD
  // AVX-512: rows of cell runs 16 at a time, queries in cell order (knn_grid_query_avx512).
  if constexpr (std::is_same_v<T, float> && std::is_same_v<Index, std::int32_t> && B::is_host) {
    const index_t slots = nbr.extent(1) - (options.self_mode == SelfMode::include_first ? 1 : 0);
    if (detail::knn_resolve_isa(options.isa) == Isa::avx512 && slots <= detail::KnnList16::width &&
        grid.sorted.stride(0) == 1 && grid.coords.stride(0) == 1) {
      parallel_for(
          q, Range1D{n},
          detail::KnnGridLanesBody<detail::KnnBody<T, Index, S>, detail::GridBuildBody<T, Index, S>>{search, grid});
      return;
    }
  }
#endif
  parallel_for(q, Range1D{n}, detail::GridQueryBody<T, Index, S>{search, grid});
}

//! Bipartite kNN: for each query row of event b (Xq [Nq, D], offq [B+1]) the k nearest reference rows
//! of event b (Xr [Nr, D], offr [B+1]); outputs and order as knn_graph. options.self_mode must be
//! `exclude` (there is no "self" between two point sets).
template <Backend B, class T, class Index = std::int32_t>
void knn(Queue<B>& q, TensorView<const T, 2, memory_space_t<B>> xq, TensorView<const Index, 1, memory_space_t<B>> offq,
         TensorView<const T, 2, memory_space_t<B>> xr, TensorView<const Index, 1, memory_space_t<B>> offr,
         TensorView<Index, 2, memory_space_t<B>> nbr, TensorView<T, 2, memory_space_t<B>> d2,
         const KnnOptions<T>& options = {}) {
  if (options.self_mode != SelfMode::exclude) {
    throw ShapeError("portml::kernels::graph::knn: self_mode include_first needs one point set (use knn_graph)");
  }
  detail::knn_search<B, T, Index>(q, "portml::kernels::graph::knn", xq, offq, xr, offr, nbr, d2, options, false, {});
}

//! What radius_graph found.
struct RadiusGraphInfo {
  index_t num_edges = 0;   //!< edges written (indptr[N])
  bool truncated = false;  //!< some point had more than max_nbrs neighbours within the radius
};

//! Fixed-radius graph, CSR by destination: for each row i, the rows j ≠ i of its event with
//! d² ≤ radius², the nearest `max_nbrs` of them when there are more (ordered by (d², index), which
//! also orders src within a row), with i itself first when `loop` is set (it then counts towards
//! max_nbrs). Outputs indptr [N+1] and src (at least num_edges long, checked before it is written).
//! Workspace: nbr_ws [N, max_nbrs] and d2_ws [N, max_nbrs]. Options: periodic dimension as knn_graph.
template <Backend B, class T, class Index = std::int32_t>
RadiusGraphInfo radius_graph(Queue<B>& q, TensorView<const T, 2, memory_space_t<B>> x,
                             TensorView<const Index, 1, memory_space_t<B>> offsets, T radius, bool loop,
                             TensorView<Index, 2, memory_space_t<B>> nbr_ws, TensorView<T, 2, memory_space_t<B>> d2_ws,
                             TensorView<Index, 1, memory_space_t<B>> indptr,
                             TensorView<Index, 1, memory_space_t<B>> src, int periodic_dim = -1,
                             T period = T(2) * std::numbers::pi_v<T>) {
  constexpr const char* op = "portml::kernels::graph::radius_graph";
  using S = memory_space_t<B>;
  const index_t n = x.extent(0);
  check_extent(op, "indptr", 0, indptr.extent(0), n + 1);
  if (!(radius >= T(0))) throw ShapeError(std::string(op) + ": radius must be >= 0, got " + std::to_string(radius));
  KnnOptions<T> opt;
  opt.self_mode = loop ? SelfMode::include_first : SelfMode::exclude;
  opt.max_radius2 = radius * radius;
  opt.periodic_dim = periodic_dim;
  opt.period = period;
  const TensorView<Index, 1, S> found = indptr.row_slice(1, n + 1);
  detail::knn_search<B, T, Index>(q, op, x, offsets, x, offsets, nbr_ws, d2_ws, opt, true, found);
  const index_t capacity = nbr_ws.extent(1) - (loop ? 1 : 0);
  const index_t most = parallel_reduce(q, Range1D{n}, detail::MaxOfBody<Index, S>{found}, Max<index_t>{});
  RadiusGraphInfo info;
  info.truncated = most > capacity;
  parallel_for(q, Range1D{n}, detail::CountValidBody<Index, S>{nbr_ws, indptr});
  parallel_for(q, Range1D{1}, detail::PrefixSumBody<Index, S>{indptr});
  const TensorView<const Index, 2, S> last(indptr.data() + n * indptr.stride(0), {1, 1}, {1, 1});
  info.num_edges = detail::fetch_one<B, Index>(q, last, 0);
  if (src.extent(0) < info.num_edges) {
    throw ShapeError(std::string(op) + ": src holds " + std::to_string(src.extent(0)) + " entries, the graph has " +
                     std::to_string(info.num_edges) + " edges");
  }
  parallel_for(q, Range1D{n}, detail::CompactBody<Index, S>{nbr_ws, indptr, src});
  return info;
}

//! The explicit instantiations of the graph-construction ops for a device backend.
#define PORTML_GRAPH_KNN_INSTANTIATE(PREFIX, BACKEND, T, INDEX)                                                       \
  PREFIX template void knn_graph<BACKEND, T, INDEX>(Queue<BACKEND>&, TensorView<const T, 2, memory_space_t<BACKEND>>, \
                                                    TensorView<const INDEX, 1, memory_space_t<BACKEND>>,              \
                                                    TensorView<INDEX, 2, memory_space_t<BACKEND>>,                    \
                                                    TensorView<T, 2, memory_space_t<BACKEND>>, const KnnOptions<T>&); \
  PREFIX template void knn_graph<BACKEND, T, INDEX>(Queue<BACKEND>&, TensorView<const T, 2, memory_space_t<BACKEND>>, \
                                                    TensorView<const INDEX, 1, memory_space_t<BACKEND>>,              \
                                                    TensorView<INDEX, 2, memory_space_t<BACKEND>>,                    \
                                                    TensorView<T, 2, memory_space_t<BACKEND>>, const KnnOptions<T>&,  \
                                                    KnnWorkspace<T, INDEX, memory_space_t<BACKEND>>);                 \
  PREFIX template void knn<BACKEND, T, INDEX>(                                                                        \
      Queue<BACKEND>&, TensorView<const T, 2, memory_space_t<BACKEND>>,                                               \
      TensorView<const INDEX, 1, memory_space_t<BACKEND>>, TensorView<const T, 2, memory_space_t<BACKEND>>,           \
      TensorView<const INDEX, 1, memory_space_t<BACKEND>>, TensorView<INDEX, 2, memory_space_t<BACKEND>>,             \
      TensorView<T, 2, memory_space_t<BACKEND>>, const KnnOptions<T>&);                                               \
  PREFIX template RadiusGraphInfo radius_graph<BACKEND, T, INDEX>(                                                    \
      Queue<BACKEND>&, TensorView<const T, 2, memory_space_t<BACKEND>>,                                               \
      TensorView<const INDEX, 1, memory_space_t<BACKEND>>, T, bool, TensorView<INDEX, 2, memory_space_t<BACKEND>>,    \
      TensorView<T, 2, memory_space_t<BACKEND>>, TensorView<INDEX, 1, memory_space_t<BACKEND>>,                       \
      TensorView<INDEX, 1, memory_space_t<BACKEND>>, int, T);

#if !defined(__CUDACC__) && !defined(__HIPCC__)
#if PORTML_ENABLE_CUDA
PORTML_GRAPH_KNN_INSTANTIATE(extern, backend::Cuda, float, std::int32_t)
PORTML_GRAPH_KNN_INSTANTIATE(extern, backend::Cuda, float, std::int64_t)
#endif
#if PORTML_ENABLE_HIP
PORTML_GRAPH_KNN_INSTANTIATE(extern, backend::Hip, float, std::int32_t)
PORTML_GRAPH_KNN_INSTANTIATE(extern, backend::Hip, float, std::int64_t)
#endif
#endif

}  // namespace portml::kernels::graph
