// SPDX-License-Identifier: Apache-2.0
// Device instantiations of the tiled GEMM (kernels/gemm_tiled.hpp). The same file is compiled by nvcc
// into portml::cuda and by hip-clang into portml::hip.
#include <portml/portability/cuda_hip/launch.hpp>
// launch.hpp first: it names the backend this compiler builds.
#include <portml/kernels/gemm_tiled.hpp>

namespace portml::kernels {
PORTML_GEMM_TILED_INSTANTIATE(, detail::CurrentGpuBackend, float)
PORTML_GEMM_TILED_INSTANTIATE(, detail::CurrentGpuBackend, double)
}  // namespace portml::kernels
