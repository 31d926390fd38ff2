// SPDX-License-Identifier: Apache-2.0
//! \file
//! The shared-memory tiled GEMM with a fused bias + activation epilogue, written once against portml's
//! hierarchical launch so the same body runs on CUDA and HIP (compiled into portml::cuda / portml::hip by
//! kernels/src/cuda_hip/gemm.cu) and on every host backend (where tests check it, GPU emulation
//! included). On host backends, production code uses kernels::gemm (gemm.hpp), which is much faster.
//!
//! Each team computes one 16 × 16 tile of C with 256 threads: per step of 16 along K, the team stages
//! the A and W tiles in scratch (GPU shared memory), synchronises, and each thread adds the 16 products
//! of its elements in k order. The K order is fixed, so results do not depend on the launch shape.
#pragma once

#include <string>

#include <portml/config.hpp>
#include <portml/kernels/activation.hpp>
#include <portml/portability/launch.hpp>

namespace portml::kernels {

//! Work of one team: C tile (league_rank / tiles_n, league_rank % tiles_n).
template <class T, class Space>
struct TiledGemmBody {
  static constexpr index_t tile = 16;
  //! Scratch per team: A and W tiles (padded rows against bank conflicts) and the accumulators.
  static constexpr std::size_t scratch_bytes = sizeof(T) * (2 * tile * (tile + 1) + tile * tile);

  TensorView<const T, 2, Space> a;  //!< [M, K]
  TensorView<const T, 2, Space> w;  //!< [K, N]
  TensorView<T, 2, Space> c;        //!< [M, N]
  const T* bias;                    //!< [N] in Space, or nullptr
  ActivationSpec activation;
  index_t tiles_n;

  template <class TeamT>
  PORTML_HOST_DEVICE void operator()(const TeamT& team) const {
    T* as = team_scratch<T>(team);
    T* ws = as + tile * (tile + 1);
    T* acc = ws + tile * (tile + 1);
    const index_t i0 = (team.league_rank() / tiles_n) * tile;
    const index_t j0 = (team.league_rank() % tiles_n) * tile;
    const index_t m = c.extent(0), n = c.extent(1), k = a.extent(1);
    for (index_t e : team_elements(team, tile * tile)) acc[e] = T(0);
    for (index_t k0 = 0; k0 < k; k0 += tile) {
      for (index_t e : team_elements(team, tile * tile)) {
        const index_t r = e / tile, q = e % tile;
        as[r * (tile + 1) + q] = (i0 + r < m && k0 + q < k) ? a(i0 + r, k0 + q) : T(0);
        ws[r * (tile + 1) + q] = (k0 + r < k && j0 + q < n) ? w(k0 + r, j0 + q) : T(0);
      }
      team.barrier();
      for (index_t e : team_elements(team, tile * tile)) {
        const index_t r = e / tile, q = e % tile;
        T s = acc[e];
        for (index_t kk = 0; kk < tile; ++kk) s += as[r * (tile + 1) + kk] * ws[kk * (tile + 1) + q];
        acc[e] = s;
      }
      team.barrier();
    }
    for (index_t e : team_elements(team, tile * tile)) {
      const index_t r = e / tile, q = e % tile;
      if (i0 + r < m && j0 + q < n) {
        T v = acc[e];
        if (bias != nullptr) v = v + bias[j0 + q];
        c(i0 + r, j0 + q) = apply_activation(activation, v);
      }
    }
  }
};

//! C [M, N] = act(A [M, K] · W [K, N] + bias) on backend B, for an element-wise activation.
//! `bias` points to N values in B's memory, or is nullptr. Throws ShapeError / NotSupported.
template <Backend B, class T>
void gemm_tiled(Queue<B>& q, TensorView<const T, 2, memory_space_t<B>> a, TensorView<const T, 2, memory_space_t<B>> w,
                TensorView<T, 2, memory_space_t<B>> c, const T* bias, ActivationSpec activation) {
  if (a.extent(1) != w.extent(0) || c.extent(0) != a.extent(0) || c.extent(1) != w.extent(1)) {
    throw ShapeError("portml::kernels::gemm_tiled: shapes do not fit C = A·W: A " + detail::format_shape(a.extents()) +
                     ", W " + detail::format_shape(w.extents()) + ", C " + detail::format_shape(c.extents()));
  }
  if (!activation.elementwise()) {
    throw NotSupported("portml::kernels::gemm_tiled: softmax is a row operation, not an epilogue");
  }
  using Body = TiledGemmBody<T, memory_space_t<B>>;
  const index_t tiles_m = (c.extent(0) + Body::tile - 1) / Body::tile;
  const index_t tiles_n = (c.extent(1) + Body::tile - 1) / Body::tile;
  if (tiles_m == 0 || tiles_n == 0) return;
  launch(q, LaunchConfig{tiles_m * tiles_n, static_cast<int>(Body::tile * Body::tile), Body::scratch_bytes},
         Body{a, w, c, bias, activation, tiles_n});
}

//! The explicit instantiations of gemm_tiled for a device backend (portml::cuda, portml::hip).
#define PORTML_GEMM_TILED_INSTANTIATE(PREFIX, BACKEND, T)                                                       \
  PREFIX template void gemm_tiled<BACKEND, T>(Queue<BACKEND>&, TensorView<const T, 2, memory_space_t<BACKEND>>, \
                                              TensorView<const T, 2, memory_space_t<BACKEND>>,                  \
                                              TensorView<T, 2, memory_space_t<BACKEND>>, const T*, ActivationSpec);

#if !defined(__CUDACC__) && !defined(__HIPCC__)
// Host code links the device instantiations from the kernel libraries.
#if PORTML_ENABLE_CUDA
PORTML_GEMM_TILED_INSTANTIATE(extern, backend::Cuda, float)
PORTML_GEMM_TILED_INSTANTIATE(extern, backend::Cuda, double)
#endif
#if PORTML_ENABLE_HIP
PORTML_GEMM_TILED_INSTANTIATE(extern, backend::Hip, float)
PORTML_GEMM_TILED_INSTANTIATE(extern, backend::Hip, double)
#endif
#endif

}  // namespace portml::kernels
