// SPDX-License-Identifier: Apache-2.0
//! \file
//! Mlp: a sequential feed-forward model built from an MlpConfig. BatchNorm and other per-feature
//! affine layers after a linear Dense are folded into it, and activations are fused into the Dense
//! before them, at construction. The model is then immutable: forward() is const and re-entrant, all
//! scratch memory is the caller's workspace, and one instance can be shared by every thread.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <portml/layers/dense.hpp>
#include <portml/layers/mlp_config.hpp>
#include <portml/layers/normalization.hpp>
#include <portml/portability/serial.hpp>

namespace portml::layers {

template <class T>
class Mlp {
 public:
  //! Validates the shapes, folds and fuses, and packs every Dense. Throws ShapeError naming the layer.
  //! `provider`: the GEMM provider the model is built for. GemmProvider::openblas also keeps each
  //! Dense's weights row-major for cblas (twice their memory; NotSupported in a build without
  //! PORTML_ENABLE_OPENBLAS); forward still runs portml's kernels unless its GemmConfig asks for OpenBLAS.
  explicit Mlp(const MlpConfig& config, kernels::GemmProvider provider = kernels::GemmProvider::portml)
      : inputs_(config.inputs), output_name_(config.output_name), output_labels_(config.output_labels) {
    if (provider == kernels::GemmProvider::openblas && !PORTML_ENABLE_OPENBLAS) {
      throw NotSupported(kernels::gemm_detail::openblas_not_built("portml::layers::Mlp"));
    }
    for (const auto& in : inputs_) input_size_ += in.size;
    index_t width = input_size_;
    std::vector<LayerConfig> plan;  // after BatchNorm → Affine, folding and fusing
    for (const LayerConfig& original : config.layers) {
      LayerConfig layer = original.kind == LayerConfig::Kind::BatchNorm ? batch_norm_as_affine(original) : original;
      const bool after_linear_dense = !plan.empty() && plan.back().kind == LayerConfig::Kind::Dense &&
                                      plan.back().activation.kind == kernels::Activation::Linear;
      if (layer.kind == LayerConfig::Kind::Affine && after_linear_dense) {
        fold_affine_into_dense(plan.back(), layer);
        continue;
      }
      // An activation after any layer that ends linearly runs as that layer's activation.
      if (layer.kind == LayerConfig::Kind::Activation && !plan.empty() &&
          plan.back().kind != LayerConfig::Kind::Activation &&
          plan.back().activation.kind == kernels::Activation::Linear) {
        plan.back().activation = layer.activation;
        continue;
      }
      plan.push_back(std::move(layer));
    }
    for (const LayerConfig& layer : plan) {
      Step s;
      s.kind = layer.kind;
      s.activation = layer.activation;
      s.inputs = width;
      const auto check_length = [&](const std::vector<double>& v, const char* what) {
        if (!v.empty() && static_cast<index_t>(v.size()) != width) {
          throw ShapeError("portml::layers::Mlp: layer '" + layer.name + "': " + what + " has " +
                           std::to_string(v.size()) + " values for " + std::to_string(width) + " features");
        }
      };
      switch (layer.kind) {
        case LayerConfig::Kind::Dense:
          if (layer.inputs != width) {
            throw ShapeError("portml::layers::Mlp: layer '" + layer.name + "' takes " + std::to_string(layer.inputs) +
                             " inputs but receives " + std::to_string(width));
          }
          s.dense = Dense<T>(layer.inputs, layer.outputs, layer.weights, layer.bias, layer.activation, provider);
          flops_per_row_ += 2.0 * static_cast<double>(layer.inputs) * static_cast<double>(layer.outputs);
          width = layer.outputs;
          break;
        case LayerConfig::Kind::Affine:
          check_length(layer.offset, "offset");
          check_length(layer.scale, "scale");
          check_length(layer.shift, "shift");
          s.offset = cast(layer.offset);
          s.scale = cast(layer.scale);
          s.shift = cast(layer.shift);
          break;
        case LayerConfig::Kind::LayerNorm:
          check_length(layer.gamma, "gamma");
          check_length(layer.beta, "beta");
          s.gamma = cast(layer.gamma);
          s.beta = cast(layer.beta);
          s.epsilon = layer.epsilon;
          break;
        case LayerConfig::Kind::Activation:
        case LayerConfig::Kind::BatchNorm:
          break;
      }
      s.outputs = width;
      max_width_ = std::max(max_width_, width);
      steps_.push_back(std::move(s));
    }
    output_size_ = width;
    const index_t rows = static_cast<index_t>(std::size_t{128} * 1024 / sizeof(T)) / std::max<index_t>(max_width_, 1);
    block_rows_ = std::clamp<index_t>(rows / 12 * 12, 48, 1536);
  }

  index_t input_size() const { return input_size_; }
  index_t output_size() const { return output_size_; }
  const std::vector<InputConfig>& inputs() const { return inputs_; }
  const std::string& output_name() const { return output_name_; }
  const std::vector<std::string>& output_labels() const { return output_labels_; }
  //! Layers after folding and fusing (what forward runs).
  std::size_t step_count() const { return steps_.size(); }

  //! A read-only view of one step after folding and fusing: what copies of the model run (DeviceMlp).
  struct StepView {
    LayerConfig::Kind kind;  //!< Dense, Affine, LayerNorm or Activation (BatchNorm is an Affine by now)
    index_t inputs, outputs;
    const Dense<T>* dense;  //!< Dense only
    std::span<const T> offset, scale, shift, gamma, beta;
    double epsilon;
    kernels::ActivationSpec activation;  //!< after the step (Dense: its own activation)
  };
  //! Step i < step_count().
  StepView step(std::size_t i) const {
    const Step& s = steps_.at(i);
    return {s.kind,   s.inputs,  s.outputs,   s.kind == LayerConfig::Kind::Dense ? &s.dense : nullptr,
            s.offset, s.scale,   s.shift,     s.gamma,
            s.beta,   s.epsilon, s.activation};
  }
  //! The widest activation of any step (inputs included).
  index_t max_width() const { return std::max(max_width_, input_size_); }

  //! Rows that pass through all the layers together: a large batch runs in blocks of about this many
  //! rows, so a block's activations (two buffers of rows × widest layer) stay in L2 between layers
  //! instead of streaming through memory. With threads, each thread runs blocks of its own rows (of at
  //! most this many). Rows are independent, so the bits do not change.
  index_t block_rows() const { return block_rows_; }

  //! Bytes of workspace forward() needs for `batch` rows on a queue with `threads` threads (the
  //! queue's overload below says how many): a buffer for the concatenated inputs of the multi-input
  //! forward, then two activation buffers of one row block per thread. A workspace of
  //! workspace_bytes(batch) (one thread) is enough for any queue: the threads then share its buffers
  //! and run smaller row blocks (same bits, a little slower at large batch).
  std::size_t workspace_bytes(index_t batch, int threads = 1) const {
    const index_t t = std::max(threads, 1);
    const index_t rows_per_thread = (batch + t - 1) / t;
    return buffer_bytes(batch, input_size_) +
           static_cast<std::size_t>(t) * 2 * buffer_bytes(std::min(rows_per_thread, block_rows_), max_width_);
  }
  //! workspace_bytes(batch, threads) for the threads of `q` (1 for Serial, num_threads() for OpenMP,
  //! the concurrency of a Kokkos host space).
  template <Backend B>
  std::size_t workspace_bytes(const Queue<B>& q, index_t batch) const {
    return workspace_bytes(batch, kernels::gemm_detail::host_concurrency(q));
  }

  //! y [batch, output_size] = model(x [batch, input_size]). `workspace` holds at least
  //! workspace_bytes(batch) bytes aligned to alignof(T) (64 is best; workspace_bytes(q, batch) for full
  //! row blocks on every thread). Allocates nothing.
  //!
  //! Threads (only the queue's): from `cfg.min_parallel_flops` operations for the whole batch
  //! (2 · batch · Σ K·N over the Dense layers) up, the rows are cut into one contiguous range per
  //! thread, and each thread runs its range through all the layers in row blocks, in its own share of
  //! the workspace: one parallel region per call. A row's bits do not depend on the split.
  //!
  //! A batch of one through a model whose steps are all at most row_buffer (64) wide passes its
  //! activations in stack buffers and runs each Dense on its ISA's row kernel (kernels::gemm_one_row):
  //! the bits of the same row in a batch, without the row blocks' set-up.
  template <Backend B>
  void forward(Queue<B>& q, TensorView<const T, 2> x, TensorView<T, 2> y, std::span<std::byte> workspace,
               const kernels::GemmConfig& cfg = {}) const {
    const index_t batch = x.extent(0);
    if (x.extent(1) != input_size_ || y.extent(0) != batch || y.extent(1) != output_size_) {
      throw ShapeError("portml::layers::Mlp::forward: input " + detail::format_shape(x.extents()) + " and output " +
                       detail::format_shape(y.extents()) + " for a model " + std::to_string(input_size_) + " → " +
                       std::to_string(output_size_));
    }
    check_workspace(workspace, batch);
    if (steps_.empty()) {
      for (index_t r = 0; r < batch; ++r)
        for (index_t j = 0; j < input_size_; ++j) y(r, j) = x(r, j);
      return;
    }
    if (batch == 0) return;
    run_batch(q, x, y, workspace.subspan(buffer_bytes(batch, input_size_)), cfg);
  }

  //! The same with the model's inputs given separately (concatenated in order first, into the workspace).
  template <Backend B>
  void forward(Queue<B>& q, std::span<const TensorView<const T, 2>> xs, TensorView<T, 2> y,
               std::span<std::byte> workspace, const kernels::GemmConfig& cfg = {}) const {
    if (xs.size() != inputs_.size()) {
      throw ShapeError("portml::layers::Mlp::forward: " + std::to_string(xs.size()) + " inputs given, the model has " +
                       std::to_string(inputs_.size()));
    }
    const index_t batch = y.extent(0);
    check_workspace(workspace, batch);
    const TensorView<T, 2> joined(reinterpret_cast<T*>(workspace.data()), {batch, input_size_});
    concat_columns<T>(xs, joined);
    forward(q, TensorView<const T, 2>(joined), y, workspace, cfg);  // the buffers come after the joined inputs
  }

 private:
  struct Step {
    LayerConfig::Kind kind = LayerConfig::Kind::Dense;
    index_t inputs = 0, outputs = 0;
    Dense<T> dense;
    std::vector<T> offset, scale, shift, gamma, beta;
    double epsilon = 0;
    kernels::ActivationSpec activation{};
  };

  static std::vector<T> cast(const std::vector<double>& v) { return std::vector<T>(v.begin(), v.end()); }

  static std::size_t buffer_bytes(index_t rows, index_t cols) {
    const std::size_t b = sizeof(T) * static_cast<std::size_t>(rows * cols);
    return (b + 63) / 64 * 64;
  }

  void check_workspace(std::span<std::byte> workspace, index_t batch) const {
    if (workspace.size() < workspace_bytes(batch) ||
        reinterpret_cast<std::uintptr_t>(workspace.data()) % alignof(T) != 0) {
      throw Error("portml::layers::Mlp::forward: workspace of " + std::to_string(workspace.size()) + " bytes, need " +
                  std::to_string(workspace_bytes(batch)) + " aligned to " + std::to_string(alignof(T)));
    }
  }

  //! Rows of a block that `bytes` of buffer space hold (two buffers, each 64-byte aligned), at most
  //! block_rows(): a thread's share of the workspace when the rows are split between threads.
  index_t block_capacity(std::size_t bytes) const {
    const std::size_t row = sizeof(T) * static_cast<std::size_t>(std::max<index_t>(max_width_, 1));
    return std::min(block_rows_, static_cast<index_t>(bytes / 2 / 64 * 64 / row));
  }

  //! All the rows of a checked, non-empty call, with `space` (the workspace after the joined inputs)
  //! for the activation buffers: on the calling thread, or split into one contiguous row range per
  //! thread, each range run through all the layers in its own equal share of `space`.
  template <Backend B>
  void run_batch(Queue<B>& q, const TensorView<const T, 2>& x, const TensorView<T, 2>& y, std::span<std::byte> space,
                 const kernels::GemmConfig& cfg) const {
    // Checked once here for all the layers: every step's shapes agree by construction, so the layers
    // run without their own checks. Only the output may have a non-unit column stride, which the GEMM
    // rejects: a Dense writing it goes through the checked call, which throws the GEMM's error (on the
    // calling thread: such an output takes no threads).
    const Isa isa = kernels::resolve_isa(cfg.isa);
    if (cfg.provider == kernels::GemmProvider::openblas) check_openblas(x, y);
    const bool y_unit_columns = y.extent(1) <= 1 || y.stride(1) == 1;
    const index_t batch = x.extent(0);
    if (batch == 1 && max_width_ <= row_buffer && y_unit_columns && cfg.provider == kernels::GemmProvider::portml) {
      run_row(q, x, y, isa, cfg);
      return;
    }
    const int threads = kernels::gemm_detail::host_concurrency(q);
    index_t chunks = 1;
    if (threads > 1 && y_unit_columns && static_cast<double>(batch) * flops_per_row_ >= cfg.min_parallel_flops) {
      // At least one full tile of rows per thread; each thread's share of the workspace must hold one.
      const index_t tile = kernels::gemm_detail::split_tile_rows(isa);
      chunks = std::min<index_t>(threads, batch / tile);
      while (chunks > 1 && block_capacity(space.size() / static_cast<std::size_t>(chunks)) < tile) --chunks;
    }
    if (chunks <= 1) {
      // The checked workspace holds two buffers of min(batch, block_rows()) rows (workspace_bytes with
      // one thread), so no division of its size by the row size (64-bit: about 8 ns of a one-layer call
      // at batch 1, docs/dense.md §7).
      run_rows(q, x, y, 0, batch, space.data(), std::min(batch, block_rows_), y_unit_columns, isa, cfg);
      return;
    }
    const std::size_t share = space.size() / static_cast<std::size_t>(chunks) / 64 * 64;
    const index_t capacity = block_capacity(share);
    parallel_for(q, Range1D{chunks}, [&](index_t c) {
      Queue<backend::Serial> serial;  // the rows are already shared out: no nested parallelism
      run_rows(serial, x, y, batch * c / chunks, batch * (c + 1) / chunks, space.data() + share * c, capacity, true,
               isa, cfg);
    });
  }

  //! The widest activation (elements) that a batch of one keeps on the stack between layers (run_row).
  static constexpr index_t row_buffer = 64;

  //! A batch of one through a model whose steps are all at most row_buffer wide (docs/dense.md §6h): each
  //! step reads the previous one's row from a stack buffer (the first reads x, the last writes y, which
  //! has unit column stride), the Dense steps through their row kernels (kernels::gemm_one_row), the
  //! others as one-row passes. The bits of run_rows, without its blocks, views and tile set-up.
  template <Backend B>
  void run_row(Queue<B>& q, const TensorView<const T, 2>& x, const TensorView<T, 2>& y, Isa isa,
               const kernels::GemmConfig& cfg) const {
    alignas(64) T buffers[2][row_buffer];
    TensorView<const T, 2> cur = x;
    for (std::size_t i = 0; i < steps_.size(); ++i) {
      const Step& s = steps_[i];
      const TensorView<T, 2> dst = i + 1 == steps_.size() ? y : TensorView<T, 2>(buffers[i % 2], {1, s.outputs});
      if (s.kind == LayerConfig::Kind::Dense) {
        s.dense.forward_row(cur.data(), cur.stride(1), dst.data(), isa);
      } else {
        run_step(q, s, cur, dst, cfg);
      }
      cur = dst;
    }
  }

  //! GemmProvider::openblas: the checks its GEMMs make, made once here on the calling thread (an
  //! exception must not leave a parallel region): the build option and OpenBLAS's threads, and whether
  //! cblas can read x (when the first step is a Dense) and write y (when the last one is). The layers
  //! in between read and write the contiguous buffers of the workspace; a thread's rows are a row
  //! range of x and y, which cblas reads and writes whenever it can for all the rows.
  void check_openblas(const TensorView<const T, 2>& x, const TensorView<T, 2>& y) const {
    kernels::gemm_detail::require_openblas("portml::layers::Mlp::forward");
#if PORTML_ENABLE_OPENBLAS
    const index_t batch = x.extent(0);
    const bool one = steps_.size() == 1;
    const Step& first = steps_.front();
    const Step& last = steps_.back();
    if (first.kind == LayerConfig::Kind::Dense) {
      kernels::gemm_detail::openblas_call(x.stride(0), x.stride(1), batch, first.dense.weights(),
                                          one ? y.stride(0) : first.outputs);
    }
    if (!one && last.kind == LayerConfig::Kind::Dense) {
      kernels::gemm_detail::openblas_call(last.inputs, index_t{1}, batch, last.dense.weights(), y.stride(0));
    }
#else
    (void)x, (void)y;
#endif
  }

  //! Rows [row_begin, row_end) through all the layers, in blocks of nearly equal size (no short last
  //! block) of at most `capacity` rows, the activations in the two buffers at `buffer_space`.
  template <Backend B>
  void run_rows(Queue<B>& q, const TensorView<const T, 2>& x, const TensorView<T, 2>& y, index_t row_begin,
                index_t row_end, std::byte* buffer_space, index_t capacity, bool y_unit_columns, Isa isa,
                const kernels::GemmConfig& cfg) const {
    const index_t rows = row_end - row_begin;
    const bool whole = rows == x.extent(0);  // one range, one block: x and y as given (the batch-1 path)
    T* buffers[2] = {reinterpret_cast<T*>(buffer_space),
                     reinterpret_cast<T*>(buffer_space + buffer_bytes(capacity, max_width_))};
    const index_t blocks = rows <= capacity ? 1 : (rows + capacity - 1) / capacity;
    index_t r0 = row_begin;
    for (index_t b = 0; b < blocks; ++b) {
      const index_t r1 = blocks == 1 ? row_end : r0 + rows / blocks + (b < rows % blocks ? 1 : 0);
      const bool as_given = whole && blocks == 1;
      TensorView<const T, 2> cur = as_given ? x : x.row_slice(r0, r1);
      for (std::size_t i = 0; i < steps_.size(); ++i) {
        const Step& s = steps_[i];
        const bool last = i + 1 == steps_.size();
        const TensorView<T, 2> dst = !last      ? TensorView<T, 2>(buffers[i % 2], {r1 - r0, s.outputs})
                                     : as_given ? y
                                                : y.row_slice(r0, r1);
        if (s.kind == LayerConfig::Kind::Dense && (!last || y_unit_columns)) {
          s.dense.forward_prechecked(q, cur, dst, isa, cfg);
        } else {
          run_step(q, s, cur, dst, cfg);
        }
        cur = dst;
      }
      r0 = r1;
    }
  }

  template <Backend B>
  static void run_step(Queue<B>& q, const Step& s, TensorView<const T, 2> x, TensorView<T, 2> y,
                       const kernels::GemmConfig& cfg) {
    switch (s.kind) {
      case LayerConfig::Kind::Dense:
        s.dense.forward(q, x, y, cfg);
        return;
      case LayerConfig::Kind::Affine:
        affine_rows<T>(x, y, s.offset, s.scale, s.shift, s.activation);
        return;
      case LayerConfig::Kind::LayerNorm:
        layer_norm_rows<T>(x, y, s.gamma, s.beta, s.epsilon, s.activation);
        return;
      case LayerConfig::Kind::Activation:
      case LayerConfig::Kind::BatchNorm:
        activation_rows<T>(x, y, s.activation);
        return;
    }
  }

  std::vector<InputConfig> inputs_;
  std::string output_name_;
  std::vector<std::string> output_labels_;
  std::vector<Step> steps_;
  index_t input_size_ = 0;
  index_t output_size_ = 0;
  index_t max_width_ = 0;
  index_t block_rows_ = 48;
  double flops_per_row_ = 0;  //!< 2·K·N summed over the Dense layers
};

}  // namespace portml::layers
