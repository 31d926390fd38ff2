// SPDX-License-Identifier: Apache-2.0
//! \file
//! Atomic read-modify-write of one element, callable from kernel bodies on every backend: the CUDA/HIP
//! intrinsics in device code, std::atomic_ref on the host backends (Serial, OpenMP, Kokkos' host
//! spaces, and the Serial queue that emulates a GPU). Only the opt-in non-deterministic modes of the
//! kernels use them (scatter_reduce's ScatterMode::atomic): the order in which work items update an
//! element is not fixed, so float sums differ from run to run in their last bits.
#pragma once

#include <atomic>
#include <bit>
#include <cstdint>
#include <type_traits>

#include <portml/core/macros.hpp>

namespace portml {

namespace detail {

template <class T>
inline constexpr bool atomic_element_v = std::is_same_v<T, float> || std::is_same_v<T, double> ||
                                         std::is_same_v<T, std::int32_t> || std::is_same_v<T, std::int64_t>;

#if PORTML_DEVICE_PASS
//! The unsigned integer of T's size, as atomicCAS takes it.
template <class T>
using cas_word_t = std::conditional_t<sizeof(T) == 4, unsigned int, unsigned long long>;

template <class T>
__device__ inline cas_word_t<T> to_word(T v) {
  if constexpr (std::is_same_v<T, float>) {
    return __float_as_uint(v);
  } else if constexpr (std::is_same_v<T, double>) {
    return static_cast<unsigned long long>(__double_as_longlong(v));
  } else {
    return static_cast<cas_word_t<T>>(v);
  }
}

template <class T>
__device__ inline T from_word(cas_word_t<T> w) {
  if constexpr (std::is_same_v<T, float>) {
    return __uint_as_float(w);
  } else if constexpr (std::is_same_v<T, double>) {
    return __longlong_as_double(static_cast<long long>(w));
  } else {
    return static_cast<T>(w);
  }
}
#endif

}  // namespace detail

//! *p = f(*p) atomically, by compare-and-swap; f must be a pure function of the old value. Stops
//! early when f leaves the bits unchanged (a max that does not grow writes nothing).
template <class T, class F>
PORTML_HOST_DEVICE inline void atomic_update(T* p, F f) {
  static_assert(detail::atomic_element_v<T>, "portml::atomic_update: float, double, int32 or int64");
#if PORTML_DEVICE_PASS
  using W = detail::cas_word_t<T>;
  W* word = reinterpret_cast<W*>(p);
  W old = *reinterpret_cast<volatile W*>(word);
  while (true) {
    const W next = detail::to_word<T>(f(detail::from_word<T>(old)));
    if (next == old) return;
    const W seen = atomicCAS(word, old, next);
    if (seen == old) return;
    old = seen;
  }
#else
  std::atomic_ref<T> ref(*p);
  T old = ref.load(std::memory_order_relaxed);
  while (true) {
    const T next = f(old);
    using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    if (std::bit_cast<Bits>(next) == std::bit_cast<Bits>(old)) return;
    // On failure `old` is reloaded with the current value.
    if (ref.compare_exchange_weak(old, next, std::memory_order_relaxed)) return;
  }
#endif
}

//! *p += v atomically (the hardware's atomic add on GPUs).
template <class T>
PORTML_HOST_DEVICE inline void atomic_add(T* p, T v) {
  static_assert(detail::atomic_element_v<T>, "portml::atomic_add: float, double, int32 or int64");
#if PORTML_DEVICE_PASS
  if constexpr (std::is_same_v<T, std::int64_t>) {
    atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));
  } else if constexpr (std::is_same_v<T, std::int32_t>) {
    atomicAdd(reinterpret_cast<int*>(p), static_cast<int>(v));
  } else {
    atomicAdd(p, v);
  }
#else
  std::atomic_ref<T>(*p).fetch_add(v, std::memory_order_relaxed);
#endif
}

}  // namespace portml
