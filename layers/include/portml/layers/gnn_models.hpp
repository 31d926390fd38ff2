// SPDX-License-Identifier: Apache-2.0
//! \file
//! GNN models built from the fused graph blocks (docs/gnn.md, "Models"): a ParticleNet-like jet tagger
//! (EdgeConv blocks, global pooling, dense head per event) and a GravNet model (GravNet blocks, dense
//! head per point). Both are immutable after construction; forward() is const and re-entrant over a
//! ragged batch (rows + event offsets), allocates nothing (the caller's workspace) and gives an event
//! the same bits whatever else is in the batch and whatever the thread count.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <portml/layers/graph_blocks.hpp>

namespace portml::layers {

namespace graph_detail {

//! Input normalisation: BatchNorm / Affine layers composed (in double) into one per-feature affine
//! map, applied as y = x · scale + shift.
template <class T>
struct FeatureNorm {
  std::vector<T> scale, shift;
  bool active = false;

  FeatureNorm() = default;
  FeatureNorm(const std::vector<LayerConfig>& layers, index_t width, const std::string& who) {
    // Composes the maps in double: x → (x + o) s + t.
    std::vector<double> s(static_cast<std::size_t>(width), 1.0), t(static_cast<std::size_t>(width), 0.0);
    for (const LayerConfig& original : layers) {
      const LayerConfig a = original.kind == LayerConfig::Kind::BatchNorm ? batch_norm_as_affine(original) : original;
      if (a.kind != LayerConfig::Kind::Affine || a.activation.kind != kernels::Activation::Linear) {
        throw NotSupported("portml::layers::" + who + ": input normalisation layer '" + a.name +
                           "' is not a BatchNorm or affine map without activation");
      }
      const auto at = [&](const std::vector<double>& v, std::size_t f, double fallback) {
        if (v.empty()) return fallback;
        if (v.size() != static_cast<std::size_t>(width)) {
          fail_shape(who, "input normalisation '" + a.name + "' has " + std::to_string(v.size()) + " values for " +
                              std::to_string(width) + " features");
        }
        return v[f];
      };
      for (std::size_t f = 0; f < s.size(); ++f) {
        // ((x s + t) + o) s' + t' = x (s s') + ((t + o) s' + t')
        const double sc = at(a.scale, f, 1.0), of = at(a.offset, f, 0.0), sh = at(a.shift, f, 0.0);
        t[f] = (t[f] + of) * sc + sh;
        s[f] = s[f] * sc;
      }
      active = true;
    }
    for (std::size_t f = 0; f < s.size(); ++f) {
      scale.push_back(static_cast<T>(s[f]));
      shift.push_back(static_cast<T>(t[f]));
    }
  }

  void apply(TensorView<const T, 2> x, TensorView<T, 2> y) const {
    for (index_t i = 0; i < x.extent(0); ++i)
      for (index_t f = 0; f < x.extent(1); ++f) {
        const std::size_t u = static_cast<std::size_t>(f);
        y(i, f) = x(i, f) * scale[u] + shift[u];
      }
  }
};

}  // namespace graph_detail

//! A ParticleNet-like model (ParticleNetConfig): out [B, C] = head(pool(EdgeConv_L(...EdgeConv_1(norm(x))))).
template <class T>
class ParticleNet {
 public:
  explicit ParticleNet(const ParticleNetConfig& cfg)
      : points_(cfg.points),
        features_(cfg.features),
        coordinates_(cfg.coordinates),
        pooling_(cfg.pooling),
        labels_(cfg.output_labels) {
    const std::string who = "ParticleNet";
    if (cfg.blocks.empty()) graph_detail::fail_shape(who, "no EdgeConv block");
    if (cfg.coordinates.size() != cfg.blocks.size()) {
      graph_detail::fail_shape(who, std::to_string(cfg.coordinates.size()) + " coordinate choices for " +
                                        std::to_string(cfg.blocks.size()) + " blocks");
    }
    if (pooling_ == kernels::graph::Reduce::min) throw NotSupported("portml::layers::ParticleNet: min pooling");
    norm_ = graph_detail::FeatureNorm<T>(cfg.input_norm, features_, who);
    index_t width = features_;
    for (const EdgeConvConfig& b : cfg.blocks) {
      blocks_.emplace_back(b, width);
      width = blocks_.back().output_size();
      max_width_ = std::max(max_width_, width);
    }
    head_ = DenseStack<T>(cfg.head, width, who + " head");
    build_device_weights(cfg.head, width, who);
    if (!labels_.empty() && static_cast<index_t>(labels_.size()) != head_.outputs()) {
      graph_detail::fail_shape(
          who, std::to_string(labels_.size()) + " output labels for " + std::to_string(head_.outputs()) + " outputs");
    }
  }

  index_t point_size() const { return points_; }
  index_t feature_size() const { return features_; }
  index_t output_size() const { return head_.outputs(); }
  const std::vector<std::string>& output_labels() const { return labels_; }
  const std::vector<EdgeConvBlock<T>>& blocks() const { return blocks_; }

  using value_type = T;

  //! Bytes of workspace of the host path for `rows` points in `events` events on `threads` threads
  //! (graph_threads(q)).
  template <class Index = std::int32_t>
  std::size_t workspace_bytes(index_t rows, index_t events, int threads = 1) const {
    return layout<Index>(nullptr, rows, events, threads).used;
  }
  //! Bytes of workspace forward() needs on queue q (the device composition's on a queue that takes the
  //! GPU decomposition: Serial with GPU emulation, Cuda, Hip).
  template <Backend B, class Index = std::int32_t>
  std::size_t workspace_bytes(const Queue<B>& q, index_t rows, index_t events) const {
    return runs_gpu_teams(q) ? device_workspace_bytes<Index>(rows, events)
                             : workspace_bytes<Index>(rows, events, graph_threads(q));
  }
  template <class Index = std::int32_t>
  std::size_t device_workspace_bytes(index_t rows, index_t events) const {
    return device_layout<Index>(nullptr, rows, events).used;
  }
  //! The weights of the whole model in the device composition's layout (DeviceParticleNet uploads them).
  std::span<const T> device_weights() const { return dev_.data(); }

  //! The device composition: normalisation kernel, EdgeConvBlock::device_forward per block, global_pool,
  //! gemm_tiled head. `weights` = device_weights() in q's memory space, `workspace` in q's memory.
  template <Backend B, class Index>
  void device_forward(Queue<B>& q, const T* weights, TensorView<const T, 2, memory_space_t<B>> points,
                      TensorView<const T, 2, memory_space_t<B>> features,
                      TensorView<const Index, 1, memory_space_t<B>> offsets, TensorView<T, 2, memory_space_t<B>> out,
                      std::span<std::byte> workspace) const;

  //! out [B, outputs] = model(points [N, P], features [N, F], offsets [B+1]).
  template <Backend B, class Index = std::int32_t>
  void forward(Queue<B>& q, std::type_identity_t<TensorView<const T, 2, memory_space_t<B>>> points,
               std::type_identity_t<TensorView<const T, 2, memory_space_t<B>>> features,
               std::type_identity_t<TensorView<const Index, 1, memory_space_t<B>>> offsets,
               std::type_identity_t<TensorView<T, 2, memory_space_t<B>>> out, std::span<std::byte> workspace,
               const kernels::GemmConfig& cfg = {}) const {
    if constexpr (!B::is_host) {
      graph_detail::host_weights_on_device("ParticleNet::forward", "DeviceParticleNet", B::name);
    } else if (runs_gpu_teams(q)) {
      device_forward<B, Index>(q, dev_.data().data(), points, features, offsets, out, workspace);
    } else {
      const index_t n = features.extent(0), events = offsets.extent(0) - 1;
      if (points.extent(0) != n || points.extent(1) != points_ || features.extent(1) != features_ ||
          offsets.extent(0) < 1 || out.extent(0) != events || out.extent(1) != output_size()) {
        graph_detail::fail_shape(
            "ParticleNet::forward",
            "points " + detail::format_shape(points.extents()) + ", features " +
                detail::format_shape(features.extents()) + ", offsets " + detail::format_shape(offsets.extents()) +
                ", out " + detail::format_shape(out.extents()) + " for a model of " + std::to_string(points_) + " + " +
                std::to_string(features_) + " inputs and " + std::to_string(output_size()) + " outputs");
      }
      const int threads = graph_threads(q);
      graph_detail::check_workspace<T>("ParticleNet::forward", workspace, layout<Index>(nullptr, n, events, 1).used,
                                       std::max(alignof(T), alignof(Index)));
      const Layout ws =
          layout<Index>(workspace.data(), n, events,
                        layout<Index>(nullptr, n, events, threads).used <= workspace.size() ? threads : 1);
      TensorView<const T, 2> x = features;
      if (norm_.active) {
        const TensorView<T, 2> x0(ws.x0, {n, features_});
        norm_.apply(features, x0);
        x = x0;
      }
      for (std::size_t b = 0; b < blocks_.size(); ++b) {
        const TensorView<T, 2> y(ws.features[b % 2], {n, blocks_[b].output_size()});
        const TensorView<const T, 2> coords = coordinates_[b] == KnnCoordinates::points ? points : x;
        blocks_[b].template forward<B, Index>(q, coords, x, offsets, y, ws.block, cfg);
        x = y;
      }
      const TensorView<T, 2> pooled(ws.pooled, {events, x.extent(1)});
      kernels::graph::global_pool<B, T, Index>(q, x, offsets, pooled, pooling_);
      head_.forward(q, TensorView<const T, 2>(pooled), out, ws.head, cfg);
    }
  }

 private:
  struct Layout {
    T* x0 = nullptr;
    T* features[2] = {nullptr, nullptr};
    T* pooled = nullptr;
    std::byte* head = nullptr;
    std::span<std::byte> block;
    std::size_t used = 0;
  };

  template <class Index>
  Layout layout(std::byte* base, index_t n, index_t events, int threads) const {
    graph_detail::Carver carve(base);
    Layout l;
    if (norm_.active) l.x0 = carve.take<T>(n * features_);
    l.features[0] = carve.take<T>(n * max_width_);
    l.features[1] = carve.take<T>(n * max_width_);
    l.pooled = carve.take<T>(events * blocks_.back().output_size());
    l.head = carve.take<std::byte>(static_cast<index_t>(head_.workspace_bytes(events)));
    std::size_t block = 0;
    for (const auto& b : blocks_) block = std::max(block, b.template workspace_bytes<Index>(n, events, threads));
    std::byte* p = carve.take<std::byte>(static_cast<index_t>(block));
    l.block = std::span<std::byte>(p, p == nullptr ? 0 : block);
    l.used = carve.used();
    return l;
  }

  void build_device_weights(const std::vector<LayerConfig>& head, index_t width, const std::string& who) {
    if (norm_.active) {
      dev_scale_ = dev_.append(norm_.scale);
      dev_shift_ = dev_.append(norm_.shift);
    }
    for (const auto& b : blocks_) dev_blocks_.push_back(dev_.append(b.device_weights()));
    for (const LayerConfig& l : graph_detail::fold_dense_layers(head, width, who + " head")) {
      dev_head_.push_back(dev_.dense(l));
    }
  }

  template <class Index>
  struct DeviceLayout {
    T* x0 = nullptr;
    T* features[2] = {nullptr, nullptr};
    T* pooled = nullptr;
    T* head[2] = {nullptr, nullptr};
    std::span<std::byte> block;
    std::size_t used = 0;
  };

  template <class Index>
  DeviceLayout<Index> device_layout(std::byte* base, index_t n, index_t events) const {
    graph_detail::Carver carve(base);
    DeviceLayout<Index> l;
    if (norm_.active) l.x0 = carve.take<T>(n * features_);
    l.features[0] = carve.take<T>(n * max_width_);
    l.features[1] = carve.take<T>(n * max_width_);
    const index_t head_rows = events;
    l.pooled = carve.take<T>(events * blocks_.back().output_size());
    l.head[0] = carve.take<T>(head_rows * graph_detail::hidden_width(dev_head_));
    l.head[1] = carve.take<T>(head_rows * graph_detail::hidden_width(dev_head_));
    std::size_t block = 0;
    for (const auto& b : blocks_) block = std::max(block, b.template device_workspace_bytes<Index>(n, events));
    std::byte* p = carve.take<std::byte>(static_cast<index_t>(block));
    l.block = std::span<std::byte>(p, p == nullptr ? 0 : block);
    l.used = carve.used();
    return l;
  }

  index_t points_ = 0, features_ = 0, max_width_ = 0;
  std::vector<KnnCoordinates> coordinates_;
  kernels::graph::Reduce pooling_ = kernels::graph::Reduce::mean;
  graph_detail::FeatureNorm<T> norm_;
  std::vector<EdgeConvBlock<T>> blocks_;
  DenseStack<T> head_;
  std::vector<std::string> labels_;
  graph_detail::DeviceWeights<T> dev_;
  std::size_t dev_scale_ = 0, dev_shift_ = 0;
  std::vector<std::size_t> dev_blocks_;
  std::vector<graph_detail::DeviceDense> dev_head_;
};

template <class T>
template <Backend B, class Index>
void ParticleNet<T>::device_forward(Queue<B>& q, const T* weights, TensorView<const T, 2, memory_space_t<B>> points,
                                    TensorView<const T, 2, memory_space_t<B>> features,
                                    TensorView<const Index, 1, memory_space_t<B>> offsets,
                                    TensorView<T, 2, memory_space_t<B>> out, std::span<std::byte> workspace) const {
  using S = memory_space_t<B>;
  const index_t n = features.extent(0), events = offsets.extent(0) - 1;
  if (points.extent(0) != n || points.extent(1) != points_ || features.extent(1) != features_ ||
      offsets.extent(0) < 1 || out.extent(0) != events || out.extent(1) != output_size()) {
    graph_detail::fail_shape(
        "ParticleNet::forward",
        "points " + detail::format_shape(points.extents()) + ", features " + detail::format_shape(features.extents()) +
            ", offsets " + detail::format_shape(offsets.extents()) + ", out " + detail::format_shape(out.extents()) +
            " for a model of " + std::to_string(points_) + " + " + std::to_string(features_) + " inputs and " +
            std::to_string(output_size()) + " outputs");
  }
  graph_detail::check_workspace<T>("ParticleNet::forward", workspace, device_layout<Index>(nullptr, n, events).used,
                                   std::max(alignof(T), alignof(Index)));
  const DeviceLayout<Index> ws = device_layout<Index>(workspace.data(), n, events);
  TensorView<const T, 2, S> x = features;
  if (norm_.active) {
    const TensorView<T, 2, S> x0(ws.x0, {n, features_});
    if (n > 0 && features_ > 0) {
      parallel_for(q, Range2D{n, features_},
                   graph_detail::AffineBody<T, S>{features, x0, weights + dev_scale_, weights + dev_shift_});
    }
    x = x0;
  }
  for (std::size_t b = 0; b < blocks_.size(); ++b) {
    const TensorView<T, 2, S> y(ws.features[b % 2], {n, blocks_[b].output_size()});
    const TensorView<const T, 2, S> coords = coordinates_[b] == KnnCoordinates::points ? points : x;
    blocks_[b].template device_forward<B, Index>(q, weights + dev_blocks_[b], coords, x, offsets, y, ws.block);
    x = y;
  }
  // graph::global_pool's fold (its SegmentReduceBody over the events) without its offsets check: the first
  // block's kNN checked these offsets in this call (the constructor requires a block), and on a GPU the
  // check costs a host synchronisation.
  const TensorView<T, 2, S> pooled(ws.pooled, {events, x.extent(1)});
  if (events > 0 && x.extent(1) > 0) {
    const index_t fw = kernels::graph::detail::feature_block<B>(x.extent(1));
    parallel_for(q, Range2D{events, (x.extent(1) + fw - 1) / fw},
                 kernels::graph::detail::SegmentReduceBody<T, Index, S>{x, offsets, {}, pooled, {}, pooling_, fw});
  }
  graph_detail::dense_chain_device<B, T>(q, weights, dev_head_, pooled, out, ws.head[0], ws.head[1]);
}

//! A GravNet model (GravNetModelConfig): out [N, C] = head(GravNet_L(...GravNet_1(norm(x)))).
template <class T>
class GravNetModel {
 public:
  explicit GravNetModel(const GravNetModelConfig& cfg) : features_(cfg.features), labels_(cfg.output_labels) {
    const std::string who = "GravNetModel";
    if (cfg.blocks.empty()) graph_detail::fail_shape(who, "no GravNet block");
    norm_ = graph_detail::FeatureNorm<T>(cfg.input_norm, features_, who);
    index_t width = features_;
    for (const GravNetConfig& b : cfg.blocks) {
      blocks_.emplace_back(b, width);
      width = blocks_.back().output_size();
      max_width_ = std::max(max_width_, width);
    }
    head_ = DenseStack<T>(cfg.head, width, who + " head");
    build_device_weights(cfg.head, width, who);
    if (!labels_.empty() && static_cast<index_t>(labels_.size()) != head_.outputs()) {
      graph_detail::fail_shape(
          who, std::to_string(labels_.size()) + " output labels for " + std::to_string(head_.outputs()) + " outputs");
    }
  }

  index_t feature_size() const { return features_; }
  index_t output_size() const { return head_.outputs(); }
  const std::vector<std::string>& output_labels() const { return labels_; }
  const std::vector<GravNetBlock<T>>& blocks() const { return blocks_; }

  using value_type = T;

  //! Bytes of workspace of the host path (see ParticleNet::workspace_bytes).
  template <class Index = std::int32_t>
  std::size_t workspace_bytes(index_t rows, index_t events, int threads = 1) const {
    return layout<Index>(nullptr, rows, events, threads).used;
  }
  //! Bytes of workspace forward() needs on queue q.
  template <Backend B, class Index = std::int32_t>
  std::size_t workspace_bytes(const Queue<B>& q, index_t rows, index_t events) const {
    return runs_gpu_teams(q) ? device_workspace_bytes<Index>(rows, events)
                             : workspace_bytes<Index>(rows, events, graph_threads(q));
  }
  template <class Index = std::int32_t>
  std::size_t device_workspace_bytes(index_t rows, index_t events) const {
    return device_layout<Index>(nullptr, rows, events).used;
  }
  std::span<const T> device_weights() const { return dev_.data(); }

  //! The device composition: normalisation kernel, GravNetBlock::device_forward per block, gemm_tiled
  //! head (see ParticleNet::device_forward).
  template <Backend B, class Index>
  void device_forward(Queue<B>& q, const T* weights, TensorView<const T, 2, memory_space_t<B>> features,
                      TensorView<const Index, 1, memory_space_t<B>> offsets, TensorView<T, 2, memory_space_t<B>> out,
                      std::span<std::byte> workspace) const;

  //! out [N, outputs] = model(x [N, F], offsets [B+1]).
  template <Backend B, class Index = std::int32_t>
  void forward(Queue<B>& q, std::type_identity_t<TensorView<const T, 2, memory_space_t<B>>> features,
               std::type_identity_t<TensorView<const Index, 1, memory_space_t<B>>> offsets,
               std::type_identity_t<TensorView<T, 2, memory_space_t<B>>> out, std::span<std::byte> workspace,
               const kernels::GemmConfig& cfg = {}) const {
    if constexpr (!B::is_host) {
      graph_detail::host_weights_on_device("GravNetModel::forward", "DeviceGravNetModel", B::name);
    } else if (runs_gpu_teams(q)) {
      device_forward<B, Index>(q, dev_.data().data(), features, offsets, out, workspace);
    } else {
      const index_t n = features.extent(0), events = offsets.extent(0) - 1;
      if (features.extent(1) != features_ || offsets.extent(0) < 1 || out.extent(0) != n ||
          out.extent(1) != output_size()) {
        graph_detail::fail_shape("GravNetModel::forward", "features " + detail::format_shape(features.extents()) +
                                                              ", offsets " + detail::format_shape(offsets.extents()) +
                                                              ", out " + detail::format_shape(out.extents()) +
                                                              " for a model " + std::to_string(features_) + " → " +
                                                              std::to_string(output_size()));
      }
      const int threads = graph_threads(q);
      graph_detail::check_workspace<T>("GravNetModel::forward", workspace, layout<Index>(nullptr, n, events, 1).used,
                                       std::max(alignof(T), alignof(Index)));
      const Layout ws =
          layout<Index>(workspace.data(), n, events,
                        layout<Index>(nullptr, n, events, threads).used <= workspace.size() ? threads : 1);
      TensorView<const T, 2> x = features;
      if (norm_.active) {
        const TensorView<T, 2> x0(ws.x0, {n, features_});
        norm_.apply(features, x0);
        x = x0;
      }
      for (std::size_t b = 0; b < blocks_.size(); ++b) {
        const TensorView<T, 2> y(ws.features[b % 2], {n, blocks_[b].output_size()});
        blocks_[b].template forward<B, Index>(q, x, offsets, y, ws.block, cfg);
        x = y;
      }
      head_.forward(q, x, out, ws.head, cfg);
    }
  }

 private:
  struct Layout {
    T* x0 = nullptr;
    T* features[2] = {nullptr, nullptr};
    std::byte* head = nullptr;
    std::span<std::byte> block;
    std::size_t used = 0;
  };

  template <class Index>
  Layout layout(std::byte* base, index_t n, index_t events, int threads) const {
    graph_detail::Carver carve(base);
    Layout l;
    if (norm_.active) l.x0 = carve.take<T>(n * features_);
    l.features[0] = carve.take<T>(n * max_width_);
    l.features[1] = carve.take<T>(n * max_width_);
    l.head = carve.take<std::byte>(static_cast<index_t>(head_.workspace_bytes(n)));
    std::size_t block = 0;
    for (const auto& b : blocks_) block = std::max(block, b.template workspace_bytes<Index>(n, events, threads));
    std::byte* p = carve.take<std::byte>(static_cast<index_t>(block));
    l.block = std::span<std::byte>(p, p == nullptr ? 0 : block);
    l.used = carve.used();
    return l;
  }

  void build_device_weights(const std::vector<LayerConfig>& head, index_t width, const std::string& who) {
    if (norm_.active) {
      dev_scale_ = dev_.append(norm_.scale);
      dev_shift_ = dev_.append(norm_.shift);
    }
    for (const auto& b : blocks_) dev_blocks_.push_back(dev_.append(b.device_weights()));
    for (const LayerConfig& l : graph_detail::fold_dense_layers(head, width, who + " head")) {
      dev_head_.push_back(dev_.dense(l));
    }
  }

  template <class Index>
  struct DeviceLayout {
    T* x0 = nullptr;
    T* features[2] = {nullptr, nullptr};
    T* pooled = nullptr;  //!< unused (per-point head)
    T* head[2] = {nullptr, nullptr};
    std::span<std::byte> block;
    std::size_t used = 0;
  };

  template <class Index>
  DeviceLayout<Index> device_layout(std::byte* base, index_t n, index_t events) const {
    graph_detail::Carver carve(base);
    DeviceLayout<Index> l;
    if (norm_.active) l.x0 = carve.take<T>(n * features_);
    l.features[0] = carve.take<T>(n * max_width_);
    l.features[1] = carve.take<T>(n * max_width_);
    const index_t head_rows = n;
    l.pooled = carve.take<T>(0);
    l.head[0] = carve.take<T>(head_rows * graph_detail::hidden_width(dev_head_));
    l.head[1] = carve.take<T>(head_rows * graph_detail::hidden_width(dev_head_));
    std::size_t block = 0;
    for (const auto& b : blocks_) block = std::max(block, b.template device_workspace_bytes<Index>(n, events));
    std::byte* p = carve.take<std::byte>(static_cast<index_t>(block));
    l.block = std::span<std::byte>(p, p == nullptr ? 0 : block);
    l.used = carve.used();
    return l;
  }

  index_t features_ = 0, max_width_ = 0;
  graph_detail::FeatureNorm<T> norm_;
  std::vector<GravNetBlock<T>> blocks_;
  DenseStack<T> head_;
  std::vector<std::string> labels_;
  graph_detail::DeviceWeights<T> dev_;
  std::size_t dev_scale_ = 0, dev_shift_ = 0;
  std::vector<std::size_t> dev_blocks_;
  std::vector<graph_detail::DeviceDense> dev_head_;
};

template <class T>
template <Backend B, class Index>
void GravNetModel<T>::device_forward(Queue<B>& q, const T* weights, TensorView<const T, 2, memory_space_t<B>> features,
                                     TensorView<const Index, 1, memory_space_t<B>> offsets,
                                     TensorView<T, 2, memory_space_t<B>> out, std::span<std::byte> workspace) const {
  using S = memory_space_t<B>;
  const index_t n = features.extent(0), events = offsets.extent(0) - 1;
  if (features.extent(1) != features_ || offsets.extent(0) < 1 || out.extent(0) != n ||
      out.extent(1) != output_size()) {
    graph_detail::fail_shape("GravNetModel::forward", "features " + detail::format_shape(features.extents()) +
                                                          ", offsets " + detail::format_shape(offsets.extents()) +
                                                          ", out " + detail::format_shape(out.extents()) +
                                                          " for a model " + std::to_string(features_) + " → " +
                                                          std::to_string(output_size()));
  }
  graph_detail::check_workspace<T>("GravNetModel::forward", workspace, device_layout<Index>(nullptr, n, events).used,
                                   std::max(alignof(T), alignof(Index)));
  const DeviceLayout<Index> ws = device_layout<Index>(workspace.data(), n, events);
  TensorView<const T, 2, S> x = features;
  if (norm_.active) {
    const TensorView<T, 2, S> x0(ws.x0, {n, features_});
    if (n > 0 && features_ > 0) {
      parallel_for(q, Range2D{n, features_},
                   graph_detail::AffineBody<T, S>{features, x0, weights + dev_scale_, weights + dev_shift_});
    }
    x = x0;
  }
  for (std::size_t b = 0; b < blocks_.size(); ++b) {
    const TensorView<T, 2, S> y(ws.features[b % 2], {n, blocks_[b].output_size()});
    blocks_[b].template device_forward<B, Index>(q, weights + dev_blocks_[b], x, offsets, y, ws.block);
    x = y;
  }
  graph_detail::dense_chain_device<B, T>(q, weights, dev_head_, x, out, ws.head[0], ws.head[1]);
}

template <Backend B, class T>
using DeviceParticleNet = DeviceResident<B, ParticleNet<T>>;
template <Backend B, class T>
using DeviceGravNetModel = DeviceResident<B, GravNetModel<T>>;

//! The explicit instantiations of the models' device composition for a device backend (gnn.cu).
#define PORTML_GNN_MODELS_INSTANTIATE(PREFIX, BACKEND, T, INDEX)                                            \
  PREFIX template void ParticleNet<T>::device_forward<BACKEND, INDEX>(                                      \
      Queue<BACKEND>&, const T*, TensorView<const T, 2, memory_space_t<BACKEND>>,                           \
      TensorView<const T, 2, memory_space_t<BACKEND>>, TensorView<const INDEX, 1, memory_space_t<BACKEND>>, \
      TensorView<T, 2, memory_space_t<BACKEND>>, std::span<std::byte>) const;                               \
  PREFIX template void GravNetModel<T>::device_forward<BACKEND, INDEX>(                                     \
      Queue<BACKEND>&, const T*, TensorView<const T, 2, memory_space_t<BACKEND>>,                           \
      TensorView<const INDEX, 1, memory_space_t<BACKEND>>, TensorView<T, 2, memory_space_t<BACKEND>>,       \
      std::span<std::byte>) const;

#if !defined(__CUDACC__) && !defined(__HIPCC__)
#if PORTML_ENABLE_CUDA
PORTML_GNN_MODELS_INSTANTIATE(extern, backend::Cuda, float, std::int32_t)
PORTML_GNN_MODELS_INSTANTIATE(extern, backend::Cuda, float, std::int64_t)
#endif
#if PORTML_ENABLE_HIP
PORTML_GNN_MODELS_INSTANTIATE(extern, backend::Hip, float, std::int32_t)
PORTML_GNN_MODELS_INSTANTIATE(extern, backend::Hip, float, std::int64_t)
#endif
#endif

}  // namespace portml::layers
