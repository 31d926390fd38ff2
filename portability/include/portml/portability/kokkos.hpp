// SPDX-License-Identifier: Apache-2.0
//! \file
//! The Kokkos backend: portml kernels on a Kokkos execution space through Kokkos' own policies
//! (RangePolicy, MDRangePolicy, and TeamPolicy with level-0 scratch for hierarchical launches).
//! The caller initialises Kokkos (Kokkos::initialize / ScopeGuard), as with any Kokkos code.
#pragma once

#include <portml/config.hpp>

#if !PORTML_ENABLE_KOKKOS
#error "portml was configured without Kokkos (PORTML_ENABLE_KOKKOS=OFF)"
#endif

#include <Kokkos_Core.hpp>

#include <portml/portability/host/host_common.hpp>

namespace portml {

namespace backend {
//! The Kokkos backend on Kokkos' default host execution space.
using KokkosHost = Kokkos<::Kokkos::DefaultHostExecutionSpace>;
}  // namespace backend

//! Submits to one instance of a Kokkos execution space; wait() fences it.
template <class ExecSpace>
class Queue<backend::Kokkos<ExecSpace>> {
  static_assert(::Kokkos::SpaceAccessibility<ExecSpace, ::Kokkos::HostSpace>::accessible,
                "portml::backend::Kokkos: only host-accessible Kokkos execution spaces are supported in this "
                "version (device Kokkos spaces: use portml's Cuda/Hip backends; see docs/design.md)");

 public:
  Queue() = default;
  explicit Queue(ExecSpace space) : space_(std::move(space)) {}
  void wait() { space_.fence(); }
  const ExecSpace& space() const { return space_; }
  void reserve_scratch(std::size_t bytes) { arena_.get(bytes); }
  detail::HostArena& arena() { return arena_; }

 private:
  ExecSpace space_{};
  detail::HostArena arena_;
};

namespace detail {

//! A Kokkos team member seen through portml's Team interface.
template <class Member>
class KokkosTeam {
 public:
  KOKKOS_INLINE_FUNCTION KokkosTeam(const Member& m, std::size_t scratch_bytes)
      : member_(m),
        scratch_(scratch_bytes > 0 ? m.team_scratch(0).get_shmem(scratch_bytes) : nullptr),
        scratch_bytes_(scratch_bytes) {}
  KOKKOS_INLINE_FUNCTION index_t league_rank() const { return member_.league_rank(); }
  KOKKOS_INLINE_FUNCTION index_t league_size() const { return member_.league_size(); }
  KOKKOS_INLINE_FUNCTION int team_rank() const { return member_.team_rank(); }
  KOKKOS_INLINE_FUNCTION int team_size() const { return member_.team_size(); }
  KOKKOS_INLINE_FUNCTION void barrier() const { member_.team_barrier(); }
  KOKKOS_INLINE_FUNCTION void* scratch() const { return scratch_; }
  KOKKOS_INLINE_FUNCTION std::size_t scratch_bytes() const { return scratch_bytes_; }

 private:
  const Member& member_;
  void* scratch_;
  std::size_t scratch_bytes_;
};

template <class ExecSpace>
struct Exec<backend::Kokkos<ExecSpace>> {
  using Q = Queue<backend::Kokkos<ExecSpace>>;

  template <class F>
  static void parallel_for(Q& q, Range1D r, const F& f) {
    ::Kokkos::parallel_for("portml::parallel_for",
                           ::Kokkos::RangePolicy<ExecSpace, ::Kokkos::IndexType<index_t>>(q.space(), 0, r.n),
                           [&](index_t i) { f(i); });
    q.wait();
  }

  template <class F>
  static void parallel_for(Q& q, Range2D r, const F& f) {
    using Policy = ::Kokkos::MDRangePolicy<ExecSpace, ::Kokkos::Rank<2>, ::Kokkos::IndexType<index_t>>;
    ::Kokkos::parallel_for("portml::parallel_for", Policy(q.space(), {0, 0}, {r.n0, r.n1}),
                           [&](index_t i, index_t j) { f(i, j); });
    q.wait();
  }

  template <class F>
  static void launch(Q& q, const LaunchConfig& cfg, const F& f) {
    using Policy = ::Kokkos::TeamPolicy<ExecSpace>;
    using Member = typename Policy::member_type;
    Policy probe(q.space(), static_cast<int>(cfg.league_size), 1);
    const int max_team = probe.team_size_max([](const Member&) {}, ::Kokkos::ParallelForTag{});
    const int team_size = cfg.team_size < max_team ? cfg.team_size : max_team;
    const std::size_t bytes = cfg.scratch_bytes;
    Policy policy(q.space(), static_cast<int>(cfg.league_size), team_size);
    if (bytes > 0) policy.set_scratch_size(0, ::Kokkos::PerTeam(bytes));
    ::Kokkos::parallel_for("portml::launch", policy, [&](const Member& m) { f(KokkosTeam<Member>(m, bytes)); });
    q.wait();
  }

  template <class R, class F>
  static typename R::value_type parallel_reduce(Q& q, Range1D r, const F& f) {
    using T = typename R::value_type;
    const index_t chunks = reduce_chunk_count(r.n);
    T* partials = reinterpret_cast<T*>(q.arena().get(sizeof(T) * static_cast<std::size_t>(chunks)));
    ::Kokkos::parallel_for("portml::parallel_reduce",
                           ::Kokkos::RangePolicy<ExecSpace, ::Kokkos::IndexType<index_t>>(q.space(), 0, chunks),
                           [&](index_t c) { partials[c] = reduce_chunk_partial<R>(f, r.n, c); });
    q.wait();
    return join_partials<R>(partials, chunks);
  }
};

}  // namespace detail
}  // namespace portml
