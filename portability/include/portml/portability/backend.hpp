// SPDX-License-Identifier: Apache-2.0
//! \file
//! Backend tags and their traits. A backend is a type: it names where kernels run (`name`), which
//! memory space they read (`memory_space`) and whether that is the host. Kernels and tests are
//! templates on the tag; which tags exist in a build is decided by CMake (portml/config.hpp).
#pragma once

#include <concepts>
#include <type_traits>

#include <portml/core/memory_space.hpp>

namespace portml {

namespace backend {

//! Sequential host execution on the calling thread. Can also emulate a GPU launch (see Queue<Serial>).
struct Serial {
  static constexpr const char* name = "serial";
  using memory_space = HostSpace;
  static constexpr bool is_host = true;
};

//! OpenMP host execution with a thread count chosen by the caller (Queue<OpenMP>).
struct OpenMP {
  static constexpr const char* name = "openmp";
  using memory_space = HostSpace;
  static constexpr bool is_host = true;
};

//! A Kokkos execution space (host spaces only in this version: see docs/design.md).
//! \tparam ExecSpace a Kokkos execution space type, e.g. Kokkos::Serial or Kokkos::OpenMP
template <class ExecSpace>
struct Kokkos {
  static constexpr const char* name = "kokkos";
  using execution_space = ExecSpace;
  using memory_space = HostSpace;
  static constexpr bool is_host = true;
};

//! NVIDIA GPUs through the CUDA runtime (kernels compiled by nvcc into portml::cuda).
struct Cuda {
  static constexpr const char* name = "cuda";
  using memory_space = CudaSpace;
  static constexpr bool is_host = false;
};

//! AMD GPUs through the HIP runtime (kernels compiled by hip-clang into portml::hip).
struct Hip {
  static constexpr const char* name = "hip";
  using memory_space = HipSpace;
  static constexpr bool is_host = false;
};

}  // namespace backend

//! A backend tag: a name, a memory space and a host flag.
template <class B>
concept Backend = requires {
  { B::name } -> std::convertible_to<const char*>;
  { B::is_host } -> std::convertible_to<bool>;
  typename B::memory_space;
}
&&MemorySpace<typename B::memory_space>;

template <Backend B>
using memory_space_t = typename B::memory_space;

//! A compile-time list of types (the enabled backends, for example).
template <class... Ts>
struct TypeList {
  static constexpr std::size_t size = sizeof...(Ts);
};

namespace detail {
template <class A, class B>
struct Concat;
template <class... As, class... Bs>
struct Concat<TypeList<As...>, TypeList<Bs...>> {
  using type = TypeList<As..., Bs...>;
};
}  // namespace detail

template <class A, class B>
using concat_t = typename detail::Concat<A, B>::type;

//! Calls `f.template operator()<T>()` for every type of a TypeList, in order.
template <class... Ts, class F>
void for_each_type(TypeList<Ts...>, F&& f) {
  (f.template operator()<Ts>(), ...);
}

}  // namespace portml
