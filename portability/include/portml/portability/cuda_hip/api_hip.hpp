// SPDX-License-Identifier: Apache-2.0
//! \file
//! The HIP runtime as a flat table of types, constants and forwarding functions. The uniform
//! CUDA/HIP backend is written once against this table (see api_cuda.hpp for its twin).
#pragma once

#ifndef __HIP_PLATFORM_AMD__
#define __HIP_PLATFORM_AMD__ 1  // HIP on AMD GPUs (hip_runtime_api.h needs a platform)
#endif
#include <hip/hip_runtime_api.h>

#include <cstddef>

#include <portml/portability/backend.hpp>

namespace portml::detail {

struct ApiHip {
  static constexpr const char* name = "HIP";
  using Error_t = hipError_t;
  using Stream_t = hipStream_t;
  static constexpr Error_t success = hipSuccess;

  static Error_t get_device_count(int* n) { return hipGetDeviceCount(n); }
  static Error_t set_device(int d) { return hipSetDevice(d); }
  static Error_t get_device(int* d) { return hipGetDevice(d); }
  static Error_t device_name(char* buf, std::size_t len, std::size_t* total_mem, int d) {
    hipDeviceProp_t p{};
    const Error_t e = hipGetDeviceProperties(&p, d);
    if (e != success) return e;
    std::size_t i = 0;
    for (; i + 1 < len && p.name[i] != '\0'; ++i) buf[i] = p.name[i];
    buf[i] = '\0';
    *total_mem = p.totalGlobalMem;
    return e;
  }
  static Error_t allocate(void** p, std::size_t bytes) { return hipMalloc(p, bytes); }
  static Error_t release(void* p) { return hipFree(p); }
  static Error_t allocate_pinned(void** p, std::size_t bytes) { return hipHostMalloc(p, bytes); }
  static Error_t release_pinned(void* p) { return hipHostFree(p); }
  static Error_t memset(void* p, int v, std::size_t bytes) { return hipMemset(p, v, bytes); }
  static Error_t memcpy_async(void* dst, const void* src, std::size_t bytes, Stream_t s) {
    return hipMemcpyAsync(dst, src, bytes, hipMemcpyDefault, s);
  }
  static Error_t memcpy2d_async(void* dst, std::size_t dpitch, const void* src, std::size_t spitch, std::size_t width,
                                std::size_t height, Stream_t s) {
    return hipMemcpy2DAsync(dst, dpitch, src, spitch, width, height, hipMemcpyDefault, s);
  }
  static Error_t stream_create(Stream_t* s) { return hipStreamCreateWithFlags(s, hipStreamNonBlocking); }
  static Error_t stream_destroy(Stream_t s) { return hipStreamDestroy(s); }
  static Error_t stream_synchronize(Stream_t s) { return hipStreamSynchronize(s); }
  //! Lets `kernel` use more than the default 48 KiB of dynamic shared memory per block.
  static Error_t set_max_dynamic_shared(const void* kernel, int bytes) {
    return hipFuncSetAttribute(kernel, hipFuncAttributeMaxDynamicSharedMemorySize, bytes);
  }
  static Error_t get_last_error() { return hipGetLastError(); }
  static const char* error_name(Error_t e) { return hipGetErrorName(e); }
  static const char* error_string(Error_t e) { return hipGetErrorString(e); }
};

template <class B>
struct GpuApiOf;
template <>
struct GpuApiOf<backend::Hip> {
  using type = ApiHip;
};

}  // namespace portml::detail
