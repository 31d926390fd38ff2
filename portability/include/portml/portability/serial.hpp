// SPDX-License-Identifier: Apache-2.0
//! \file
//! The Serial backend: everything runs on the calling thread, in index order.
#pragma once

#include <portml/portability/host/fiber_team.hpp>
#include <portml/portability/host/host_common.hpp>

namespace portml {

//! Immediate execution on the calling thread. With `gpu_emulation` a hierarchical launch runs teams
//! of the requested size (one fiber per team thread, true barriers) instead of teams of one thread.
template <>
class Queue<backend::Serial> {
 public:
  struct Options {
    //! Run launch() with the requested team size on fibers, as a GPU would run it (for testing).
    bool gpu_emulation = false;
  };

  Queue() = default;
  explicit Queue(Options options) : options_(options) {
#if !PORTML_HAVE_FIBERS
    if (options_.gpu_emulation) throw NotSupported("portml::Queue<Serial>: GPU emulation needs <ucontext.h>");
#endif
  }

  //! Work is done when the call returns: nothing to wait for.
  void wait() {}
  bool gpu_emulation() const { return options_.gpu_emulation; }
  //! Pre-sizes the scratch arena so that no later launch allocates.
  void reserve_scratch(std::size_t bytes) { arena_.get(bytes); }
  detail::HostArena& arena() { return arena_; }

 private:
  Options options_{};
  detail::HostArena arena_;
};

namespace detail {

template <>
struct Exec<backend::Serial> {
  using Q = Queue<backend::Serial>;

  template <class F>
  static void parallel_for(Q&, Range1D r, const F& f) {
    for (index_t i = 0; i < r.n; ++i) f(i);
  }

  template <class F>
  static void parallel_for(Q&, Range2D r, const F& f) {
    for (index_t i = 0; i < r.n0; ++i)
      for (index_t j = 0; j < r.n1; ++j) f(i, j);
  }

  template <class F>
  static void launch(Q& q, const LaunchConfig& cfg, const F& f) {
    void* scratch = cfg.scratch_bytes > 0 ? q.arena().get(cfg.scratch_bytes) : nullptr;
#if PORTML_HAVE_FIBERS
    if (q.gpu_emulation() && cfg.team_size > 1) {
      FiberBlock block(cfg.team_size);
      for (index_t b = 0; b < cfg.league_size; ++b) block.run_team(f, b, cfg.league_size, scratch, cfg.scratch_bytes);
      return;
    }
#endif
    for (index_t b = 0; b < cfg.league_size; ++b) f(HostTeam(b, cfg.league_size, scratch, cfg.scratch_bytes));
  }

  template <class R, class F>
  static typename R::value_type parallel_reduce(Q&, Range1D r, const F& f) {
    typename R::value_type total = R::identity();
    const index_t chunks = reduce_chunk_count(r.n);
    for (index_t c = 0; c < chunks; ++c) R::join(total, reduce_chunk_partial<R>(f, r.n, c));
    return total;
  }
};

}  // namespace detail
}  // namespace portml
