// SPDX-License-Identifier: Apache-2.0
// Device instantiations of the DeviceMlp row and copy kernels (layers/normalization.hpp); the Dense layers
// use gemm_tiled from gemm.cu. The same file is compiled by nvcc into portml::cuda and by hip-clang into
// portml::hip.
#include <portml/portability/cuda_hip/launch.hpp>
// launch.hpp first: it names the backend this compiler builds.
#include <portml/layers/normalization.hpp>

namespace portml::layers::device_detail {
PORTML_DEVICE_MLP_INSTANTIATE(, portml::detail::CurrentGpuBackend, float)
PORTML_DEVICE_MLP_INSTANTIATE(, portml::detail::CurrentGpuBackend, double)
}  // namespace portml::layers::device_detail
