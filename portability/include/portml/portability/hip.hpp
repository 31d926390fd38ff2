// SPDX-License-Identifier: Apache-2.0
//! \file
//! The HIP backend as seen from host code (any host compiler): Queue<Hip>, HipSpace tensors,
//! deep_copy and device discovery. Kernels are launched from hip-clang-compiled files (portml::hip).
#pragma once

#include <portml/config.hpp>
#if !PORTML_ENABLE_HIP
#error "portml was configured without HIP (PORTML_ENABLE_HIP=OFF)"
#endif

#include <portml/portability/cuda_hip/api_hip.hpp>
#include <portml/portability/cuda_hip/runtime.hpp>

namespace portml::detail {
template <>
struct SpaceAllocator<HipSpace> : GpuAllocator<ApiHip> {};
}  // namespace portml::detail
