// SPDX-License-Identifier: Apache-2.0
//! \file
//! GPU-shaped launches on the Serial backend: each thread of a team runs the kernel's own body on a
//! fiber (ucontext) of the calling thread, and a barrier switches to the next fiber until every
//! thread of the team has reached it. That is true barrier semantics with no OS thread started, so
//! the logic of GPU kernels (shared memory, barriers, strided element loops) is tested on any CPU.
//! Deterministic: fibers run in team-rank order between barriers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include <portml/portability/launch.hpp>

#if __has_include(<ucontext.h>)
#include <ucontext.h>
#define PORTML_HAVE_FIBERS 1
#else
#define PORTML_HAVE_FIBERS 0
#endif

#if defined(__SANITIZE_ADDRESS__)
#define PORTML_ASAN_FIBERS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PORTML_ASAN_FIBERS 1
#endif
#endif
#ifndef PORTML_ASAN_FIBERS
#define PORTML_ASAN_FIBERS 0
#endif
#if PORTML_ASAN_FIBERS
#include <sanitizer/common_interface_defs.h>
#endif

namespace portml::detail {

#if PORTML_HAVE_FIBERS

class FiberBlock;

//! The Team a kernel body sees under GPU emulation: a real rank, a real team size and a barrier.
class FiberTeam {
 public:
  FiberTeam(FiberBlock* block, int rank, int size, index_t league_rank, index_t league_size, void* scratch,
            std::size_t scratch_bytes)
      : block_(block),
        rank_(rank),
        size_(size),
        league_rank_(league_rank),
        league_size_(league_size),
        scratch_(scratch),
        scratch_bytes_(scratch_bytes) {}
  index_t league_rank() const { return league_rank_; }
  index_t league_size() const { return league_size_; }
  int team_rank() const { return rank_; }
  int team_size() const { return size_; }
  void* scratch() const { return scratch_; }
  std::size_t scratch_bytes() const { return scratch_bytes_; }
  inline void barrier() const;

 private:
  FiberBlock* block_;
  int rank_, size_;
  index_t league_rank_, league_size_;
  void* scratch_;
  std::size_t scratch_bytes_;
};

//! Runs teams of `team_size` fibers. One instance per launch; fiber stacks are reused across teams.
class FiberBlock {
 public:
#if PORTML_ASAN_FIBERS
  static constexpr std::size_t stack_bytes = std::size_t(1) << 20;
#else
  static constexpr std::size_t stack_bytes = std::size_t(256) << 10;
#endif

  explicit FiberBlock(int team_size) : fibers_(static_cast<std::size_t>(team_size)) {
    for (Fiber& f : fibers_) f.stack.reset(new std::byte[stack_bytes]);
  }

  //! Runs body(team) on every thread of team `league_rank`; rethrows the first exception of a thread.
  template <class F>
  void run_team(const F& body, index_t league_rank, index_t league_size, void* scratch, std::size_t scratch_bytes) {
    body_ = &body;
    invoke_ = [](const void* b, const FiberTeam& t) { (*static_cast<const F*>(b))(t); };
    league_rank_ = league_rank;
    league_size_ = league_size;
    scratch_ = scratch;
    scratch_bytes_ = scratch_bytes;
    error_ = nullptr;
    const int n = static_cast<int>(fibers_.size());
    for (int r = 0; r < n; ++r) {
      Fiber& f = fibers_[static_cast<std::size_t>(r)];
      getcontext(&f.ctx);
      f.ctx.uc_stack.ss_sp = f.stack.get();
      f.ctx.uc_stack.ss_size = stack_bytes;
      f.ctx.uc_link = nullptr;
      const auto self = reinterpret_cast<std::uintptr_t>(this);
      makecontext(&f.ctx, reinterpret_cast<void (*)()>(&FiberBlock::entry), 2,
                  static_cast<unsigned>(self & 0xffffffffu), static_cast<unsigned>(self >> 32));
      f.state = State::Ready;
    }
    for (;;) {
      for (int r = 0; r < n; ++r) {
        if (fibers_[static_cast<std::size_t>(r)].state != State::Ready) continue;
        current_ = r;
        switch_to_fiber(r);
        if (error_) break;
      }
      if (error_) std::rethrow_exception(error_);
      int done = 0, waiting = 0;
      for (Fiber& f : fibers_) (f.state == State::Done ? done : waiting) += 1;
      if (done == n) return;
      if (done != 0) {
        throw Error("portml::launch (Serial GPU emulation): team " + std::to_string(league_rank) + ": " +
                    std::to_string(done) + " of " + std::to_string(n) +
                    " threads finished while the others wait at a barrier; every thread of a team must reach "
                    "each barrier");
      }
      for (Fiber& f : fibers_) f.state = State::Ready;
    }
  }

  //! Called by FiberTeam::barrier on the running fiber.
  void barrier(int rank) {
    fibers_[static_cast<std::size_t>(rank)].state = State::AtBarrier;
    switch_to_scheduler(rank, false);
  }

 private:
  enum class State { Ready, AtBarrier, Done };
  struct Fiber {
    ucontext_t ctx{};
    std::unique_ptr<std::byte[]> stack;
    State state = State::Ready;
#if PORTML_ASAN_FIBERS
    void* fake_stack = nullptr;
#endif
  };

  static void entry(unsigned lo, unsigned hi) {
    auto* self =
        reinterpret_cast<FiberBlock*>(static_cast<std::uintptr_t>(lo) | (static_cast<std::uintptr_t>(hi) << 32));
#if PORTML_ASAN_FIBERS
    __sanitizer_finish_switch_fiber(nullptr, &self->scheduler_stack_bottom_, &self->scheduler_stack_size_);
#endif
    const int rank = self->current_;
    try {
      const FiberTeam team(self, rank, static_cast<int>(self->fibers_.size()), self->league_rank_, self->league_size_,
                           self->scratch_, self->scratch_bytes_);
      self->invoke_(self->body_, team);
    } catch (...) {
      self->error_ = std::current_exception();
    }
    self->fibers_[static_cast<std::size_t>(rank)].state = State::Done;
    self->switch_to_scheduler(rank, true);
  }

  void switch_to_fiber(int r) {
    Fiber& f = fibers_[static_cast<std::size_t>(r)];
#if PORTML_ASAN_FIBERS
    void* fake = nullptr;
    __sanitizer_start_switch_fiber(&fake, f.stack.get(), stack_bytes);
#endif
    swapcontext(&scheduler_, &f.ctx);
#if PORTML_ASAN_FIBERS
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
  }

  void switch_to_scheduler(int r, bool finished) {
    Fiber& f = fibers_[static_cast<std::size_t>(r)];
#if PORTML_ASAN_FIBERS
    __sanitizer_start_switch_fiber(finished ? nullptr : &f.fake_stack, scheduler_stack_bottom_, scheduler_stack_size_);
#else
    (void)finished;
#endif
    swapcontext(&f.ctx, &scheduler_);
#if PORTML_ASAN_FIBERS
    __sanitizer_finish_switch_fiber(f.fake_stack, &scheduler_stack_bottom_, &scheduler_stack_size_);
#endif
  }

  std::vector<Fiber> fibers_;
  ucontext_t scheduler_{};
  const void* body_ = nullptr;
  void (*invoke_)(const void*, const FiberTeam&) = nullptr;
  index_t league_rank_ = 0, league_size_ = 0;
  void* scratch_ = nullptr;
  std::size_t scratch_bytes_ = 0;
  int current_ = 0;
  std::exception_ptr error_;
#if PORTML_ASAN_FIBERS
  const void* scheduler_stack_bottom_ = nullptr;
  std::size_t scheduler_stack_size_ = 0;
#endif
};

inline void FiberTeam::barrier() const { block_->barrier(rank_); }

#endif  // PORTML_HAVE_FIBERS

}  // namespace portml::detail
