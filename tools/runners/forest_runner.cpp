// SPDX-License-Identifier: Apache-2.0
// Forests (XGBoost JSON and UBJSON, LightGBM text, TMVA XML) in the command-line tool: predictions as the trainer's own
// predict() gives them, or raw margins with --margin. On a host backend through bdt::predict_margins; on a GPU
// backend (cuda, hip) through a DeviceForest: the margins on the device (the host's bits), TMVA's input
// transformations and the output transform (probabilities) on the host, as the host session applies them.
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <portml/bdt/device_forest.hpp>
#include <portml/bdt/forest.hpp>
#include <portml/bdt/predict.hpp>
#include <portml/io/forest_loaders.hpp>

#include "../cli/device_backends.hpp"
#include "../cli/host_backends.hpp"
#include "../cli/model_runner.hpp"
#include "../cli/options.hpp"

namespace portml::cli {

namespace {

//! out [rows, ...] = the margins [rows, num_outputs()] (`margin`) or the predictions the trainer gives
//! (bdt::apply_transform of each row's margins; `prediction` holds prediction_width() values).
template <class Value>
void write_outputs(const bdt::Forest<Value>& forest, bool margin, const Value* margins, std::span<Value> prediction,
                   TensorView<double, 2> out) {
  const index_t k = forest.num_outputs();
  for (index_t r = 0; r < out.extent(0); ++r) {
    const std::span<const Value> row(margins + r * k, static_cast<std::size_t>(k));
    if (margin) {
      for (index_t c = 0; c < k; ++c) out(r, c) = row[static_cast<std::size_t>(c)];
    } else {
      bdt::apply_transform(forest, row, prediction);
      for (std::size_t c = 0; c < prediction.size(); ++c) out(r, static_cast<index_t>(c)) = prediction[c];
    }
  }
}

template <class Value, class B>
class ForestSession final : public Session {
 public:
  ForestSession(const bdt::Forest<Value>& forest, int threads, index_t max_rows, bool margin)
      : forest_(forest),
        queue_(make_host_queue<B>(threads)),
        margin_(margin),
        margins_(static_cast<std::size_t>(max_rows * forest.num_outputs())),
        prediction_(static_cast<std::size_t>(forest.prediction_width())) {}

  void run(TensorView<const float, 2> x, TensorView<double, 2> out) override {
    const index_t rows = x.extent(0), k = forest_.num_outputs();
    const TensorView<Value, 2> m(margins_.data(), {rows, k});
    if (rows == 1 && x.stride(1) == 1) {  // the library's batch-1 path (same margins, no block of rows)
      bdt::predict_margins_row(forest_, std::span<const float>(&x(0, 0), static_cast<std::size_t>(x.extent(1))),
                               std::span<Value>(margins_.data(), static_cast<std::size_t>(k)));
    } else {
      bdt::predict_margins(queue_, forest_, x, m);
    }
    write_outputs(forest_, margin_, margins_.data(), std::span<Value>(prediction_), out);
  }

 private:
  const bdt::Forest<Value>& forest_;
  Queue<B> queue_;
  bool margin_;
  std::vector<Value> margins_, prediction_;
};

//! A forest on GPU backend B: the device copy of the forest and the device buffers for max_rows rows made
//! once; run() copies the rows in, launches, copies the margins out and waits (what a user pays per batch).
//! A forest with input transformations (TMVA) has its rows transformed on the host first.
template <class Value, class B>
class ForestDeviceSession final : public Session {
  using Space = memory_space_t<B>;

 public:
  ForestDeviceSession(const bdt::Forest<Value>& forest, index_t max_rows, bool margin)
      : forest_(forest),
        queue_(make_device_queue<B>()),
        device_(queue_, forest, bdt::inputs_transformed_by_caller),
        margin_(margin),
        x_({max_rows, forest.num_features()}),
        m_({max_rows, forest.num_outputs()}),
        staging_(static_cast<std::size_t>(max_rows * forest.num_features())),
        transform_work_(forest.input_transform().workspace_size()),
        margins_(static_cast<std::size_t>(max_rows * forest.num_outputs())),
        prediction_(static_cast<std::size_t>(forest.prediction_width())) {}

  void run(TensorView<const float, 2> x, TensorView<double, 2> out) override {
    const index_t rows = x.extent(0), nf = forest_.num_features(), k = forest_.num_outputs();
    const TensorView<float, 2, Space> xd(x_.data(), {rows, nf});
    const TensorView<Value, 2, Space> md(m_.data(), {rows, k});
    if (forest_.input_transform().empty()) {
      copy_rows_to_device<B, float>(queue_, xd, x, std::span<float>(staging_));
    } else {
      const TensorView<float, 2> xt(staging_.data(), {rows, nf});
      bdt::transform_inputs(forest_.input_transform(), x, xt, std::span<float>(transform_work_));
      deep_copy(queue_, xd, TensorView<const float, 2>(xt));
    }
    bdt::predict_margins(queue_, device_, TensorView<const float, 2, Space>(xd), md);
    deep_copy(queue_, TensorView<Value, 2>(margins_.data(), {rows, k}), TensorView<const Value, 2, Space>(md));
    queue_.wait();
    write_outputs(forest_, margin_, margins_.data(), std::span<Value>(prediction_), out);
  }

 private:
  const bdt::Forest<Value>& forest_;
  Queue<B> queue_;
  bdt::DeviceForest<Value, B> device_;
  bool margin_;
  Tensor<float, 2, Space> x_;
  Tensor<Value, 2, Space> m_;
  std::vector<float> staging_, transform_work_;
  std::vector<Value> margins_, prediction_;
};

template <class Value>
class ForestRunner final : public ModelRunner {
 public:
  explicit ForestRunner(const bdt::ForestConfig& config) : forest_(config) {}

  std::string describe() const override {
    return "forest from " + forest_.source() + ": " + std::to_string(forest_.num_trees()) + " trees, depth " +
           std::to_string(forest_.max_depth()) + ", " + std::to_string(forest_.num_features()) + " features, " +
           (forest_.objective().empty() ? std::string("no objective") : forest_.objective()) + ", " +
           bdt::to_string(forest_.layout()) + " layout";
  }
  index_t input_width() const override { return forest_.num_features(); }
  index_t output_width(bool margin) const override {
    return margin ? forest_.num_outputs() : forest_.prediction_width();
  }
  bool has_margin() const override { return true; }
  io::DType output_dtype() const override {
    return std::is_same_v<Value, float> ? io::DType::float32 : io::DType::float64;
  }
  std::vector<std::string> backends() const override { return all_backend_names(); }

  std::unique_ptr<Session> session(const std::string& backend, int threads, index_t max_rows, bool margin,
                                   const std::string&) const override {  // no GEMM
    std::unique_ptr<Session> s;
    with_host_backend(
        backend, [&]<class B>() { s = std::make_unique<ForestSession<Value, B>>(forest_, threads, max_rows, margin); });
    with_device_backend(
        backend, [&]<class B>() { s = std::make_unique<ForestDeviceSession<Value, B>>(forest_, max_rows, margin); });
    if (!s) throw UsageError("no backend '" + backend + "' in this build");
    return s;
  }

 private:
  bdt::Forest<Value> forest_;
};

std::unique_ptr<ModelRunner> make_forest_runner(const bdt::ForestConfig& config) {
  if (config.precision == bdt::Precision::float32) return std::make_unique<ForestRunner<float>>(config);
  return std::make_unique<ForestRunner<double>>(config);
}

}  // namespace

void register_forest_runners() {
  register_loader(io::ModelFormat::xgboost_json,
                  [](const std::string& path) { return make_forest_runner(io::load_xgboost_json(path)); });
  register_loader(io::ModelFormat::xgboost_ubjson,
                  [](const std::string& path) { return make_forest_runner(io::load_xgboost_ubjson(path)); });
  register_loader(io::ModelFormat::lightgbm_text,
                  [](const std::string& path) { return make_forest_runner(io::load_lightgbm_text(path)); });
  register_loader(io::ModelFormat::tmva_xml,
                  [](const std::string& path) { return make_forest_runner(io::load_tmva_xml(path)); });
}

}  // namespace portml::cli
