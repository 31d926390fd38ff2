// SPDX-License-Identifier: Apache-2.0
//! \file
//! A test backend that looks like a GPU to portml (`is_host = false`, so the graph ops and the blocks take
//! their device composition) but runs every kernel on the host through the GPU-emulating Serial queue, and
//! counts what a CUDA / HIP queue would
//! do: kernel launches (`parallel_for`, `launch`), reductions (on a GPU each is two kernels, a copy back and a wait for
//! the stream: a host synchronisation), explicit waits and copies. The blocks' tests use it to count the launches and
//! host synchronisations of one call of the device composition.
#pragma once

#include <cstddef>

#include <portml/portability/serial.hpp>

namespace portml::test {

//! The backend tag: host memory, device-shaped execution.
struct CountingGpu {
  static constexpr const char* name = "counting-gpu";
  using memory_space = HostSpace;
  static constexpr bool is_host = false;
};

//! What a queue of CountingGpu saw since construction (or the last reset).
struct LaunchCounts {
  long kernels = 0;     //!< parallel_for and launch calls (one kernel each on a GPU)
  long reductions = 0;  //!< parallel_reduce calls (two kernels + a copy back + a synchronisation on a GPU)
  long waits = 0;       //!< Queue::wait calls (a synchronisation each)
  long copies = 0;      //!< deep_copy calls
  //! Host synchronisations: what a GPU queue waits for before the call can go on.
  long syncs() const { return reductions + waits; }
  //! Kernels a GPU runs: the launches plus two per reduction.
  long gpu_kernels() const { return kernels + 2 * reductions; }
};

}  // namespace portml::test

namespace portml {

template <>
class Queue<test::CountingGpu> {
 public:
  void wait() { ++counts.waits; }
  Queue<backend::Serial>& serial() { return serial_; }
  test::LaunchCounts counts;

 private:
  Queue<backend::Serial> serial_{Queue<backend::Serial>::Options{.gpu_emulation = true}};
};

namespace detail {

template <>
struct Exec<test::CountingGpu> {
  using Q = Queue<test::CountingGpu>;
  template <class F>
  static void parallel_for(Q& q, Range1D r, const F& f) {
    ++q.counts.kernels;
    Exec<backend::Serial>::parallel_for(q.serial(), r, f);
  }
  template <class F>
  static void parallel_for(Q& q, Range2D r, const F& f) {
    ++q.counts.kernels;
    Exec<backend::Serial>::parallel_for(q.serial(), r, f);
  }
  template <class F>
  static void launch(Q& q, const LaunchConfig& cfg, const F& f) {
    ++q.counts.kernels;
    Exec<backend::Serial>::launch(q.serial(), cfg, f);
  }
  template <class R, class F>
  static typename R::value_type parallel_reduce(Q& q, Range1D r, const F& f) {
    ++q.counts.reductions;
    return Exec<backend::Serial>::template parallel_reduce<R>(q.serial(), r, f);
  }
};

template <>
struct Copier<test::CountingGpu> {
  template <class T, std::size_t Rank, class SD, class SS>
  static void copy(Queue<test::CountingGpu>& q, const TensorView<T, Rank, SD>& dst,
                   const TensorView<const T, Rank, SS>& src) {
    ++q.counts.copies;
    host_deep_copy(dst, src);
  }
};

}  // namespace detail
}  // namespace portml
