// SPDX-License-Identifier: Apache-2.0
//! \file
//! Forest evaluation on a backend's own memory: DeviceForest, a copy of an immutable Forest's node
//! arrays in the memory of backend B (GPU memory for backend::Cuda and backend::Hip, host memory for
//! the host backends), and predict_margins() over inputs and outputs in that memory.
//!
//! The kernels are written once against portml's hierarchical launch, so the same bodies run on CUDA and
//! HIP (instantiated by kernels/src/cuda_hip/bdt.cu into portml::cuda / portml::hip) and on every host
//! backend, the Serial queue's GPU emulation included (how CI, without a GPU, runs the device logic).
//! Two kernels (DeviceKernel), chosen per call:
//!
//! Row-parallel (large batches):
//!  - one thread per row; a team (GPU block) takes blocks of `device_rows_per_team` rows;
//!  - each thread descends the trees in tree order and adds their leaves, starting from the base
//!    margin, in the forest's Value type: the host's sum, so the margins are bit-identical to the host
//!    paths (and to XGBoost / LightGBM, as the host's are);
//!  - the node encoding is the Forest's own (ForestData: node word with feature, NaN-left and
//!    zero-as-missing bits, float32 threshold, perfect or sparse layout), read either from team scratch
//!    (GPU shared memory) after the team staged the whole forest there, when its nodes fit in
//!    `device_scratch_budget` bytes, or straight from the backend's memory through the read-only data
//!    cache (`const __restrict__` pointers, `__ldg` on CUDA);
//!  - the input rows are read either from team scratch, after the team copied its block of rows there
//!    (InputStaging: a block of row-major rows is one contiguous slab, copied with coalesced, four-float
//!    loads where the rows allow, into rows of an odd pitch so that a warp reading one feature of 32 rows
//!    hits 32 banks), or straight from the backend's memory, each thread its own row, feature by feature as
//!    the trees ask (a warp's load then touches 32 rows: coalesced only for column-major inputs). The rows
//!    per team are the most of 128, 64 or 32 whose staged rows fit the scratch budget with the nodes.
//!
//! Tree-parallel (small and medium batches, where one thread per row leaves the GPU idle and makes a
//! row's latency the whole forest's chain of dependent loads):
//!  - a team of `device_tree_parallel_team` threads takes a block of R rows (R a power of two up to
//!    `device_tree_parallel_max_rows_per_team`) and the forest in chunks of C trees; per chunk, its
//!    threads share out the (tree, row) pairs, descend them (the same node walk, nodes read directly)
//!    and write the leaf values to team scratch; after a barrier one thread per (row, output) adds the
//!    chunk's leaves of its output, in tree order, to its running sum in scratch (started from the base
//!    margin); a second barrier frees the scratch for the next chunk;
//!  - each (row, output) sum is therefore the same additions in the same order as the host's: the same
//!    bits;
//!  - the R input rows are staged in team scratch once per block (InputStaging, as above) or read directly.
//!
//! Either way a row's trees are walked in the same order with the same decisions and the same additions:
//! where the features and nodes are read from changes no bit.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

#include <portml/bdt/forest.hpp>
#include <portml/config.hpp>
#include <portml/core/macros.hpp>
#include <portml/core/tensor.hpp>
#include <portml/portability/launch.hpp>

namespace portml::bdt {

//! Where the kernel of predict_margins(Queue<B>&, const DeviceForest&, ...) reads the node arrays.
enum class NodeStaging {
  automatic,  //!< scratch when the forest fits and the launch runs GPU teams (a GPU, or the Serial
              //!< queue's GPU emulation); direct otherwise
  scratch,    //!< each team copies the forest into its scratch (GPU shared memory) first; NotSupported
              //!< when the forest's nodes exceed device_scratch_budget
  direct      //!< every read from the backend's memory, through the read-only data cache
};

//! "automatic", "scratch" or "direct".
inline const char* to_string(NodeStaging staging) {
  switch (staging) {
    case NodeStaging::scratch:
      return "scratch";
    case NodeStaging::direct:
      return "direct";
    default:
      return "automatic";
  }
}

//! Which kernel predict_margins(Queue<B>&, const DeviceForest&, ...) runs.
enum class DeviceKernel {
  automatic,      //!< tree_parallel when the launch runs GPU teams (a GPU, or the Serial queue's GPU
                  //!< emulation), the batch has at most device_tree_parallel_max_rows rows or the
                  //!< forest at least device_tree_parallel_min_trees trees, and the staging is not
                  //!< forced to scratch; row_parallel otherwise
  row_parallel,   //!< one thread per row, every tree in order (nodes staged or direct: NodeStaging)
  tree_parallel,  //!< a team's threads split the trees of a few rows, sums in tree order in scratch; nodes
                  //!< read directly (NotSupported with NodeStaging::scratch)
};

//! "automatic", "row_parallel" or "tree_parallel".
inline const char* to_string(DeviceKernel kernel) {
  switch (kernel) {
    case DeviceKernel::row_parallel:
      return "row_parallel";
    case DeviceKernel::tree_parallel:
      return "tree_parallel";
    default:
      return "automatic";
  }
}

//! Where the kernels of predict_margins(Queue<B>&, const DeviceForest&, ...) read the input rows.
enum class InputStaging {
  automatic,  //!< scratch when the launch runs GPU teams (a GPU, or the Serial queue's GPU emulation), the
              //!< rows are contiguous (x.stride(1) == 1) and a team's rows fit its scratch; direct otherwise
  scratch,    //!< each team first copies its block of rows into its scratch (GPU shared memory), coalesced;
              //!< NotSupported when x.stride(1) != 1 or the rows do not fit device_scratch_budget
  direct      //!< each thread reads its row's features from the backend's memory as the trees ask for them
};

//! "automatic", "scratch" or "direct".
inline const char* to_string(InputStaging staging) {
  switch (staging) {
    case InputStaging::scratch:
      return "scratch";
    case InputStaging::direct:
      return "direct";
    default:
      return "automatic";
  }
}

//! Scratch bytes a team may use for the forest's nodes and its staged input rows together: the shared
//! memory every CUDA block may take without opting in (and below AMD's 64 KiB of LDS).
inline constexpr std::size_t device_scratch_budget = 48 * 1024;

//! Rows evaluated by one row-parallel team (one GPU thread per row; host teams loop over them). With
//! staged input rows, the most of 128, 64, 32 (device_min_staged_rows_per_team) whose rows fit the
//! scratch budget next to the staged nodes.
inline constexpr int device_rows_per_team = 128;
inline constexpr int device_min_staged_rows_per_team = 32;

//! Teams of a staged launch at most: each team stages the forest once and then takes row blocks
//! league_rank, + league_size, ... so the staging is amortised over many rows on large batches.
inline constexpr index_t device_max_staged_teams = 2048;

//! DeviceKernel::automatic takes the tree-parallel kernel up to this many rows (on GPU teams), and for
//! forests of at least device_tree_parallel_min_trees trees at any batch size. Measured on an H200
//! (docs/gpu.md): at 65 536 rows the tree-parallel kernel took 807 / 621 / 736 µs on the 1000-, 800-
//! and 500-tree models against 1534 / 1116 / 1770 µs row-parallel, and 57 against 50 µs on 100 trees.
inline constexpr index_t device_tree_parallel_max_rows = 8192;
inline constexpr std::int32_t device_tree_parallel_min_trees = 256;

//! Threads of a tree-parallel team.
inline constexpr int device_tree_parallel_team = 256;

//! Rows of a tree-parallel team at most. R is the smallest power of two with ceil(rows / R) <= 256
//! teams (so at most 256 teams up to 8192 rows), capped at this.
inline constexpr index_t device_tree_parallel_max_rows_per_team = 32;

//! Scratch bytes a tree-parallel team aims at (leaf values of a chunk + running sums): small enough for
//! several teams per GPU multiprocessor. Forests with many outputs may take up to device_scratch_budget.
inline constexpr std::size_t device_tree_parallel_scratch = 16 * 1024;

namespace detail {

//! A load through the read-only data cache on CUDA (`ld.global.nc`); a plain load elsewhere.
template <class T>
PORTML_HOST_DEVICE inline T read_only(const T* p) {
#if defined(__CUDA_ARCH__)
  return __ldg(p);
#else
  return *p;
#endif
}

//! Four floats at p (16-byte aligned): one vector load on the device (through the read-only data cache
//! on CUDA), four plain loads elsewhere.
PORTML_HOST_DEVICE inline void read_only4(const float* p, float* v) {
#if defined(__CUDA_ARCH__)
  const float4 q = __ldg(reinterpret_cast<const float4*>(p));
  v[0] = q.x;
  v[1] = q.y;
  v[2] = q.z;
  v[3] = q.w;
#elif PORTML_DEVICE_PASS
  const float4 q = *reinterpret_cast<const float4*>(p);
  v[0] = q.x;
  v[1] = q.y;
  v[2] = q.z;
  v[3] = q.w;
#else
  for (int i = 0; i < 4; ++i) v[i] = p[i];
#endif
}

//! How a launch reads its input rows (InputStaging), decided on the host by plan_input_rows.
struct InputRowsPlan {
  bool fits = false;    //!< x.stride(1) == 1 and rows_per_team rows fit the scratch left
  bool staged = false;  //!< the launch stages its rows (fits, and chosen)
  bool vec4 = false;    //!< four-float loads: features and x.stride(0) multiples of 4, x.data() 16-byte aligned
  index_t pitch = 0;    //!< floats between staged rows: the feature count made odd (bank-conflict free)
  index_t rows_per_team = device_rows_per_team;
};

//! Floats between consecutive staged rows: the feature count made odd, so the threads of a warp that read
//! the same feature of consecutive rows hit different shared-memory banks.
inline index_t staged_row_pitch(index_t features) { return features | 1; }

//! Scratch bytes of `rows` staged rows of `features` features.
inline std::size_t staged_rows_bytes(index_t rows, index_t features) {
  return static_cast<std::size_t>(rows * staged_row_pitch(features)) * sizeof(float);
}

//! The input staging of a launch whose teams already take `other_bytes` of scratch: the most rows per team
//! from max_rows down to min_rows (halving) whose staged rows fit device_scratch_budget with the rest; not
//! `fits` when x's rows are not contiguous (x.stride(1) != 1) or none fit. `staged` is left to the caller.
template <class Space>
InputRowsPlan plan_input_rows(const TensorView<const float, 2, Space>& x, std::size_t other_bytes, index_t max_rows,
                              index_t min_rows) {
  InputRowsPlan p;
  p.rows_per_team = max_rows;
  if (x.stride(1) != 1) return p;
  const index_t nf = x.extent(1);
  for (index_t rows = max_rows; rows >= min_rows && rows > 0; rows /= 2) {
    if (other_bytes <= device_scratch_budget && staged_rows_bytes(rows, nf) <= device_scratch_budget - other_bytes) {
      p.fits = true;
      p.rows_per_team = rows;
      p.pitch = staged_row_pitch(nf);
      p.vec4 = nf % 4 == 0 && x.stride(0) % 4 == 0 && reinterpret_cast<std::uintptr_t>(x.data()) % 16 == 0;
      return p;
    }
  }
  return p;
}

//! Copies rows [r0, r0 + count) of x (x.stride(1) == 1) to dst, row i at dst + i * pitch: the team's threads
//! take consecutive elements of the block (a row-major block is one contiguous slab), so a warp's loads are
//! coalesced; with vec4 (see InputRowsPlan) consecutive groups of four features, one vector load each. The
//! caller puts a barrier between this and the reads of dst.
template <class TeamT, class Space>
PORTML_HOST_DEVICE inline void stage_input_rows(const TeamT& team, const TensorView<const float, 2, Space>& x,
                                                index_t r0, index_t count, float* PORTML_RESTRICT dst, index_t pitch,
                                                bool vec4) {
  const index_t rs = x.stride(0);
  const float* PORTML_RESTRICT src = x.data() + r0 * rs;
  // 32-bit index arithmetic: a block holds at most device_scratch_budget / 4 staged floats.
  const auto nf = static_cast<std::int32_t>(x.extent(1));
  if (vec4) {
    const std::int32_t quads = nf >> 2;
    for (const index_t q : team_elements(team, count * quads)) {
      const auto i = static_cast<std::int32_t>(q) / quads;
      const std::int32_t j = (static_cast<std::int32_t>(q) - i * quads) << 2;
      float v[4];
      read_only4(src + i * rs + j, v);
      float* d = dst + i * pitch + j;
      d[0] = v[0];
      d[1] = v[1];
      d[2] = v[2];
      d[3] = v[3];
    }
  } else {
    for (const index_t e : team_elements(team, count * nf)) {
      const auto i = static_cast<std::int32_t>(e) / nf;
      const std::int32_t j = static_cast<std::int32_t>(e) - i * nf;
      dst[i * pitch + j] = read_only(src + i * rs + j);
    }
  }
}

//! 1 when the row leaves the node to the right: `!(x < t)` for numbers, NaN to the node's default
//! direction, and with ZeroMissing also |x| <= zero_missing_threshold on zero_missing_bit nodes. The
//! same decisions, bit for bit, as the host kernels' go_right (scalar_kernels.hpp).
template <bool ZeroMissing>
PORTML_HOST_DEVICE inline std::int32_t device_go_right(float x, std::uint32_t feature_flags, float t) {
  const auto greater_equal = static_cast<std::uint32_t>(x >= t);  // 0 for NaN
  const auto not_less = static_cast<std::uint32_t>(!(x < t));     // 1 for NaN
  const std::uint32_t nan_right = (~feature_flags) >> 31;
  if constexpr (ZeroMissing) {
    if ((feature_flags & zero_missing_bit) != 0 && x <= zero_missing_threshold && x >= -zero_missing_threshold) {
      return static_cast<std::int32_t>(nan_right);
    }
  }
  return static_cast<std::int32_t>(greater_equal | (not_less & nan_right));
}

//! Scratch bytes of a staged forest: leaf values first (the widest type, at the aligned start of the
//! scratch), then node words, thresholds and, for the sparse layout, left children.
template <class Value>
std::size_t staged_forest_bytes(const ForestData<Value>& f) {
  const auto nodes = static_cast<std::size_t>(f.num_nodes);
  return static_cast<std::size_t>(f.num_leaf_values) * sizeof(Value) + nodes * (sizeof(std::uint32_t) + sizeof(float)) +
         (f.layout == Layout::sparse ? nodes * sizeof(std::int32_t) : 0);
}

//! A node array element: a plain (shared-memory) load when staged, the read-only cache otherwise.
template <bool Staged, class T>
PORTML_HOST_DEVICE inline T node_load(const T* PORTML_RESTRICT p, index_t i) {
  if constexpr (Staged) {
    return p[i];
  } else {
    return read_only(p + i);
  }
}

//! The leaf value of tree t for the row at xr (feature j at xr[j * cs]): the node walk of both kernels.
//! ff, th, left and leaf are the node arrays (staged in scratch or f's own); the tree tables come from f.
template <bool Staged, bool Perfect, bool ZeroMissing, class Value>
PORTML_HOST_DEVICE inline Value device_tree_leaf(const ForestData<Value>& f, std::int32_t t,
                                                 const float* PORTML_RESTRICT xr, index_t cs,
                                                 const std::uint32_t* PORTML_RESTRICT ff,
                                                 const float* PORTML_RESTRICT th,
                                                 const std::int32_t* PORTML_RESTRICT left,
                                                 const Value* PORTML_RESTRICT leaf) {
  const std::int32_t internal = Perfect ? (std::int32_t(1) << f.depth) - 1 : 0;
  std::int32_t idx = 0, depth = f.depth;
  index_t node_base = 0;
  if constexpr (Perfect) {
    node_base = index_t(t) * internal;
  } else {
    idx = read_only(f.tree_root + t);
    depth = read_only(f.tree_depth + t);
  }
  for (std::int32_t level = 0; level < depth; ++level) {
    const index_t k = node_base + idx;
    const std::uint32_t word = node_load<Staged>(ff, k);
    const float v = xr[index_t(word & feature_mask) * cs];
    const std::int32_t right = device_go_right<ZeroMissing>(v, word, node_load<Staged>(th, k));
    if constexpr (Perfect) {
      idx = 2 * idx + 1 + right;
    } else {
      idx = node_load<Staged>(left, k) + right;
    }
  }
  if constexpr (Perfect) {
    return node_load<Staged>(leaf, index_t(t) * (internal + 1) + (idx - internal));
  } else {
    return node_load<Staged>(leaf, index_t(idx));
  }
}

//! The row-parallel kernel body: team `league_rank` takes row blocks league_rank, + league_size, ... of
//! rows_per_team rows, one row per thread (host teams of one thread take every row of a block). Scratch:
//! the staged nodes (Staged), then the block's staged rows (RowsStaged) at `pitch` floats per row.
template <class Value, class Space, bool Staged, bool RowsStaged, bool Perfect, bool ZeroMissing, bool SingleOutput>
struct ForestMarginsBody {
  ForestData<Value> f;  //!< pointers into Space
  TensorView<const float, 2, Space> x;
  TensorView<Value, 2, Space> out;
  index_t row_blocks;
  index_t rows_per_team;
  std::size_t rows_offset;  //!< scratch bytes before the staged rows (the staged nodes')
  index_t pitch;            //!< floats between staged rows (RowsStaged)
  bool vec4;                //!< four-float loads when staging the rows (InputRowsPlan)

  //! Row r, its feature j at xr[j * cs].
  PORTML_HOST_DEVICE void row(index_t r, const float* PORTML_RESTRICT xr, index_t cs,
                              const std::uint32_t* PORTML_RESTRICT ff, const float* PORTML_RESTRICT th,
                              const std::int32_t* PORTML_RESTRICT left, const Value* PORTML_RESTRICT leaf) const {
    Value single = read_only(f.base_margin);
    if constexpr (!SingleOutput) {
      for (std::int32_t g = 0; g < f.num_outputs; ++g) out(r, g) = read_only(f.base_margin + g);
    }
    for (std::int32_t t = 0; t < f.num_trees; ++t) {
      const Value value = device_tree_leaf<Staged, Perfect, ZeroMissing>(f, t, xr, cs, ff, th, left, leaf);
      if constexpr (SingleOutput) {
        single += value;
      } else {
        out(r, read_only(f.tree_output + t)) += value;
      }
    }
    if constexpr (SingleOutput) out(r, 0) = single;
  }

  template <class TeamT>
  PORTML_HOST_DEVICE void operator()(const TeamT& team) const {
    const std::uint32_t* ff = f.feature_flags;
    const float* th = f.threshold;
    const std::int32_t* left = f.left;
    const Value* leaf = f.leaf_value;
    auto* scratch = team_scratch<unsigned char>(team);
    if constexpr (Staged) {
      Value* s_leaf = reinterpret_cast<Value*>(scratch);
      auto* s_ff = reinterpret_cast<std::uint32_t*>(s_leaf + f.num_leaf_values);
      auto* s_th = reinterpret_cast<float*>(s_ff + f.num_nodes);
      auto* s_left = reinterpret_cast<std::int32_t*>(s_th + f.num_nodes);
      for (const index_t i : team_elements(team, f.num_leaf_values)) s_leaf[i] = read_only(f.leaf_value + i);
      for (const index_t i : team_elements(team, f.num_nodes)) {
        s_ff[i] = read_only(f.feature_flags + i);
        s_th[i] = read_only(f.threshold + i);
        if constexpr (!Perfect) s_left[i] = read_only(f.left + i);
      }
      team.barrier();
      ff = s_ff;
      th = s_th;
      left = s_left;
      leaf = s_leaf;
    }
    float* s_rows = nullptr;
    if constexpr (RowsStaged) s_rows = reinterpret_cast<float*>(scratch + rows_offset);
    const index_t n = x.extent(0);
    for (const index_t block : league_elements(team, row_blocks)) {
      const index_t r0 = block * rows_per_team;
      if constexpr (RowsStaged) {
        stage_input_rows(team, x, r0, n - r0 < rows_per_team ? n - r0 : rows_per_team, s_rows, pitch, vec4);
        team.barrier();
      }
      for (const index_t i : team_elements(team, rows_per_team)) {
        const index_t r = r0 + i;
        if (r >= n) continue;
        if constexpr (RowsStaged) {
          row(r, s_rows + i * pitch, 1, ff, th, left, leaf);
        } else {
          row(r, x.data() + r * x.stride(0), x.stride(1), ff, th, left, leaf);
        }
      }
      if constexpr (RowsStaged) team.barrier();  // every row of the block read before the next is staged
    }
  }
};

//! The tree-parallel kernel body: team `league_rank` takes row blocks league_rank, + league_size, ... of
//! R = 1 << rows_shift rows and walks the forest in chunks of `chunk` trees. Scratch: the running sums
//! [num_outputs][R], then the chunk's leaf values [chunk][R], then (RowsStaged) the block's R rows at
//! `pitch` floats per row. Pair w of a chunk is (tree t0 + w / R, row w % R), so neighbouring threads
//! descend the same tree for neighbouring rows. Correct for any team size from 1 (host teams) up.
template <class Value, class Space, bool RowsStaged, bool Perfect, bool ZeroMissing>
struct ForestTreeParallelBody {
  ForestData<Value> f;  //!< pointers into Space
  TensorView<const float, 2, Space> x;
  TensorView<Value, 2, Space> out;
  index_t row_blocks;
  std::int32_t rows_shift;  //!< log2(R)
  std::int32_t chunk;       //!< trees per chunk (>= 1)
  index_t pitch;            //!< floats between staged rows (RowsStaged)
  bool vec4;                //!< four-float loads when staging the rows (InputRowsPlan)

  template <class TeamT>
  PORTML_HOST_DEVICE void operator()(const TeamT& team) const {
    const index_t rows = index_t(1) << rows_shift, row_mask = rows - 1;
    const index_t outputs = f.num_outputs, sums = rows * outputs;
    Value* acc = team_scratch<Value>(team);  // [outputs][rows]
    Value* leaves = acc + sums;              // [chunk][rows]
    float* s_rows = nullptr;                 // [rows][pitch]
    if constexpr (RowsStaged) s_rows = reinterpret_cast<float*>(leaves + (index_t(chunk) << rows_shift));
    const index_t n = x.extent(0), rs = x.stride(0), cs = x.stride(1);
    for (const index_t block : league_elements(team, row_blocks)) {
      const index_t r0 = block << rows_shift;
      if constexpr (RowsStaged) {
        stage_input_rows(team, x, r0, n - r0 < rows ? n - r0 : rows, s_rows, pitch, vec4);
        team.barrier();
      }
      // Each (row, output) sum is owned by the thread that team_elements gives it: the same thread in
      // every loop over `sums` below, so acc needs no barrier of its own.
      for (const index_t i : team_elements(team, sums)) acc[i] = read_only(f.base_margin + (i >> rows_shift));
      for (std::int32_t t0 = 0; t0 < f.num_trees; t0 += chunk) {
        const std::int32_t c = f.num_trees - t0 < chunk ? f.num_trees - t0 : chunk;
        for (const index_t w : team_elements(team, index_t(c) << rows_shift)) {
          const index_t j = w & row_mask, r = r0 + j;
          if (r < n) {
            const auto t = t0 + static_cast<std::int32_t>(w >> rows_shift);
            if constexpr (RowsStaged) {
              leaves[w] = device_tree_leaf<false, Perfect, ZeroMissing>(f, t, s_rows + j * pitch, 1, f.feature_flags,
                                                                        f.threshold, f.left, f.leaf_value);
            } else {
              leaves[w] = device_tree_leaf<false, Perfect, ZeroMissing>(f, t, x.data() + r * rs, cs, f.feature_flags,
                                                                        f.threshold, f.left, f.leaf_value);
            }
          }
        }
        team.barrier();
        for (const index_t i : team_elements(team, sums)) {
          const index_t j = i & row_mask;
          if (r0 + j >= n) continue;
          Value s = acc[i];
          if (outputs == 1) {
            for (std::int32_t u = 0; u < c; ++u) s += leaves[(index_t(u) << rows_shift) + j];
          } else {
            const auto g = static_cast<std::int32_t>(i >> rows_shift);
            for (std::int32_t u = 0; u < c; ++u) {
              if (read_only(f.tree_output + t0 + u) == g) s += leaves[(index_t(u) << rows_shift) + j];
            }
          }
          acc[i] = s;
        }
        team.barrier();
      }
      for (const index_t i : team_elements(team, sums)) {
        const index_t r = r0 + (i & row_mask);
        if (r < n) out(r, i >> rows_shift) = acc[i];
      }
      if constexpr (RowsStaged) team.barrier();  // every row of the block read before the next is staged
    }
  }
};

//! Rows per team (as log2), trees per chunk and scratch bytes of a tree-parallel launch.
struct TreeParallelShape {
  std::int32_t rows_shift = 0;
  std::int32_t chunk = 1;
  std::size_t scratch_bytes = 0;
  bool fits = false;  //!< the running sums and one tree's leaves of one row fit device_scratch_budget
};

//! The tree-parallel launch shape for n rows: R the smallest power of two (at most
//! device_tree_parallel_max_rows_per_team) with ceil(n / R) <= 256 teams, halved
//! while R * (outputs + 1) values exceed device_tree_parallel_scratch; C the trees whose leaves fit
//! the rest of it (of device_scratch_budget when the sums alone need more).
inline TreeParallelShape tree_parallel_shape(index_t n, std::int32_t trees, std::int32_t outputs,
                                             std::size_t value_bytes) {
  constexpr index_t target_teams = 256;  // enough blocks for the multiprocessors of a large GPU
  TreeParallelShape s;
  while ((index_t(1) << s.rows_shift) < device_tree_parallel_max_rows_per_team && (target_teams << s.rows_shift) < n) {
    ++s.rows_shift;
  }
  index_t cap = static_cast<index_t>(device_tree_parallel_scratch / value_bytes);
  while (s.rows_shift > 0 && (index_t(outputs) + 1) << s.rows_shift > cap) --s.rows_shift;
  if ((index_t(outputs) + 1) << s.rows_shift > cap) cap = static_cast<index_t>(device_scratch_budget / value_bytes);
  const index_t rows = index_t(1) << s.rows_shift;
  s.fits = (index_t(outputs) + 1) * rows <= cap;
  if (!s.fits) return s;
  const index_t chunk = std::min<index_t>(std::max<index_t>(trees, 1), cap / rows - outputs);
  s.chunk = static_cast<std::int32_t>(chunk);
  s.scratch_bytes = static_cast<std::size_t>(rows * (outputs + chunk)) * value_bytes;
  return s;
}

//! Launches the tree-parallel kernel of `f` (arrays in B's memory) over x into out (shapes checked by
//! the caller, at least one row, shape.fits; rows.staged only when rows.fits for R = 1 << shape.rows_shift
//! rows next to shape.scratch_bytes). Device backends: instantiated in portml::cuda / portml::hip.
template <Backend B, class Value>
void launch_forest_margins_by_tree(Queue<B>& q, const ForestData<Value>& f,
                                   TensorView<const float, 2, memory_space_t<B>> x,
                                   TensorView<Value, 2, memory_space_t<B>> out, TreeParallelShape shape,
                                   InputRowsPlan rows) {
  using S = memory_space_t<B>;
  const index_t team_rows = index_t(1) << shape.rows_shift;
  const index_t row_blocks = (x.extent(0) + team_rows - 1) / team_rows;
  const std::size_t scratch = shape.scratch_bytes + (rows.staged ? staged_rows_bytes(team_rows, x.extent(1)) : 0);
  const LaunchConfig cfg{row_blocks, device_tree_parallel_team, scratch};
  const auto run = [&]<bool RowsStaged, bool Perfect, bool ZeroMissing>() {
    launch(q, cfg,
           ForestTreeParallelBody<Value, S, RowsStaged, Perfect, ZeroMissing>{f, x, out, row_blocks, shape.rows_shift,
                                                                              shape.chunk, rows.pitch, rows.vec4});
  };
  const auto with_missing = [&]<bool RowsStaged, bool Perfect>() {
    if (f.has_zero_missing) {
      run.template operator()<RowsStaged, Perfect, true>();
    } else {
      run.template operator()<RowsStaged, Perfect, false>();
    }
  };
  const auto with_layout = [&]<bool RowsStaged>() {
    if (f.layout == Layout::perfect) {
      with_missing.template operator()<RowsStaged, true>();
    } else {
      with_missing.template operator()<RowsStaged, false>();
    }
  };
  if (rows.staged) {
    with_layout.template operator()<true>();
  } else {
    with_layout.template operator()<false>();
  }
}

//! Launches the row-parallel kernel of `f` (arrays in B's memory) over x into out (shapes checked by the
//! caller, at least one row; rows.staged only when rows.fits next to the staged nodes when `staged`).
//! Device backends: instantiated in portml::cuda / portml::hip.
template <Backend B, class Value>
void launch_forest_margins(Queue<B>& q, const ForestData<Value>& f, TensorView<const float, 2, memory_space_t<B>> x,
                           TensorView<Value, 2, memory_space_t<B>> out, bool staged, InputRowsPlan rows) {
  using S = memory_space_t<B>;
  const index_t team_rows = rows.staged ? rows.rows_per_team : index_t(device_rows_per_team);
  const index_t row_blocks = (x.extent(0) + team_rows - 1) / team_rows;
  const std::size_t node_bytes = staged ? staged_forest_bytes(f) : 0;
  const std::size_t scratch = node_bytes + (rows.staged ? staged_rows_bytes(team_rows, x.extent(1)) : 0);
  // A staged launch keeps device_max_staged_teams * device_rows_per_team threads at most, whatever its team size.
  const index_t max_teams = device_max_staged_teams * (device_rows_per_team / team_rows);
  const index_t league = staged ? std::min(row_blocks, max_teams) : row_blocks;
  const LaunchConfig cfg{league, static_cast<int>(team_rows), scratch};
  const auto run = [&]<bool Staged, bool RowsStaged, bool Perfect, bool ZeroMissing>() {
    if (f.num_outputs == 1) {
      launch(q, cfg,
             ForestMarginsBody<Value, S, Staged, RowsStaged, Perfect, ZeroMissing, true>{
                 f, x, out, row_blocks, team_rows, node_bytes, rows.pitch, rows.vec4});
    } else {
      launch(q, cfg,
             ForestMarginsBody<Value, S, Staged, RowsStaged, Perfect, ZeroMissing, false>{
                 f, x, out, row_blocks, team_rows, node_bytes, rows.pitch, rows.vec4});
    }
  };
  const auto with_missing = [&]<bool Staged, bool RowsStaged, bool Perfect>() {
    if (f.has_zero_missing) {
      run.template operator()<Staged, RowsStaged, Perfect, true>();
    } else {
      run.template operator()<Staged, RowsStaged, Perfect, false>();
    }
  };
  const auto with_layout = [&]<bool Staged, bool RowsStaged>() {
    if (f.layout == Layout::perfect) {
      with_missing.template operator()<Staged, RowsStaged, true>();
    } else {
      with_missing.template operator()<Staged, RowsStaged, false>();
    }
  };
  const auto with_rows = [&]<bool Staged>() {
    if (rows.staged) {
      with_layout.template operator()<Staged, true>();
    } else {
      with_layout.template operator()<Staged, false>();
    }
  };
  if (staged) {
    with_rows.template operator()<true>();
  } else {
    with_rows.template operator()<false>();
  }
}

}  // namespace detail

//! Tag of the DeviceForest constructor for a forest with input transformations (TMVA): the caller
//! applies them on the host (transform_inputs) to every batch before predict_margins on the device.
struct InputsTransformedByCaller {};
inline constexpr InputsTransformedByCaller inputs_transformed_by_caller{};

//! A Forest's node arrays copied once into the memory of backend B: immutable, shareable by every
//! queue of that device and thread, evaluated with predict_margins(Queue<B>&, const DeviceForest&, ...).
//! Host backends get a host copy (the same kernel runs there, e.g. under the Serial GPU emulation).
template <class Value, Backend B>
class DeviceForest {
 public:
  using value_type = Value;
  using backend = B;
  using memory_space = memory_space_t<B>;

  //! Copies the forest's arrays on `q` and waits for the copies. Throws BackendError on a GPU error,
  //! and NotSupported for a forest with input transformations, which the device kernel does not apply
  //! (use the constructor with inputs_transformed_by_caller).
  DeviceForest(Queue<B>& q, const Forest<Value>& forest) : DeviceForest(q, forest, inputs_transformed_by_caller) {
    if (!forest.input_transform().empty()) {
      throw NotSupported(
          "portml::bdt::DeviceForest: the forest has input transformations (TMVA <Transformations>), which the "
          "device kernel does not apply: transform the inputs on the host (bdt::transform_inputs) and construct "
          "with bdt::inputs_transformed_by_caller");
    }
  }
  //! The same for a forest whose inputs the caller transforms (transform_inputs) before each call.
  DeviceForest(Queue<B>& q, const Forest<Value>& forest, InputsTransformedByCaller)
      : num_features_(forest.num_features()),
        num_outputs_(forest.num_outputs()),
        num_trees_(forest.num_trees()),
        max_depth_(forest.max_depth()),
        layout_(forest.layout()),
        has_zero_missing_(forest.has_zero_missing()) {
    const ForestData<Value> h = forest.data();
    const index_t trees = h.num_trees;
    feature_flags_ = upload(q, h.feature_flags, h.num_nodes);
    threshold_ = upload(q, h.threshold, h.num_nodes);
    leaf_value_ = upload(q, h.leaf_value, h.num_leaf_values);
    tree_output_ = upload(q, h.tree_output, trees);
    base_margin_ = upload(q, h.base_margin, index_t(h.num_outputs));
    if (layout_ == Layout::sparse) {
      left_ = upload(q, h.left, h.num_nodes);
      tree_root_ = upload(q, h.tree_root, trees);
      tree_depth_ = upload(q, h.tree_depth, trees);
    }
    q.wait();
    data_ = h;
    data_.feature_flags = feature_flags_.data();
    data_.threshold = threshold_.data();
    data_.leaf_value = leaf_value_.data();
    data_.tree_output = tree_output_.data();
    data_.base_margin = base_margin_.data();
    data_.left = left_.data();
    data_.tree_root = tree_root_.data();
    data_.tree_depth = tree_depth_.data();
    data_.top_feature_flags = nullptr;  // the perfect tree tops of the sparse layout are not copied
    data_.top_threshold = nullptr;
    data_.top_entry = nullptr;
    data_.default_first_node = nullptr;  // the one-row kernel's nodes (host only) are not copied
    data_.default_first_leaf = nullptr;
    data_.default_first_root = nullptr;
  }

  std::int32_t num_features() const { return num_features_; }
  std::int32_t num_outputs() const { return num_outputs_; }
  std::int32_t num_trees() const { return num_trees_; }
  std::int32_t max_depth() const { return max_depth_; }
  Layout layout() const { return layout_; }
  bool has_zero_missing() const { return has_zero_missing_; }
  //! Scratch bytes a team needs to stage the node arrays (NodeStaging::scratch needs at most
  //! device_scratch_budget).
  std::size_t staged_bytes() const { return detail::staged_forest_bytes(data_); }
  //! Pointers into B's memory (top_* and default_first_* are null): what the kernel reads.
  const ForestData<Value>& data() const { return data_; }

 private:
  template <class T>
  static Tensor<T, 1, memory_space> upload(Queue<B>& q, const T* host, index_t n) {
    Tensor<T, 1, memory_space> t({n});
    if (n > 0) deep_copy(q, t.view(), TensorView<const T, 1>(host, {n}));
    return t;
  }

  std::int32_t num_features_, num_outputs_, num_trees_, max_depth_;
  Layout layout_;
  bool has_zero_missing_;
  Tensor<std::uint32_t, 1, memory_space> feature_flags_;
  Tensor<float, 1, memory_space> threshold_;
  Tensor<std::int32_t, 1, memory_space> left_, tree_root_, tree_depth_, tree_output_;
  Tensor<Value, 1, memory_space> leaf_value_, base_margin_;
  ForestData<Value> data_;
};

//! Margins of a batch in B's memory: x [n, num_features()] (any strides), out [n, num_outputs()].
//! Asynchronous on GPU queues (wait() before reading out on the host). Each row's margins are the
//! host's (predict_margins(const Forest&, ...)) bit for bit, whichever kernel and staging run. Throws
//! ShapeError for wrong shapes, NotSupported for NodeStaging::scratch on a forest larger than
//! device_scratch_budget, for DeviceKernel::tree_parallel with NodeStaging::scratch, for
//! DeviceKernel::tree_parallel on a forest whose per-row sums do not fit device_scratch_budget, and for
//! InputStaging::scratch when x.stride(1) != 1 or the kernel's rows do not fit its scratch (with the nodes
//! when they are staged: at least device_min_staged_rows_per_team rows for the row-parallel kernel).
template <class Value, Backend B>
void predict_margins(Queue<B>& q, const DeviceForest<Value, B>& forest, TensorView<const float, 2, memory_space_t<B>> x,
                     std::type_identity_t<TensorView<Value, 2, memory_space_t<B>>> out,
                     NodeStaging staging = NodeStaging::automatic, DeviceKernel kernel = DeviceKernel::automatic,
                     InputStaging input = InputStaging::automatic) {
  constexpr const char* op = "portml::bdt::predict_margins";
  if (x.extent(1) != forest.num_features()) {
    throw ShapeError(std::string(op) + ": input has " + std::to_string(x.extent(1)) + " features, the forest " +
                     std::to_string(forest.num_features()));
  }
  check_same_shape(op, "output", out.extents(), "expected", Extents<2>{x.extent(0), forest.num_outputs()});
  const bool fits = forest.staged_bytes() <= device_scratch_budget;
  if (staging == NodeStaging::scratch && !fits) {
    throw NotSupported(std::string(op) + ": the forest's nodes take " + std::to_string(forest.staged_bytes()) +
                       " bytes, more than the " + std::to_string(device_scratch_budget) + " bytes of team scratch");
  }
  if (kernel == DeviceKernel::tree_parallel && staging == NodeStaging::scratch) {
    throw NotSupported(std::string(op) + ": the tree-parallel kernel reads the nodes directly (NodeStaging::direct)");
  }
  const detail::TreeParallelShape shape =
      detail::tree_parallel_shape(x.extent(0), forest.num_trees(), forest.num_outputs(), sizeof(Value));
  if (kernel == DeviceKernel::tree_parallel && !shape.fits) {
    throw NotSupported(std::string(op) + ": the forest's " + std::to_string(forest.num_outputs()) +
                       " outputs do not fit the tree-parallel kernel's team scratch");
  }
  const bool gpu_teams = runs_gpu_teams(q);
  const bool by_tree =
      kernel == DeviceKernel::tree_parallel ||
      (kernel == DeviceKernel::automatic && gpu_teams && staging != NodeStaging::scratch && shape.fits &&
       (x.extent(0) <= device_tree_parallel_max_rows || forest.num_trees() >= device_tree_parallel_min_trees));
  const bool staged =
      !by_tree && (staging == NodeStaging::scratch || (staging == NodeStaging::automatic && fits && gpu_teams));
  const index_t tree_rows = index_t(1) << shape.rows_shift;
  detail::InputRowsPlan rows = by_tree ? detail::plan_input_rows(x, shape.scratch_bytes, tree_rows, tree_rows)
                                       : detail::plan_input_rows(x, staged ? forest.staged_bytes() : 0,
                                                                 device_rows_per_team, device_min_staged_rows_per_team);
  if (input == InputStaging::scratch && !rows.fits) {
    throw NotSupported(std::string(op) + ": the input rows cannot be staged in team scratch: " +
                       (x.stride(1) != 1
                            ? "their features are not contiguous (stride " + std::to_string(x.stride(1)) + ")"
                            : std::to_string(x.extent(1)) + " features per row do not fit the " +
                                  std::to_string(device_scratch_budget) + " bytes of team scratch"));
  }
  rows.staged = rows.fits && (input == InputStaging::scratch || (input == InputStaging::automatic && gpu_teams));
  if (x.extent(0) == 0) return;
  if (by_tree) {
    detail::launch_forest_margins_by_tree<B, Value>(q, forest.data(), x, out, shape, rows);
  } else {
    detail::launch_forest_margins<B, Value>(q, forest.data(), x, out, staged, rows);
  }
}

}  // namespace portml::bdt

namespace portml::bdt::detail {

//! The explicit instantiations of the margins kernels for a device backend (portml::cuda, portml::hip).
#define PORTML_BDT_FOREST_INSTANTIATE(PREFIX, BACKEND, VALUE)                                         \
  PREFIX template void launch_forest_margins<BACKEND, VALUE>(                                         \
      Queue<BACKEND>&, const ForestData<VALUE>&, TensorView<const float, 2, memory_space_t<BACKEND>>, \
      TensorView<VALUE, 2, memory_space_t<BACKEND>>, bool, InputRowsPlan);                            \
  PREFIX template void launch_forest_margins_by_tree<BACKEND, VALUE>(                                 \
      Queue<BACKEND>&, const ForestData<VALUE>&, TensorView<const float, 2, memory_space_t<BACKEND>>, \
      TensorView<VALUE, 2, memory_space_t<BACKEND>>, TreeParallelShape, InputRowsPlan);

#if !defined(__CUDACC__) && !defined(__HIPCC__)
// Host code links the device instantiations from the kernel libraries.
#if PORTML_ENABLE_CUDA
PORTML_BDT_FOREST_INSTANTIATE(extern, backend::Cuda, float)
PORTML_BDT_FOREST_INSTANTIATE(extern, backend::Cuda, double)
#endif
#if PORTML_ENABLE_HIP
PORTML_BDT_FOREST_INSTANTIATE(extern, backend::Hip, float)
PORTML_BDT_FOREST_INSTANTIATE(extern, backend::Hip, double)
#endif
#endif

}  // namespace portml::bdt::detail
