// SPDX-License-Identifier: Apache-2.0
//! \file
//! Fused graph-network blocks on the host backends (docs/gnn.md, "Fused blocks"): EdgeConv
//! (ParticleNet), GravNet and one interaction-network step, built on kernels::gemm and the graph
//! primitives. Each block is immutable after construction (weights packed, BatchNorm folded); forward()
//! is const and re-entrant, allocates nothing (the caller's workspace, sized by workspace_bytes()) and
//! gives each row the same bits whatever the other events of the batch, the row's position and the
//! thread count: every GEMM row is bitwise independent of its batch (kernels::gemm's contract) and every
//! aggregation folds a fixed slot / edge order.
//!
//! How the work is shared out: the graph (kNN) and the per-node GEMMs run on the caller's queue; then the
//! nodes (or edges) are cut into `chunks` contiguous ranges, one per thread of the queue, and each chunk
//! runs its edge MLPs and aggregations through blocks of rows in its own slice of the workspace (with a
//! Serial queue inside the chunk). Device backends (Cuda, Hip) throw NotSupported.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <portml/kernels/gemm.hpp>
#include <portml/kernels/gemm_tiled.hpp>
#include <portml/kernels/graph.hpp>
#include <portml/layers/dense.hpp>
#include <portml/layers/graph_config.hpp>
#include <portml/layers/normalization.hpp>
#include <portml/portability/serial.hpp>

namespace portml::layers {

namespace graph_detail {

//! Cuts a byte workspace into 64-byte aligned arrays; with no base it only measures.
class Carver {
 public:
  explicit Carver(std::byte* base = nullptr) : base_(base) {}
  template <class U>
  U* take(index_t count) {
    used_ = align(used_);
    U* p = base_ == nullptr ? nullptr : reinterpret_cast<U*>(base_ + used_);
    used_ += sizeof(U) * static_cast<std::size_t>(std::max<index_t>(count, 0));
    return p;
  }
  std::size_t used() const { return align(used_); }
  static std::size_t align(std::size_t b) { return (b + 63) / 64 * 64; }

 private:
  std::byte* base_;
  std::size_t used_ = 0;
};

[[noreturn]] inline void fail_shape(const std::string& who, const std::string& what) {
  throw ShapeError("portml::layers::" + who + ": " + what);
}

//! A layer list as Dense layers only: BatchNorm / Affine folded into the linear Dense before them,
//! activations fused into it. Throws ShapeError naming the layer for mismatched widths, Error for a
//! layer that cannot be folded.
inline std::vector<LayerConfig> fold_dense_layers(const std::vector<LayerConfig>& layers, index_t inputs,
                                                  const std::string& who) {
  std::vector<LayerConfig> plan;
  index_t width = inputs;
  for (const LayerConfig& original : layers) {
    LayerConfig layer = original.kind == LayerConfig::Kind::BatchNorm ? batch_norm_as_affine(original) : original;
    const bool after_linear_dense = !plan.empty() && plan.back().activation.kind == kernels::Activation::Linear;
    switch (layer.kind) {
      case LayerConfig::Kind::Dense:
        if (layer.inputs != width) {
          fail_shape(who, "layer '" + layer.name + "' takes " + std::to_string(layer.inputs) + " inputs but receives " +
                              std::to_string(width));
        }
        if (layer.outputs < 1 ||
            layer.weights.size() != static_cast<std::size_t>(layer.inputs) * static_cast<std::size_t>(layer.outputs)) {
          fail_shape(who, "layer '" + layer.name + "' has " + std::to_string(layer.weights.size()) + " weights for " +
                              std::to_string(layer.inputs) + " inputs and " + std::to_string(layer.outputs) +
                              " outputs");
        }
        if (!layer.bias.empty() && layer.bias.size() != static_cast<std::size_t>(layer.outputs)) {
          fail_shape(who, "layer '" + layer.name + "' has " + std::to_string(layer.bias.size()) + " biases for " +
                              std::to_string(layer.outputs) + " outputs");
        }
        width = layer.outputs;
        plan.push_back(std::move(layer));
        break;
      case LayerConfig::Kind::Affine:
        if (!after_linear_dense) {
          throw Error("portml::layers::" + who + ": '" + layer.name +
                      "' must follow a linear Dense layer (it is folded into it)");
        }
        fold_affine_into_dense(plan.back(), layer);
        break;
      case LayerConfig::Kind::Activation:
        if (!after_linear_dense) {
          throw Error("portml::layers::" + who + ": activation '" + layer.name + "' must follow a linear Dense layer");
        }
        plan.back().activation = layer.activation;
        break;
      default:
        throw NotSupported("portml::layers::" + who + ": layer '" + layer.name + "' (LayerNorm) in a graph block");
    }
  }
  return plan;
}

//! Calls body(fn) with fn(v) = act(v) as a small function object: ReLU and linear inline (so that the
//! loops over features vectorise), any other activation through kernels::apply_activation.
template <class T, class Body>
void with_activation(const kernels::ActivationSpec& act, const Body& body) {
  switch (act.kind) {
    case kernels::Activation::Linear:
      body([](T v) { return v; });
      return;
    case kernels::Activation::Relu:
      body([](T v) { return v < T(0) ? T(0) : v; });
      return;
    default:
      body([&act](T v) { return kernels::apply_activation(act, v); });
      return;
  }
}

//! The threads a host queue offers (1 for Serial).
template <Backend B>
int threads_of(const Queue<B>& q) {
  return std::max(1, kernels::gemm_detail::host_concurrency(q));
}

//! Runs f(chunk, queue) for chunk = 0 .. chunks - 1: on the caller's queue when there is one chunk,
//! else one chunk per work item of the queue, each with a Serial queue (no nested parallelism).
template <Backend B, class F>
void for_chunks(Queue<B>& q, index_t chunks, const F& f) {
  if (chunks <= 1) {
    f(index_t{0}, q);
    return;
  }
  parallel_for(q, Range1D{chunks}, [&](index_t c) {
    Queue<backend::Serial> serial;
    f(c, serial);
  });
}

[[noreturn]] inline void not_on_device(const char* block, const char* backend) {
  throw NotSupported(std::string("portml::layers::") + block + ": not implemented for the " + backend +
                     " backend (the fused graph blocks run on the host backends: serial, openmp, kokkos)");
}

template <class T>
void check_workspace(std::string_view who, std::span<std::byte> ws, std::size_t need, std::size_t align) {
  if (ws.size() < need) {
    throw Error("portml::layers::" + std::string(who) + ": workspace of " + std::to_string(ws.size()) +
                " bytes, need " + std::to_string(need) + " (workspace_bytes)");
  }
  if (reinterpret_cast<std::uintptr_t>(ws.data()) % align != 0) {
    throw Error("portml::layers::" + std::string(who) + ": workspace must be aligned to " + std::to_string(align) +
                " bytes");
  }
}

inline std::span<const double> column_block(const std::vector<double>& w, index_t rows, index_t cols, index_t c0,
                                            index_t c1, std::vector<double>& out) {
  out.assign(static_cast<std::size_t>(rows * (c1 - c0)), 0.0);
  for (index_t r = 0; r < rows; ++r)
    for (index_t c = c0; c < c1; ++c)
      out[static_cast<std::size_t>(r * (c1 - c0) + c - c0)] = w[static_cast<std::size_t>(r * cols + c)];
  return out;
}

// ---- device composition helpers ------------------------------------------------------------------------

//! One Dense layer of a block's device weights: W [inputs, outputs] (gemm_tiled's layout) and the bias
//! at element offsets of the block's weight array, with the fused activation.
struct DeviceDense {
  index_t inputs = 0, outputs = 0;
  std::size_t w = 0, b = 0;
  bool bias = false;
  kernels::ActivationSpec act{};
};

//! The weights of a block or model in the layout of the device composition, as one host array (64-byte
//! aligned pieces). The host object keeps it (the Serial queue with GPU emulation reads it directly);
//! DeviceResident uploads it once.
template <class T>
class DeviceWeights {
 public:
  //! A Dense layer from weights [outputs, inputs] row-major (double); stored transposed.
  DeviceDense dense(index_t in, index_t out, std::span<const double> w, std::span<const double> b,
                    const kernels::ActivationSpec& act) {
    DeviceDense d{in, out, 0, 0, !b.empty(), act};
    d.w = reserve(static_cast<std::size_t>(in * out));
    for (index_t o = 0; o < out; ++o)
      for (index_t i = 0; i < in; ++i)
        data_[d.w + static_cast<std::size_t>(i * out + o)] = static_cast<T>(w[static_cast<std::size_t>(o * in + i)]);
    if (d.bias) {
      d.b = reserve(static_cast<std::size_t>(out));
      for (index_t o = 0; o < out; ++o) data_[d.b + static_cast<std::size_t>(o)] = static_cast<T>(b[o]);
    }
    return d;
  }
  DeviceDense dense(const LayerConfig& l) { return dense(l.inputs, l.outputs, l.weights, l.bias, l.activation); }
  //! Appends values (another block's array, a bias); returns their offset.
  std::size_t append(std::span<const T> v) {
    const std::size_t at = reserve(v.size());
    std::copy(v.begin(), v.end(), data_.begin() + static_cast<std::ptrdiff_t>(at));
    return at;
  }
  std::span<const T> data() const { return data_; }

 private:
  std::size_t reserve(std::size_t n) {
    const std::size_t at = (data_.size() + 15) / 16 * 16;
    data_.resize(at + n, T(0));
    return at;
  }
  std::vector<T> data_;
};

//! dst(i, f) = src(i, f).
template <class T, class Space>
struct CopyBody {
  TensorView<const T, 2, Space> src;
  TensorView<T, 2, Space> dst;
  PORTML_HOST_DEVICE void operator()(index_t i, index_t f) const { dst(i, f) = src(i, f); }
};

//! y(i, f) = x(i, f) · scale[f] + shift[f] (the folded input normalisation).
template <class T, class Space>
struct AffineBody {
  TensorView<const T, 2, Space> x;
  TensorView<T, 2, Space> y;
  const T* scale;
  const T* shift;
  PORTML_HOST_DEVICE void operator()(index_t i, index_t f) const { y(i, f) = x(i, f) * scale[f] + shift[f]; }
};

//! EdgeConv's first edge layer for the edge rows of nodes [i0, …): row e = (i − i0)·k + s holds
//! act(U_i + V_j) for j = nbr(i, s), act(U_i) for an empty slot (the zero point; ignored when skipped).
template <class T, class Index, class Space>
struct EdgeFirstLayerBody {
  TensorView<const T, 2, Space> u, v;
  TensorView<const Index, 2, Space> nbr;
  TensorView<T, 2, Space> h;
  index_t i0, k;
  kernels::ActivationSpec act;
  PORTML_HOST_DEVICE void operator()(index_t e, index_t f) const {
    const index_t i = i0 + e / k;
    const index_t j = static_cast<index_t>(nbr(i, e % k));
    h(e, f) = kernels::apply_activation(act, j >= 0 ? u(i, f) + v(j, f) : u(i, f));
  }
};

//! EdgeConv's aggregation and output for the nodes [i0, …) of a pass, one kernel: y(i, f) = act(sc(i, f) + r),
//! r the mean or max over the node's k edge rows m((i − i0)·k + s, f) in slot order. The fold is
//! graph::ell_reduce's (from the fold's identity; with `skip` a slot whose nbr is −1 is left out, else every
//! slot counts, the zero point included; no slot gives 0; the mean divides by the slots folded), then the
//! shortcut sum and activation: the same operations in the same order as ell_reduce followed by an
//! element-wise pass, without ell_reduce's index check (the table is the block's own kNN output, valid by
//! construction) and with y written once.
template <class T, class Index, class Space>
struct EdgeAggregateBody {
  TensorView<const T, 2, Space> m;  //!< [(i1 − i0)·k, outputs]: the last edge layer's rows
  TensorView<const Index, 2, Space> nbr;
  TensorView<const T, 2, Space> sc;
  TensorView<T, 2, Space> y;
  index_t i0, k;
  bool skip;
  kernels::graph::Reduce op;
  kernels::ActivationSpec act;
  PORTML_HOST_DEVICE void operator()(index_t r, index_t f) const {
    namespace g = kernels::graph;
    const index_t i = i0 + r;
    g::detail::with_reduce(op, [&]<g::Reduce Op>() {
      T acc = g::detail::fold_identity<Op, T>();
      index_t count = 0;
      for (index_t s = 0; s < k; ++s) {
        if (skip && nbr(i, s) < 0) continue;
        ++count;
        acc = g::detail::fold<Op>(acc, m(r * k + s, f));
      }
      if (count == 0) {
        acc = T(0);
      } else if (Op == g::Reduce::mean) {
        acc /= static_cast<T>(count);
      }
      y(i, f) = kernels::apply_activation(act, sc(i, f) + acc);
    });
  }
};

//! a · b rounded to T, never contracted with a following addition into a fused multiply-add (the device
//! compilers contract by default): keeps the bits of a product that used to be stored before it was summed.
template <class T>
PORTML_HOST_DEVICE inline T rounded_product(T a, T b) {
#if PORTML_DEVICE_PASS && defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<T, float>) {
    return __fmul_rn(a, b);
  } else {
    return __dmul_rn(a, b);
  }
#else
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
  return a * b;
#endif
}

//! GravNet's z = [x, mean, max] for node i, one kernel over (node, column of x and of h): column c < F copies
//! x(i, c); column F + f folds the messages h(j, f) · exp(−c·d²(i, s)) of the node's valid slots
//! (j = nbr(i, s) ≥ 0, in slot order) into their mean (divided by the slots folded, or by k with
//! MeanDivisor::k) and max, written to z(i, F + f) and z(i, F + P + f); no slot gives 0 for both. The same
//! operations in the same order as the weighted gather into an [E, P] message array followed by ell_reduce
//! mean and max (the product rounded before it is summed: rounded_product), without that array, without
//! ell_reduce's index checks (the table is the block's own kNN output) and without passes.
template <class T, class Index, class Space>
struct GravNetAggregateBody {
  TensorView<const T, 2, Space> x, h;
  TensorView<const Index, 2, Space> nbr;
  TensorView<const T, 2, Space> d2;
  TensorView<T, 2, Space> z;
  T exponent;
  kernels::graph::MeanDivisor divisor;
  PORTML_HOST_DEVICE void operator()(index_t i, index_t c) const {
    namespace g = kernels::graph;
    using std::exp;
    const index_t fx = x.extent(1), p = h.extent(1), k = nbr.extent(1);
    if (c < fx) {
      z(i, c) = x(i, c);
      return;
    }
    const index_t f = c - fx;
    T sum = g::detail::fold_identity<g::Reduce::sum, T>();
    T max = g::detail::fold_identity<g::Reduce::max, T>();
    index_t count = 0;
    for (index_t s = 0; s < k; ++s) {
      const index_t j = static_cast<index_t>(nbr(i, s));
      if (j < 0) continue;
      ++count;
      const T w = exp(-exponent * d2(i, s));
      const T v = rounded_product(h(j, f), w);
      sum = g::detail::fold<g::Reduce::sum>(sum, v);
      max = g::detail::fold<g::Reduce::max>(max, v);
    }
    if (count == 0) {
      z(i, fx + f) = T(0);
      z(i, fx + p + f) = T(0);
      return;
    }
    z(i, fx + f) = sum / static_cast<T>(divisor == g::MeanDivisor::k ? k : count);
    z(i, fx + p + f) = max;
  }
};

//! The interaction step's first edge layer for edge rows [r0, …): h(r, f) = act(((E_r·W_e)_f + b_f)
//! + P_s(src, f)) + P_d(dst, f)), with E_r·W_e = 0 when the edges have no features.
template <class T, class Index, class Space>
struct InteractionFirstLayerBody {
  TensorView<T, 2, Space> h;
  TensorView<const T, 2, Space> ps, pd;
  TensorView<const Index, 1, Space> src, dst;
  const T* bias;
  index_t r0;
  bool edge_features;
  kernels::ActivationSpec act;
  PORTML_HOST_DEVICE void operator()(index_t r, index_t f) const {
    const T e = edge_features ? h(r, f) : T(0);
    const index_t s = static_cast<index_t>(src(r0 + r)), d = static_cast<index_t>(dst(r0 + r));
    h(r, f) = kernels::apply_activation(act, ((e + bias[f]) + ps(s, f)) + pd(d, f));
  }
};

//! c = act(a · W + b) for one layer of device weights (kernels::gemm_tiled).
template <Backend B, class T>
void dense_device(Queue<B>& q, const T* weights, const DeviceDense& d, TensorView<const T, 2, memory_space_t<B>> a,
                  TensorView<T, 2, memory_space_t<B>> c) {
  using S = memory_space_t<B>;
  kernels::gemm_tiled<B, T>(q, a, TensorView<const T, 2, S>(weights + d.w, {d.inputs, d.outputs}), c,
                            d.bias ? weights + d.b : nullptr, d.act);
}

//! c = layers(a), the intermediate rows in buf0 / buf1 (rows × the widest hidden layer each); an empty
//! chain copies.
template <Backend B, class T>
void dense_chain_device(Queue<B>& q, const T* weights, const std::vector<DeviceDense>& layers,
                        TensorView<const T, 2, memory_space_t<B>> a, TensorView<T, 2, memory_space_t<B>> c, T* buf0,
                        T* buf1) {
  using S = memory_space_t<B>;
  const index_t rows = a.extent(0);
  if (rows == 0) return;
  if (layers.empty()) {
    parallel_for(q, Range2D{rows, a.extent(1)}, CopyBody<T, S>{a, c});
    return;
  }
  TensorView<const T, 2, S> cur = a;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const TensorView<T, 2, S> out =
        l + 1 == layers.size() ? c : TensorView<T, 2, S>(l % 2 == 0 ? buf0 : buf1, {rows, layers[l].outputs});
    dense_device<B, T>(q, weights, layers[l], cur, out);
    cur = out;
  }
}

//! The widest hidden (not last) layer of a chain.
inline index_t hidden_width(const std::vector<DeviceDense>& layers) {
  index_t w = 0;
  for (std::size_t l = 0; l + 1 < layers.size(); ++l) w = std::max(w, layers[l].outputs);
  return w;
}

//! Edge rows per pass of the device composition (nodes per pass = max(1, this / k)): bounds the
//! workspace while keeping a GPU busy.
inline constexpr index_t device_edge_rows = index_t{1} << 16;

[[noreturn]] inline void host_weights_on_device(const char* what, const char* device_type, const char* backend) {
  throw NotSupported(std::string("portml::layers::") + what + ": the weights of this object are in host memory and " +
                     "the queue is " + backend + ": upload them once with layers::" + device_type +
                     "<Backend, T>(queue, object) and call it with that");
}

}  // namespace graph_detail

//! The threads the blocks split their work over on this queue (the `threads` of workspace_bytes()).
template <Backend B>
int graph_threads(const Queue<B>& q) {
  if constexpr (B::is_host) {
    return graph_detail::threads_of(q);
  } else {
    return 1;
  }
}

//! A sequence of Dense layers (BatchNorm folded, activations fused), run over rows in blocks of
//! `block_rows` so that the intermediate activations stay in cache. Rows are independent, so the
//! blocking changes no bits.
template <class T>
class DenseStack {
 public:
  static constexpr index_t block_rows = 256;

  DenseStack() = default;
  //! \param layers  Dense / BatchNorm / Affine / Activation layers (folded here)
  DenseStack(const std::vector<LayerConfig>& layers, index_t inputs, const std::string& who) : inputs_(inputs) {
    for (const LayerConfig& l : graph_detail::fold_dense_layers(layers, inputs, who)) {
      if (!layers_.empty()) hidden_ = std::max(hidden_, layers_.back().outputs());
      layers_.emplace_back(l.inputs, l.outputs, l.weights, l.bias, l.activation);
    }
  }

  bool empty() const { return layers_.empty(); }
  index_t inputs() const { return inputs_; }
  index_t outputs() const { return layers_.empty() ? inputs_ : layers_.back().outputs(); }
  std::size_t size() const { return layers_.size(); }

  //! Bytes of workspace for `rows` rows (two buffers of one row block when there are hidden layers).
  std::size_t workspace_bytes(index_t rows) const {
    if (layers_.size() <= 1) return 0;
    return 2 * graph_detail::Carver::align(sizeof(T) * static_cast<std::size_t>(std::min(rows, block_rows) * hidden_));
  }

  //! y [M, outputs] = stack(x [M, inputs]); y must not overlap x. An empty stack copies.
  template <Backend B>
  void forward(Queue<B>& q, TensorView<const T, 2> x, TensorView<T, 2> y, std::byte* ws,
               const kernels::GemmConfig& cfg = {}) const {
    const index_t m = x.extent(0);
    if (layers_.empty()) {
      for (index_t r = 0; r < m; ++r)
        for (index_t j = 0; j < inputs_; ++j) y(r, j) = x(r, j);
      return;
    }
    if (layers_.size() == 1) {
      layers_[0].forward(q, x, y, cfg);
      return;
    }
    const index_t rows = std::min(m, block_rows);
    graph_detail::Carver carve(ws);
    T* buffers[2] = {carve.take<T>(rows * hidden_), carve.take<T>(rows * hidden_)};
    for (index_t r0 = 0; r0 < m; r0 += rows) {
      const index_t r1 = std::min(m, r0 + rows);
      TensorView<const T, 2> cur = x.row_slice(r0, r1);
      for (std::size_t l = 0; l < layers_.size(); ++l) {
        const TensorView<T, 2> dst = l + 1 == layers_.size()
                                         ? y.row_slice(r0, r1)
                                         : TensorView<T, 2>(buffers[l % 2], {r1 - r0, layers_[l].outputs()});
        layers_[l].forward(q, cur, dst, cfg);
        cur = dst;
      }
    }
  }

  const Dense<T>& layer(std::size_t i) const { return layers_[i]; }

 private:
  std::vector<Dense<T>> layers_;
  index_t inputs_ = 0;
  index_t hidden_ = 0;
};

// ---- EdgeConv ----------------------------------------------------------------------------------------

//! The EdgeConv block of ParticleNet (EdgeConvConfig). The first edge-MLP layer is factorised:
//! W·[x_i, x_j − x_i] + b = ((W_a − W_b)·x_i + b) + W_b·x_j, so U = x·(W_a − W_b)ᵀ + b and V = x·W_bᵀ are
//! computed once per node (two GEMMs) and each edge's first layer is act(U_i + V_j) (act(U_i) for a
//! zero-point neighbour). The further layers run as GEMMs over blocks of edge rows.
template <class T>
class EdgeConvBlock {
 public:
  //! Edge rows per block of a chunk (nodes per block = max(1, this / k)).
  static constexpr index_t edge_rows_per_block = 512;

  EdgeConvBlock() = default;
  //! \param inputs  F, the columns of x
  EdgeConvBlock(const EdgeConvConfig& cfg, index_t inputs)
      : k_(cfg.k),
        inputs_(inputs),
        aggregation_(cfg.aggregation),
        missing_(cfg.missing),
        activation_(cfg.activation),
        periodic_dim_(cfg.periodic_dim),
        period_(static_cast<T>(cfg.period)),
        name_(cfg.name),
        who_("edgeconv_block '" + cfg.name + "'") {
    const std::string who = "EdgeConvBlock '" + name_ + "'";
    if (k_ < 1) graph_detail::fail_shape(who, "k must be at least 1, got " + std::to_string(k_));
    if (aggregation_ != kernels::graph::Reduce::mean && aggregation_ != kernels::graph::Reduce::max) {
      throw NotSupported("portml::layers::" + who + ": aggregation must be mean or max");
    }
    if (!activation_.elementwise()) throw NotSupported("portml::layers::" + who + ": softmax as block activation");
    const auto plan = graph_detail::fold_dense_layers(cfg.mlp, 2 * inputs, who + " mlp");
    if (plan.empty()) graph_detail::fail_shape(who, "the edge MLP has no Dense layer");
    const LayerConfig& first = plan.front();
    if (!first.activation.elementwise()) throw NotSupported("portml::layers::" + who + ": softmax in the edge MLP");
    first_activation_ = first.activation;
    hidden1_ = first.outputs;
    // W [H1, 2F]: columns [0, F) act on x_i, [F, 2F) on x_j − x_i.
    std::vector<double> wa, wb;
    graph_detail::column_block(first.weights, first.outputs, 2 * inputs, 0, inputs, wa);
    graph_detail::column_block(first.weights, first.outputs, 2 * inputs, inputs, 2 * inputs, wb);
    for (std::size_t i = 0; i < wa.size(); ++i) wa[i] -= wb[i];  // W_a − W_b, in double
    node_u_ = Dense<T>(inputs, hidden1_, wa, first.bias, {});
    node_v_ = Dense<T>(inputs, hidden1_, wb, {}, {});
    dev_u_ = dev_.dense(inputs, hidden1_, wa, first.bias, {});
    dev_v_ = dev_.dense(inputs, hidden1_, wb, {}, {});
    max_width_ = hidden1_;
    for (std::size_t l = 1; l < plan.size(); ++l) {
      const LayerConfig& d = plan[l];
      if (!d.activation.elementwise()) throw NotSupported("portml::layers::" + who + ": softmax in the edge MLP");
      rest_.emplace_back(d.inputs, d.outputs, d.weights, d.bias, d.activation);
      dev_rest_.push_back(dev_.dense(d));
      max_width_ = std::max(max_width_, d.outputs);
    }
    outputs_ = plan.back().outputs;
    if (!cfg.shortcut.empty()) {
      const auto sc = graph_detail::fold_dense_layers(cfg.shortcut, inputs, who + " shortcut");
      if (sc.size() != 1 || sc[0].outputs != outputs_ || !sc[0].activation.elementwise()) {
        graph_detail::fail_shape(who, "the shortcut must be one Dense layer (+ BatchNorm) from " +
                                          std::to_string(inputs) + " to " + std::to_string(outputs_) + " features");
      }
      shortcut_ = Dense<T>(sc[0].inputs, sc[0].outputs, sc[0].weights, sc[0].bias, sc[0].activation);
      dev_shortcut_ = dev_.dense(sc[0]);
      has_shortcut_ = true;
    } else if (inputs != outputs_) {
      graph_detail::fail_shape(who, "no shortcut layer, so the MLP must output " + std::to_string(inputs) +
                                        " features (the identity shortcut), not " + std::to_string(outputs_));
    }
  }

  using value_type = T;

  index_t k() const { return k_; }
  index_t input_size() const { return inputs_; }
  index_t output_size() const { return outputs_; }
  const std::string& name() const { return name_; }

  //! Bytes of workspace the host path of forward() needs for `rows` points in `events` events with
  //! `threads` threads (the queue's: 1 for Serial, num_threads() for OpenMP; see graph_threads()).
  template <class Index = std::int32_t>
  std::size_t workspace_bytes(index_t rows, index_t events, int threads = 1) const {
    return layout<Index>(nullptr, rows, events, chunks_for(rows, threads)).used;
  }
  //! Bytes of workspace forward() needs on queue q: the device composition's on a queue that takes the
  //! GPU decomposition (Serial with GPU emulation, Cuda, Hip), else the host path's for q's threads.
  template <Backend B, class Index = std::int32_t>
  std::size_t workspace_bytes(const Queue<B>& q, index_t rows, index_t events) const {
    return runs_gpu_teams(q) ? device_workspace_bytes<Index>(rows, events)
                             : workspace_bytes<Index>(rows, events, graph_threads(q));
  }
  //! Bytes of (device) workspace device_forward() needs.
  template <class Index = std::int32_t>
  std::size_t device_workspace_bytes(index_t rows, index_t events) const {
    (void)events;
    return device_layout<Index>(nullptr, rows).used;
  }
  //! The weights in the device composition's layout (host memory); DeviceEdgeConvBlock uploads them.
  std::span<const T> device_weights() const { return dev_.data(); }

  //! The device composition (knn_graph, gemm_tiled, element-wise kernels, ell_reduce) on queue q, with
  //! `weights` = device_weights() in q's memory space and `workspace` (q's memory, device_workspace_bytes)
  //! aligned to alignof(T) and alignof(Index). Used by DeviceEdgeConvBlock and by forward() on the Serial queue with
  //! GPU emulation.
  template <Backend B, class Index>
  void device_forward(Queue<B>& q, const T* weights, TensorView<const T, 2, memory_space_t<B>> coords,
                      TensorView<const T, 2, memory_space_t<B>> x,
                      TensorView<const Index, 1, memory_space_t<B>> offsets, TensorView<T, 2, memory_space_t<B>> y,
                      std::span<std::byte> workspace) const;

  //! y [N, outputs] = block(coords [N, D], x [N, F], offsets [B+1]). y must not overlap the inputs.
  template <Backend B, class Index = std::int32_t>
  void forward(Queue<B>& q, std::type_identity_t<TensorView<const T, 2, memory_space_t<B>>> coords,
               std::type_identity_t<TensorView<const T, 2, memory_space_t<B>>> x,
               std::type_identity_t<TensorView<const Index, 1, memory_space_t<B>>> offsets,
               std::type_identity_t<TensorView<T, 2, memory_space_t<B>>> y, std::span<std::byte> workspace,
               const kernels::GemmConfig& cfg = {}) const {
    if constexpr (!B::is_host) {
      graph_detail::host_weights_on_device("edgeconv_block", "DeviceEdgeConvBlock", B::name);
    } else if (runs_gpu_teams(q)) {
      device_forward<B, Index>(q, dev_.data().data(), coords, x, offsets, y, workspace);
    } else {
      namespace g = kernels::graph;
      const std::string& who = who_;
      const index_t n = x.extent(0);
      if (x.extent(1) != inputs_ || coords.extent(0) != n || y.extent(0) != n || y.extent(1) != outputs_ ||
          offsets.extent(0) < 1) {
        graph_detail::fail_shape(who, "coords " + detail::format_shape(coords.extents()) + ", x " +
                                          detail::format_shape(x.extents()) + ", offsets " +
                                          detail::format_shape(offsets.extents()) + ", y " +
                                          detail::format_shape(y.extents()) + " for a block " +
                                          std::to_string(inputs_) + " → " + std::to_string(outputs_));
      }
      const index_t events = offsets.extent(0) - 1;
      index_t chunks = chunks_for(n, graph_detail::threads_of(q));
      while (chunks > 1 && layout<Index>(nullptr, n, events, chunks).used > workspace.size()) --chunks;
      graph_detail::check_workspace<T>(who, workspace, layout<Index>(nullptr, n, events, chunks).used,
                                       std::max(alignof(T), alignof(Index)));
      const Layout<Index> ws = layout<Index>(workspace.data(), n, events, chunks);
      const TensorView<Index, 2> nbr(ws.nbr, {n, k_});
      const TensorView<T, 2> d2(ws.d2, {n, k_});
      g::KnnOptions<T> opt;
      opt.self_mode = g::SelfMode::exclude;
      opt.periodic_dim = periodic_dim_;
      opt.period = period_;
      const auto knn_size = g::knn_graph_workspace_size(n, events);
      g::knn_graph<B, T, Index>(
          q, coords, offsets, nbr, d2, opt,
          {TensorView<Index, 1>(ws.knn_indices, {knn_size.indices}), TensorView<T, 1>(ws.knn_reals, {knn_size.reals})});
      if (n == 0) return;
      const TensorView<T, 2> u(ws.u, {n, hidden1_}), v(ws.v, {n, hidden1_});
      node_u_.forward(q, x, u, cfg);
      node_v_.forward(q, x, v, cfg);
      TensorView<const T, 2> sc = x;
      if (has_shortcut_) {
        const TensorView<T, 2> s(ws.shortcut, {n, outputs_});
        shortcut_.forward(q, x, s, cfg);
        sc = s;
      }
      const index_t block = block_nodes();
      graph_detail::for_chunks(q, chunks, [&](index_t c, auto& lq) {
        const index_t c0 = n * c / chunks, c1 = n * (c + 1) / chunks;
        T* bufs[2] = {ws.chunk[0] + c * ws.chunk_stride, ws.chunk[1] + c * ws.chunk_stride};
        for (index_t i0 = c0; i0 < c1; i0 += block) {
          edges(lq, nbr, u, v, sc, y, i0, std::min(c1, i0 + block), bufs, cfg);
        }
      });
    }
  }

 private:
  template <class Index>
  struct Layout {
    Index* nbr = nullptr;
    T* d2 = nullptr;
    Index* knn_indices = nullptr;
    T* knn_reals = nullptr;
    T* u = nullptr;
    T* v = nullptr;
    T* shortcut = nullptr;
    T* chunk[2] = {nullptr, nullptr};
    index_t chunk_stride = 0;
    std::size_t used = 0;
  };

  index_t block_nodes() const { return std::max<index_t>(1, edge_rows_per_block / k_); }
  index_t chunks_for(index_t rows, int threads) const {
    const index_t blocks = (rows + block_nodes() - 1) / block_nodes();
    return std::max<index_t>(1, std::min<index_t>(threads, blocks));
  }

  template <class Index>
  Layout<Index> layout(std::byte* base, index_t n, index_t events, index_t chunks) const {
    graph_detail::Carver carve(base);
    Layout<Index> l;
    const auto knn_size = kernels::graph::knn_graph_workspace_size(n, events);
    l.nbr = carve.take<Index>(n * k_);
    l.d2 = carve.take<T>(n * k_);
    l.knn_indices = carve.take<Index>(knn_size.indices);
    l.knn_reals = carve.take<T>(knn_size.reals);
    l.u = carve.take<T>(n * hidden1_);
    l.v = carve.take<T>(n * hidden1_);
    if (has_shortcut_) l.shortcut = carve.take<T>(n * outputs_);
    // Per chunk: two buffers of one block of edge rows (padded to whole 64-byte lines).
    const index_t rows = std::min(n, block_nodes()) * k_;
    l.chunk_stride = static_cast<index_t>(graph_detail::Carver::align(sizeof(T) * rows * max_width_) / sizeof(T));
    l.chunk[0] = carve.take<T>(l.chunk_stride * chunks);
    l.chunk[1] = carve.take<T>(l.chunk_stride * chunks);
    l.used = carve.used();
    return l;
  }

  //! Nodes [i0, i1): edge MLP over their k slots, aggregation, shortcut and activation into y.
  template <class Q, class Index>
  void edges(Q& q, TensorView<Index, 2> nbr, TensorView<const T, 2> u, TensorView<const T, 2> v,
             TensorView<const T, 2> sc, TensorView<T, 2> y, index_t i0, index_t i1, T* const bufs[2],
             const kernels::GemmConfig& cfg) const {
    const index_t rows = (i1 - i0) * k_;
    // Layer 1: act(U_i + V_j); a missing slot gets act(U_i) (= the zero point; ignored when skipped).
    T* h = bufs[0];
    const index_t h1 = hidden1_;
    graph_detail::with_activation<T>(first_activation_, [&](const auto& act) {
      for (index_t i = i0; i < i1; ++i) {
        const T* ui = &u(i, 0);
        for (index_t s = 0; s < k_; ++s) {
          T* out = h + ((i - i0) * k_ + s) * h1;
          const index_t j = nbr(i, s);
          if (j >= 0) {
            const T* vj = &v(j, 0);
            for (index_t f = 0; f < h1; ++f) out[f] = act(ui[f] + vj[f]);
          } else {
            for (index_t f = 0; f < h1; ++f) out[f] = act(ui[f]);
          }
        }
      }
    });
    T* cur = bufs[0];
    for (std::size_t l = 0; l < rest_.size(); ++l) {
      T* dst = bufs[(l + 1) % 2];
      rest_[l].forward(q, TensorView<const T, 2>(cur, {rows, rest_[l].inputs()}),
                       TensorView<T, 2>(dst, {rows, rest_[l].outputs()}), cfg);
      cur = dst;
    }
    // Aggregation in place into each node's slot-0 row (valid slots come first in a kNN row, so a
    // skipped slot is never slot 0 of a node that has any), then act(shortcut + aggregate).
    namespace g = kernels::graph;
    const index_t w = outputs_;
    const bool skip = missing_ == MissingNeighbours::skip;
    graph_detail::with_activation<T>(activation_, [&](const auto& act) {
      g::detail::with_reduce(aggregation_, [&]<g::Reduce Op>() {
        if constexpr (Op == g::Reduce::mean || Op == g::Reduce::max) {
          constexpr g::Reduce fold_op = Op == g::Reduce::mean ? g::Reduce::sum : g::Reduce::max;
          for (index_t i = i0; i < i1; ++i) {
            T* a = cur + (i - i0) * k_ * w;
            index_t count = skip && nbr(i, 0) < 0 ? 0 : 1;
            for (index_t s = 1; s < k_; ++s) {
              if (skip && nbr(i, s) < 0) continue;
              ++count;
              const T* e = a + s * w;
              for (index_t f = 0; f < w; ++f) a[f] = g::detail::fold<fold_op>(a[f], e[f]);
            }
            const T div = static_cast<T>(count);
            for (index_t f = 0; f < w; ++f) {
              T r = a[f];
              if (count == 0) {
                r = T(0);
              } else if constexpr (Op == g::Reduce::mean) {
                r = r / div;
              }
              y(i, f) = act(sc(i, f) + r);
            }
          }
        }
      });
    });
  }

  template <class Index>
  struct DeviceLayout {
    Index* nbr = nullptr;
    T* d2 = nullptr;
    T* u = nullptr;
    T* v = nullptr;
    T* shortcut = nullptr;
    T* buf[2] = {nullptr, nullptr};
    index_t nodes = 1;  //!< nodes per pass
    std::size_t used = 0;
  };

  template <class Index>
  DeviceLayout<Index> device_layout(std::byte* base, index_t n) const {
    graph_detail::Carver carve(base);
    DeviceLayout<Index> l;
    l.nodes = std::max<index_t>(1, std::min(n, graph_detail::device_edge_rows / k_));
    l.nbr = carve.take<Index>(n * k_);
    l.d2 = carve.take<T>(n * k_);
    l.u = carve.take<T>(n * hidden1_);
    l.v = carve.take<T>(n * hidden1_);
    if (has_shortcut_) l.shortcut = carve.take<T>(n * outputs_);
    l.buf[0] = carve.take<T>(l.nodes * k_ * max_width_);
    l.buf[1] = carve.take<T>(l.nodes * k_ * max_width_);
    l.used = carve.used();
    return l;
  }

  index_t k_ = 0, inputs_ = 0, outputs_ = 0, hidden1_ = 0, max_width_ = 0;
  kernels::graph::Reduce aggregation_ = kernels::graph::Reduce::mean;
  MissingNeighbours missing_ = MissingNeighbours::skip;
  kernels::ActivationSpec activation_{}, first_activation_{};
  int periodic_dim_ = -1;
  T period_ = T(0);
  Dense<T> node_u_, node_v_, shortcut_;
  bool has_shortcut_ = false;
  std::vector<Dense<T>> rest_;
  graph_detail::DeviceWeights<T> dev_;
  graph_detail::DeviceDense dev_u_, dev_v_, dev_shortcut_;
  std::vector<graph_detail::DeviceDense> dev_rest_;
  std::string name_, who_;
};

template <class T>
template <Backend B, class Index>
void EdgeConvBlock<T>::device_forward(Queue<B>& q, const T* weights, TensorView<const T, 2, memory_space_t<B>> coords,
                                      TensorView<const T, 2, memory_space_t<B>> x,
                                      TensorView<const Index, 1, memory_space_t<B>> offsets,
                                      TensorView<T, 2, memory_space_t<B>> y, std::span<std::byte> workspace) const {
  namespace g = kernels::graph;
  using S = memory_space_t<B>;
  const index_t n = x.extent(0);
  if (x.extent(1) != inputs_ || coords.extent(0) != n || y.extent(0) != n || y.extent(1) != outputs_ ||
      offsets.extent(0) < 1) {
    graph_detail::fail_shape(
        who_, "coords " + detail::format_shape(coords.extents()) + ", x " + detail::format_shape(x.extents()) +
                  ", offsets " + detail::format_shape(offsets.extents()) + ", y " + detail::format_shape(y.extents()) +
                  " for a block " + std::to_string(inputs_) + " → " + std::to_string(outputs_));
  }
  graph_detail::check_workspace<T>(who_, workspace, device_layout<Index>(nullptr, n).used,
                                   std::max(alignof(T), alignof(Index)));
  const DeviceLayout<Index> ws = device_layout<Index>(workspace.data(), n);
  const TensorView<Index, 2, S> nbr(ws.nbr, {n, k_});
  const TensorView<T, 2, S> d2(ws.d2, {n, k_});
  g::KnnOptions<T> opt;
  opt.self_mode = g::SelfMode::exclude;
  opt.periodic_dim = periodic_dim_;
  opt.period = period_;
  g::knn_graph<B, T, Index>(q, coords, offsets, nbr, d2, opt);
  if (n == 0) return;
  // First layer, factorised: U = x(W_a − W_b) + b and V = x W_b per node.
  const TensorView<T, 2, S> u(ws.u, {n, hidden1_}), v(ws.v, {n, hidden1_});
  graph_detail::dense_device<B, T>(q, weights, dev_u_, x, u);
  graph_detail::dense_device<B, T>(q, weights, dev_v_, x, v);
  TensorView<const T, 2, S> sc = x;
  if (has_shortcut_) {
    const TensorView<T, 2, S> s(ws.shortcut, {n, outputs_});
    graph_detail::dense_device<B, T>(q, weights, dev_shortcut_, x, s);
    sc = s;
  }
  const bool skip = missing_ == MissingNeighbours::skip;
  for (index_t i0 = 0; i0 < n; i0 += ws.nodes) {
    const index_t i1 = std::min(n, i0 + ws.nodes), rows = (i1 - i0) * k_;
    const TensorView<T, 2, S> h(ws.buf[0], {rows, hidden1_});
    parallel_for(q, Range2D{rows, hidden1_},
                 graph_detail::EdgeFirstLayerBody<T, Index, S>{u, v, nbr, h, i0, k_, first_activation_});
    TensorView<const T, 2, S> cur = h;
    for (std::size_t l = 0; l < dev_rest_.size(); ++l) {
      const TensorView<T, 2, S> out(ws.buf[(l + 1) % 2], {rows, dev_rest_[l].outputs});
      graph_detail::dense_device<B, T>(q, weights, dev_rest_[l], cur, out);
      cur = out;
    }
    // mean / max over each node's k edge rows in slot order (skipped slots left out), + shortcut, act.
    parallel_for(
        q, Range2D{i1 - i0, outputs_},
        graph_detail::EdgeAggregateBody<T, Index, S>{cur, nbr, sc, y, i0, k_, skip, aggregation_, activation_});
  }
}

// ---- GravNet -----------------------------------------------------------------------------------------

//! The GravNet block (GravNetConfig): s = lin_s(x), h = lin_h(x), kNN in s, w = exp(−c·d²), mean and max
//! of w·h_j, output stack on [x, mean, max].
template <class T>
class GravNetBlock {
 public:
  GravNetBlock() = default;
  GravNetBlock(const GravNetConfig& cfg, index_t inputs)
      : k_(cfg.k),
        inputs_(inputs),
        self_mode_(cfg.self_mode),
        exponent_(static_cast<T>(cfg.exponent)),
        divisor_(cfg.mean_divisor),
        name_(cfg.name),
        who_("gravnet_block '" + cfg.name + "'") {
    const std::string who = "GravNetBlock '" + name_ + "'";
    if (k_ < 1) graph_detail::fail_shape(who, "k must be at least 1, got " + std::to_string(k_));
    if (!(cfg.exponent >= 0.0)) graph_detail::fail_shape(who, "the exponent must be >= 0");
    space_ = DenseStack<T>({cfg.space}, inputs, who + " space");
    propagate_ = DenseStack<T>({cfg.propagate}, inputs, who + " propagate");
    if (space_.size() != 1 || propagate_.size() != 1) graph_detail::fail_shape(who, "space and propagate are Dense");
    output_ = DenseStack<T>(cfg.output, inputs + 2 * propagate_.outputs(), who + " output");
    if (output_.empty()) graph_detail::fail_shape(who, "the output stack has no Dense layer");
    dev_space_ = dev_.dense(graph_detail::fold_dense_layers({cfg.space}, inputs, who + " space").at(0));
    dev_propagate_ = dev_.dense(graph_detail::fold_dense_layers({cfg.propagate}, inputs, who + " propagate").at(0));
    for (const LayerConfig& l : graph_detail::fold_dense_layers(cfg.output, output_.inputs(), who + " output")) {
      dev_output_.push_back(dev_.dense(l));
    }
  }

  using value_type = T;

  index_t k() const { return k_; }
  index_t input_size() const { return inputs_; }
  index_t output_size() const { return output_.outputs(); }
  index_t space_size() const { return space_.outputs(); }
  const std::string& name() const { return name_; }

  //! Bytes of workspace of the host path (see EdgeConvBlock::workspace_bytes).
  template <class Index = std::int32_t>
  std::size_t workspace_bytes(index_t rows, index_t events, int threads = 1) const {
    return layout<Index>(nullptr, rows, events, chunks_for(rows, threads)).used;
  }
  //! Bytes of workspace forward() needs on queue q (the device composition's where q takes it).
  template <Backend B, class Index = std::int32_t>
  std::size_t workspace_bytes(const Queue<B>& q, index_t rows, index_t events) const {
    return runs_gpu_teams(q) ? device_workspace_bytes<Index>(rows, events)
                             : workspace_bytes<Index>(rows, events, graph_threads(q));
  }
  template <class Index = std::int32_t>
  std::size_t device_workspace_bytes(index_t rows, index_t events) const {
    (void)events;
    return device_layout<Index>(nullptr, rows).used;
  }
  std::span<const T> device_weights() const { return dev_.data(); }

  //! The device composition (gemm_tiled, knn_graph, a weighted gather, ell_reduce mean and max,
  //! gemm_tiled): see EdgeConvBlock::device_forward.
  template <Backend B, class Index>
  void device_forward(Queue<B>& q, const T* weights, TensorView<const T, 2, memory_space_t<B>> x,
                      TensorView<const Index, 1, memory_space_t<B>> offsets, TensorView<T, 2, memory_space_t<B>> y,
                      std::span<std::byte> workspace) const;

  //! y [N, outputs] = block(x [N, F], offsets [B+1]).
  template <Backend B, class Index = std::int32_t>
  void forward(Queue<B>& q, std::type_identity_t<TensorView<const T, 2, memory_space_t<B>>> x,
               std::type_identity_t<TensorView<const Index, 1, memory_space_t<B>>> offsets,
               std::type_identity_t<TensorView<T, 2, memory_space_t<B>>> y, std::span<std::byte> workspace,
               const kernels::GemmConfig& cfg = {}) const {
    if constexpr (!B::is_host) {
      graph_detail::host_weights_on_device("gravnet_block", "DeviceGravNetBlock", B::name);
    } else if (runs_gpu_teams(q)) {
      device_forward<B, Index>(q, dev_.data().data(), x, offsets, y, workspace);
    } else {
      namespace g = kernels::graph;
      const std::string& who = who_;
      const index_t n = x.extent(0);
      if (x.extent(1) != inputs_ || y.extent(0) != n || y.extent(1) != output_size() || offsets.extent(0) < 1) {
        graph_detail::fail_shape(who, "x " + detail::format_shape(x.extents()) + ", offsets " +
                                          detail::format_shape(offsets.extents()) + ", y " +
                                          detail::format_shape(y.extents()) + " for a block " +
                                          std::to_string(inputs_) + " → " + std::to_string(output_size()));
      }
      const index_t events = offsets.extent(0) - 1;
      index_t chunks = chunks_for(n, graph_detail::threads_of(q));
      while (chunks > 1 && layout<Index>(nullptr, n, events, chunks).used > workspace.size()) --chunks;
      graph_detail::check_workspace<T>(who, workspace, layout<Index>(nullptr, n, events, chunks).used,
                                       std::max(alignof(T), alignof(Index)));
      const Layout<Index> ws = layout<Index>(workspace.data(), n, events, chunks);
      const index_t sd = space_.outputs(), p = propagate_.outputs();
      const TensorView<T, 2> s(ws.s, {n, sd}), h(ws.h, {n, p});
      space_.forward(q, x, s, nullptr, cfg);
      propagate_.forward(q, x, h, nullptr, cfg);
      const TensorView<Index, 2> nbr(ws.nbr, {n, k_});
      const TensorView<T, 2> d2(ws.d2, {n, k_});
      g::KnnOptions<T> opt;
      opt.self_mode = self_mode_;
      const auto knn_size = g::knn_graph_workspace_size(n, events);
      g::knn_graph<B, T, Index>(
          q, TensorView<const T, 2>(s), offsets, nbr, d2, opt,
          {TensorView<Index, 1>(ws.knn_indices, {knn_size.indices}), TensorView<T, 1>(ws.knn_reals, {knn_size.reals})});
      if (n == 0) return;
      const index_t zw = inputs_ + 2 * p;
      graph_detail::for_chunks(q, chunks, [&](index_t c, auto& lq) {
        const index_t c0 = n * c / chunks, c1 = n * (c + 1) / chunks;
        T* z = ws.z + c * ws.z_stride;
        std::byte* stack_ws = ws.stack + c * ws.stack_stride;
        for (index_t i0 = c0; i0 < c1; i0 += block_rows) {
          const index_t i1 = std::min(c1, i0 + block_rows);
          for (index_t i = i0; i < i1; ++i) aggregate(x, h, nbr, d2, i, z + (i - i0) * zw);
          output_.forward(lq, TensorView<const T, 2>(z, {i1 - i0, zw}), y.row_slice(i0, i1), stack_ws, cfg);
        }
      });
    }
  }

 private:
  static constexpr index_t block_rows = DenseStack<T>::block_rows;

  template <class Index>
  struct Layout {
    T* s = nullptr;
    T* h = nullptr;
    Index* nbr = nullptr;
    T* d2 = nullptr;
    Index* knn_indices = nullptr;
    T* knn_reals = nullptr;
    T* z = nullptr;
    index_t z_stride = 0;
    std::byte* stack = nullptr;
    index_t stack_stride = 0;
    std::size_t used = 0;
  };

  static index_t chunks_for(index_t rows, int threads) {
    const index_t blocks = (rows + block_rows - 1) / block_rows;
    return std::max<index_t>(1, std::min<index_t>(threads, blocks));
  }

  template <class Index>
  Layout<Index> layout(std::byte* base, index_t n, index_t events, index_t chunks) const {
    graph_detail::Carver carve(base);
    Layout<Index> l;
    const auto knn_size = kernels::graph::knn_graph_workspace_size(n, events);
    l.s = carve.take<T>(n * space_.outputs());
    l.h = carve.take<T>(n * propagate_.outputs());
    l.nbr = carve.take<Index>(n * k_);
    l.d2 = carve.take<T>(n * k_);
    l.knn_indices = carve.take<Index>(knn_size.indices);
    l.knn_reals = carve.take<T>(knn_size.reals);
    const index_t rows = std::min(n, block_rows);
    l.z_stride = static_cast<index_t>(graph_detail::Carver::align(sizeof(T) * rows * output_.inputs()) / sizeof(T));
    l.z = carve.take<T>(l.z_stride * chunks);
    l.stack_stride = static_cast<index_t>(graph_detail::Carver::align(output_.workspace_bytes(rows)));
    l.stack = carve.take<std::byte>(l.stack_stride * chunks);
    l.used = carve.used();
    return l;
  }

  //! Row i of [x, mean, max]: the neighbour slots in order, w = exp(−c·d²), message w·h_j.
  template <class Index>
  void aggregate(TensorView<const T, 2> x, TensorView<const T, 2> h, TensorView<Index, 2> nbr, TensorView<T, 2> d2,
                 index_t i, T* z) const {
    namespace g = kernels::graph;
    const index_t p = propagate_.outputs();
    for (index_t f = 0; f < inputs_; ++f) z[f] = x(i, f);
    T* mean = z + inputs_;
    T* max = mean + p;
    for (index_t f = 0; f < p; ++f) {
      mean[f] = T(0);
      max[f] = g::detail::fold_identity<g::Reduce::max, T>();
    }
    index_t count = 0;
    for (index_t s = 0; s < k_; ++s) {
      const index_t j = nbr(i, s);
      if (j < 0) continue;
      ++count;
      const T w = std::exp(-exponent_ * d2(i, s));
      const T* hj = &h(j, 0);
      for (index_t f = 0; f < p; ++f) {
        const T m = hj[f] * w;
        mean[f] = mean[f] + m;
        max[f] = g::detail::fold<g::Reduce::max>(max[f], m);
      }
    }
    const index_t div = divisor_ == g::MeanDivisor::k ? k_ : count;
    for (index_t f = 0; f < p; ++f) {
      mean[f] = count == 0 ? T(0) : mean[f] / static_cast<T>(div);
      if (count == 0) max[f] = T(0);
    }
  }

  template <class Index>
  struct DeviceLayout {
    T* s = nullptr;
    T* h = nullptr;
    Index* nbr = nullptr;
    T* d2 = nullptr;
    T* z = nullptr;
    T* buf[2] = {nullptr, nullptr};
    std::size_t used = 0;
  };

  template <class Index>
  DeviceLayout<Index> device_layout(std::byte* base, index_t n) const {
    graph_detail::Carver carve(base);
    DeviceLayout<Index> l;
    const index_t p = propagate_.outputs();
    l.s = carve.take<T>(n * space_.outputs());
    l.h = carve.take<T>(n * p);
    l.nbr = carve.take<Index>(n * k_);
    l.d2 = carve.take<T>(n * k_);
    l.z = carve.take<T>(n * output_.inputs());
    l.buf[0] = carve.take<T>(n * graph_detail::hidden_width(dev_output_));
    l.buf[1] = carve.take<T>(n * graph_detail::hidden_width(dev_output_));
    l.used = carve.used();
    return l;
  }

  index_t k_ = 0, inputs_ = 0;
  kernels::graph::SelfMode self_mode_ = kernels::graph::SelfMode::include_first;
  T exponent_ = T(0);
  kernels::graph::MeanDivisor divisor_ = kernels::graph::MeanDivisor::valid;
  DenseStack<T> space_, propagate_, output_;
  graph_detail::DeviceWeights<T> dev_;
  graph_detail::DeviceDense dev_space_, dev_propagate_;
  std::vector<graph_detail::DeviceDense> dev_output_;
  std::string name_, who_;
};

template <class T>
template <Backend B, class Index>
void GravNetBlock<T>::device_forward(Queue<B>& q, const T* weights, TensorView<const T, 2, memory_space_t<B>> x,
                                     TensorView<const Index, 1, memory_space_t<B>> offsets,
                                     TensorView<T, 2, memory_space_t<B>> y, std::span<std::byte> workspace) const {
  namespace g = kernels::graph;
  using S = memory_space_t<B>;
  const index_t n = x.extent(0);
  if (x.extent(1) != inputs_ || y.extent(0) != n || y.extent(1) != output_size() || offsets.extent(0) < 1) {
    graph_detail::fail_shape(who_, "x " + detail::format_shape(x.extents()) + ", offsets " +
                                       detail::format_shape(offsets.extents()) + ", y " +
                                       detail::format_shape(y.extents()) + " for a block " + std::to_string(inputs_) +
                                       " → " + std::to_string(output_size()));
  }
  graph_detail::check_workspace<T>(who_, workspace, device_layout<Index>(nullptr, n).used,
                                   std::max(alignof(T), alignof(Index)));
  const DeviceLayout<Index> ws = device_layout<Index>(workspace.data(), n);
  const index_t sd = space_.outputs(), p = propagate_.outputs(), zw = output_.inputs();
  const TensorView<T, 2, S> s(ws.s, {n, sd}), h(ws.h, {n, p});
  graph_detail::dense_device<B, T>(q, weights, dev_space_, x, s);
  graph_detail::dense_device<B, T>(q, weights, dev_propagate_, x, h);
  const TensorView<Index, 2, S> nbr(ws.nbr, {n, k_});
  const TensorView<T, 2, S> d2(ws.d2, {n, k_});
  g::KnnOptions<T> opt;
  opt.self_mode = self_mode_;
  g::knn_graph<B, T, Index>(q, TensorView<const T, 2, S>(s), offsets, nbr, d2, opt);
  if (n == 0) return;
  // z = [x, mean, max]: the copy of x and both aggregates of the weighted messages in one kernel.
  const TensorView<T, 2, S> z(ws.z, {n, zw});
  parallel_for(q, Range2D{n, inputs_ + p},
               graph_detail::GravNetAggregateBody<T, Index, S>{x, h, nbr, d2, z, exponent_, divisor_});
  graph_detail::dense_chain_device<B, T>(q, weights, dev_output_, z, y, ws.buf[0], ws.buf[1]);
}

// ---- interaction step --------------------------------------------------------------------------------

//! One interaction-network step (InteractionConfig) over COO edges. The edge MLP's first layer is
//! factorised: W·[x_src, x_dst, e] + b = (W_e·e + b) + W_s·x_src + W_d·x_dst, with P_s = x·W_sᵀ and
//! P_d = x·W_dᵀ once per node. The sum over incoming edges is graph::scatter_reduce (a stable counting
//! sort by destination, then each node folds its edges in ascending edge order).
template <class T>
class InteractionStep {
 public:
  static constexpr index_t edge_rows_per_block = 512;

  InteractionStep() = default;
  //! \param node_features F, \param edge_features Fe
  InteractionStep(const InteractionConfig& cfg, index_t node_features, index_t edge_features)
      : f_(node_features),
        fe_(edge_features),
        name_(cfg.name),
        who_("interaction_step '" + cfg.name + "'"),
        op_("portml::layers::" + who_) {
    const std::string who = "InteractionStep '" + name_ + "'";
    const auto plan = graph_detail::fold_dense_layers(cfg.edge_mlp, 2 * f_ + fe_, who + " edge_mlp");
    if (plan.empty()) graph_detail::fail_shape(who, "the edge MLP has no Dense layer");
    const LayerConfig& first = plan.front();
    if (!first.activation.elementwise()) throw NotSupported("portml::layers::" + who + ": softmax in the edge MLP");
    first_activation_ = first.activation;
    hidden1_ = first.outputs;
    const index_t cols = 2 * f_ + fe_;
    std::vector<double> ws, wd, we;
    graph_detail::column_block(first.weights, hidden1_, cols, 0, f_, ws);
    graph_detail::column_block(first.weights, hidden1_, cols, f_, 2 * f_, wd);
    graph_detail::column_block(first.weights, hidden1_, cols, 2 * f_, cols, we);
    node_src_ = Dense<T>(f_, hidden1_, ws, {}, {});
    node_dst_ = Dense<T>(f_, hidden1_, wd, {}, {});
    if (fe_ > 0) edge_lin_ = Dense<T>(fe_, hidden1_, we, {}, {});
    bias1_.assign(static_cast<std::size_t>(hidden1_), T(0));
    for (std::size_t o = 0; o < first.bias.size(); ++o) bias1_[o] = static_cast<T>(first.bias[o]);
    dev_src_ = dev_.dense(f_, hidden1_, ws, {}, {});
    dev_dst_ = dev_.dense(f_, hidden1_, wd, {}, {});
    if (fe_ > 0) dev_edge_ = dev_.dense(fe_, hidden1_, we, {}, {});
    dev_bias1_ = dev_.append(bias1_);
    max_width_ = hidden1_;
    for (std::size_t l = 1; l < plan.size(); ++l) {
      const LayerConfig& d = plan[l];
      if (!d.activation.elementwise()) throw NotSupported("portml::layers::" + who + ": softmax in the edge MLP");
      rest_.emplace_back(d.inputs, d.outputs, d.weights, d.bias, d.activation);
      dev_rest_.push_back(dev_.dense(d));
      max_width_ = std::max(max_width_, d.outputs);
    }
    edge_out_ = plan.back().outputs;
    node_ = DenseStack<T>(cfg.node_mlp, f_ + edge_out_, who + " node_mlp");
    if (node_.empty()) graph_detail::fail_shape(who, "the node MLP has no Dense layer");
    for (const LayerConfig& l : graph_detail::fold_dense_layers(cfg.node_mlp, f_ + edge_out_, who + " node_mlp")) {
      dev_node_.push_back(dev_.dense(l));
    }
  }

  using value_type = T;

  index_t node_input_size() const { return f_; }
  index_t edge_input_size() const { return fe_; }
  index_t node_output_size() const { return node_.outputs(); }
  index_t edge_output_size() const { return edge_out_; }

  //! Bytes of workspace of the host path (see EdgeConvBlock::workspace_bytes).
  template <class Index = std::int32_t>
  std::size_t workspace_bytes(index_t nodes, index_t edges, int threads = 1) const {
    return layout<Index>(nullptr, nodes, edges, chunks_for(std::max(nodes, edges), threads)).used;
  }
  //! Bytes of workspace forward() needs on queue q (the device composition's where q takes it).
  template <Backend B, class Index = std::int32_t>
  std::size_t workspace_bytes(const Queue<B>& q, index_t nodes, index_t edges) const {
    return runs_gpu_teams(q) ? device_workspace_bytes<Index>(nodes, edges)
                             : workspace_bytes<Index>(nodes, edges, graph_threads(q));
  }
  template <class Index = std::int32_t>
  std::size_t device_workspace_bytes(index_t nodes, index_t edges) const {
    return device_layout<Index>(nullptr, nodes, edges).used;
  }
  std::span<const T> device_weights() const { return dev_.data(); }

  //! The device composition (gemm_tiled per node and edge block, an element-wise first-layer kernel,
  //! scatter_reduce, gemm_tiled): see EdgeConvBlock::device_forward.
  template <Backend B, class Index>
  void device_forward(Queue<B>& q, const T* weights, TensorView<const T, 2, memory_space_t<B>> x,
                      TensorView<const T, 2, memory_space_t<B>> e, TensorView<const Index, 1, memory_space_t<B>> src,
                      TensorView<const Index, 1, memory_space_t<B>> dst, TensorView<T, 2, memory_space_t<B>> x_out,
                      TensorView<T, 2, memory_space_t<B>> e_out, std::span<std::byte> workspace) const;

  //! x_out [N, Hn], e_out [E, He] = step(x [N, F], e [E, Fe], src [E], dst [E]) (edges src → dst,
  //! indices in [0, N)). The outputs must not overlap the inputs.
  template <Backend B, class Index = std::int32_t>
  void forward(Queue<B>& q, std::type_identity_t<TensorView<const T, 2, memory_space_t<B>>> x,
               std::type_identity_t<TensorView<const T, 2, memory_space_t<B>>> e,
               std::type_identity_t<TensorView<const Index, 1, memory_space_t<B>>> src,
               std::type_identity_t<TensorView<const Index, 1, memory_space_t<B>>> dst,
               std::type_identity_t<TensorView<T, 2, memory_space_t<B>>> x_out,
               std::type_identity_t<TensorView<T, 2, memory_space_t<B>>> e_out, std::span<std::byte> workspace,
               const kernels::GemmConfig& cfg = {}) const {
    if constexpr (!B::is_host) {
      graph_detail::host_weights_on_device("interaction_step", "DeviceInteractionStep", B::name);
    } else if (runs_gpu_teams(q)) {
      device_forward<B, Index>(q, dev_.data().data(), x, e, src, dst, x_out, e_out, workspace);
    } else {
      namespace g = kernels::graph;
      const std::string& who = who_;
      const index_t n = x.extent(0), ne = e.extent(0);
      if (x.extent(1) != f_ || e.extent(1) != fe_ || src.extent(0) != ne || dst.extent(0) != ne ||
          x_out.extent(0) != n || x_out.extent(1) != node_.outputs() || e_out.extent(0) != ne ||
          e_out.extent(1) != edge_out_) {
        graph_detail::fail_shape(
            who, "x " + detail::format_shape(x.extents()) + ", e " + detail::format_shape(e.extents()) + ", src/dst " +
                     detail::format_shape(src.extents()) + ", x_out " + detail::format_shape(x_out.extents()) +
                     ", e_out " + detail::format_shape(e_out.extents()) + " for a step with F = " + std::to_string(f_) +
                     ", Fe = " + std::to_string(fe_) + " → " + std::to_string(node_.outputs()) + ", " +
                     std::to_string(edge_out_));
      }
      g::check_indices<B, Index>(q, op_.c_str(), "src", g::as_column(src), 0, n);
      g::check_indices<B, Index>(q, op_.c_str(), "dst", g::as_column(dst), 0, n);
      index_t chunks = chunks_for(std::max(n, ne), graph_detail::threads_of(q));
      while (chunks > 1 && layout<Index>(nullptr, n, ne, chunks).used > workspace.size()) --chunks;
      graph_detail::check_workspace<T>(who, workspace, layout<Index>(nullptr, n, ne, chunks).used,
                                       std::max(alignof(T), alignof(Index)));
      const Layout<Index> ws = layout<Index>(workspace.data(), n, ne, chunks);
      const TensorView<T, 2> ps(ws.ps, {n, hidden1_}), pd(ws.pd, {n, hidden1_});
      if (n > 0) {
        node_src_.forward(q, x, ps, cfg);
        node_dst_.forward(q, x, pd, cfg);
      }
      // Edges: chunks of edge rows, blocks of edge_rows_per_block within a chunk.
      const index_t eb = edge_rows_per_block;
      const index_t echunks = std::max<index_t>(1, std::min(chunks, (ne + eb - 1) / eb));
      graph_detail::for_chunks(q, echunks, [&](index_t c, auto& lq) {
        const index_t c0 = ne * c / echunks, c1 = ne * (c + 1) / echunks;
        T* bufs[2] = {ws.chunks + c * ws.slab, ws.chunks + c * ws.slab + ws.edge_buffer};
        for (index_t r0 = c0; r0 < c1; r0 += eb) {
          edge_block(lq, e, src, dst, ps, pd, e_out, r0, std::min(c1, r0 + eb), bufs, cfg);
        }
      });
      // [x, Σ incoming e'] → node MLP.
      const index_t zw = f_ + edge_out_;
      const TensorView<T, 2> z(ws.z, {n, zw});
      for (index_t i = 0; i < n; ++i)
        for (index_t f = 0; f < f_; ++f) z(i, f) = x(i, f);
      const TensorView<T, 2> agg(ws.z + f_, {n, edge_out_}, {zw, 1});
      g::scatter_reduce<B, T, Index>(q, TensorView<const T, 2>(e_out), dst, agg, g::Reduce::sum,
                                     TensorView<Index, 1>(ws.sort, {g::scatter_reduce_workspace_size(n, ne)}));
      const index_t nb = DenseStack<T>::block_rows;
      const index_t nchunks = std::max<index_t>(1, std::min(chunks, (n + nb - 1) / nb));
      graph_detail::for_chunks(q, nchunks, [&](index_t c, auto& lq) {
        const index_t c0 = n * c / nchunks, c1 = n * (c + 1) / nchunks;
        node_.forward(lq, TensorView<const T, 2>(z.row_slice(c0, c1)), x_out.row_slice(c0, c1),
                      reinterpret_cast<std::byte*>(ws.chunks + c * ws.slab), cfg);
      });
    }
  }

 private:
  template <class Index>
  struct Layout {
    T* ps = nullptr;
    T* pd = nullptr;
    Index* sort = nullptr;
    T* z = nullptr;
    T* chunks = nullptr;
    index_t slab = 0;         //!< elements per chunk
    index_t edge_buffer = 0;  //!< elements of one edge-row buffer
    std::size_t used = 0;
  };

  static index_t chunks_for(index_t rows, int threads) {
    const index_t blocks = (rows + edge_rows_per_block - 1) / edge_rows_per_block;
    return std::max<index_t>(1, std::min<index_t>(threads, blocks));
  }

  template <class Index>
  Layout<Index> layout(std::byte* base, index_t n, index_t ne, index_t chunks) const {
    graph_detail::Carver carve(base);
    Layout<Index> l;
    l.ps = carve.take<T>(n * hidden1_);
    l.pd = carve.take<T>(n * hidden1_);
    l.sort = carve.take<Index>(kernels::graph::scatter_reduce_workspace_size(n, ne));
    l.z = carve.take<T>(n * (f_ + edge_out_));
    // A chunk's slab serves the edge phase (two buffers of one block of edge rows) and then, as bytes,
    // the node MLP's workspace.
    l.edge_buffer =
        static_cast<index_t>(graph_detail::Carver::align(
                                 sizeof(T) * static_cast<std::size_t>(std::min(ne, edge_rows_per_block) * max_width_)) /
                             sizeof(T));
    const std::size_t node_bytes = node_.workspace_bytes(std::min(n, DenseStack<T>::block_rows));
    l.slab = static_cast<index_t>(
        graph_detail::Carver::align(std::max(2 * sizeof(T) * static_cast<std::size_t>(l.edge_buffer), node_bytes)) /
        sizeof(T));
    l.chunks = carve.take<T>(l.slab * chunks);
    l.used = carve.used();
    return l;
  }

  template <class Q, class Index>
  void edge_block(Q& q, TensorView<const T, 2> e, TensorView<const Index, 1> src, TensorView<const Index, 1> dst,
                  TensorView<const T, 2> ps, TensorView<const T, 2> pd, TensorView<T, 2> e_out, index_t r0, index_t r1,
                  T* const bufs[2], const kernels::GemmConfig& cfg) const {
    const index_t rows = r1 - r0;
    const TensorView<T, 2> h1 = rest_.empty() ? e_out.row_slice(r0, r1) : TensorView<T, 2>(bufs[0], {rows, hidden1_});
    if (fe_ > 0) {
      edge_lin_.forward(q, e.row_slice(r0, r1), h1, cfg);
    } else {
      for (index_t r = 0; r < rows; ++r)
        for (index_t f = 0; f < hidden1_; ++f) h1(r, f) = T(0);
    }
    const index_t hw = hidden1_;
    const T* bias = bias1_.data();
    graph_detail::with_activation<T>(first_activation_, [&](const auto& act) {
      for (index_t r = 0; r < rows; ++r) {
        const T* a = &ps(src(r0 + r), 0);
        const T* b = &pd(dst(r0 + r), 0);
        T* o = &h1(r, 0);
        for (index_t f = 0; f < hw; ++f) o[f] = act(((o[f] + bias[f]) + a[f]) + b[f]);
      }
    });
    TensorView<const T, 2> cur = h1;
    for (std::size_t l = 0; l < rest_.size(); ++l) {
      const TensorView<T, 2> out = l + 1 == rest_.size()
                                       ? e_out.row_slice(r0, r1)
                                       : TensorView<T, 2>(bufs[(l + 1) % 2], {rows, rest_[l].outputs()});
      rest_[l].forward(q, cur, out, cfg);
      cur = out;
    }
  }

  template <class Index>
  struct DeviceLayout {
    T* ps = nullptr;
    T* pd = nullptr;
    Index* sort = nullptr;
    T* z = nullptr;
    T* buf[2] = {nullptr, nullptr};
    index_t edges = 1;  //!< edge rows per pass
    std::size_t used = 0;
  };

  template <class Index>
  DeviceLayout<Index> device_layout(std::byte* base, index_t n, index_t ne) const {
    graph_detail::Carver carve(base);
    DeviceLayout<Index> l;
    l.edges = std::max<index_t>(1, std::min(ne, graph_detail::device_edge_rows));
    l.ps = carve.take<T>(n * hidden1_);
    l.pd = carve.take<T>(n * hidden1_);
    l.sort = carve.take<Index>(kernels::graph::scatter_reduce_workspace_size(n, ne));
    l.z = carve.take<T>(n * (f_ + edge_out_));
    const index_t buffer = std::max(l.edges * max_width_, n * graph_detail::hidden_width(dev_node_));
    l.buf[0] = carve.take<T>(buffer);
    l.buf[1] = carve.take<T>(buffer);
    l.used = carve.used();
    return l;
  }

  index_t f_ = 0, fe_ = 0, hidden1_ = 0, max_width_ = 0, edge_out_ = 0;
  kernels::ActivationSpec first_activation_{};
  Dense<T> node_src_, node_dst_, edge_lin_;
  std::vector<T> bias1_;
  std::vector<Dense<T>> rest_;
  DenseStack<T> node_;
  graph_detail::DeviceWeights<T> dev_;
  graph_detail::DeviceDense dev_src_, dev_dst_, dev_edge_;
  std::size_t dev_bias1_ = 0;
  std::vector<graph_detail::DeviceDense> dev_rest_, dev_node_;
  std::string name_, who_, op_;
};

template <class T>
template <Backend B, class Index>
void InteractionStep<T>::device_forward(Queue<B>& q, const T* weights, TensorView<const T, 2, memory_space_t<B>> x,
                                        TensorView<const T, 2, memory_space_t<B>> e,
                                        TensorView<const Index, 1, memory_space_t<B>> src,
                                        TensorView<const Index, 1, memory_space_t<B>> dst,
                                        TensorView<T, 2, memory_space_t<B>> x_out,
                                        TensorView<T, 2, memory_space_t<B>> e_out,
                                        std::span<std::byte> workspace) const {
  namespace g = kernels::graph;
  using S = memory_space_t<B>;
  const index_t n = x.extent(0), ne = e.extent(0);
  if (x.extent(1) != f_ || e.extent(1) != fe_ || src.extent(0) != ne || dst.extent(0) != ne || x_out.extent(0) != n ||
      x_out.extent(1) != node_.outputs() || e_out.extent(0) != ne || e_out.extent(1) != edge_out_) {
    graph_detail::fail_shape(
        who_, "x " + detail::format_shape(x.extents()) + ", e " + detail::format_shape(e.extents()) + ", src/dst " +
                  detail::format_shape(src.extents()) + ", x_out " + detail::format_shape(x_out.extents()) +
                  ", e_out " + detail::format_shape(e_out.extents()) + " for a step with F = " + std::to_string(f_) +
                  ", Fe = " + std::to_string(fe_) + " → " + std::to_string(node_.outputs()) + ", " +
                  std::to_string(edge_out_));
  }
  g::check_indices<B, Index>(q, op_.c_str(), "src", g::as_column(src), 0, n);
  g::check_indices<B, Index>(q, op_.c_str(), "dst", g::as_column(dst), 0, n);
  graph_detail::check_workspace<T>(who_, workspace, device_layout<Index>(nullptr, n, ne).used,
                                   std::max(alignof(T), alignof(Index)));
  const DeviceLayout<Index> ws = device_layout<Index>(workspace.data(), n, ne);
  const TensorView<T, 2, S> ps(ws.ps, {n, hidden1_}), pd(ws.pd, {n, hidden1_});
  graph_detail::dense_device<B, T>(q, weights, dev_src_, x, ps);
  graph_detail::dense_device<B, T>(q, weights, dev_dst_, x, pd);
  // Edges in passes of ws.edges rows: first layer (E W_e, then + b + P_s(src) + P_d(dst), act), the rest.
  for (index_t r0 = 0; r0 < ne; r0 += ws.edges) {
    const index_t r1 = std::min(ne, r0 + ws.edges), rows = r1 - r0;
    const TensorView<T, 2, S> h1 =
        dev_rest_.empty() ? e_out.row_slice(r0, r1) : TensorView<T, 2, S>(ws.buf[0], {rows, hidden1_});
    if (fe_ > 0) graph_detail::dense_device<B, T>(q, weights, dev_edge_, e.row_slice(r0, r1), h1);
    parallel_for(q, Range2D{rows, hidden1_},
                 graph_detail::InteractionFirstLayerBody<T, Index, S>{h1, ps, pd, src, dst, weights + dev_bias1_, r0,
                                                                      fe_ > 0, first_activation_});
    TensorView<const T, 2, S> cur = h1;
    for (std::size_t l = 0; l < dev_rest_.size(); ++l) {
      const TensorView<T, 2, S> out = l + 1 == dev_rest_.size()
                                          ? e_out.row_slice(r0, r1)
                                          : TensorView<T, 2, S>(ws.buf[(l + 1) % 2], {rows, dev_rest_[l].outputs});
      graph_detail::dense_device<B, T>(q, weights, dev_rest_[l], cur, out);
      cur = out;
    }
  }
  // z = [x, Σ incoming e'] (scatter_reduce: ascending edge order per node), then the node MLP.
  const index_t zw = f_ + edge_out_;
  const TensorView<T, 2, S> z(ws.z, {n, zw});
  if (n > 0 && f_ > 0) {
    parallel_for(q, Range2D{n, f_}, graph_detail::CopyBody<T, S>{x, TensorView<T, 2, S>(ws.z, {n, f_}, {zw, 1})});
  }
  g::scatter_reduce<B, T, Index>(q, TensorView<const T, 2, S>(e_out), dst,
                                 TensorView<T, 2, S>(ws.z + f_, {n, edge_out_}, {zw, 1}), g::Reduce::sum,
                                 TensorView<Index, 1, S>(ws.sort, {g::scatter_reduce_workspace_size(n, ne)}));
  graph_detail::dense_chain_device<B, T>(q, weights, dev_node_, z, x_out, ws.buf[0], ws.buf[1]);
}

// ---- free functions -----------------------------------------------------------------------------------

//! edgeconv_block(q, block, coords, x, offsets, y, workspace): EdgeConvBlock::forward.
template <Backend B, class T, class Index = std::int32_t>
void edgeconv_block(Queue<B>& q, const EdgeConvBlock<T>& block,
                    std::type_identity_t<TensorView<const T, 2, memory_space_t<B>>> coords,
                    std::type_identity_t<TensorView<const T, 2, memory_space_t<B>>> x,
                    std::type_identity_t<TensorView<const Index, 1, memory_space_t<B>>> offsets,
                    std::type_identity_t<TensorView<T, 2, memory_space_t<B>>> y, std::span<std::byte> workspace) {
  block.template forward<B, Index>(q, coords, x, offsets, y, workspace);
}

//! gravnet_block(q, block, x, offsets, y, workspace): GravNetBlock::forward.
template <Backend B, class T, class Index = std::int32_t>
void gravnet_block(Queue<B>& q, const GravNetBlock<T>& block,
                   std::type_identity_t<TensorView<const T, 2, memory_space_t<B>>> x,
                   std::type_identity_t<TensorView<const Index, 1, memory_space_t<B>>> offsets,
                   std::type_identity_t<TensorView<T, 2, memory_space_t<B>>> y, std::span<std::byte> workspace) {
  block.template forward<B, Index>(q, x, offsets, y, workspace);
}

//! interaction_step(q, step, x, e, src, dst, x_out, e_out, workspace): InteractionStep::forward.
template <Backend B, class T, class Index = std::int32_t>
void interaction_step(Queue<B>& q, const InteractionStep<T>& step,
                      std::type_identity_t<TensorView<const T, 2, memory_space_t<B>>> x,
                      std::type_identity_t<TensorView<const T, 2, memory_space_t<B>>> e,
                      std::type_identity_t<TensorView<const Index, 1, memory_space_t<B>>> src,
                      std::type_identity_t<TensorView<const Index, 1, memory_space_t<B>>> dst,
                      std::type_identity_t<TensorView<T, 2, memory_space_t<B>>> x_out,
                      std::type_identity_t<TensorView<T, 2, memory_space_t<B>>> e_out, std::span<std::byte> workspace) {
  step.template forward<B, Index>(q, x, e, src, dst, x_out, e_out, workspace);
}

// ---- device-resident copies ------------------------------------------------------------------------------

//! A block or model whose weights live in backend B's memory: built once from the host object (its
//! weights uploaded to B's memory; the host object is referenced for the metadata and must outlive this
//! one), then immutable. forward() runs the
//! device composition (`Host::device_forward`) on B's queue with all arrays in B's memory and a
//! workspace of workspace_bytes() bytes in B's memory. B may be any backend (a host one runs the same
//! composition on the host: the tests compare it with the GPU-emulating Serial queue).
template <Backend B, class Host>
class DeviceResident {
 public:
  using value_type = typename Host::value_type;
  using space = memory_space_t<B>;

  //! Uploads the weights of `host` (waits for the copy).
  DeviceResident(Queue<B>& q, const Host& host)
      : host_(&host), weights_({static_cast<index_t>(host.device_weights().size())}) {
    deep_copy(q, weights_.view(), TensorView<const value_type, 1>(host.device_weights().data(), {weights_.extent(0)}));
    q.wait();
  }

  const Host& host() const { return *host_; }
  //! The weights in B's memory (Host::device_weights() there).
  const value_type* weights() const { return weights_.data(); }

  //! Bytes of workspace (in B's memory) forward() needs: (rows, events), or (nodes, edges) for an
  //! interaction step.
  template <class Index = std::int32_t>
  std::size_t workspace_bytes(index_t rows, index_t events_or_edges) const {
    return host_->template device_workspace_bytes<Index>(rows, events_or_edges);
  }

  //! Host::device_forward(q, weights(), args...): the arguments of the host object's forward().
  template <class Index = std::int32_t, class... Args>
  void forward(Queue<B>& q, Args&&... args) const {
    host_->template device_forward<B, Index>(q, weights_.data(), std::forward<Args>(args)...);
  }

 private:
  const Host* host_;
  Tensor<value_type, 1, space> weights_;
};

template <Backend B, class T>
using DeviceEdgeConvBlock = DeviceResident<B, EdgeConvBlock<T>>;
template <Backend B, class T>
using DeviceGravNetBlock = DeviceResident<B, GravNetBlock<T>>;
template <Backend B, class T>
using DeviceInteractionStep = DeviceResident<B, InteractionStep<T>>;

//! edgeconv_block with the weights on the device (any backend, Cuda and Hip included).
template <Backend B, class T, class Index = std::int32_t>
void edgeconv_block(Queue<B>& q, const DeviceEdgeConvBlock<B, T>& block,
                    std::type_identity_t<TensorView<const T, 2, memory_space_t<B>>> coords,
                    std::type_identity_t<TensorView<const T, 2, memory_space_t<B>>> x,
                    std::type_identity_t<TensorView<const Index, 1, memory_space_t<B>>> offsets,
                    std::type_identity_t<TensorView<T, 2, memory_space_t<B>>> y, std::span<std::byte> workspace) {
  block.template forward<Index>(q, coords, x, offsets, y, workspace);
}

//! gravnet_block with the weights on the device.
template <Backend B, class T, class Index = std::int32_t>
void gravnet_block(Queue<B>& q, const DeviceGravNetBlock<B, T>& block,
                   std::type_identity_t<TensorView<const T, 2, memory_space_t<B>>> x,
                   std::type_identity_t<TensorView<const Index, 1, memory_space_t<B>>> offsets,
                   std::type_identity_t<TensorView<T, 2, memory_space_t<B>>> y, std::span<std::byte> workspace) {
  block.template forward<Index>(q, x, offsets, y, workspace);
}

//! interaction_step with the weights on the device.
template <Backend B, class T, class Index = std::int32_t>
void interaction_step(Queue<B>& q, const DeviceInteractionStep<B, T>& step,
                      std::type_identity_t<TensorView<const T, 2, memory_space_t<B>>> x,
                      std::type_identity_t<TensorView<const T, 2, memory_space_t<B>>> e,
                      std::type_identity_t<TensorView<const Index, 1, memory_space_t<B>>> src,
                      std::type_identity_t<TensorView<const Index, 1, memory_space_t<B>>> dst,
                      std::type_identity_t<TensorView<T, 2, memory_space_t<B>>> x_out,
                      std::type_identity_t<TensorView<T, 2, memory_space_t<B>>> e_out, std::span<std::byte> workspace) {
  step.template forward<Index>(q, x, e, src, dst, x_out, e_out, workspace);
}

//! The explicit instantiations of the blocks' device composition for a device backend (portml::cuda,
//! portml::hip; kernels/src/cuda_hip/gnn.cu).
#define PORTML_GNN_BLOCKS_INSTANTIATE(PREFIX, BACKEND, T, INDEX)                                            \
  PREFIX template void EdgeConvBlock<T>::device_forward<BACKEND, INDEX>(                                    \
      Queue<BACKEND>&, const T*, TensorView<const T, 2, memory_space_t<BACKEND>>,                           \
      TensorView<const T, 2, memory_space_t<BACKEND>>, TensorView<const INDEX, 1, memory_space_t<BACKEND>>, \
      TensorView<T, 2, memory_space_t<BACKEND>>, std::span<std::byte>) const;                               \
  PREFIX template void GravNetBlock<T>::device_forward<BACKEND, INDEX>(                                     \
      Queue<BACKEND>&, const T*, TensorView<const T, 2, memory_space_t<BACKEND>>,                           \
      TensorView<const INDEX, 1, memory_space_t<BACKEND>>, TensorView<T, 2, memory_space_t<BACKEND>>,       \
      std::span<std::byte>) const;                                                                          \
  PREFIX template void InteractionStep<T>::device_forward<BACKEND, INDEX>(                                  \
      Queue<BACKEND>&, const T*, TensorView<const T, 2, memory_space_t<BACKEND>>,                           \
      TensorView<const T, 2, memory_space_t<BACKEND>>, TensorView<const INDEX, 1, memory_space_t<BACKEND>>, \
      TensorView<const INDEX, 1, memory_space_t<BACKEND>>, TensorView<T, 2, memory_space_t<BACKEND>>,       \
      TensorView<T, 2, memory_space_t<BACKEND>>, std::span<std::byte>) const;

#if !defined(__CUDACC__) && !defined(__HIPCC__)
// Host code links the device instantiations from the kernel libraries.
#if PORTML_ENABLE_CUDA
PORTML_GNN_BLOCKS_INSTANTIATE(extern, backend::Cuda, float, std::int32_t)
PORTML_GNN_BLOCKS_INSTANTIATE(extern, backend::Cuda, float, std::int64_t)
#endif
#if PORTML_ENABLE_HIP
PORTML_GNN_BLOCKS_INSTANTIATE(extern, backend::Hip, float, std::int32_t)
PORTML_GNN_BLOCKS_INSTANTIATE(extern, backend::Hip, float, std::int64_t)
#endif
#endif

}  // namespace portml::layers
