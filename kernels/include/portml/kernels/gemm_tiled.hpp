// SPDX-License-Identifier: Apache-2.0
//! \file
//! The register-blocked, shared-memory tiled GEMM with a fused bias + activation epilogue, written once
//! against portml's hierarchical launch so the same body runs on CUDA and HIP (compiled into portml::cuda
//! / portml::hip by kernels/src/cuda_hip/gemm.cu) and on every host backend (where tests check it, GPU
//! emulation included). On host backends, production code uses kernels::gemm (gemm.hpp), which is much
//! faster.
//!
//! A team of 256 threads, seen as a 16 × 16 grid (ty, tx), computes one BM × BN tile of C, BM = 16·TM,
//! BN = 16·TN. Thread (ty, tx) owns the TM × TN outputs at rows ty + 16·i and columns tx + 16·j of the
//! tile (interleaved, so a warp's stores of one (i, j) are 16 consecutive columns, and its shared-memory
//! reads are broadcasts or 16 consecutive words: no bank conflicts), accumulated in registers. Per step
//! of BK along K, the team stages the A tile (transposed, padded rows) and the W tile in scratch (GPU
//! shared memory), synchronises, and each thread adds BK products to each of its outputs in k order.
//!
//! Bits: every output is the sum of gemm/k_chunks.hpp, as on the host microkernels: K in
//! S = gemm_k_chunks(K) contiguous chunks, each one chain acc = acc + a(i, k)·w(k, j) in k order from
//! +0, the chunk sums added left to right (each finished chunk is folded into C, which holds the raw
//! running sum until the last chunk), then + bias, then the activation. Terms past K are staged as
//! zeros and add +0 to the last chunk, which never changes a chain that starts from +0. So a row's bits
//! depend on neither M, its position, the tile shape nor the team size; on host backends (separate
//! multiply and add) they are the host scalar microkernel's. Device compilers contract the multiply-add
//! into FMA.
//!
//! Shapes (`GemmTiledShape`, one dispatch point: `gemm_tiled_shape`): 16 × 16 tiles of 1 × 1 outputs per
//! thread for small problems (many teams; the latency-bound batch-1 case of reconstruction), 64 × 64 of
//! 4 × 4 and 128 × 128 of 8 × 8 for large ones (each A and W element read from shared memory is used
//! 4 or 8 times from registers instead of once).
#pragma once

#include <string>
#include <type_traits>

#include <portml/config.hpp>
#include <portml/kernels/activation.hpp>
#include <portml/kernels/gemm/k_chunks.hpp>
#include <portml/portability/launch.hpp>

//! Full unrolling of the loops over a thread's registers (the accumulators must not live in local memory).
#if defined(__CUDACC__) || defined(__HIPCC__) || defined(__clang__)
#define PORTML_GEMM_TILED_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define PORTML_GEMM_TILED_UNROLL _Pragma("GCC unroll 16")
#else
#define PORTML_GEMM_TILED_UNROLL
#endif

namespace portml::kernels {

//! Tile shape of gemm_tiled: C tile rows × columns (outputs per thread = tile / 16 per side).
enum class GemmTiledShape {
  automatic,  //!< chosen by gemm_tiled_shape(M, N)
  tile16,     //!< 16 × 16, 1 × 1 per thread, BK = 16
  tile64,     //!< 64 × 64, 4 × 4 per thread, BK = 16
  tile128,    //!< 128 × 128, 8 × 8 per thread, BK = 8
};

inline const char* gemm_tiled_shape_name(GemmTiledShape s) {
  switch (s) {
    case GemmTiledShape::automatic:
      return "automatic";
    case GemmTiledShape::tile16:
      return "tile16";
    case GemmTiledShape::tile64:
      return "tile64";
    case GemmTiledShape::tile128:
      return "tile128";
  }
  return "?";
}

//! Teams a launch should have before a larger tile is worth it: two waves on a GPU of ~128 SMs / CUs.
inline constexpr index_t gemm_tiled_min_teams = 256;

//! The one dispatch point of `GemmTiledShape::automatic`: the largest tile up to `largest` whose sides
//! do not exceed M and N (no padding waste beyond the tails) and that still gives at least
//! gemm_tiled_min_teams teams; otherwise 16 × 16 (most teams, lowest latency). The shape never changes
//! the bits (file comment).
inline GemmTiledShape gemm_tiled_shape(index_t m, index_t n, GemmTiledShape largest = GemmTiledShape::tile128) {
  const auto teams = [&](index_t t) { return ((m + t - 1) / t) * ((n + t - 1) / t); };
  if (largest == GemmTiledShape::tile128 && m >= 128 && n >= 128 && teams(128) >= gemm_tiled_min_teams) {
    return GemmTiledShape::tile128;
  }
  if (largest != GemmTiledShape::tile16 && m >= 64 && n >= 64 && teams(64) >= gemm_tiled_min_teams) {
    return GemmTiledShape::tile64;
  }
  return GemmTiledShape::tile16;
}

//! The largest shape `automatic` takes on backend B for T: the largest whose kernel keeps its
//! accumulators in registers there. hip-clang compiles portml's team kernel for up to 1024 threads
//! (no launch bounds), which caps a gfx90a thread at 128 VGPRs: the 8 × 8 float and the 4 × 4 double
//! micro-tiles spill to scratch there. nvcc (255 registers a thread) spills none (-Xptxas -v).
template <Backend B, class T>
constexpr GemmTiledShape gemm_tiled_largest_shape() {
  if constexpr (std::is_same_v<B, backend::Hip>) {
    return std::is_same_v<T, float> ? GemmTiledShape::tile64 : GemmTiledShape::tile16;
  } else {
    return GemmTiledShape::tile128;
  }
}

//! Work of one team: C tile (league_rank / tiles_n, league_rank % tiles_n), TM × TN outputs per thread.
template <class T, class Space, int TM, int TN, int BK>
struct TiledGemmBody {
  static_assert(BK % 8 == 0, "K steps are whole 8-wide sub-steps: chunk boundaries fall between them");
  static constexpr int grid = 16;                   //!< threads per side of the team's thread grid
  static constexpr int threads = grid * grid;       //!< team size requested
  static constexpr index_t bm = grid * TM;          //!< C tile rows
  static constexpr index_t bn = grid * TN;          //!< C tile columns
  static constexpr index_t bk = BK;                 //!< K step
  static constexpr index_t a_pitch = bm + 32 / BK;  //!< padded row of the transposed A tile: the staging
                                                    //!< stores of one warp fall in distinct banks
  static constexpr std::size_t scratch_bytes = sizeof(T) * static_cast<std::size_t>(bk * a_pitch + bk * bn);

  TensorView<const T, 2, Space> a;  //!< [M, K]
  TensorView<const T, 2, Space> w;  //!< [K, N]
  TensorView<T, 2, Space> c;        //!< [M, N]
  const T* bias;                    //!< [N] in Space, or nullptr
  ActivationSpec activation;
  index_t tiles_n;

  template <class TeamT>
  PORTML_HOST_DEVICE void operator()(const TeamT& team) const {
    const index_t i0 = (team.league_rank() / tiles_n) * bm;
    const index_t j0 = (team.league_rank() % tiles_n) * bn;
    if (team.team_size() >= threads) {
      staged(team, i0, j0);
    } else {
      // Teams smaller than requested (host backends: one thread; Kokkos: its maximum): each thread
      // takes whole micro-tiles and reads A and W in place. Same chains, no barriers.
      for (index_t slot : team_elements(team, threads)) direct(static_cast<int>(slot), i0, j0);
    }
  }

 private:
  //! The GPU path: A and W tiles staged in scratch per K step, one micro-tile per thread.
  template <class TeamT>
  PORTML_HOST_DEVICE void staged(const TeamT& team, index_t i0, index_t j0) const {
    T* as = team_scratch<T>(team);  // [bk][a_pitch]: the A tile transposed
    T* ws = as + bk * a_pitch;      // [bk][bn]
    const index_t m = c.extent(0), n = c.extent(1), k = a.extent(1);
    const int slot = team.team_rank();
    const bool active = slot < threads;  // a larger team than requested leaves its extra threads idle
    const int ty = slot / grid, tx = slot % grid;
    T acc[TM][TN];
    PORTML_GEMM_TILED_UNROLL for (int i = 0; i < TM; ++i) {
      PORTML_GEMM_TILED_UNROLL for (int j = 0; j < TN; ++j) acc[i][j] = T(0);
    }
    int chunk = 0;                                                            // the chunk acc is summing
    index_t next = gemm_k_chunks(k) > 1 ? gemm_k_chunk_begin(k, 1) : k + bk;  // where it ends
    for (index_t k0 = 0; k0 < k; k0 += bk) {
      // Consecutive threads read consecutive k of one A row and consecutive columns of one W row.
      for (index_t e : team_elements(team, bm * bk)) {
        const index_t r = e / bk, q = e % bk;
        as[q * a_pitch + r] = (i0 + r < m && k0 + q < k) ? a(i0 + r, k0 + q) : T(0);
      }
      for (index_t e : team_elements(team, bk * bn)) {
        const index_t r = e / bn, q = e % bn;
        ws[r * bn + q] = (k0 + r < k && j0 + q < n) ? w(k0 + r, j0 + q) : T(0);
      }
      team.barrier();
      if (active) {
        // Chunk boundaries are multiples of 8 (gemm_k_chunk_length), so they fall between the 8-wide
        // sub-steps of a step: the products of a sub-step are one unrolled block without checks.
        PORTML_GEMM_TILED_UNROLL for (index_t h = 0; h < bk; h += 8) {
          if (k0 + h == next) next = end_chunk(acc, i0 + ty, j0 + tx, k, chunk++);
          PORTML_GEMM_TILED_UNROLL for (index_t kk = h; kk < h + 8; ++kk) mac(acc, as, ws, kk, ty, tx);
        }
      }
      team.barrier();
    }
    if (active) store(acc, i0 + ty, j0 + tx, chunk > 0);
  }

  //! acc += the products of step kk of the staged tiles.
  PORTML_HOST_DEVICE static void mac(T (&acc)[TM][TN], const T* as, const T* ws, index_t kk, int ty, int tx) {
    T av[TM], wv[TN];
    PORTML_GEMM_TILED_UNROLL for (int i = 0; i < TM; ++i) av[i] = as[kk * a_pitch + ty + grid * i];
    PORTML_GEMM_TILED_UNROLL for (int j = 0; j < TN; ++j) wv[j] = ws[kk * bn + tx + grid * j];
    PORTML_GEMM_TILED_UNROLL for (int i = 0; i < TM; ++i) {
      PORTML_GEMM_TILED_UNROLL for (int j = 0; j < TN; ++j) acc[i][j] += av[i] * wv[j];
    }
  }

  //! Chunk `chunk` is complete in acc: folds it into C's running sum (the first one is stored as is),
  //! restarts acc from +0 and returns where the new chunk (chunk + 1) ends: the first k of chunk + 2, or
  //! k + bk (past every step) when chunk + 1 is the last.
  PORTML_HOST_DEVICE index_t end_chunk(T (&acc)[TM][TN], index_t r0, index_t q0, index_t k, int chunk) const {
    const index_t m = c.extent(0), n = c.extent(1);
    PORTML_GEMM_TILED_UNROLL for (int i = 0; i < TM; ++i) {
      PORTML_GEMM_TILED_UNROLL for (int j = 0; j < TN; ++j) {
        const index_t r = r0 + grid * i, q = q0 + grid * j;
        if (r < m && q < n) c(r, q) = chunk == 0 ? acc[i][j] : c(r, q) + acc[i][j];
        acc[i][j] = T(0);
      }
    }
    return chunk + 2 < gemm_k_chunks(k) ? gemm_k_chunk_begin(k, chunk + 2) : k + bk;
  }

  //! The path of small teams: micro-tile `slot` straight from A and W, one output at a time (the chains
  //! of the staged path, element by element: few registers, and the same bits).
  PORTML_HOST_DEVICE void direct(int slot, index_t i0, index_t j0) const {
    const index_t m = c.extent(0), n = c.extent(1), k = a.extent(1);
    const index_t r0 = i0 + slot / grid, q0 = j0 + slot % grid;
    const int chunks = gemm_k_chunks(k);
    for (int i = 0; i < TM && r0 + grid * i < m; ++i) {
      const index_t r = r0 + grid * i;
      for (int j = 0; j < TN && q0 + grid * j < n; ++j) {
        const index_t q = q0 + grid * j;
        T total = T(0);
        for (int s = 0; s < chunks; ++s) {
          const index_t end = s + 1 == chunks ? k : gemm_k_chunk_begin(k, s + 1);
          T acc = T(0);
          for (index_t kk = gemm_k_chunk_begin(k, s); kk < end; ++kk) acc += a(r, kk) * w(kk, q);
          total = s == 0 ? acc : total + acc;
        }
        c(r, q) = finish(total, q);
      }
    }
  }

  //! The epilogue of one output: + bias, activation.
  PORTML_HOST_DEVICE T finish(T v, index_t q) const {
    if (bias != nullptr) v = v + bias[q];
    return apply_activation(activation, v);
  }

  //! The fused epilogue of one micro-tile whose first output is C(r0, q0): the last chunk added to the
  //! running sum in C when `folded`, + bias, activation.
  PORTML_HOST_DEVICE void store(const T (&acc)[TM][TN], index_t r0, index_t q0, bool folded) const {
    const index_t m = c.extent(0), n = c.extent(1);
    PORTML_GEMM_TILED_UNROLL for (int i = 0; i < TM; ++i) {
      PORTML_GEMM_TILED_UNROLL for (int j = 0; j < TN; ++j) {
        const index_t r = r0 + grid * i, q = q0 + grid * j;
        if (r < m && q < n) {
          c(r, q) = finish(folded ? c(r, q) + acc[i][j] : acc[i][j], q);
        }
      }
    }
  }
};

namespace tiled_detail {

template <class Body, Backend B, class T>
void launch_tiled_gemm(Queue<B>& q, TensorView<const T, 2, memory_space_t<B>> a,
                       TensorView<const T, 2, memory_space_t<B>> w, TensorView<T, 2, memory_space_t<B>> c,
                       const T* bias, ActivationSpec activation) {
  const index_t tiles_m = (c.extent(0) + Body::bm - 1) / Body::bm;
  const index_t tiles_n = (c.extent(1) + Body::bn - 1) / Body::bn;
  if (tiles_m == 0 || tiles_n == 0) return;
  launch(q, LaunchConfig{tiles_m * tiles_n, Body::threads, Body::scratch_bytes},
         Body{a, w, c, bias, activation, tiles_n});
}

}  // namespace tiled_detail

//! C [M, N] = act(A [M, K] · W [K, N] + bias) on backend B, for an element-wise activation.
//! `bias` points to N values in B's memory, or is nullptr. `shape` forces a tile shape (tests,
//! benchmarks); the default picks one by gemm_tiled_shape(M, N, gemm_tiled_largest_shape<B, T>()).
//! Every shape gives the same bits.
//! Throws ShapeError / NotSupported.
template <Backend B, class T>
void gemm_tiled(Queue<B>& q, TensorView<const T, 2, memory_space_t<B>> a, TensorView<const T, 2, memory_space_t<B>> w,
                TensorView<T, 2, memory_space_t<B>> c, const T* bias, ActivationSpec activation,
                GemmTiledShape shape = GemmTiledShape::automatic) {
  if (a.extent(1) != w.extent(0) || c.extent(0) != a.extent(0) || c.extent(1) != w.extent(1)) {
    throw ShapeError("portml::kernels::gemm_tiled: shapes do not fit C = A·W: A " + detail::format_shape(a.extents()) +
                     ", W " + detail::format_shape(w.extents()) + ", C " + detail::format_shape(c.extents()));
  }
  if (!activation.elementwise()) {
    throw NotSupported("portml::kernels::gemm_tiled: softmax is a row operation, not an epilogue");
  }
  using S = memory_space_t<B>;
  if (shape == GemmTiledShape::automatic) {
    shape = gemm_tiled_shape(c.extent(0), c.extent(1), gemm_tiled_largest_shape<B, T>());
  }
  switch (shape) {
    case GemmTiledShape::tile128:
      tiled_detail::launch_tiled_gemm<TiledGemmBody<T, S, 8, 8, 8>>(q, a, w, c, bias, activation);
      return;
    case GemmTiledShape::tile64:
      tiled_detail::launch_tiled_gemm<TiledGemmBody<T, S, 4, 4, 16>>(q, a, w, c, bias, activation);
      return;
    case GemmTiledShape::tile16:
    case GemmTiledShape::automatic:  // resolved above
      tiled_detail::launch_tiled_gemm<TiledGemmBody<T, S, 1, 1, 16>>(q, a, w, c, bias, activation);
      return;
  }
  throw Error("portml::kernels::gemm_tiled: unknown tile shape " + std::to_string(static_cast<int>(shape)));
}

//! The explicit instantiations of gemm_tiled for a device backend (portml::cuda, portml::hip).
#define PORTML_GEMM_TILED_INSTANTIATE(PREFIX, BACKEND, T)                                                          \
  PREFIX template void gemm_tiled<BACKEND, T>(Queue<BACKEND>&, TensorView<const T, 2, memory_space_t<BACKEND>>,    \
                                              TensorView<const T, 2, memory_space_t<BACKEND>>,                     \
                                              TensorView<T, 2, memory_space_t<BACKEND>>, const T*, ActivationSpec, \
                                              GemmTiledShape);

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
