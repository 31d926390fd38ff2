// SPDX-License-Identifier: Apache-2.0
//! \file
//! What test bodies include: the kernel declarations plus `extern template` for every backend,
//! so no test translation unit instantiates (or needs a device compiler for) a kernel.
#pragma once

#include <portml/portability/all.hpp>

#include "test_kernels.hpp"

namespace portml::test {
PORTML_TEST_KERNELS_INSTANTIATE(extern, backend::Serial)
#if PORTML_ENABLE_OPENMP
PORTML_TEST_KERNELS_INSTANTIATE(extern, backend::OpenMP)
#endif
#if PORTML_ENABLE_KOKKOS
PORTML_TEST_KERNELS_INSTANTIATE(extern, backend::KokkosHost)
#endif
#if PORTML_ENABLE_CUDA
PORTML_TEST_KERNELS_INSTANTIATE(extern, backend::Cuda)
#endif
#if PORTML_ENABLE_HIP
PORTML_TEST_KERNELS_INSTANTIATE(extern, backend::Hip)
#endif
}  // namespace portml::test
