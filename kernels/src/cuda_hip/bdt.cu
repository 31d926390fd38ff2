// SPDX-License-Identifier: Apache-2.0
// Device instantiations of the forest margins kernel (bdt/device_forest.hpp). The same file is
// compiled by nvcc into portml::cuda and by hip-clang into portml::hip.
#include <portml/portability/cuda_hip/launch.hpp>
// launch.hpp first: it names the backend this compiler builds.
#include <portml/bdt/device_forest.hpp>

namespace portml::bdt::detail {
PORTML_BDT_FOREST_INSTANTIATE(, portml::detail::CurrentGpuBackend, float)
PORTML_BDT_FOREST_INSTANTIATE(, portml::detail::CurrentGpuBackend, double)
}  // namespace portml::bdt::detail
