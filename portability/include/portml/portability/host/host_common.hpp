// SPDX-License-Identifier: Apache-2.0
//! \file
//! Pieces shared by the host backends (Serial, OpenMP, Kokkos on a host space): the scratch arena of
//! a queue, the one-thread team, strided host copies and the chunked deterministic reduction.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <new>
#include <utility>

#include <portml/portability/launch.hpp>

namespace portml::detail {

//! Scratch memory owned by a host queue. It grows to the largest request and is then reused, so
//! launches after the first allocate nothing. Queue::reserve_scratch() pre-sizes it.
class HostArena {
 public:
  HostArena() = default;
  HostArena(const HostArena&) = delete;
  HostArena& operator=(const HostArena&) = delete;
  HostArena(HostArena&& o) noexcept : data_(std::exchange(o.data_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  HostArena& operator=(HostArena&& o) noexcept {
    if (this != &o) {
      release();
      data_ = std::exchange(o.data_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  ~HostArena() { release(); }

  //! At least `bytes` of scratch, aligned to default_alignment; valid until the next call.
  std::byte* get(std::size_t bytes) {
    if (bytes > bytes_) {
      release();
      const std::size_t rounded = (bytes + default_alignment - 1) / default_alignment * default_alignment;
      data_ = static_cast<std::byte*>(::operator new (rounded, std::align_val_t{default_alignment}));
      bytes_ = rounded;
    }
    return data_;
  }
  std::size_t capacity() const { return bytes_; }

 private:
  void release() noexcept {
    if (data_ != nullptr) ::operator delete (data_, std::align_val_t{default_alignment});
    data_ = nullptr;
    bytes_ = 0;
  }
  std::byte* data_ = nullptr;
  std::size_t bytes_ = 0;
};

//! Scratch bytes of one team, rounded so consecutive teams' scratch stays aligned.
inline std::size_t aligned_scratch_bytes(std::size_t bytes) {
  return (bytes + default_alignment - 1) / default_alignment * default_alignment;
}

//! A team of one thread on a host backend: the barrier is a no-op.
class HostTeam {
 public:
  HostTeam(index_t league_rank, index_t league_size, void* scratch, std::size_t scratch_bytes)
      : league_rank_(league_rank), league_size_(league_size), scratch_(scratch), scratch_bytes_(scratch_bytes) {}
  index_t league_rank() const { return league_rank_; }
  index_t league_size() const { return league_size_; }
  int team_rank() const { return 0; }
  int team_size() const { return 1; }
  void barrier() const {}
  void* scratch() const { return scratch_; }
  std::size_t scratch_bytes() const { return scratch_bytes_; }

 private:
  index_t league_rank_, league_size_;
  void* scratch_;
  std::size_t scratch_bytes_;
};

//! The sequential fold of elements [begin, end) into one partial (the unit every host backend shares).
template <class R, class F>
typename R::value_type reduce_range(const F& f, index_t begin, index_t end) {
  typename R::value_type acc = R::identity();
  for (index_t i = begin; i < end; ++i) f(i, acc);
  return acc;
}

inline index_t reduce_chunk_count(index_t n) { return (n + reduce_chunk - 1) / reduce_chunk; }

//! Partial of chunk c of [0, n).
template <class R, class F>
typename R::value_type reduce_chunk_partial(const F& f, index_t n, index_t c) {
  return reduce_range<R>(f, c * reduce_chunk, std::min(n, (c + 1) * reduce_chunk));
}

//! Joins partials[0..count) in index order.
template <class R>
typename R::value_type join_partials(const typename R::value_type* partials, index_t count) {
  typename R::value_type total = R::identity();
  for (index_t c = 0; c < count; ++c) R::join(total, partials[c]);
  return total;
}

//! Host-to-host copy of views with equal extents and any strides.
template <class T, std::size_t Rank>
void host_copy(const TensorView<T, Rank, HostSpace>& dst, const TensorView<const T, Rank, HostSpace>& src) {
  if (dst.empty()) return;
  if (dst.data() == src.data() && dst.strides() == src.strides()) return;  // a mirror of itself
  if (dst.is_contiguous() && src.is_contiguous()) {
    std::memmove(dst.data(), src.data(), sizeof(T) * static_cast<std::size_t>(dst.size()));
    return;
  }
  // Odometer over all indices of the strided views.
  Extents<Rank> idx{};
  const index_t n = dst.size();
  for (index_t k = 0; k < n; ++k) {
    index_t od = 0, os = 0;
    for (std::size_t d = 0; d < Rank; ++d) {
      od += idx[d] * dst.stride(d);
      os += idx[d] * src.stride(d);
    }
    dst.data()[od] = src.data()[os];
    for (std::size_t d = Rank; d-- > 0;) {
      if (++idx[d] < dst.extent(d)) break;
      idx[d] = 0;
    }
  }
}

template <class T, std::size_t Rank, class SD, class SS>
void host_deep_copy(const TensorView<T, Rank, SD>& dst, const TensorView<const T, Rank, SS>& src) {
  static_assert(SD::host_accessible && SS::host_accessible,
                "portml::deep_copy: a host queue copies between host-accessible spaces only; copy device "
                "data with the device backend's queue");
  host_copy(TensorView<T, Rank, HostSpace>(dst.data(), dst.extents(), dst.strides()),
            TensorView<const T, Rank, HostSpace>(src.data(), src.extents(), src.strides()));
}

template <Backend B>
requires(B::is_host) struct Copier<B> {
  template <class T, std::size_t Rank, class SD, class SS>
  static void copy(Queue<B>&, const TensorView<T, Rank, SD>& dst, const TensorView<const T, Rank, SS>& src) {
    host_deep_copy(dst, src);
  }
};

}  // namespace portml::detail

namespace portml {

//! Synchronous copy between host-accessible views (no queue needed).
template <class TD, class TS, std::size_t Rank, class SD, class SS>
requires std::is_same_v<std::remove_const_t<TS>, TD>
void deep_copy(const TensorView<TD, Rank, SD>& dst, const TensorView<TS, Rank, SS>& src) {
  check_same_shape("portml::deep_copy", "destination", dst.extents(), "source", src.extents());
  detail::host_deep_copy(dst, TensorView<const TD, Rank, SS>(src));
}

}  // namespace portml
