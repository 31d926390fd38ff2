// SPDX-License-Identifier: Apache-2.0
// Device instantiations of the graph primitives. The same file is compiled by nvcc into portml::cuda
// and by hip-clang into portml::hip.
#include <portml/portability/cuda_hip/launch.hpp>
// launch.hpp first: it names the backend this compiler builds.
#include <portml/kernels/graph.hpp>

namespace portml::kernels::graph {
PORTML_GRAPH_REDUCE_INSTANTIATE(, portml::detail::CurrentGpuBackend, float, std::int32_t)
PORTML_GRAPH_REDUCE_INSTANTIATE(, portml::detail::CurrentGpuBackend, float, std::int64_t)
PORTML_GRAPH_KNN_INSTANTIATE(, portml::detail::CurrentGpuBackend, float, std::int32_t)
PORTML_GRAPH_KNN_INSTANTIATE(, portml::detail::CurrentGpuBackend, float, std::int64_t)
}  // namespace portml::kernels::graph
