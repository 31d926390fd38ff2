// SPDX-License-Identifier: Apache-2.0
//! \file
//! DeviceMlp: a copy of an immutable Mlp in the memory of backend B (GPU memory for backend::Cuda and
//! backend::Hip, host memory for the host backends), and its forward pass over inputs and outputs in that
//! memory. Weights are uploaded once, at construction; forward() is const, allocates nothing and keeps
//! its activations in a workspace in B's memory that the caller owns (workspace_bytes(batch)).
//!
//! Each step of the folded and fused model runs as one kernel written once against portml's launch API:
//!  - Dense: the shared-memory tiled GEMM (kernels/gemm_tiled.hpp) with bias and an element-wise
//!    activation fused; Softmax as a row pass after it;
//!  - per-feature affine maps (input normalisation, unfolded BatchNorm), LayerNorm and activations:
//!    one thread per row (parallel_for), the host layers' formulas operation for operation (LayerNorm's
//!    mean and variance in double, softmax with the row maximum subtracted);
//!  - Concat of several inputs: a 2-D parallel_for per input into the workspace.
//! The row and copy kernels live in normalization.hpp (next to the host row layers, and free of the host
//! GEMM headers); their CUDA and HIP instantiations are compiled into portml::cuda / portml::hip by
//! kernels/src/cuda_hip/mlp.cu, as gemm_tiled's are by gemm.cu.
//!
//! Results: each GEMM element adds its K products in the order k = 0, 1, …, K − 1 from zero, as the host
//! GEMM's kernels do. The device compilers contract a·w + s into a fused multiply-add (nvcc and
//! hip-clang by default), so GPU results differ from the host Mlp in the last bits; on host backends,
//! where the tiled kernel multiplies and adds separately like the host's scalar microkernel, the output
//! is the host Mlp's with Isa::scalar bit for bit (test/dense/device_mlp_test.cpp checks this).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <portml/config.hpp>
#include <portml/core/tensor.hpp>
#include <portml/kernels/activation.hpp>
#include <portml/kernels/gemm_tiled.hpp>
#include <portml/layers/mlp.hpp>
#include <portml/portability/launch.hpp>

namespace portml::layers {

//! A copy of an Mlp<T> in the memory of backend B: immutable, shared by every queue of that device and
//! every thread; each caller brings its own queue and workspace.
//!
//!     const layers::Mlp<float> model(io::load_onnx("tagger.onnx"));
//!     Queue<backend::Cuda> q(0);
//!     const layers::DeviceMlp<float, backend::Cuda> dmodel(q, model);        // uploads the weights once
//!     Tensor<std::byte, 1, CudaSpace> ws({index_t(dmodel.workspace_bytes(max_batch))});
//!     dmodel.forward(q, x_dev, y_dev, ws.view());                            // asynchronous; q.wait()
template <class T, Backend B>
class DeviceMlp {
 public:
  using value_type = T;
  using backend = B;
  using memory_space = memory_space_t<B>;

  //! Copies the model's folded weights and parameters on `q` and waits for the copies. Throws
  //! BackendError on a GPU error.
  DeviceMlp(Queue<B>& q, const Mlp<T>& model)
      : input_widths_(), input_size_(model.input_size()), output_size_(model.output_size()) {
    for (const auto& in : model.inputs()) input_widths_.push_back(in.size);
    for (std::size_t i = 0; i < model.step_count(); ++i) {
      const typename Mlp<T>::StepView s = model.step(i);
      Step d;
      d.kind = s.kind;
      d.outputs = s.outputs;
      d.activation = s.activation;
      d.epsilon = s.epsilon;
      if (s.kind == LayerConfig::Kind::Dense) {
        const auto& w = s.dense->weights();
        Tensor<T, 2> host({w.rows(), w.cols()});
        for (index_t k = 0; k < w.rows(); ++k)
          for (index_t j = 0; j < w.cols(); ++j) host(k, j) = w(k, j);
        d.weights = Tensor<T, 2, memory_space>(host.extents());
        deep_copy(q, d.weights.view(), host.view());
        q.wait();  // host is released at the end of this block
        d.bias = upload(q, s.dense->bias());
      } else {
        d.offset = upload(q, s.offset);
        d.scale = upload(q, s.scale);
        d.shift = upload(q, s.shift);
        d.gamma = upload(q, s.gamma);
        d.beta = upload(q, s.beta);
      }
      max_width_ = std::max(max_width_, s.outputs);
      steps_.push_back(std::move(d));
    }
    q.wait();
  }

  index_t input_size() const { return input_size_; }
  index_t output_size() const { return output_size_; }
  std::size_t step_count() const { return steps_.size(); }

  //! Bytes of workspace (in B's memory) that forward() needs for `batch` rows: two activation buffers
  //! of batch × the widest layer, and the concatenated inputs of the multi-input forward.
  std::size_t workspace_bytes(index_t batch) const {
    return 2 * buffer_bytes(batch, max_width_) + buffer_bytes(batch, input_size_);
  }

  //! y [batch, output_size] = model(x [batch, input_size]), both in B's memory (any strides).
  //! `workspace`: at least workspace_bytes(batch) bytes of B's memory aligned to alignof(T). Asynchronous
  //! on GPU queues (wait() before reading y on the host). Allocates nothing. Throws ShapeError / Error.
  void forward(Queue<B>& q, TensorView<const T, 2, memory_space> x, TensorView<T, 2, memory_space> y,
               TensorView<std::byte, 1, memory_space> workspace) const {
    const index_t batch = x.extent(0);
    if (x.extent(1) != input_size_ || y.extent(0) != batch || y.extent(1) != output_size_) {
      throw ShapeError("portml::layers::DeviceMlp::forward: input " + detail::format_shape(x.extents()) +
                       " and output " + detail::format_shape(y.extents()) + " for a model " +
                       std::to_string(input_size_) + " → " + std::to_string(output_size_));
    }
    check_workspace(workspace, batch);
    if (batch == 0) return;
    if (steps_.empty()) {
      device_detail::launch_copy<B, T>(q, x, y);
      return;
    }
    T* buffers[2] = {reinterpret_cast<T*>(workspace.data()),
                     reinterpret_cast<T*>(workspace.data() + buffer_bytes(batch, max_width_))};
    TensorView<const T, 2, memory_space> cur = x;
    for (std::size_t i = 0; i < steps_.size(); ++i) {
      const Step& s = steps_[i];
      const TensorView<T, 2, memory_space> dst =
          i + 1 == steps_.size() ? y : TensorView<T, 2, memory_space>(buffers[i % 2], {batch, s.outputs});
      run_step(q, s, cur, dst);
      cur = dst;
    }
  }

  //! The same with the model's inputs given separately (in B's memory; concatenated in order first,
  //! into the workspace).
  void forward(Queue<B>& q, std::span<const TensorView<const T, 2, memory_space>> xs, TensorView<T, 2, memory_space> y,
               TensorView<std::byte, 1, memory_space> workspace) const {
    if (xs.size() != input_widths_.size()) {
      throw ShapeError("portml::layers::DeviceMlp::forward: " + std::to_string(xs.size()) +
                       " inputs given, the model has " + std::to_string(input_widths_.size()));
    }
    const index_t batch = y.extent(0);
    for (std::size_t k = 0; k < xs.size(); ++k) {
      if (xs[k].extent(0) != batch || xs[k].extent(1) != input_widths_[k]) {
        throw ShapeError("portml::layers::DeviceMlp::forward: input " + std::to_string(k) + " is " +
                         detail::format_shape(xs[k].extents()) + ", expected [" + std::to_string(batch) + ", " +
                         std::to_string(input_widths_[k]) + "]");
      }
    }
    check_workspace(workspace, batch);
    T* joined = reinterpret_cast<T*>(workspace.data() + 2 * buffer_bytes(batch, max_width_));
    index_t col = 0;
    for (const auto& x : xs) {
      if (batch > 0 && x.extent(1) > 0) {
        device_detail::launch_copy<B, T>(
            q, x, TensorView<T, 2, memory_space>(joined + col, {batch, x.extent(1)}, {input_size_, 1}));
      }
      col += x.extent(1);
    }
    forward(q, TensorView<const T, 2, memory_space>(joined, {batch, input_size_}), y, workspace);
  }

 private:
  struct Step {
    LayerConfig::Kind kind = LayerConfig::Kind::Dense;
    index_t outputs = 0;
    Tensor<T, 2, memory_space> weights;  //!< Dense: W [K, N]
    Tensor<T, 1, memory_space> bias, offset, scale, shift, gamma, beta;
    double epsilon = 0;
    kernels::ActivationSpec activation{};
  };

  static Tensor<T, 1, memory_space> upload(Queue<B>& q, std::span<const T> host) {
    Tensor<T, 1, memory_space> t({static_cast<index_t>(host.size())});
    if (!host.empty()) {
      deep_copy(q, t.view(), TensorView<const T, 1>(host.data(), {static_cast<index_t>(host.size())}));
    }
    return t;
  }

  static const T* pointer(const Tensor<T, 1, memory_space>& t) { return t.size() == 0 ? nullptr : t.data(); }

  static std::size_t buffer_bytes(index_t rows, index_t cols) {
    const std::size_t b = sizeof(T) * static_cast<std::size_t>(rows * cols);
    return (b + 63) / 64 * 64;
  }

  void check_workspace(TensorView<std::byte, 1, memory_space> workspace, index_t batch) const {
    const auto size = static_cast<std::size_t>(workspace.extent(0));
    if (size < workspace_bytes(batch) || reinterpret_cast<std::uintptr_t>(workspace.data()) % alignof(T) != 0) {
      throw Error("portml::layers::DeviceMlp::forward: workspace of " + std::to_string(size) + " bytes, need " +
                  std::to_string(workspace_bytes(batch)) + " aligned to " + std::to_string(alignof(T)));
    }
  }

  static void run_step(Queue<B>& q, const Step& s, TensorView<const T, 2, memory_space> x,
                       TensorView<T, 2, memory_space> y) {
    using Row = device_detail::RowStepBody<T, memory_space>;
    switch (s.kind) {
      case LayerConfig::Kind::Dense: {
        const bool softmax = !s.activation.elementwise();
        kernels::gemm_tiled<B, T>(q, x, s.weights.view(), y, pointer(s.bias),
                                  softmax ? kernels::ActivationSpec{} : s.activation);
        if (softmax) {
          device_detail::launch_row_step<B, T>(
              q, Row{y, y, nullptr, nullptr, nullptr, nullptr, nullptr, 0.0, s.activation, false});
        }
        return;
      }
      case LayerConfig::Kind::Affine:
        device_detail::launch_row_step<B, T>(q, Row{x, y, pointer(s.offset), pointer(s.scale), pointer(s.shift),
                                                    nullptr, nullptr, 0.0, s.activation, false});
        return;
      case LayerConfig::Kind::LayerNorm:
        device_detail::launch_row_step<B, T>(
            q, Row{x, y, nullptr, nullptr, nullptr, pointer(s.gamma), pointer(s.beta), s.epsilon, s.activation, true});
        return;
      case LayerConfig::Kind::Activation:
      case LayerConfig::Kind::BatchNorm:
        device_detail::launch_row_step<B, T>(
            q, Row{x, y, nullptr, nullptr, nullptr, nullptr, nullptr, 0.0, s.activation, false});
        return;
    }
  }

  std::vector<index_t> input_widths_;
  std::vector<Step> steps_;
  index_t input_size_ = 0;
  index_t output_size_ = 0;
  index_t max_width_ = 0;
};

}  // namespace portml::layers
