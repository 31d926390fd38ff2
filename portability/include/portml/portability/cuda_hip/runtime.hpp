// SPDX-License-Identifier: Apache-2.0
//! \file
//! The host side of the uniform CUDA/HIP backend, written once against a runtime table `Api`
//! (ApiCuda, ApiHip): error checks, device discovery, allocation, the stream queue and copies.
//! Everything here is plain host code: any host compiler may include it (with the runtime's
//! headers on its include path). Kernel launches are in launch.hpp, for device compilers only.
#pragma once

#include <cstddef>
#include <string>
#include <utility>

#include <portml/portability/launch.hpp>

namespace portml::detail {

//! Throws BackendError naming the call, the file, the line and the runtime's error, unless `e` is success.
//! The runtime also keeps a failed call's error as its "last error", which the check after the next
//! kernel launch would report again (seen on an H200: a caught out-of-memory resurfacing at an
//! unrelated launch); it is consumed here, so the error is reported once, by the call that made it.
template <class Api>
void gpu_check(typename Api::Error_t e, const char* call, const char* file, int line) {
  if (e != Api::success) {
    (void)Api::get_last_error();
    throw BackendError(std::string("portml: ") + Api::name + " call " + call + " failed at " + file + ":" +
                       std::to_string(line) + ": " + Api::error_string(e) + " (" + Api::error_name(e) + ")");
  }
}

template <class B>
concept GpuBackend = Backend<B> && requires {
  typename GpuApiOf<B>::type;
};

}  // namespace portml::detail

//! Checks the result of a runtime call of table `API`; throws portml::BackendError on failure.
#define PORTML_GPU_CHECK(API, ...) ::portml::detail::gpu_check<API>((__VA_ARGS__), #__VA_ARGS__, __FILE__, __LINE__)

namespace portml {

//! Number of devices of a GPU backend visible at run time; 0 (never an exception) when there is no
//! device, no driver, or the runtime reports an error. `reason` receives the runtime's message then.
template <Backend B>
requires detail::GpuBackend<B>
int device_count(std::string* reason = nullptr) {
  using Api = typename detail::GpuApiOf<B>::type;
  int n = 0;
  const auto e = Api::get_device_count(&n);
  if (e != Api::success) {
    (void)Api::get_last_error();  // clear the sticky error so later calls start clean
    if (reason != nullptr) *reason = std::string(Api::name) + ": " + Api::error_string(e);
    return 0;
  }
  if (n == 0 && reason != nullptr) *reason = std::string(Api::name) + ": no device found";
  return n;
}

template <Backend B>
requires detail::GpuBackend<B> DeviceInfo device_info(int device) {
  using Api = typename detail::GpuApiOf<B>::type;
  char buf[256];
  DeviceInfo info;
  PORTML_GPU_CHECK(Api, Api::device_name(buf, sizeof buf, &info.memory_bytes, device));
  info.name = buf;
  return info;
}

namespace detail {

//! Device memory of the current device, zero-filled.
template <class Api>
struct GpuAllocator {
  static void* allocate(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    void* p = nullptr;
    PORTML_GPU_CHECK(Api, Api::allocate(&p, bytes));
    // The memset runs on the default stream, which does not order against portml's non-blocking
    // queue streams: without waiting for it, a copy or kernel submitted next on a queue could run
    // before the zeros land and have them overwrite its results (seen under compute-sanitizer on an
    // H200, where the timing shifts). Allocation is never on the hot path, so it waits here.
    auto e = Api::memset(p, 0, bytes);
    if (e == Api::success) e = Api::stream_synchronize(typename Api::Stream_t{});
    if (e != Api::success) {
      (void)Api::release(p);
      gpu_check<Api>(e, "memset", __FILE__, __LINE__);
    }
    return p;
  }
  static void deallocate(void* p) noexcept {
    if (p != nullptr) (void)Api::release(p);  // a destructor cannot report; the runtime keeps the error
  }
};

//! The stream queue of a GPU backend: owns a non-blocking stream, or wraps one the caller owns.
//! Copies and launches are asynchronous and run in submission order; wait() synchronises.
template <class B>
class GpuQueue {
 public:
  using Api = typename GpuApiOf<B>::type;
  using Stream = typename Api::Stream_t;

  //! A new stream on `device`. Throws DeviceUnavailable when no device is present.
  explicit GpuQueue(int device = 0) : device_(device), owns_stream_(true) {
    std::string reason;
    const int n = device_count<B>(&reason);
    if (device < 0 || device >= n) {
      throw DeviceUnavailable(std::string("portml::Queue<") + B::name + ">: device " + std::to_string(device) +
                              " not available (" + std::to_string(n) + " found" +
                              (reason.empty() ? "" : "; " + reason) + ")");
    }
    PORTML_GPU_CHECK(Api, Api::set_device(device_));
    PORTML_GPU_CHECK(Api, Api::stream_create(&stream_));
  }

  //! Submits to `stream`, which the caller owns and keeps alive (the CMSSW ExternalWork pattern).
  GpuQueue(Stream stream, int device) : device_(device), stream_(stream), owns_stream_(false) {}

  GpuQueue(const GpuQueue&) = delete;
  GpuQueue& operator=(const GpuQueue&) = delete;
  GpuQueue(GpuQueue&& o) noexcept
      : device_(o.device_),
        stream_(std::exchange(o.stream_, Stream{})),
        owns_stream_(std::exchange(o.owns_stream_, false)),
        scratch_(std::exchange(o.scratch_, nullptr)),
        scratch_bytes_(std::exchange(o.scratch_bytes_, 0)),
        pinned_(std::exchange(o.pinned_, nullptr)),
        pinned_bytes_(std::exchange(o.pinned_bytes_, 0)) {}
  GpuQueue& operator=(GpuQueue&&) = delete;
  ~GpuQueue() {
    if (owns_stream_) (void)Api::stream_synchronize(stream_);
    if (scratch_ != nullptr) (void)Api::release(scratch_);
    if (pinned_ != nullptr) (void)Api::release_pinned(pinned_);
    if (owns_stream_) (void)Api::stream_destroy(stream_);
  }

  //! Blocks until everything submitted so far has finished; reports asynchronous kernel errors.
  void wait() { PORTML_GPU_CHECK(Api, Api::stream_synchronize(stream_)); }
  Stream stream() const { return stream_; }
  int device() const { return device_; }

  //! Device scratch that grows to the largest request and is then reused (reductions use it).
  void* device_scratch(std::size_t bytes) {
    if (bytes > scratch_bytes_) {
      wait();  // earlier work may still read the old buffer
      if (scratch_ != nullptr) PORTML_GPU_CHECK(Api, Api::release(scratch_));
      scratch_ = nullptr;
      scratch_bytes_ = 0;
      PORTML_GPU_CHECK(Api, Api::allocate(&scratch_, bytes));
      scratch_bytes_ = bytes;
    }
    return scratch_;
  }
  //! Pinned host memory for results copied back asynchronously.
  void* pinned_scratch(std::size_t bytes) {
    if (bytes > pinned_bytes_) {
      wait();
      if (pinned_ != nullptr) PORTML_GPU_CHECK(Api, Api::release_pinned(pinned_));
      pinned_ = nullptr;
      pinned_bytes_ = 0;
      PORTML_GPU_CHECK(Api, Api::allocate_pinned(&pinned_, bytes));
      pinned_bytes_ = bytes;
    }
    return pinned_;
  }

 private:
  int device_ = 0;
  Stream stream_{};
  bool owns_stream_ = false;
  void* scratch_ = nullptr;
  std::size_t scratch_bytes_ = 0;
  void* pinned_ = nullptr;
  std::size_t pinned_bytes_ = 0;
};

template <class Space, class B>
inline constexpr bool gpu_copy_space_ok = std::is_same_v<Space, HostSpace> || std::is_same_v<Space, memory_space_t<B>>;

//! deep_copy on a GPU queue: contiguous views, or matrices whose rows are contiguous (pitched copy).
template <class B>
requires GpuBackend<B>
struct Copier<B> {
  using Api = typename GpuApiOf<B>::type;
  template <class T, std::size_t Rank, class SD, class SS>
  static void copy(Queue<B>& q, const TensorView<T, Rank, SD>& dst, const TensorView<const T, Rank, SS>& src) {
    static_assert(gpu_copy_space_ok<SD, B> && gpu_copy_space_ok<SS, B>,
                  "portml::deep_copy: a GPU queue copies between host memory and its own device memory");
    if (dst.empty()) return;
    if (dst.is_contiguous() && src.is_contiguous()) {
      PORTML_GPU_CHECK(
          Api, Api::memcpy_async(dst.data(), src.data(), sizeof(T) * static_cast<std::size_t>(dst.size()), q.stream()));
      return;
    }
    if constexpr (Rank == 2) {
      if (dst.stride(1) == 1 && src.stride(1) == 1) {
        PORTML_GPU_CHECK(
            Api, Api::memcpy2d_async(dst.data(), sizeof(T) * dst.stride(0), src.data(), sizeof(T) * src.stride(0),
                                     sizeof(T) * dst.extent(1), dst.extent(0), q.stream()));
        return;
      }
    }
    throw NotSupported(std::string("portml::deep_copy on ") + B::name +
                       ": device copies need contiguous views or matrices with contiguous rows; got strides " +
                       format_shape(dst.strides()) + " and " + format_shape(src.strides()));
  }
};

}  // namespace detail

//! Queue of a GPU backend (CUDA or HIP): one implementation for both.
template <Backend B>
requires detail::GpuBackend<B>
class Queue<B> : public detail::GpuQueue<B> {
 public:
  using detail::GpuQueue<B>::GpuQueue;
};

}  // namespace portml
