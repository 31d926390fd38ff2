// SPDX-License-Identifier: Apache-2.0
// MLPs (ONNX, lwtnn JSON) in the command-line tool: the model's forward in float32, as PyTorch's and
// ONNX Runtime's default float32 inference computes it. On a host backend through layers::Mlp, its products
// on portml's kernels or (`--gemm openblas`, builds with PORTML_ENABLE_OPENBLAS) on OpenBLAS's, through a
// copy of the model built for that provider (docs/dense.md §6b); on a GPU backend (cuda, hip) through a
// DeviceMlp (the same layers as kernels of the device; the device compilers contract multiply-adds, so the
// last bits may differ from the host's).
#include <memory>
#include <new>
#include <span>
#include <string>
#include <vector>

#include <portml/io/lwtnn.hpp>
#include <portml/io/onnx.hpp>
#include <portml/layers/device_mlp.hpp>
#include <portml/layers/mlp.hpp>

#include "../cli/device_backends.hpp"
#include "../cli/host_backends.hpp"
#include "../cli/model_runner.hpp"
#include "../cli/options.hpp"

namespace portml::cli {

namespace {

//! An MLP on host backend B, its products on the GEMM provider the model was built for.
template <class B>
class MlpSession final : public Session {
 public:
  MlpSession(std::shared_ptr<const layers::Mlp<float>> model, kernels::GemmProvider provider, int threads,
             index_t max_rows)
      : model_(std::move(model)),
        queue_(make_host_queue<B>(threads)),
        workspace_bytes_(model_->workspace_bytes(queue_, max_rows)),  // a block per thread
        workspace_(static_cast<std::byte*>(::operator new (workspace_bytes_, std::align_val_t{64}))),
        y_(static_cast<std::size_t>(max_rows * model_->output_size())) {
    gemm_.provider = provider;
  }
  ~MlpSession() override { ::operator delete (workspace_, std::align_val_t{64}); }
  MlpSession(const MlpSession&) = delete;
  MlpSession& operator=(const MlpSession&) = delete;

  void run(TensorView<const float, 2> x, TensorView<double, 2> out) override {
    const index_t rows = x.extent(0), width = model_->output_size();
    const TensorView<float, 2> y(y_.data(), {rows, width});
    // GemmProvider::openblas: what OpenBLAS refuses (its own threads) is a NotSupported from here, thrown on
    // this thread before any work (Mlp::forward checks it first).
    model_->forward(queue_, x, y, std::span<std::byte>(workspace_, model_->workspace_bytes(queue_, rows)), gemm_);
    for (index_t r = 0; r < rows; ++r)
      for (index_t c = 0; c < width; ++c) out(r, c) = y(r, c);
  }

 private:
  std::shared_ptr<const layers::Mlp<float>> model_;
  kernels::GemmConfig gemm_;
  Queue<B> queue_;
  std::size_t workspace_bytes_;
  std::byte* workspace_;
  std::vector<float> y_;
};

//! An MLP on GPU backend B: the device copy of the weights, device buffers for max_rows rows and the device
//! workspace made once; run() copies the rows in, launches, copies the outputs out and waits.
template <class B>
class MlpDeviceSession final : public Session {
  using Space = memory_space_t<B>;

 public:
  MlpDeviceSession(const layers::Mlp<float>& model, index_t max_rows)
      : queue_(make_device_queue<B>()),
        device_(queue_, model),
        x_({max_rows, model.input_size()}),
        y_({max_rows, model.output_size()}),
        workspace_({static_cast<index_t>(device_.workspace_bytes(max_rows))}),
        staging_(static_cast<std::size_t>(max_rows * model.input_size())),
        y_host_(static_cast<std::size_t>(max_rows * model.output_size())) {}

  void run(TensorView<const float, 2> x, TensorView<double, 2> out) override {
    const index_t rows = x.extent(0), width = device_.output_size();
    const TensorView<float, 2, Space> xd(x_.data(), {rows, device_.input_size()});
    const TensorView<float, 2, Space> yd(y_.data(), {rows, width});
    const TensorView<float, 2> y(y_host_.data(), {rows, width});
    copy_rows_to_device<B, float>(queue_, xd, x, std::span<float>(staging_));
    device_.forward(queue_, TensorView<const float, 2, Space>(xd), yd, workspace_.view());
    deep_copy(queue_, y, TensorView<const float, 2, Space>(yd));
    queue_.wait();
    for (index_t r = 0; r < rows; ++r)
      for (index_t c = 0; c < width; ++c) out(r, c) = y(r, c);
  }

 private:
  Queue<B> queue_;
  layers::DeviceMlp<float, B> device_;
  Tensor<float, 2, Space> x_, y_;
  Tensor<std::byte, 1, Space> workspace_;
  std::vector<float> staging_, y_host_;
};

class MlpRunner final : public ModelRunner {
 public:
  MlpRunner(layers::MlpConfig config, std::string format)
      : config_(std::move(config)),
        model_(std::make_shared<const layers::Mlp<float>>(config_)),
        format_(std::move(format)) {}

  std::string describe() const override {
    return format_ + " MLP: " + std::to_string(model_->input_size()) + " inputs, " +
           std::to_string(model_->output_size()) + " outputs, " + std::to_string(model_->step_count()) +
           " fused layers";
  }
  index_t input_width() const override { return model_->input_size(); }
  index_t output_width(bool) const override { return model_->output_size(); }
  std::vector<std::string> backends() const override { return all_backend_names(); }
  std::vector<std::string> gemm_providers() const override {
    if (PORTML_ENABLE_OPENBLAS) return {"portml", "openblas"};
    return {"portml"};
  }

  std::unique_ptr<Session> session(const std::string& backend, int threads, index_t max_rows, bool,
                                   const std::string& gemm) const override {
    std::unique_ptr<Session> s;
    if (gemm == "openblas") {
      // A copy of the model built for OpenBLAS (each Dense also keeps its weights row-major for cblas), owned
      // by the session: made only when asked for. NotSupported in a build without PORTML_ENABLE_OPENBLAS.
      const auto model = std::make_shared<const layers::Mlp<float>>(config_, kernels::GemmProvider::openblas);
      with_host_backend(backend, [&]<class B>() {
        s = std::make_unique<MlpSession<B>>(model, kernels::GemmProvider::openblas, threads, max_rows);
      });
      if (!s)
        throw UsageError("--gemm openblas: the OpenBLAS provider runs on the host backends only, not on --backend " +
                         backend);
      return s;
    }
    if (gemm != "portml") throw UsageError("--gemm: unknown GEMM provider '" + gemm + "' (portml or openblas)");
    with_host_backend(backend, [&]<class B>() {
      s = std::make_unique<MlpSession<B>>(model_, kernels::GemmProvider::portml, threads, max_rows);
    });
    with_device_backend(backend, [&]<class B>() { s = std::make_unique<MlpDeviceSession<B>>(*model_, max_rows); });
    if (!s) throw UsageError("no backend '" + backend + "' in this build");
    return s;
  }

 private:
  layers::MlpConfig config_;                         //!< kept for the copies built for OpenBLAS
  std::shared_ptr<const layers::Mlp<float>> model_;  //!< built for portml's kernels (the default)
  std::string format_;
};

}  // namespace

void register_mlp_runners() {
  register_loader(io::ModelFormat::onnx,
                  [](const std::string& path) { return std::make_unique<MlpRunner>(io::load_onnx(path), "ONNX"); });
  register_loader(io::ModelFormat::lwtnn_json, [](const std::string& path) {
    return std::make_unique<MlpRunner>(io::load_lwtnn_json(path), "lwtnn");
  });
}

}  // namespace portml::cli
