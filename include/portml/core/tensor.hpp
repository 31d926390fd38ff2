// SPDX-License-Identifier: Apache-2.0
//! \file
//! Tensor: an owning, aligned, zero-initialised array in one memory space, and the host mirror helper.
#pragma once

#include <cstring>
#include <new>
#include <utility>

#include <portml/core/tensor_view.hpp>

namespace portml {

//! Alignment of every allocation portml makes (bytes): a cache-line pair and a full AVX-512 vector.
inline constexpr std::size_t default_alignment = 128;

namespace detail {

//! How to allocate, zero and free memory of one space. Specialised per space; the device
//! specialisations live in the backend headers (portml/portability/cuda.hpp, hip.hpp).
template <class Space>
struct SpaceAllocator;

template <>
struct SpaceAllocator<HostSpace> {
  static void* allocate(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    void* p = ::operator new (bytes, std::align_val_t{default_alignment});
    std::memset(p, 0, bytes);
    return p;
  }
  static void deallocate(void* p) noexcept {
    if (p != nullptr) ::operator delete (p, std::align_val_t{default_alignment});
  }
};

}  // namespace detail

//! Owning, move-only array of `Rank` dimensions in `Space`, row-major and zero-initialised.
//! \tparam T      element type (not const)
//! \tparam Rank   number of dimensions
//! \tparam Space  memory space tag; device spaces need their backend header included
template <class T, std::size_t Rank, MemorySpace Space = HostSpace>
class Tensor {
  static_assert(!std::is_const_v<T>, "portml::Tensor owns its elements: use a non-const element type");
  static_assert(std::is_trivially_copyable_v<T>, "portml::Tensor holds trivially copyable elements only");

 public:
  using element_type = T;
  using memory_space = Space;
  using view_type = TensorView<T, Rank, Space>;
  using const_view_type = TensorView<const T, Rank, Space>;
  static constexpr std::size_t rank = Rank;

  Tensor() = default;

  explicit Tensor(const Extents<Rank>& extents) {
    for (std::size_t d = 0; d < Rank; ++d) {
      if (extents[d] < 0) {
        throw ShapeError("portml::Tensor: negative extent in shape " + detail::format_shape(extents));
      }
    }
    const view_type probe(nullptr, extents);
    T* data = static_cast<T*>(detail::SpaceAllocator<Space>::allocate(sizeof(T) * probe.size()));
    view_ = view_type(data, extents);
  }

  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;
  Tensor(Tensor&& other) noexcept : view_(std::exchange(other.view_, view_type{})) {}
  Tensor& operator=(Tensor&& other) noexcept {
    if (this != &other) {
      release();
      view_ = std::exchange(other.view_, view_type{});
    }
    return *this;
  }
  ~Tensor() { release(); }

  view_type view() { return view_; }
  const_view_type view() const { return view_; }
  operator view_type() { return view_; }              // NOLINT: implicit by design
  operator const_view_type() const { return view_; }  // NOLINT: implicit by design

  T* data() { return view_.data(); }
  const T* data() const { return view_.data(); }
  const Extents<Rank>& extents() const { return view_.extents(); }
  index_t extent(std::size_t d) const { return view_.extent(d); }
  index_t size() const { return view_.size(); }
  bool empty() const { return view_.empty(); }

  //! Host element access (only for host-accessible spaces).
  template <class... I>
  T& operator()(I... i) requires(Space::host_accessible) {
    return view_(i...);
  }
  template <class... I>
  const T& operator()(I... i) const requires(Space::host_accessible) {
    return view_(i...);
  }

 private:
  void release() noexcept { detail::SpaceAllocator<Space>::deallocate(view_.data()); }

  view_type view_{};
};

//! A host view of a tensor's data: the same memory when its space is host-accessible (no copy
//! needed), otherwise a separate host allocation of the same shape. Fill it with deep_copy.
template <class T, std::size_t Rank>
class HostMirror {
 public:
  using view_type = TensorView<T, Rank, HostSpace>;

  //! Aliasing mirror of host-accessible data.
  explicit HostMirror(view_type alias) : view_(alias) {}
  //! Owning mirror.
  explicit HostMirror(Tensor<std::remove_const_t<T>, Rank, HostSpace>&& storage)
      : storage_(std::move(storage)), view_(storage_.view()) {}

  view_type view() const { return view_; }
  //! True when the mirror is the original memory (deep_copy between them is a no-op).
  bool aliases() const { return storage_.data() == nullptr && view_.data() != nullptr; }

 private:
  Tensor<std::remove_const_t<T>, Rank, HostSpace> storage_;
  view_type view_;
};

//! Host mirror of `v`: an alias where `Space` is host-accessible, a new host tensor otherwise.
template <class T, std::size_t Rank, class Space>
HostMirror<T, Rank> create_mirror_view(const TensorView<T, Rank, Space>& v) {
  if constexpr (Space::host_accessible) {
    return HostMirror<T, Rank>(TensorView<T, Rank, HostSpace>(v.data(), v.extents(), v.strides()));
  } else {
    return HostMirror<T, Rank>(Tensor<std::remove_const_t<T>, Rank, HostSpace>(v.extents()));
  }
}

}  // namespace portml
