// SPDX-License-Identifier: Apache-2.0
//! \file
//! The CUDA runtime as a flat table of types, constants and forwarding functions. The uniform
//! CUDA/HIP backend is written once against this table (see api_hip.hpp for its twin).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

#include <portml/portability/backend.hpp>

namespace portml::detail {

struct ApiCuda {
  static constexpr const char* name = "CUDA";
  using Error_t = cudaError_t;
  using Stream_t = cudaStream_t;
  static constexpr Error_t success = cudaSuccess;

  static Error_t get_device_count(int* n) { return cudaGetDeviceCount(n); }
  static Error_t set_device(int d) { return cudaSetDevice(d); }
  static Error_t get_device(int* d) { return cudaGetDevice(d); }
  static Error_t device_name(char* buf, std::size_t len, std::size_t* total_mem, int d) {
    cudaDeviceProp p{};
    const Error_t e = cudaGetDeviceProperties(&p, d);
    if (e != success) return e;
    std::size_t i = 0;
    for (; i + 1 < len && p.name[i] != '\0'; ++i) buf[i] = p.name[i];
    buf[i] = '\0';
    *total_mem = p.totalGlobalMem;
    return e;
  }
  static Error_t allocate(void** p, std::size_t bytes) { return cudaMalloc(p, bytes); }
  static Error_t release(void* p) { return cudaFree(p); }
  static Error_t allocate_pinned(void** p, std::size_t bytes) { return cudaMallocHost(p, bytes); }
  static Error_t release_pinned(void* p) { return cudaFreeHost(p); }
  static Error_t memset(void* p, int v, std::size_t bytes) { return cudaMemset(p, v, bytes); }
  static Error_t memcpy_async(void* dst, const void* src, std::size_t bytes, Stream_t s) {
    return cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, s);
  }
  static Error_t memcpy2d_async(void* dst, std::size_t dpitch, const void* src, std::size_t spitch, std::size_t width,
                                std::size_t height, Stream_t s) {
    return cudaMemcpy2DAsync(dst, dpitch, src, spitch, width, height, cudaMemcpyDefault, s);
  }
  static Error_t stream_create(Stream_t* s) { return cudaStreamCreateWithFlags(s, cudaStreamNonBlocking); }
  static Error_t stream_destroy(Stream_t s) { return cudaStreamDestroy(s); }
  static Error_t stream_synchronize(Stream_t s) { return cudaStreamSynchronize(s); }
  //! Lets `kernel` use more than the default 48 KiB of dynamic shared memory per block.
  static Error_t set_max_dynamic_shared(const void* kernel, int bytes) {
    return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
  }
  static Error_t get_last_error() { return cudaGetLastError(); }
  static const char* error_name(Error_t e) { return cudaGetErrorName(e); }
  static const char* error_string(Error_t e) { return cudaGetErrorString(e); }
};

template <class B>
struct GpuApiOf;
template <>
struct GpuApiOf<backend::Cuda> {
  using type = ApiCuda;
};

}  // namespace portml::detail
