// SPDX-License-Identifier: Apache-2.0
//! \file
//! The register-blocked, shared-memory tiled GEMM with a fused bias + activation epilogue, written once
//! against portml's hierarchical launch so the same body runs on CUDA and HIP (compiled into portml::cuda
//! / portml::hip by kernels/src/cuda_hip/gemm.cu) and on every host backend (where tests check it, GPU
//! emulation included). On host backends, production code uses kernels::gemm (gemm.hpp), which is much
//! faster.
//!
//! A team of 256 threads, seen as a 16 × 16 grid (ty, tx), computes one BM × BN tile of C, BM = 16·TM,
//! BN = 16·TN. Thread (ty, tx) owns TM × TN outputs, accumulated in registers: TM / vm groups of vm
//! consecutive rows (group g at 16·vm·g + vm·ty) times TN / vn groups of vn consecutive columns, vm, vn =
//! one 16-byte vector (4 floats, 2 doubles) or TM, TN when smaller. It reads each group of the staged
//! tiles with one vector load (a warp's reads are broadcasts of A and consecutive vectors of W: no bank
//! conflicts). Per step of BK along K, the team stages the A tile (transposed, padded rows) and the W
//! tile in scratch (GPU shared memory), 16-byte vector loads from global memory where the rows allow
//! (element by element at ragged edges and for unaligned or strided views), double buffered: the global
//! loads of step t + 1 are issued before the products of step t and stored into the other stage after
//! them, one barrier per step. Each thread adds BK products to each of its outputs in k order.
//!
//! Bits: every output is the sum of gemm/k_chunks.hpp, as on the host microkernels: K in
//! S = gemm_k_chunks(K) contiguous chunks, each one chain acc = acc + a(i, k)·w(k, j) in k order from
//! +0, the chunk sums added left to right (each finished chunk is folded into C, which holds the raw
//! running sum until the last chunk), then + bias, then the activation. Terms past K, and past the end
//! of a chunk in a K step that the chunk's end cuts, are staged as zeros in A and W and add +0·+0, which
//! never changes a chain that starts from +0. So a row's bits
//! depend on neither M, its position, the tile shape nor the team size; on host backends (separate
//! multiply and add) they are the host scalar microkernel's. Device compilers contract the multiply-add
//! into FMA.
//!
//! Shapes (`GemmTiledShape`, one dispatch point: `gemm_tiled_shape`): 16 × 16 tiles of 1 × 1 outputs per
//! thread for small problems (many teams; the latency-bound batch-1 case of reconstruction), 64 × 64 of
//! 4 × 4 and 128 × 128 of 8 × 8 for large ones (each A and W element read from shared memory is used
//! 4 or 8 times from registers instead of once).
#pragma once

#include <cstdint>
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
  automatic,  //!< chosen by gemm_tiled_shape(M, N, K)
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

//! Teams a launch should have before a larger tile is worth it: one wave on a GPU of ~128 SMs / CUs
//! for 64 × 64, two for 128 × 128 (one team of it per SM: 165 registers a thread, sm_90).
inline constexpr index_t gemm_tiled_min_teams = 128;
//! K from which 128 × 128 beats 64 × 64 when both have enough teams: below it the larger tile's
//! reuse does not pay for its lower occupancy (H200: 65 536 × 128 × 128 took 196 µs on 128 × 128
//! and 143 µs on 64 × 64; 2048³ 645 µs and 775 µs; docs/gpu.md, seventh run).
inline constexpr index_t gemm_tiled_128_min_k = 512;

//! The one dispatch point of `GemmTiledShape::automatic`: 128 × 128 for long K (≥ gemm_tiled_128_min_k)
//! with at least 2·gemm_tiled_min_teams teams; else 64 × 64 with at least gemm_tiled_min_teams teams;
//! else 16 × 16 (most teams, lowest latency). A tile is taken only if its sides do not exceed M and N
//! (no padding waste beyond the tails). The shape never changes the bits (file comment).
inline GemmTiledShape gemm_tiled_shape(index_t m, index_t n, index_t k,
                                       GemmTiledShape largest = GemmTiledShape::tile128) {
  const auto teams = [&](index_t t) { return ((m + t - 1) / t) * ((n + t - 1) / t); };
  if (largest == GemmTiledShape::tile128 && m >= 128 && n >= 128 && k >= gemm_tiled_128_min_k &&
      teams(128) >= 2 * gemm_tiled_min_teams) {
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

//! N consecutive values of T as one aligned unit: a 16-byte (or 8-byte) vector load / store on the device.
template <class T, int N>
struct alignas(sizeof(T) * N) GemmTiledVector {
  T v[N];
};

//! out[0, N) = p[0, N). On the device pass, one vector access when N values make 8 or 16 bytes (p must be
//! aligned to that); elsewhere N scalar accesses (host backends: the same values, no alignment demand).
template <int N, class T>
PORTML_HOST_DEVICE inline void gemm_tiled_load(const T* p, T* out) {
  if constexpr (PORTML_DEVICE_PASS && (sizeof(T) * N == 16 || sizeof(T) * N == 8)) {
    const GemmTiledVector<T, N> x = *reinterpret_cast<const GemmTiledVector<T, N>*>(p);
    PORTML_GEMM_TILED_UNROLL for (int i = 0; i < N; ++i) out[i] = x.v[i];
  } else {
    PORTML_GEMM_TILED_UNROLL for (int i = 0; i < N; ++i) out[i] = p[i];
  }
}

//! p[0, N) = in[0, N); vector store as in gemm_tiled_load.
template <int N, class T>
PORTML_HOST_DEVICE inline void gemm_tiled_store(T* p, const T* in) {
  if constexpr (PORTML_DEVICE_PASS && (sizeof(T) * N == 16 || sizeof(T) * N == 8)) {
    GemmTiledVector<T, N> x;
    PORTML_GEMM_TILED_UNROLL for (int i = 0; i < N; ++i) x.v[i] = in[i];
    *reinterpret_cast<GemmTiledVector<T, N>*>(p) = x;
  } else {
    PORTML_GEMM_TILED_UNROLL for (int i = 0; i < N; ++i) p[i] = in[i];
  }
}

//! Work of one team: C tile (league_rank / tiles_n, league_rank % tiles_n), TM × TN outputs per thread.
template <class T, class Space, int TM, int TN, int BK>
struct TiledGemmBody {
  static constexpr int grid = 16;               //!< threads per side of the team's thread grid
  static constexpr int threads = grid * grid;   //!< team size requested
  static constexpr int vw = 16 / sizeof(T);     //!< elements of a 16-byte vector: 4 float, 2 double
  static constexpr int vm = TM < vw ? TM : vw;  //!< consecutive rows of one of a thread's row groups
  static constexpr int vn = TN < vw ? TN : vw;  //!< consecutive columns of one of its column groups
  static constexpr index_t bm = grid * TM;      //!< C tile rows
  static constexpr index_t bn = grid * TN;      //!< C tile columns
  static constexpr index_t bk = BK;             //!< K step
  //! Padded row of the transposed A tile: a multiple of 4 (aligned vector reads) that is 4 mod 8, so
  //! the staging stores of one warp (16 rows × 2 vectors of k, see stage_a_slot) hit distinct banks.
  static constexpr index_t a_pitch = bm + 4;
  static constexpr index_t a_stage = bk * a_pitch;      //!< one staged A tile, [bk][a_pitch]
  static constexpr index_t stage = a_stage + bk * bn;   //!< one staged A tile + W tile [bk][bn]
  static constexpr index_t a_vectors = bm * (bk / vw);  //!< 16-byte vectors of an A tile
  static constexpr index_t w_vectors = bk * (bn / vw);  //!< of a W tile
  static constexpr int a_loads = static_cast<int>((a_vectors + threads - 1) / threads);  //!< per thread
  static constexpr int w_loads = static_cast<int>((w_vectors + threads - 1) / threads);
  //! Two stages: the team computes on one while the next K step is stored into the other.
  static constexpr std::size_t scratch_bytes = sizeof(T) * static_cast<std::size_t>(2 * stage);
  static_assert(BK % 8 == 0, "K steps of whole pairs of vectors (the A staging of a warp)");
  static_assert((bk / vw) % 2 == 0 && a_vectors % 32 == 0, "A staging: 16 rows × 2 vectors per warp");
  static_assert(TM % vm == 0 && TN % vn == 0);

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

  //! Row of the tile of a thread's accumulator row i, for thread row ty: TM / vm groups of vm consecutive
  //! rows, group g at g·16·vm + ty·vm (so the thread reads each group of the staged A tile as one vector,
  //! and a warp's reads are broadcasts of two vectors).
  PORTML_HOST_DEVICE static constexpr index_t tile_row(int ty, int i) {
    return (i / vm) * (grid * vm) + ty * vm + i % vm;
  }
  //! Column of the tile of accumulator column j, for thread column tx (groups of vn; a quarter warp's
  //! vector reads of the W tile are 8 consecutive vectors: no bank conflicts).
  PORTML_HOST_DEVICE static constexpr index_t tile_col(int tx, int j) {
    return (j / vn) * (grid * vn) + tx * vn + j % vn;
  }

 private:
  //! True when the rows of `v` can be read (or written) in aligned 16-byte vectors: unit column stride, a
  //! row stride of whole vectors and a 16-byte-aligned first element. Otherwise, and for the vectors a
  //! ragged edge cuts, the staging and the stores go element by element (the same values).
  template <class U>
  PORTML_HOST_DEVICE static bool vector_rows(const TensorView<U, 2, Space>& v) {
    return v.stride(1) == 1 && v.stride(0) % vw == 0 && reinterpret_cast<std::uintptr_t>(v.data()) % 16 == 0;
  }

  //! Element (r, vector v) of the A tile that staging slot e holds: a warp takes 16 consecutive rows and
  //! 2 consecutive vectors of k (32 contiguous bytes of each row: whole sectors of global memory; the
  //! transposed stores then hit 32 distinct banks, a_pitch being 4 mod 8).
  PORTML_HOST_DEVICE static constexpr index_t stage_a_row(index_t e) { return e % 16 + 16 * ((e / 32) % (bm / 16)); }
  PORTML_HOST_DEVICE static constexpr index_t stage_a_vector(index_t e) {
    return (e % 32) / 16 + 2 * ((e / 32) / (bm / 16));
  }

  //! The registers a thread holds one K step's staged values in between the global loads and the
  //! stores to scratch (the loads of step t + 1 are in flight while the team computes step t).
  struct Staging {
    T a[a_loads][vw];
    T w[w_loads][vw];
  };

  //! Loads this thread's share of the A and W tiles of the K step at k0, zeros at k ≥ kend (the end of
  //! the step's chunk, or K) and outside A and W.
  PORTML_HOST_DEVICE void fetch(Staging& s, int slot, index_t i0, index_t j0, index_t k0, index_t kend, bool a_vec,
                                bool w_vec) const {
    const index_t m = c.extent(0), n = c.extent(1), k = kend;
    PORTML_GEMM_TILED_UNROLL for (int p = 0; p < a_loads; ++p) {
      const index_t e = slot + index_t(threads) * p;
      if (a_vectors % threads != 0 && e >= a_vectors) break;
      const index_t r = i0 + stage_a_row(e), q = k0 + vw * stage_a_vector(e);
      if (a_vec && r < m && q + vw <= k) {
        gemm_tiled_load<vw>(&a(r, q), s.a[p]);
      } else {
        PORTML_GEMM_TILED_UNROLL for (int u = 0; u < vw; ++u) s.a[p][u] = r < m && q + u < k ? a(r, q + u) : T(0);
      }
    }
    PORTML_GEMM_TILED_UNROLL for (int p = 0; p < w_loads; ++p) {
      const index_t e = slot + index_t(threads) * p;
      if (w_vectors % threads != 0 && e >= w_vectors) break;
      const index_t r = k0 + e / (bn / vw), q = j0 + vw * (e % (bn / vw));
      if (w_vec && r < k && q + vw <= n) {
        gemm_tiled_load<vw>(&w(r, q), s.w[p]);
      } else {
        PORTML_GEMM_TILED_UNROLL for (int u = 0; u < vw; ++u) s.w[p][u] = r < k && q + u < n ? w(r, q + u) : T(0);
      }
    }
  }

  //! Stores this thread's share of a K step into one stage of scratch: A transposed, W as is.
  PORTML_HOST_DEVICE static void stash(const Staging& s, int slot, T* as) {
    T* ws = as + a_stage;
    PORTML_GEMM_TILED_UNROLL for (int p = 0; p < a_loads; ++p) {
      const index_t e = slot + index_t(threads) * p;
      if (a_vectors % threads != 0 && e >= a_vectors) break;
      const index_t r = stage_a_row(e), q = vw * stage_a_vector(e);
      PORTML_GEMM_TILED_UNROLL for (int u = 0; u < vw; ++u) as[(q + u) * a_pitch + r] = s.a[p][u];
    }
    PORTML_GEMM_TILED_UNROLL for (int p = 0; p < w_loads; ++p) {
      const index_t e = slot + index_t(threads) * p;
      if (w_vectors % threads != 0 && e >= w_vectors) break;
      gemm_tiled_store<vw>(ws + (e / (bn / vw)) * bn + vw * (e % (bn / vw)), s.w[p]);
    }
  }

  //! The GPU path: A and W tiles staged in scratch per K step, double buffered (the next step's global
  //! loads are issued before the products of this one, and stored into the other stage after them: one
  //! barrier per step), one micro-tile per thread. The chunks of K (k_chunks.hpp) are the outer loop and
  //! their K steps the inner one: a step that a chunk's end cuts is staged with zeros past that end (in
  //! A and in W, so the extra products are +0·+0, which leave a chain from +0 unchanged) and staged again
  //! for the next chunk. The inner loop's products thus need no check, and the fold of a finished chunk
  //! into C is outside it.
  template <class TeamT>
  PORTML_HOST_DEVICE void staged(const TeamT& team, index_t i0, index_t j0) const {
    T* const scratch = team_scratch<T>(team);  // 2 stages of { [bk][a_pitch] A transposed, [bk][bn] W }
    const index_t k = a.extent(1);
    const int slot = team.team_rank();
    const bool active = slot < threads;  // a larger team than requested leaves its extra threads idle
    const int ty = slot / grid, tx = slot % grid;
    const bool a_vec = vector_rows(a), w_vec = vector_rows(w);
    const int chunks = gemm_k_chunks(k);
    const index_t chunk_length = gemm_k_chunk_length(k);  // of every chunk but the last
    const auto chunk_end = [&](int s) { return s + 1 < chunks ? (s + 1) * chunk_length : k; };
    T acc[TM][TN];
    PORTML_GEMM_TILED_UNROLL for (int i = 0; i < TM; ++i) {
      PORTML_GEMM_TILED_UNROLL for (int j = 0; j < TN; ++j) acc[i][j] = T(0);
    }
    Staging s{};                          // zeros: threads without a share of a tile never write it
    index_t k0 = 0, cend = chunk_end(0);  // the staged step starts at k0; its chunk ends at cend
    if (active) {
      fetch(s, slot, i0, j0, k0, k0 + bk < cend ? k0 + bk : cend, a_vec, w_vec);
      stash(s, slot, scratch);
    }
    team.barrier();
    int cur = 0;
    for (int chunk = 0; chunk < chunks; ++chunk) {
      bool last_step = false;
      while (!last_step) {
        // The following step: the next one of this chunk, or the first of the next chunk (at cend).
        index_t n0 = k0 + bk, nend = cend;
        last_step = n0 >= cend;
        if (last_step) {
          n0 = cend;
          nend = chunk + 1 < chunks ? chunk_end(chunk + 1) : cend;
        }
        if (n0 + bk < nend) nend = n0 + bk;
        const bool more = n0 < k;  // the same for the whole team
        if (active && more) fetch(s, slot, i0, j0, n0, nend, a_vec, w_vec);
        if (active) {
          const T* as = scratch + cur * stage;
          const T* ws = as + a_stage;
          PORTML_GEMM_TILED_UNROLL for (index_t kk = 0; kk < bk; ++kk) mac(acc, as, ws, kk, ty, tx);
        }
        if (more) {
          // The other stage was last read in the previous step, before the barrier that ended it.
          if (active) stash(s, slot, scratch + (1 - cur) * stage);
          team.barrier();
          cur = 1 - cur;
        }
        k0 = n0;
      }
      if (chunk + 1 < chunks) {
        if (active) fold(acc, i0 + ty * vm, j0 + tx * vn, chunk);
        cend = chunk_end(chunk + 1);
      }
    }
    if (active) store(acc, i0 + ty * vm, j0 + tx * vn, chunks > 1);
  }

  //! acc += the products of step kk of the staged tiles (vector reads of each row / column group).
  PORTML_HOST_DEVICE static void mac(T (&acc)[TM][TN], const T* as, const T* ws, index_t kk, int ty, int tx) {
    T av[TM], wv[TN];
    PORTML_GEMM_TILED_UNROLL for (int g = 0; g < TM / vm; ++g) {
      gemm_tiled_load<vm>(as + kk * a_pitch + tile_row(ty, g * vm), av + g * vm);
    }
    PORTML_GEMM_TILED_UNROLL for (int g = 0; g < TN / vn; ++g) {
      gemm_tiled_load<vn>(ws + kk * bn + tile_col(tx, g * vn), wv + g * vn);
    }
    PORTML_GEMM_TILED_UNROLL for (int i = 0; i < TM; ++i) {
      PORTML_GEMM_TILED_UNROLL for (int j = 0; j < TN; ++j) acc[i][j] += av[i] * wv[j];
    }
  }

  //! Chunk `chunk` (not the last) is complete in acc: folds it into C's running sum (the first one is
  //! stored as is) and restarts acc from +0. (r0, q0): the thread's first row and column.
  //! C's coordinates go through an opaque asm first (CUDA, HIP): otherwise the compiler hoists the fold's addresses out
  //! of the K loop and keeps them in registers across it (the first vectorised version, folding inside
  //! the steps: `tile64` float 135 registers instead of 85).
  PORTML_HOST_DEVICE void fold(T (&acc)[TM][TN], index_t r0, index_t q0, int chunk) const {
    index_t m = c.extent(0), n = c.extent(1), s0 = c.stride(0), s1 = c.stride(1);
    T* data = c.data();
#if defined(__CUDA_ARCH__)
    // An empty asm that "modifies" them: nvcc must treat them as unknown here (the values do not change).
    asm volatile("" : "+l"(r0), "+l"(q0), "+l"(m), "+l"(n), "+l"(s0), "+l"(s1), "+l"(data));
#elif defined(__HIP_DEVICE_COMPILE__)
    asm volatile("" : "+v"(r0), "+v"(q0), "+v"(m), "+v"(n), "+v"(s0), "+v"(s1), "+v"(data));
#endif
    const TensorView<T, 2, Space> cv(data, {m, n}, {s0, s1});
    const bool c_vec = vector_rows(cv);
    PORTML_GEMM_TILED_UNROLL for (int i = 0; i < TM; ++i) {
      const index_t r = r0 + tile_row(0, i);
      PORTML_GEMM_TILED_UNROLL for (int g = 0; g < TN / vn; ++g) {
        const index_t q = q0 + tile_col(0, g * vn);
        T* out = acc[i] + g * vn;
        if (r < m && vn == vw && c_vec && q + vn <= n) {
          T sum[vn];
          if (chunk == 0) {
            gemm_tiled_store<vn>(&cv(r, q), out);
          } else {
            gemm_tiled_load<vn>(&cv(r, q), sum);
            PORTML_GEMM_TILED_UNROLL for (int u = 0; u < vn; ++u) sum[u] = sum[u] + out[u];
            gemm_tiled_store<vn>(&cv(r, q), sum);
          }
        } else if (r < m) {
          PORTML_GEMM_TILED_UNROLL for (int u = 0; u < vn; ++u) {
            if (q + u < n) cv(r, q + u) = chunk == 0 ? out[u] : cv(r, q + u) + out[u];
          }
        }
        PORTML_GEMM_TILED_UNROLL for (int u = 0; u < vn; ++u) out[u] = T(0);
      }
    }
  }

  //! The path of small teams: micro-tile `slot` straight from A and W, one output at a time (the chains
  //! of the staged path, element by element: few registers, and the same bits).
  PORTML_HOST_DEVICE void direct(int slot, index_t i0, index_t j0) const {
    const index_t m = c.extent(0), n = c.extent(1), k = a.extent(1);
    const int ty = slot / grid, tx = slot % grid;
    const int chunks = gemm_k_chunks(k);
    for (int i = 0; i < TM; ++i) {
      const index_t r = i0 + tile_row(ty, i);
      if (r >= m) continue;
      for (int j = 0; j < TN; ++j) {
        const index_t q = j0 + tile_col(tx, j);
        if (q >= n) continue;
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
  //! running sum in C when `folded`, + bias, activation; whole column groups as one vector where they can.
  PORTML_HOST_DEVICE void store(const T (&acc)[TM][TN], index_t r0, index_t q0, bool folded) const {
    const index_t m = c.extent(0), n = c.extent(1);
    const bool c_vec = vector_rows(c);
    PORTML_GEMM_TILED_UNROLL for (int i = 0; i < TM; ++i) {
      const index_t r = r0 + tile_row(0, i);
      if (r >= m) continue;
      PORTML_GEMM_TILED_UNROLL for (int g = 0; g < TN / vn; ++g) {
        const index_t q = q0 + tile_col(0, g * vn);
        const T* in = acc[i] + g * vn;
        if (vn == vw && c_vec && q + vn <= n) {
          T out[vn];
          if (folded) {
            gemm_tiled_load<vn>(&c(r, q), out);
            PORTML_GEMM_TILED_UNROLL for (int u = 0; u < vn; ++u) out[u] = out[u] + in[u];
          } else {
            PORTML_GEMM_TILED_UNROLL for (int u = 0; u < vn; ++u) out[u] = in[u];
          }
          PORTML_GEMM_TILED_UNROLL for (int u = 0; u < vn; ++u) out[u] = finish(out[u], q + u);
          gemm_tiled_store<vn>(&c(r, q), out);
        } else {
          PORTML_GEMM_TILED_UNROLL for (int u = 0; u < vn; ++u) {
            if (q + u < n) c(r, q + u) = finish(folded ? c(r, q + u) + in[u] : in[u], q + u);
          }
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
//! benchmarks); the default picks one by gemm_tiled_shape(M, N, K, gemm_tiled_largest_shape<B, T>()).
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
    shape = gemm_tiled_shape(c.extent(0), c.extent(1), a.extent(1), gemm_tiled_largest_shape<B, T>());
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
