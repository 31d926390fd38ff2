// SPDX-License-Identifier: Apache-2.0
//! \file
//! Kernel launches of the uniform CUDA/HIP backend, written once for both. Include this header only
//! in files compiled by nvcc or hip-clang (the kernel-instantiation files of portml::cuda and
//! portml::hip); host code calls the launchers those files instantiate.
#pragma once

#if !defined(__CUDACC__) && !defined(__HIPCC__)
#error "portml/portability/cuda_hip/launch.hpp is for files compiled by nvcc or hip-clang only"
#endif

#include <portml/config.hpp>

#if defined(__HIPCC__)
#include <hip/hip_runtime.h>
#include <portml/portability/hip.hpp>
//! Namespace of device code compiled for this backend: nothing clashes when several link together.
#define PORTML_GPU_NS hip
namespace portml::detail {
using CurrentGpuBackend = backend::Hip;
}
#else
#include <cuda_runtime.h>
#include <portml/portability/cuda.hpp>
#define PORTML_GPU_NS cuda
namespace portml::detail {
using CurrentGpuBackend = backend::Cuda;
}
#endif

#include <algorithm>

namespace portml::impl::PORTML_GPU_NS {

//! The Team of a GPU block: ranks from the hardware, __syncthreads as the barrier, dynamic shared
//! memory as scratch. Members are host-device so that host-device kernel bodies can call them; they
//! are only ever run on the device.
class GpuTeam {
 public:
  PORTML_HOST_DEVICE GpuTeam(void* scratch, std::size_t scratch_bytes)
      : scratch_(scratch), scratch_bytes_(scratch_bytes) {}
#if PORTML_DEVICE_PASS
  PORTML_HOST_DEVICE index_t league_rank() const { return blockIdx.x; }
  PORTML_HOST_DEVICE index_t league_size() const { return gridDim.x; }
  PORTML_HOST_DEVICE int team_rank() const { return static_cast<int>(threadIdx.x); }
  PORTML_HOST_DEVICE int team_size() const { return static_cast<int>(blockDim.x); }
  PORTML_HOST_DEVICE void barrier() const { __syncthreads(); }
#else
  PORTML_HOST_DEVICE index_t league_rank() const { return 0; }
  PORTML_HOST_DEVICE index_t league_size() const { return 1; }
  PORTML_HOST_DEVICE int team_rank() const { return 0; }
  PORTML_HOST_DEVICE int team_size() const { return 1; }
  PORTML_HOST_DEVICE void barrier() const {}
#endif
  PORTML_HOST_DEVICE void* scratch() const { return scratch_; }
  PORTML_HOST_DEVICE std::size_t scratch_bytes() const { return scratch_bytes_; }

 private:
  void* scratch_;
  std::size_t scratch_bytes_;
};

__device__ inline unsigned char* dynamic_shared() {
  extern __shared__ __align__(16) unsigned char portml_dynamic_shared[];
  return portml_dynamic_shared;
}

template <class F>
__global__ void range1d_kernel(F f, index_t n) {
  const index_t stride = static_cast<index_t>(gridDim.x) * blockDim.x;
  for (index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) f(i);
}

template <class F>
__global__ void range2d_kernel(F f, index_t n0, index_t n1) {
  const index_t stride_i = static_cast<index_t>(gridDim.y) * blockDim.y;
  const index_t stride_j = static_cast<index_t>(gridDim.x) * blockDim.x;
  for (index_t i = static_cast<index_t>(blockIdx.y) * blockDim.y + threadIdx.y; i < n0; i += stride_i)
    for (index_t j = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < n1; j += stride_j) f(i, j);
}

template <class F>
__global__ void team_kernel(F f, std::size_t scratch_bytes) {
  const GpuTeam team(scratch_bytes > 0 ? dynamic_shared() : nullptr, scratch_bytes);
  f(team);
}

//! Fixed-shape tree reduction of one value per thread in shared memory; thread 0 gets the result.
template <class R>
__device__ typename R::value_type block_reduce(typename R::value_type acc) {
  using T = typename R::value_type;
  T* shared = reinterpret_cast<T*>(dynamic_shared());
  shared[threadIdx.x] = acc;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s /= 2) {
    if (threadIdx.x < s) R::join(shared[threadIdx.x], shared[threadIdx.x + s]);
    __syncthreads();
  }
  return shared[0];
}

//! One block folds each chunk of reduce_chunk elements into partials[chunk].
template <class R, class F>
__global__ void reduce_chunks_kernel(F f, index_t n, typename R::value_type* partials) {
  const index_t chunks = (n + reduce_chunk - 1) / reduce_chunk;
  for (index_t c = blockIdx.x; c < chunks; c += gridDim.x) {
    typename R::value_type acc = R::identity();
    const index_t end = (c + 1) * reduce_chunk < n ? (c + 1) * reduce_chunk : n;
    for (index_t i = c * reduce_chunk + threadIdx.x; i < end; i += blockDim.x) f(i, acc);
    acc = block_reduce<R>(acc);
    if (threadIdx.x == 0) partials[c] = acc;
    __syncthreads();
  }
}

//! One block joins `count` partials into *out.
template <class R>
__global__ void join_partials_kernel(const typename R::value_type* partials, index_t count,
                                     typename R::value_type* out) {
  typename R::value_type acc = R::identity();
  for (index_t c = threadIdx.x; c < count; c += blockDim.x) R::join(acc, partials[c]);
  acc = block_reduce<R>(acc);
  if (threadIdx.x == 0) *out = acc;
}

}  // namespace portml::impl::PORTML_GPU_NS

namespace portml::detail {

template <class B>
requires GpuBackend<B>
struct Exec<B> {
  static_assert(std::is_same_v<B, CurrentGpuBackend>, "portml: this file's device compiler builds another backend");
  using Api = typename GpuApiOf<B>::type;
  using Q = Queue<B>;
  static constexpr int block_1d = 256;
  static constexpr index_t max_grid_x = 2147483647;
  static constexpr index_t max_grid_y = 65535;
  //! Dynamic shared memory a block may use without opting in.
  static constexpr std::size_t default_shared_bytes = 48 * 1024;

  static unsigned grid_for(index_t n, index_t block, index_t max_grid) {
    return static_cast<unsigned>(std::min<index_t>((n + block - 1) / block, max_grid));
  }

  template <class F>
  static void parallel_for(Q& q, Range1D r, const F& f) {
    if (r.n == 0) return;
    impl::PORTML_GPU_NS::range1d_kernel<<<grid_for(r.n, block_1d, max_grid_x), block_1d, 0, q.stream()>>>(f, r.n);
    PORTML_GPU_CHECK(Api, Api::get_last_error());
  }

  template <class F>
  static void parallel_for(Q& q, Range2D r, const F& f) {
    if (r.n0 == 0 || r.n1 == 0) return;
    const dim3 block(32, 8);
    const dim3 grid(grid_for(r.n1, 32, max_grid_x), grid_for(r.n0, 8, max_grid_y));
    impl::PORTML_GPU_NS::range2d_kernel<<<grid, block, 0, q.stream()>>>(f, r.n0, r.n1);
    PORTML_GPU_CHECK(Api, Api::get_last_error());
  }

  template <class F>
  static void launch(Q& q, const LaunchConfig& cfg, const F& f) {
    if (cfg.league_size == 0) return;
    if (cfg.league_size > max_grid_x || cfg.team_size > 1024) {
      throw Error(std::string("portml::launch on ") + B::name + ": league_size " + std::to_string(cfg.league_size) +
                  " or team_size " + std::to_string(cfg.team_size) + " beyond the device limits (2^31-1, 1024)");
    }
    if (cfg.scratch_bytes > default_shared_bytes) {
      // Opting in to more shared memory is per kernel; the device limit reports a clear error.
      const auto* kernel = reinterpret_cast<const void*>(&impl::PORTML_GPU_NS::team_kernel<F>);
      PORTML_GPU_CHECK(Api, Api::set_max_dynamic_shared(kernel, static_cast<int>(cfg.scratch_bytes)));
    }
    impl::PORTML_GPU_NS::team_kernel<<<static_cast<unsigned>(cfg.league_size), static_cast<unsigned>(cfg.team_size),
                                       cfg.scratch_bytes, q.stream()>>>(f, cfg.scratch_bytes);
    PORTML_GPU_CHECK(Api, Api::get_last_error());
  }

  template <class R, class F>
  static typename R::value_type parallel_reduce(Q& q, Range1D r, const F& f) {
    using T = typename R::value_type;
    constexpr int block = 256;
    const index_t chunks = (r.n + reduce_chunk - 1) / reduce_chunk;
    T* partials = static_cast<T*>(q.device_scratch(sizeof(T) * static_cast<std::size_t>(chunks + 1)));
    T* out = partials + chunks;
    if (chunks > 0) {
      impl::PORTML_GPU_NS::reduce_chunks_kernel<R>
          <<<grid_for(chunks, 1, max_grid_x), block, block * sizeof(T), q.stream()>>>(f, r.n, partials);
      PORTML_GPU_CHECK(Api, Api::get_last_error());
    }
    impl::PORTML_GPU_NS::join_partials_kernel<R><<<1, block, block * sizeof(T), q.stream()>>>(partials, chunks, out);
    PORTML_GPU_CHECK(Api, Api::get_last_error());
    T* host = static_cast<T*>(q.pinned_scratch(sizeof(T)));
    PORTML_GPU_CHECK(Api, Api::memcpy_async(host, out, sizeof(T), q.stream()));
    q.wait();
    return *host;
  }
};

}  // namespace portml::detail
