// SPDX-License-Identifier: Apache-2.0
//! \file
//! The CUDA backend as seen from host code (any host compiler): Queue<Cuda>, CudaSpace tensors,
//! deep_copy and device discovery. Kernels are launched from nvcc-compiled files (portml::cuda).
#pragma once

#include <portml/config.hpp>
#if !PORTML_ENABLE_CUDA
#error "portml was configured without CUDA (PORTML_ENABLE_CUDA=OFF)"
#endif

#include <portml/portability/cuda_hip/api_cuda.hpp>
#include <portml/portability/cuda_hip/runtime.hpp>

namespace portml::detail {
template <>
struct SpaceAllocator<CudaSpace> : GpuAllocator<ApiCuda> {};
}  // namespace portml::detail
