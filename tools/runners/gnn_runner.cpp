// SPDX-License-Identifier: Apache-2.0
// Graph models in portml's GNN JSON format (docs/gnn.md) in the command-line tool: the ParticleNet-like
// model (one output row per event) and the GravNet model (one output row per node), in float32 as the
// PyTorch modules of tools/export_gnn.py compute them. A node row holds the model's inputs in the order
// of the JSON's "inputs": ParticleNet's P point coordinates then its F features; GravNet's F features.
// On a GPU backend (cuda, hip) the model's device composition runs with its weights uploaded once
// (DeviceParticleNet, DeviceGravNetModel).
#include <algorithm>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include <portml/io/gnn_json.hpp>
#include <portml/layers/gnn_models.hpp>

#include "../cli/device_backends.hpp"
#include "../cli/host_backends.hpp"
#include "../cli/model_runner.hpp"
#include "../cli/options.hpp"

namespace portml::cli {

namespace {

//! 64-byte aligned bytes that live as long as the session.
class Workspace {
 public:
  explicit Workspace(std::size_t bytes)
      : bytes_(std::max<std::size_t>(bytes, 64)),
        data_(static_cast<std::byte*>(::operator new (bytes_, std::align_val_t{64}))) {}
  ~Workspace() { ::operator delete (data_, std::align_val_t{64}); }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  std::span<std::byte> span() const { return {data_, bytes_}; }

 private:
  std::size_t bytes_;
  std::byte* data_;
};

using Offsets = TensorView<const std::int32_t, 1>;

//! ParticleNet's node rows [p point coordinates | f features] split into its two row-major inputs.
void split_node_rows(TensorView<const float, 2> x, index_t p, index_t f, std::vector<float>& points,
                     std::vector<float>& features) {
  for (index_t r = 0; r < x.extent(0); ++r) {
    for (index_t j = 0; j < p; ++j) points[static_cast<std::size_t>(r * p + j)] = x(r, j);
    for (index_t j = 0; j < f; ++j) features[static_cast<std::size_t>(r * f + j)] = x(r, p + j);
  }
}

//! The model's float output rows into the session's double output rows.
void widen_rows(TensorView<const float, 2> y, TensorView<double, 2> out) {
  for (index_t r = 0; r < y.extent(0); ++r)
    for (index_t j = 0; j < y.extent(1); ++j) out(r, j) = y(r, j);
}

template <class B>
class ParticleNetSession final : public GraphSession {
 public:
  ParticleNetSession(const layers::ParticleNet<float>& model, int threads, index_t max_nodes, index_t max_events)
      : model_(model),
        queue_(make_host_queue<B>(threads)),
        workspace_(model.workspace_bytes(queue_, max_nodes, max_events)),
        points_(static_cast<std::size_t>(std::max<index_t>(max_nodes * model.point_size(), 1))),
        features_(static_cast<std::size_t>(std::max<index_t>(max_nodes * model.feature_size(), 1))),
        y_(static_cast<std::size_t>(std::max<index_t>(max_events * model.output_size(), 1))) {}

  void run(TensorView<const float, 2> x, std::span<const std::int32_t> offsets, TensorView<double, 2> out) override {
    const index_t n = x.extent(0), p = model_.point_size(), f = model_.feature_size(), c = model_.output_size();
    const auto events = static_cast<index_t>(offsets.size()) - 1;
    split_node_rows(x, p, f, points_, features_);
    const TensorView<float, 2> y(y_.data(), {events, c});
    model_.template forward<B>(queue_, TensorView<const float, 2>(points_.data(), {n, p}),
                               TensorView<const float, 2>(features_.data(), {n, f}),
                               Offsets(offsets.data(), {events + 1}), y, workspace_.span());
    widen_rows(y, out);
  }

 private:
  const layers::ParticleNet<float>& model_;
  Queue<B> queue_;
  Workspace workspace_;
  std::vector<float> points_, features_, y_;
};

template <class B>
class GravNetSession final : public GraphSession {
 public:
  GravNetSession(const layers::GravNetModel<float>& model, int threads, index_t max_nodes, index_t max_events)
      : model_(model),
        queue_(make_host_queue<B>(threads)),
        workspace_(model.workspace_bytes(queue_, max_nodes, max_events)),
        features_(static_cast<std::size_t>(std::max<index_t>(max_nodes * model.feature_size(), 1))),
        y_(static_cast<std::size_t>(std::max<index_t>(max_nodes * model.output_size(), 1))) {}

  void run(TensorView<const float, 2> x, std::span<const std::int32_t> offsets, TensorView<double, 2> out) override {
    const index_t n = x.extent(0), f = model_.feature_size(), c = model_.output_size();
    const auto events = static_cast<index_t>(offsets.size()) - 1;
    for (index_t r = 0; r < n; ++r)  // a contiguous copy (x may be any view)
      for (index_t j = 0; j < f; ++j) features_[static_cast<std::size_t>(r * f + j)] = x(r, j);
    const TensorView<float, 2> y(y_.data(), {n, c});
    model_.template forward<B>(queue_, TensorView<const float, 2>(features_.data(), {n, f}),
                               Offsets(offsets.data(), {events + 1}), y, workspace_.span());
    widen_rows(y, out);
  }

 private:
  const layers::GravNetModel<float>& model_;
  Queue<B> queue_;
  Workspace workspace_;
  std::vector<float> features_, y_;
};

//! Offsets of `events` events as int32 on the device, copied from the host's.
template <class B>
TensorView<const std::int32_t, 1, memory_space_t<B>> copy_offsets(Queue<B>& q,
                                                                  Tensor<std::int32_t, 1, memory_space_t<B>>& device,
                                                                  std::span<const std::int32_t> offsets) {
  const auto n = static_cast<index_t>(offsets.size());
  const TensorView<std::int32_t, 1, memory_space_t<B>> d(device.data(), {n});
  deep_copy(q, d, TensorView<const std::int32_t, 1>(offsets.data(), {n}));
  return d;
}

//! The ParticleNet-like model on GPU backend B: the device copy of the weights, device buffers for
//! max_nodes nodes in max_events events and the device workspace made once; run() splits the node rows
//! into points and features on the host, copies them and the offsets in, launches, copies the scores out
//! and waits.
template <class B>
class ParticleNetDeviceSession final : public GraphSession {
  using Space = memory_space_t<B>;

 public:
  ParticleNetDeviceSession(const layers::ParticleNet<float>& model, index_t max_nodes, index_t max_events)
      : model_(model),
        queue_(make_device_queue<B>()),
        device_(queue_, model),
        points_d_({max_nodes, model.point_size()}),
        features_d_({max_nodes, model.feature_size()}),
        offsets_d_({max_events + 1}),
        y_d_({max_events, model.output_size()}),
        workspace_({static_cast<index_t>(device_.workspace_bytes(max_nodes, max_events))}),
        points_(static_cast<std::size_t>(std::max<index_t>(max_nodes * model.point_size(), 1))),
        features_(static_cast<std::size_t>(std::max<index_t>(max_nodes * model.feature_size(), 1))),
        y_(static_cast<std::size_t>(std::max<index_t>(max_events * model.output_size(), 1))) {}

  void run(TensorView<const float, 2> x, std::span<const std::int32_t> offsets, TensorView<double, 2> out) override {
    const index_t n = x.extent(0), p = model_.point_size(), f = model_.feature_size(), c = model_.output_size();
    const auto events = static_cast<index_t>(offsets.size()) - 1;
    split_node_rows(x, p, f, points_, features_);
    const TensorView<float, 2, Space> pd(points_d_.data(), {n, p}), fd(features_d_.data(), {n, f});
    const TensorView<float, 2, Space> yd(y_d_.data(), {events, c});
    deep_copy(queue_, pd, TensorView<const float, 2>(points_.data(), {n, p}));
    deep_copy(queue_, fd, TensorView<const float, 2>(features_.data(), {n, f}));
    const auto od = copy_offsets<B>(queue_, offsets_d_, offsets);
    device_.forward(queue_, TensorView<const float, 2, Space>(pd), TensorView<const float, 2, Space>(fd), od, yd,
                    std::span<std::byte>(workspace_.data(), static_cast<std::size_t>(workspace_.extent(0))));
    const TensorView<float, 2> y(y_.data(), {events, c});
    deep_copy(queue_, y, TensorView<const float, 2, Space>(yd));
    queue_.wait();
    widen_rows(y, out);
  }

 private:
  const layers::ParticleNet<float>& model_;
  Queue<B> queue_;
  layers::DeviceParticleNet<B, float> device_;
  Tensor<float, 2, Space> points_d_, features_d_;
  Tensor<std::int32_t, 1, Space> offsets_d_;
  Tensor<float, 2, Space> y_d_;
  Tensor<std::byte, 1, Space> workspace_;
  std::vector<float> points_, features_, y_;
};

//! The GravNet model on GPU backend B (as ParticleNetDeviceSession; one output row per node).
template <class B>
class GravNetDeviceSession final : public GraphSession {
  using Space = memory_space_t<B>;

 public:
  GravNetDeviceSession(const layers::GravNetModel<float>& model, index_t max_nodes, index_t max_events)
      : model_(model),
        queue_(make_device_queue<B>()),
        device_(queue_, model),
        features_d_({max_nodes, model.feature_size()}),
        offsets_d_({max_events + 1}),
        y_d_({max_nodes, model.output_size()}),
        workspace_({static_cast<index_t>(device_.workspace_bytes(max_nodes, max_events))}),
        staging_(static_cast<std::size_t>(max_nodes * model.feature_size())),
        y_(static_cast<std::size_t>(std::max<index_t>(max_nodes * model.output_size(), 1))) {}

  void run(TensorView<const float, 2> x, std::span<const std::int32_t> offsets, TensorView<double, 2> out) override {
    const index_t n = x.extent(0), f = model_.feature_size(), c = model_.output_size();
    const TensorView<float, 2, Space> fd(features_d_.data(), {n, f}), yd(y_d_.data(), {n, c});
    copy_rows_to_device<B, float>(queue_, fd, x, std::span<float>(staging_));
    const auto od = copy_offsets<B>(queue_, offsets_d_, offsets);
    device_.forward(queue_, TensorView<const float, 2, Space>(fd), od, yd,
                    std::span<std::byte>(workspace_.data(), static_cast<std::size_t>(workspace_.extent(0))));
    const TensorView<float, 2> y(y_.data(), {n, c});
    deep_copy(queue_, y, TensorView<const float, 2, Space>(yd));
    queue_.wait();
    widen_rows(y, out);
  }

 private:
  const layers::GravNetModel<float>& model_;
  Queue<B> queue_;
  layers::DeviceGravNetModel<B, float> device_;
  Tensor<float, 2, Space> features_d_;
  Tensor<std::int32_t, 1, Space> offsets_d_;
  Tensor<float, 2, Space> y_d_;
  Tensor<std::byte, 1, Space> workspace_;
  std::vector<float> staging_, y_;
};

std::string join_labels(const std::vector<std::string>& labels) {
  std::string s;
  for (const auto& l : labels) s += (s.empty() ? "" : ", ") + l;
  return s.empty() ? s : " (" + s + ")";
}

//! Model = layers::ParticleNet<float> or layers::GravNetModel<float>.
template <class Model>
class GnnRunner final : public ModelRunner {
  static constexpr bool particlenet = std::is_same_v<Model, layers::ParticleNet<float>>;

 public:
  template <class Config>
  explicit GnnRunner(const Config& config) : model_(config) {}

  std::string describe() const override {
    if constexpr (particlenet) {
      return "portml GNN JSON, ParticleNet-like: " + std::to_string(model_.point_size()) + " point coordinates + " +
             std::to_string(model_.feature_size()) + " features per node, " + std::to_string(model_.blocks().size()) +
             " EdgeConv blocks, " + std::to_string(model_.output_size()) + " outputs per event" +
             join_labels(model_.output_labels());
    } else {
      return "portml GNN JSON, GravNet: " + std::to_string(model_.feature_size()) + " features per node, " +
             std::to_string(model_.blocks().size()) + " GravNet blocks, " + std::to_string(model_.output_size()) +
             " outputs per node" + join_labels(model_.output_labels());
    }
  }
  index_t input_width() const override {
    if constexpr (particlenet) {
      return model_.point_size() + model_.feature_size();
    } else {
      return model_.feature_size();
    }
  }
  index_t output_width(bool) const override { return model_.output_size(); }
  bool is_graph() const override { return true; }
  bool per_event() const override { return particlenet; }
  std::vector<std::string> backends() const override { return all_backend_names(); }

  std::unique_ptr<Session> session(const std::string&, int, index_t, bool, const std::string&) const override {
    throw UsageError("a graph model takes events (node rows with offsets), not rows");
  }

  std::unique_ptr<GraphSession> graph_session(const std::string& backend, int threads, index_t max_nodes,
                                              index_t max_events) const override {
    std::unique_ptr<GraphSession> s;
    with_host_backend(backend, [&]<class B>() {
      if constexpr (particlenet) {
        s = std::make_unique<ParticleNetSession<B>>(model_, threads, max_nodes, max_events);
      } else {
        s = std::make_unique<GravNetSession<B>>(model_, threads, max_nodes, max_events);
      }
    });
    with_device_backend(backend, [&]<class B>() {
      if constexpr (particlenet) {
        s = std::make_unique<ParticleNetDeviceSession<B>>(model_, max_nodes, max_events);
      } else {
        s = std::make_unique<GravNetDeviceSession<B>>(model_, max_nodes, max_events);
      }
    });
    if (!s) throw UsageError("no backend '" + backend + "' in this build");
    return s;
  }

 private:
  Model model_;
};

std::unique_ptr<ModelRunner> make_gnn_runner(const std::string& path) {
  const layers::GnnModelConfig config = io::load_gnn_json(path);
  if (config.kind == layers::GnnModelConfig::Kind::particlenet) {
    return std::make_unique<GnnRunner<layers::ParticleNet<float>>>(config.particlenet);
  }
  return std::make_unique<GnnRunner<layers::GravNetModel<float>>>(config.gravnet);
}

}  // namespace

void register_gnn_runners() { register_loader(io::ModelFormat::portml_gnn_json, make_gnn_runner); }

}  // namespace portml::cli
