// SPDX-License-Identifier: Apache-2.0
//! \file
//! Memory-space tags. A space says where data lives and whether host code may dereference it.
#pragma once

#include <concepts>

namespace portml {

//! Ordinary host memory (also what the Serial, OpenMP and host Kokkos backends compute on).
struct HostSpace {
  static constexpr const char* name = "host";
  static constexpr bool host_accessible = true;
};

//! CUDA device global memory.
struct CudaSpace {
  static constexpr const char* name = "cuda";
  static constexpr bool host_accessible = false;
};

//! HIP device global memory.
struct HipSpace {
  static constexpr const char* name = "hip";
  static constexpr bool host_accessible = false;
};

template <class S>
concept MemorySpace = requires {
  { S::name } -> std::convertible_to<const char*>;
  { S::host_accessible } -> std::convertible_to<bool>;
};

}  // namespace portml
