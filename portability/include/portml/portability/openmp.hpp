// SPDX-License-Identifier: Apache-2.0
//! \file
//! The OpenMP backend: host parallelism with a thread count chosen by the caller. portml never picks
//! a thread count itself: a default queue runs one thread, exactly like Serial.
#pragma once

#include <portml/config.hpp>

#if !PORTML_ENABLE_OPENMP
#error "portml was configured without OpenMP (PORTML_ENABLE_OPENMP=OFF)"
#endif
#ifndef _OPENMP
#error "portml/portability/openmp.hpp needs OpenMP: link portml::portml (which carries the OpenMP flags)"
#endif

#include <omp.h>

#include <exception>
#include <mutex>

#include <portml/portability/host/host_common.hpp>

namespace portml {

//! Immediate execution on `num_threads` OpenMP threads (teams and row blocks are shared out
//! statically, so results never depend on the thread count).
template <>
class Queue<backend::OpenMP> {
 public:
  explicit Queue(int num_threads = 1) : num_threads_(num_threads) {
    if (num_threads < 1) {
      throw Error("portml::Queue<OpenMP>: num_threads must be at least 1, got " + std::to_string(num_threads));
    }
  }
  void wait() {}
  int num_threads() const { return num_threads_; }
  void reserve_scratch(std::size_t bytes) { arena_.get(aligned_scratch_per_thread(bytes) * num_threads_); }
  detail::HostArena& arena() { return arena_; }
  static std::size_t aligned_scratch_per_thread(std::size_t bytes) { return detail::aligned_scratch_bytes(bytes); }

 private:
  int num_threads_;
  detail::HostArena arena_;
};

namespace detail {

//! Keeps the first exception thrown inside a parallel region so it can be rethrown outside it
//! (an exception must not escape an OpenMP region).
class OmpErrorTrap {
 public:
  template <class F>
  void run(const F& f) noexcept {
    try {
      f();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
  }
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::mutex mutex_;
  std::exception_ptr error_;
};

template <>
struct Exec<backend::OpenMP> {
  using Q = Queue<backend::OpenMP>;

  template <class F>
  static void parallel_for(Q& q, Range1D r, const F& f) {
    if (q.num_threads() == 1) {
      for (index_t i = 0; i < r.n; ++i) f(i);
      return;
    }
    OmpErrorTrap trap;
#pragma omp parallel for num_threads(q.num_threads()) schedule(static)
    for (index_t i = 0; i < r.n; ++i) trap.run([&] { f(i); });
    trap.rethrow();
  }

  template <class F>
  static void parallel_for(Q& q, Range2D r, const F& f) {
    if (q.num_threads() == 1) {
      for (index_t i = 0; i < r.n0; ++i)
        for (index_t j = 0; j < r.n1; ++j) f(i, j);
      return;
    }
    OmpErrorTrap trap;
#pragma omp parallel for collapse(2) num_threads(q.num_threads()) schedule(static)
    for (index_t i = 0; i < r.n0; ++i)
      for (index_t j = 0; j < r.n1; ++j) trap.run([&] { f(i, j); });
    trap.rethrow();
  }

  template <class F>
  static void launch(Q& q, const LaunchConfig& cfg, const F& f) {
    const std::size_t per_thread = Q::aligned_scratch_per_thread(cfg.scratch_bytes);
    std::byte* scratch = per_thread > 0 ? q.arena().get(per_thread * q.num_threads()) : nullptr;
    if (q.num_threads() == 1) {  // no parallel region for one thread: the same order, no fork cost
      for (index_t b = 0; b < cfg.league_size; ++b) f(HostTeam(b, cfg.league_size, scratch, cfg.scratch_bytes));
      return;
    }
    OmpErrorTrap trap;
#pragma omp parallel num_threads(q.num_threads())
    {
      void* mine = scratch != nullptr ? scratch + per_thread * omp_get_thread_num() : nullptr;
#pragma omp for schedule(static)
      for (index_t b = 0; b < cfg.league_size; ++b) {
        trap.run([&] { f(HostTeam(b, cfg.league_size, mine, cfg.scratch_bytes)); });
      }
    }
    trap.rethrow();
  }

  template <class R, class F>
  static typename R::value_type parallel_reduce(Q& q, Range1D r, const F& f) {
    using T = typename R::value_type;
    const index_t chunks = reduce_chunk_count(r.n);
    if (q.num_threads() == 1) {  // the same chunked order as below, without a parallel region
      T total = R::identity();
      for (index_t c = 0; c < chunks; ++c) R::join(total, reduce_chunk_partial<R>(f, r.n, c));
      return total;
    }
    T* partials = reinterpret_cast<T*>(q.arena().get(sizeof(T) * static_cast<std::size_t>(chunks)));
    OmpErrorTrap trap;
#pragma omp parallel for num_threads(q.num_threads()) schedule(static)
    for (index_t c = 0; c < chunks; ++c) trap.run([&] { partials[c] = reduce_chunk_partial<R>(f, r.n, c); });
    trap.rethrow();
    return join_partials<R>(partials, chunks);
  }
};

}  // namespace detail
}  // namespace portml
