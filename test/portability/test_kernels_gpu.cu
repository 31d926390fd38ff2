// SPDX-License-Identifier: Apache-2.0
// Device instantiations of the test kernels: compiled by nvcc for CUDA and by hip-clang for HIP.
#include <portml/portability/cuda_hip/launch.hpp>

#include "test_kernels_impl.hpp"

namespace portml::test {
PORTML_TEST_KERNELS_INSTANTIATE(, detail::CurrentGpuBackend)
}  // namespace portml::test
