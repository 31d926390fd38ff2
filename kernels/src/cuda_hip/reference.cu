// SPDX-License-Identifier: Apache-2.0
// Device instantiations of the reference kernels. The same file is compiled by nvcc into
// portml::cuda and by hip-clang into portml::hip.
#include <portml/portability/cuda_hip/launch.hpp>
// launch.hpp first: it names the backend this compiler builds.
#include <portml/kernels/reference/matmul.hpp>

namespace portml::kernels::reference {
PORTML_REFERENCE_MATMUL_INSTANTIATE(, detail::CurrentGpuBackend, float)
PORTML_REFERENCE_MATMUL_INSTANTIATE(, detail::CurrentGpuBackend, double)
}  // namespace portml::kernels::reference
