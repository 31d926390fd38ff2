// SPDX-License-Identifier: Apache-2.0
//! \file
//! TensorView: a non-owning, strided view of a rank-N array in one memory space. It is the type every
//! kernel takes, so reconstruction code can hand in its own arrays (host or device) with zero copy.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <type_traits>

#include <portml/core/error.hpp>
#include <portml/core/macros.hpp>
#include <portml/core/memory_space.hpp>

namespace portml {

//! Signed index type of every extent, stride and element index.
using index_t = std::int64_t;

template <std::size_t Rank>
using Extents = std::array<index_t, Rank>;

namespace detail {

//! Row-major (C order) strides for the given extents.
template <std::size_t Rank>
constexpr Extents<Rank> row_major_strides(const Extents<Rank>& extents) {
  Extents<Rank> strides{};
  index_t s = 1;
  for (std::size_t d = Rank; d-- > 0;) {
    strides[d] = s;
    s *= extents[d];
  }
  return strides;
}

//! Column-major (Fortran order) strides for the given extents.
template <std::size_t Rank>
constexpr Extents<Rank> col_major_strides(const Extents<Rank>& extents) {
  Extents<Rank> strides{};
  index_t s = 1;
  for (std::size_t d = 0; d < Rank; ++d) {
    strides[d] = s;
    s *= extents[d];
  }
  return strides;
}

[[noreturn]] inline void throw_index_error(index_t index, index_t extent, std::size_t dim) {
  throw IndexError("portml::TensorView: index " + std::to_string(index) + " out of range [0, " +
                   std::to_string(extent) + ") in dimension " + std::to_string(dim));
}

//! Bounds check used by element access when PORTML_BOUNDS_CHECK is 1: throws IndexError on the host,
//! prints and traps on a device (a device cannot throw).
PORTML_HOST_DEVICE inline void check_index(index_t index, index_t extent, std::size_t dim) {
  if (index < 0 || index >= extent) {
#if PORTML_DEVICE_PASS
    printf("portml::TensorView: index %lld out of range [0, %lld) in dimension %d\n", static_cast<long long>(index),
           static_cast<long long>(extent), static_cast<int>(dim));
    PORTML_DEVICE_TRAP();
#else
    throw_index_error(index, extent, dim);
#endif
  }
}

}  // namespace detail

//! Non-owning view of `Rank`-dimensional data of type `T` in memory space `Space`.
//! \tparam T      element type; `const T` gives a read-only view
//! \tparam Rank   number of dimensions (1 to 8)
//! \tparam Space  memory space tag (HostSpace, CudaSpace, HipSpace)
//! Strides are in elements. The default layout is row-major; `col_major` and explicit strides
//! describe any other layout. Copying a view is cheap and never copies data.
template <class T, std::size_t Rank, MemorySpace Space = HostSpace>
class TensorView {
  static_assert(Rank >= 1 && Rank <= 8, "portml::TensorView: rank must be between 1 and 8");

 public:
  using element_type = T;
  using value_type = std::remove_cv_t<T>;
  using memory_space = Space;
  static constexpr std::size_t rank = Rank;

  constexpr TensorView() = default;

  //! Row-major view of contiguous data.
  PORTML_HOST_DEVICE constexpr TensorView(T* data, const Extents<Rank>& extents)
      : data_(data), extents_(extents), strides_(detail::row_major_strides(extents)) {}

  //! View with explicit strides (in elements).
  PORTML_HOST_DEVICE constexpr TensorView(T* data, const Extents<Rank>& extents, const Extents<Rank>& strides)
      : data_(data), extents_(extents), strides_(strides) {}

  //! A read-only view of a mutable one.
  template <class U>
  requires(std::is_same_v<const U, T> && !std::is_same_v<U, T>) PORTML_HOST_DEVICE
      constexpr TensorView(const TensorView<U, Rank, Space>& other)  // NOLINT: implicit by design
      : data_(other.data()), extents_(other.extents()), strides_(other.strides()) {}

  //! Column-major view of contiguous data.
  static constexpr TensorView col_major(T* data, const Extents<Rank>& extents) {
    return TensorView(data, extents, detail::col_major_strides(extents));
  }

  PORTML_HOST_DEVICE constexpr T* data() const { return data_; }
  PORTML_HOST_DEVICE constexpr const Extents<Rank>& extents() const { return extents_; }
  PORTML_HOST_DEVICE constexpr const Extents<Rank>& strides() const { return strides_; }
  PORTML_HOST_DEVICE constexpr index_t extent(std::size_t d) const { return extents_[d]; }
  PORTML_HOST_DEVICE constexpr index_t stride(std::size_t d) const { return strides_[d]; }

  //! Number of elements.
  PORTML_HOST_DEVICE constexpr index_t size() const {
    index_t n = 1;
    for (std::size_t d = 0; d < Rank; ++d) n *= extents_[d];
    return n;
  }
  PORTML_HOST_DEVICE constexpr bool empty() const { return size() == 0; }

  //! True when the elements are packed in row-major order (one memcpy copies the view).
  constexpr bool is_contiguous() const {
    index_t s = 1;
    for (std::size_t d = Rank; d-- > 0;) {
      if (extents_[d] != 1 && strides_[d] != s) return false;
      s *= extents_[d];
    }
    return true;
  }

  //! Element access; bounds-checked when PORTML_BOUNDS_CHECK is 1.
  template <class... I>
  requires(sizeof...(I) == Rank && (std::is_integral_v<I> && ...)) PORTML_HOST_DEVICE constexpr T& operator()(
      I... indices) const {
    const index_t idx[Rank] = {static_cast<index_t>(indices)...};
    index_t offset = 0;
    for (std::size_t d = 0; d < Rank; ++d) {
#if PORTML_BOUNDS_CHECK
      detail::check_index(idx[d], extents_[d], d);
#endif
      offset += idx[d] * strides_[d];
    }
    return data_[offset];
  }

  //! Rows [begin, end) along dimension 0, same rank.
  TensorView row_slice(index_t begin, index_t end) const {
    if (begin < 0 || end < begin || end > extents_[0]) {
      throw IndexError("portml::TensorView::row_slice: rows [" + std::to_string(begin) + ", " + std::to_string(end) +
                       ") outside [0, " + std::to_string(extents_[0]) + ")");
    }
    Extents<Rank> e = extents_;
    e[0] = end - begin;
    return TensorView(data_ + begin * strides_[0], e, strides_);
  }

  //! Row `i` (fixing dimension 0), one rank lower.
  auto row(index_t i) const requires(Rank >= 2) {
    if (i < 0 || i >= extents_[0]) detail::throw_index_error(i, extents_[0], 0);
    Extents<Rank - 1> e{}, s{};
    for (std::size_t d = 1; d < Rank; ++d) {
      e[d - 1] = extents_[d];
      s[d - 1] = strides_[d];
    }
    return TensorView<T, Rank - 1, Space>(data_ + i * strides_[0], e, s);
  }

  //! The transposed view of a matrix (no data movement).
  TensorView transposed() const requires(Rank == 2) {
    return TensorView(data_, {extents_[1], extents_[0]}, {strides_[1], strides_[0]});
  }

 private:
  T* data_ = nullptr;
  Extents<Rank> extents_{};
  Extents<Rank> strides_{};
};

//! Throws ShapeError naming `op` and both shapes unless `a` and `b` have equal extents.
template <std::size_t Rank>
void check_same_shape(const char* op, const char* what_a, const Extents<Rank>& a, const char* what_b,
                      const Extents<Rank>& b) {
  if (a != b) {
    throw ShapeError(std::string(op) + ": shape mismatch: " + what_a + " " + detail::format_shape(a) + " vs " + what_b +
                     " " + detail::format_shape(b));
  }
}

}  // namespace portml
