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
#include <vector>

#include <portml/kernels/gemm.hpp>
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

}  // namespace graph_detail

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
    max_width_ = hidden1_;
    for (std::size_t l = 1; l < plan.size(); ++l) {
      const LayerConfig& d = plan[l];
      if (!d.activation.elementwise()) throw NotSupported("portml::layers::" + who + ": softmax in the edge MLP");
      rest_.emplace_back(d.inputs, d.outputs, d.weights, d.bias, d.activation);
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
      has_shortcut_ = true;
    } else if (inputs != outputs_) {
      graph_detail::fail_shape(who, "no shortcut layer, so the MLP must output " + std::to_string(inputs) +
                                        " features (the identity shortcut), not " + std::to_string(outputs_));
    }
  }

  index_t k() const { return k_; }
  index_t input_size() const { return inputs_; }
  index_t output_size() const { return outputs_; }
  const std::string& name() const { return name_; }

  //! Bytes of workspace forward() needs for `rows` points in `events` events with `threads` threads
  //! (the queue's: 1 for Serial, num_threads() for OpenMP; see graph_threads()).
  template <class Index = std::int32_t>
  std::size_t workspace_bytes(index_t rows, index_t events, int threads = 1) const {
    return layout<Index>(nullptr, rows, events, chunks_for(rows, threads)).used;
  }

  //! y [N, outputs] = block(coords [N, D], x [N, F], offsets [B+1]). y must not overlap the inputs.
  template <Backend B, class Index = std::int32_t>
  void forward(Queue<B>& q, std::type_identity_t<TensorView<const T, 2, memory_space_t<B>>> coords,
               std::type_identity_t<TensorView<const T, 2, memory_space_t<B>>> x,
               std::type_identity_t<TensorView<const Index, 1, memory_space_t<B>>> offsets,
               std::type_identity_t<TensorView<T, 2, memory_space_t<B>>> y, std::span<std::byte> workspace,
               const kernels::GemmConfig& cfg = {}) const {
    if constexpr (!B::is_host) {
      graph_detail::not_on_device("edgeconv_block", B::name);
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

  index_t k_ = 0, inputs_ = 0, outputs_ = 0, hidden1_ = 0, max_width_ = 0;
  kernels::graph::Reduce aggregation_ = kernels::graph::Reduce::mean;
  MissingNeighbours missing_ = MissingNeighbours::skip;
  kernels::ActivationSpec activation_{}, first_activation_{};
  int periodic_dim_ = -1;
  T period_ = T(0);
  Dense<T> node_u_, node_v_, shortcut_;
  bool has_shortcut_ = false;
  std::vector<Dense<T>> rest_;
  std::string name_, who_;
};

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
  }

  index_t k() const { return k_; }
  index_t input_size() const { return inputs_; }
  index_t output_size() const { return output_.outputs(); }
  index_t space_size() const { return space_.outputs(); }
  const std::string& name() const { return name_; }

  template <class Index = std::int32_t>
  std::size_t workspace_bytes(index_t rows, index_t events, int threads = 1) const {
    return layout<Index>(nullptr, rows, events, chunks_for(rows, threads)).used;
  }

  //! y [N, outputs] = block(x [N, F], offsets [B+1]).
  template <Backend B, class Index = std::int32_t>
  void forward(Queue<B>& q, std::type_identity_t<TensorView<const T, 2, memory_space_t<B>>> x,
               std::type_identity_t<TensorView<const Index, 1, memory_space_t<B>>> offsets,
               std::type_identity_t<TensorView<T, 2, memory_space_t<B>>> y, std::span<std::byte> workspace,
               const kernels::GemmConfig& cfg = {}) const {
    if constexpr (!B::is_host) {
      graph_detail::not_on_device("gravnet_block", B::name);
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

  index_t k_ = 0, inputs_ = 0;
  kernels::graph::SelfMode self_mode_ = kernels::graph::SelfMode::include_first;
  T exponent_ = T(0);
  kernels::graph::MeanDivisor divisor_ = kernels::graph::MeanDivisor::valid;
  DenseStack<T> space_, propagate_, output_;
  std::string name_, who_;
};

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
    max_width_ = hidden1_;
    for (std::size_t l = 1; l < plan.size(); ++l) {
      const LayerConfig& d = plan[l];
      if (!d.activation.elementwise()) throw NotSupported("portml::layers::" + who + ": softmax in the edge MLP");
      rest_.emplace_back(d.inputs, d.outputs, d.weights, d.bias, d.activation);
      max_width_ = std::max(max_width_, d.outputs);
    }
    edge_out_ = plan.back().outputs;
    node_ = DenseStack<T>(cfg.node_mlp, f_ + edge_out_, who + " node_mlp");
    if (node_.empty()) graph_detail::fail_shape(who, "the node MLP has no Dense layer");
  }

  index_t node_input_size() const { return f_; }
  index_t edge_input_size() const { return fe_; }
  index_t node_output_size() const { return node_.outputs(); }
  index_t edge_output_size() const { return edge_out_; }

  template <class Index = std::int32_t>
  std::size_t workspace_bytes(index_t nodes, index_t edges, int threads = 1) const {
    return layout<Index>(nullptr, nodes, edges, chunks_for(std::max(nodes, edges), threads)).used;
  }

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
      graph_detail::not_on_device("interaction_step", B::name);
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

  index_t f_ = 0, fe_ = 0, hidden1_ = 0, max_width_ = 0, edge_out_ = 0;
  kernels::ActivationSpec first_activation_{};
  Dense<T> node_src_, node_dst_, edge_lin_;
  std::vector<T> bias1_;
  std::vector<Dense<T>> rest_;
  DenseStack<T> node_;
  std::string name_, who_, op_;
};

// ---- free functions -----------------------------------------------------------------------------------

//! The threads the blocks split their work over on this queue (the `threads` of workspace_bytes()).
template <Backend B>
int graph_threads(const Queue<B>& q) {
  if constexpr (B::is_host) {
    return graph_detail::threads_of(q);
  } else {
    return 1;
  }
}

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

}  // namespace portml::layers
