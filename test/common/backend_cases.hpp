// SPDX-License-Identifier: Apache-2.0
//! \file
//! The backends a test runs on, as GoogleTest type parameters. Each case names a backend, makes its
//! queue and says whether it can run here; device cases skip (visibly, with the reason) when no
//! device is present. A test body written against a case runs unchanged on every backend.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include <portml/portability/all.hpp>

namespace portml::test {

struct SerialCase {
  using backend = backend::Serial;
  static constexpr const char* name = "Serial";
  static bool available(std::string*) { return true; }
  static Queue<backend> make_queue() { return Queue<backend>{}; }
};

//! Serial running launches with the requested team size on fibers: the GPU code path on a CPU.
struct SerialGpuEmulationCase {
  using backend = backend::Serial;
  static constexpr const char* name = "SerialGpuEmulation";
  static bool available(std::string*) { return true; }
  static Queue<backend> make_queue() { return Queue<backend>(Queue<backend>::Options{.gpu_emulation = true}); }
};

#if PORTML_ENABLE_OPENMP
struct OpenMPCase {
  using backend = backend::OpenMP;
  static constexpr const char* name = "OpenMP";
  static bool available(std::string*) { return true; }
  static Queue<backend> make_queue() { return Queue<backend>(2); }
};
#endif

#if PORTML_ENABLE_KOKKOS
struct KokkosCase {
  using backend = backend::KokkosHost;
  static constexpr const char* name = "Kokkos";
  static bool available(std::string*) { return true; }
  static Queue<backend> make_queue() { return Queue<backend>{}; }
};
#endif

#if PORTML_ENABLE_CUDA
struct CudaCase {
  using backend = backend::Cuda;
  static constexpr const char* name = "Cuda";
  static bool available(std::string* reason) { return device_count<backend>(reason) > 0; }
  static Queue<backend> make_queue() { return Queue<backend>(0); }
};
#endif

#if PORTML_ENABLE_HIP
struct HipCase {
  using backend = backend::Hip;
  static constexpr const char* name = "Hip";
  static bool available(std::string* reason) { return device_count<backend>(reason) > 0; }
  static Queue<backend> make_queue() { return Queue<backend>(0); }
};
#endif

using AllCases = ::testing::Types<SerialCase, SerialGpuEmulationCase
#if PORTML_ENABLE_OPENMP
                                  ,
                                  OpenMPCase
#endif
#if PORTML_ENABLE_KOKKOS
                                  ,
                                  KokkosCase
#endif
#if PORTML_ENABLE_CUDA
                                  ,
                                  CudaCase
#endif
#if PORTML_ENABLE_HIP
                                  ,
                                  HipCase
#endif
                                  >;

struct CaseNames {
  template <class Case>
  static std::string GetName(int) {
    return Case::name;
  }
};

//! Fixture that skips with the reason when the case's device is absent.
template <class Case>
class BackendTest : public ::testing::Test {
 protected:
  using backend = typename Case::backend;
  using space = memory_space_t<backend>;

  void SetUp() override {
    std::string reason;
    if (!Case::available(&reason)) {
      GTEST_SKIP() << Case::name << " backend is compiled in but cannot run here: " << reason;
    }
  }

  //! A device tensor holding a copy of host data.
  template <class T, std::size_t Rank>
  Tensor<T, Rank, space> to_device(Queue<backend>& q, const Tensor<T, Rank>& host) {
    Tensor<T, Rank, space> d(host.extents());
    deep_copy(q, d.view(), host.view());
    return d;
  }
  //! A host copy of device data (waits for the queue).
  template <class T, std::size_t Rank>
  Tensor<std::remove_const_t<T>, Rank> to_host(Queue<backend>& q, TensorView<T, Rank, space> d) {
    Tensor<std::remove_const_t<T>, Rank> h(d.extents());
    deep_copy(q, h.view(), d);
    q.wait();
    return h;
  }
};

}  // namespace portml::test
