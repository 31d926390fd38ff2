// SPDX-License-Identifier: Apache-2.0
//! \file
//! The execution vocabulary shared by every backend: ranges, hierarchical launch configuration, the
//! Team interface seen by a hierarchical kernel body, reducers, and the public entry points
//! parallel_for / launch / parallel_reduce / deep_copy. Each backend header specialises
//! `detail::Exec<Backend>` and `Queue<Backend>`.
#pragma once

#include <concepts>
#include <cstddef>
#include <limits>
#include <string>
#include <type_traits>

#include <portml/core/error.hpp>
#include <portml/core/macros.hpp>
#include <portml/core/tensor.hpp>
#include <portml/portability/backend.hpp>

namespace portml {

//! Indices [0, n) of a flat loop; the body is called as f(i).
struct Range1D {
  index_t n = 0;
};

//! Index pairs [0, n0) x [0, n1) of a 2-D loop; the body is called as f(i, j). On GPUs consecutive
//! threads take consecutive j, so a row-major output is written coalesced.
struct Range2D {
  index_t n0 = 0;
  index_t n1 = 0;
};

//! A hierarchical launch: `league_size` independent teams (GPU blocks) of up to `team_size` threads
//! that share `scratch_bytes` of fast scratch memory (GPU shared memory) and can synchronise with a
//! barrier. Host backends run teams of one thread unless the Serial queue emulates GPU teams, so a
//! kernel body must be correct for any team size from 1 up to the one requested.
struct LaunchConfig {
  index_t league_size = 0;
  int team_size = 1;
  std::size_t scratch_bytes = 0;
};

//! What a hierarchical kernel body receives: `f(const Team& team)`.
template <class T>
concept Team = requires(const T& t) {
  { t.league_rank() } -> std::convertible_to<index_t>;
  { t.league_size() } -> std::convertible_to<index_t>;
  { t.team_rank() } -> std::convertible_to<int>;
  { t.team_size() } -> std::convertible_to<int>;
  { t.scratch_bytes() } -> std::convertible_to<std::size_t>;
  t.barrier();
};

//! `begin, begin + step, ...` below `end`; the loop of one thread over its share of elements.
class StridedRange {
 public:
  class iterator {
   public:
    PORTML_HOST_DEVICE constexpr iterator(index_t i, index_t step) : i_(i), step_(step) {}
    PORTML_HOST_DEVICE constexpr index_t operator*() const { return i_; }
    PORTML_HOST_DEVICE constexpr iterator& operator++() {
      i_ += step_;
      return *this;
    }
    // The loop ends once i passes end: compared with the end sentinel only.
    PORTML_HOST_DEVICE constexpr bool operator!=(const iterator& end) const { return i_ < end.i_; }

   private:
    index_t i_;
    index_t step_;
  };
  PORTML_HOST_DEVICE constexpr StridedRange(index_t begin, index_t end, index_t step)
      : begin_(begin), end_(end), step_(step) {}
  PORTML_HOST_DEVICE constexpr iterator begin() const { return {begin_, step_}; }
  PORTML_HOST_DEVICE constexpr iterator end() const { return {end_, step_}; }

 private:
  index_t begin_, end_, step_;
};

//! The elements [0, n) of one team, shared out over its threads: `for (index_t i : team_elements(t, n))`.
//! One thread takes every element on a CPU; on a GPU thread r takes r, r + team_size, ...
template <Team T>
PORTML_HOST_DEVICE constexpr StridedRange team_elements(const T& team, index_t n) {
  return {static_cast<index_t>(team.team_rank()), n, static_cast<index_t>(team.team_size())};
}

//! The items [0, n) shared out over the teams of a launch (a team takes league_rank, + league_size, ...).
template <Team T>
PORTML_HOST_DEVICE constexpr StridedRange league_elements(const T& team, index_t n) {
  return {team.league_rank(), n, team.league_size()};
}

//! Typed pointer to a team's scratch memory (aligned to at least 16 bytes).
template <class U, Team T>
PORTML_HOST_DEVICE U* team_scratch(const T& team) {
  return static_cast<U*>(team.scratch());
}

// ---- reducers ---------------------------------------------------------------------------------
// A reducer names the value type, the identity and how two partial results are joined. The body of
// parallel_reduce folds elements into its accumulator itself: f(i, acc).

//! acc = a + b
template <class T>
struct Sum {
  using value_type = T;
  PORTML_HOST_DEVICE static constexpr T identity() { return T(0); }
  PORTML_HOST_DEVICE static constexpr void join(T& acc, const T& v) { acc += v; }
};

//! acc = max(a, b); NaN wins, so a NaN input is never hidden.
template <class T>
struct Max {
  using value_type = T;
  PORTML_HOST_DEVICE static constexpr T identity() { return std::numeric_limits<T>::lowest(); }
  PORTML_HOST_DEVICE static constexpr void join(T& acc, const T& v) {
    if (v > acc || v != v) acc = v;
  }
};

//! acc = min(a, b); NaN wins, so a NaN input is never hidden.
template <class T>
struct Min {
  using value_type = T;
  PORTML_HOST_DEVICE static constexpr T identity() { return std::numeric_limits<T>::max(); }
  PORTML_HOST_DEVICE static constexpr void join(T& acc, const T& v) {
    if (v < acc || v != v) acc = v;
  }
};

template <class R>
concept Reducer = requires(typename R::value_type& a, const typename R::value_type& b) {
  { R::identity() } -> std::same_as<typename R::value_type>;
  R::join(a, b);
};

//! Elements reduced sequentially into one partial before partials are joined in index order.
//! Host backends share this chunking whatever their thread count, so a reduction gives the same bits
//! on Serial, OpenMP (any thread count) and host Kokkos, run after run.
inline constexpr index_t reduce_chunk = 4096;

// ---- devices ----------------------------------------------------------------------------------

//! Name and memory of one device.
struct DeviceInfo {
  std::string name;
  std::size_t memory_bytes = 0;
};

//! Devices of a backend visible at run time: 1 for host backends (the host itself). GPU backends
//! overload this in cuda_hip/runtime.hpp.
template <Backend B>
requires(B::is_host) int device_count(std::string* reason = nullptr) {
  (void)reason;
  return 1;
}

template <Backend B>
requires(B::is_host) DeviceInfo device_info(int) { return {"host", 0}; }

// ---- queues and backend dispatch -------------------------------------------------------------

//! Where work is submitted: immediate on host backends, a stream on GPUs. Each backend header
//! defines the specialisation. A queue is used by one thread at a time (each framework stream or
//! task owns its own); the models it runs are shared.
template <Backend B>
class Queue;

//! Whether work on queue q runs in GPU-shaped teams (many threads per team, real barriers): on the
//! device backends, and on the Serial queue that emulates a GPU. Ops that have a GPU decomposition
//! (many small work items, no single-work-item phases) take it when this is true, so that CI runs
//! those code paths without a GPU; they give the same bits either way.
template <Backend B>
bool runs_gpu_teams(const Queue<B>& q) {
  if constexpr (std::is_same_v<B, backend::Serial>) {
    return q.gpu_emulation();
  } else {
    (void)q;
    return !B::is_host;
  }
}

namespace detail {

template <class>
inline constexpr bool always_false = false;

//! Kernel-launch implementation of one backend. Device backends specialise it only in translation
//! units compiled by their device compiler (portml/portability/cuda_hip/launch.hpp).
template <class B>
struct Exec {
  static_assert(always_false<B>,
                "portml: no launch implementation for this backend in this translation unit. Host backends: "
                "include <portml/portability/serial.hpp>, openmp.hpp or kokkos.hpp. CUDA/HIP: launch from a "
                "file compiled by nvcc/hipcc that includes <portml/portability/cuda_hip/launch.hpp>, and call it "
                "from host code through a declared (extern template) launcher.");
};

//! Copies between memory spaces for one backend's queue. Host backends share one specialisation
//! (host/host_common.hpp); CUDA and HIP share one (cuda_hip/runtime.hpp), usable from host code.
template <class B>
struct Copier {
  static_assert(always_false<B>, "portml::deep_copy: include the header of this backend");
};

inline void check_extent(const char* op, index_t n) {
  if (n < 0) throw ShapeError(std::string(op) + ": negative range extent " + std::to_string(n));
}

}  // namespace detail

//! Runs f(i) for i in [0, r.n).
template <Backend B, class F>
void parallel_for(Queue<B>& q, Range1D r, const F& f) {
  detail::check_extent("portml::parallel_for", r.n);
  detail::Exec<B>::parallel_for(q, r, f);
}

//! Runs f(i, j) for (i, j) in [0, r.n0) x [0, r.n1).
template <Backend B, class F>
void parallel_for(Queue<B>& q, Range2D r, const F& f) {
  detail::check_extent("portml::parallel_for", r.n0);
  detail::check_extent("portml::parallel_for", r.n1);
  detail::Exec<B>::parallel_for(q, r, f);
}

//! Runs the hierarchical kernel body f(team) for every team of `cfg`.
template <Backend B, class F>
void launch(Queue<B>& q, const LaunchConfig& cfg, const F& f) {
  detail::check_extent("portml::launch", cfg.league_size);
  if (cfg.team_size < 1) throw Error("portml::launch: team_size must be at least 1");
  detail::Exec<B>::launch(q, cfg, f);
}

//! Folds f(i, acc) over [0, r.n) and joins the partials with `R`; waits for the result.
template <Backend B, Reducer R, class F>
typename R::value_type parallel_reduce(Queue<B>& q, Range1D r, const F& f, R) {
  detail::check_extent("portml::parallel_reduce", r.n);
  return detail::Exec<B>::template parallel_reduce<R>(q, r, f);
}

//! Copies src into dst (same extents; any strides on host; contiguous or 2-D pitched on devices).
//! Asynchronous on GPU queues: wait() before reading host data or releasing the source.
template <Backend B, class TD, class TS, std::size_t Rank, class SD, class SS>
requires std::is_same_v<std::remove_const_t<TS>, TD>
void deep_copy(Queue<B>& q, const TensorView<TD, Rank, SD>& dst, const TensorView<TS, Rank, SS>& src) {
  check_same_shape("portml::deep_copy", "destination", dst.extents(), "source", src.extents());
  detail::Copier<B>::copy(q, dst, TensorView<const TD, Rank, SS>(src));
}

}  // namespace portml
