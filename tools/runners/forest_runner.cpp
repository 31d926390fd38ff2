// SPDX-License-Identifier: Apache-2.0
// Forests (XGBoost JSON and UBJSON, LightGBM text, TMVA XML) in the command-line tool: predictions as the trainer's own
// predict() gives them, or raw margins with --margin.
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <portml/bdt/forest.hpp>
#include <portml/bdt/predict.hpp>
#include <portml/io/forest_loaders.hpp>

#include "../cli/host_backends.hpp"
#include "../cli/model_runner.hpp"
#include "../cli/options.hpp"

namespace portml::cli {

namespace {

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
    for (index_t r = 0; r < rows; ++r) {
      const std::span<const Value> row(margins_.data() + r * k, static_cast<std::size_t>(k));
      if (margin_) {
        for (index_t c = 0; c < k; ++c) out(r, c) = row[static_cast<std::size_t>(c)];
      } else {
        bdt::apply_transform(forest_, row, std::span<Value>(prediction_));
        for (std::size_t c = 0; c < prediction_.size(); ++c) out(r, static_cast<index_t>(c)) = prediction_[c];
      }
    }
  }

 private:
  const bdt::Forest<Value>& forest_;
  Queue<B> queue_;
  bool margin_;
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
  std::vector<std::string> backends() const override { return host_backend_names(); }

  std::unique_ptr<Session> session(const std::string& backend, int threads, index_t max_rows,
                                   bool margin) const override {
    std::unique_ptr<Session> s;
    with_host_backend(
        backend, [&]<class B>() { s = std::make_unique<ForestSession<Value, B>>(forest_, threads, max_rows, margin); });
    if (!s)
      throw UsageError("forests run on the host backends (" +
                       [&] {
                         std::string names;
                         for (const auto& n : backends()) names += (names.empty() ? "" : ", ") + n;
                         return names;
                       }() +
                       "), not on '" + backend + "'");
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
