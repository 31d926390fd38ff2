// SPDX-License-Identifier: Apache-2.0
// Device instantiations of the fused graph blocks and GNN models (layers/graph_blocks.hpp,
// layers/gnn_models.hpp): their device composition of the graph ops, gemm_tiled and element-wise
// kernels. The same file is compiled by nvcc into portml::cuda and by hip-clang into portml::hip.
#include <portml/portability/cuda_hip/launch.hpp>
// launch.hpp first: it names the backend this compiler builds.
#if defined(__NVCC__)
// The host GEMM headers that the blocks' host path includes carry `#pragma GCC unroll` for g++, which
// nvcc's front end does not know (warning 1675); the pragma has no meaning for this file's code.
#pragma nv_diag_suppress 1675
#endif
#include <portml/layers/gnn_models.hpp>

namespace portml::layers {
PORTML_GNN_BLOCKS_INSTANTIATE(, portml::detail::CurrentGpuBackend, float, std::int32_t)
PORTML_GNN_BLOCKS_INSTANTIATE(, portml::detail::CurrentGpuBackend, float, std::int64_t)
PORTML_GNN_MODELS_INSTANTIATE(, portml::detail::CurrentGpuBackend, float, std::int32_t)
PORTML_GNN_MODELS_INSTANTIATE(, portml::detail::CurrentGpuBackend, float, std::int64_t)
}  // namespace portml::layers
