// SPDX-License-Identifier: Apache-2.0
//! \file
//! Dense: y = act(x · Wᵀ + b), one fused GEMM call (bias and element-wise activation in the epilogue,
//! Softmax as a row pass after it). Weights are packed once, at construction.
#pragma once

#include <array>
#include <cassert>
#include <span>
#include <string>
#include <vector>

#include <portml/kernels/gemm.hpp>
#include <portml/layers/normalization.hpp>

namespace portml::layers {

//! A fully connected layer. Immutable after construction; forward() is const and re-entrant.
template <class T>
class Dense {
 public:
  Dense() = default;

  //! \param weights  outputs × inputs, row-major (the PyTorch / ONNX Gemm(transB=1) / lwtnn layout)
  //! \param bias     outputs values, or empty for none
  //! \param provider the GEMM provider the layer is built for: GemmProvider::openblas also keeps W
  //!                 row-major for cblas (NotSupported in a build without PORTML_ENABLE_OPENBLAS); which
  //!                 provider runs is chosen per call (GemmConfig::provider of forward)
  Dense(index_t inputs, index_t outputs, std::span<const double> weights, std::span<const double> bias,
        const kernels::ActivationSpec& activation, kernels::GemmProvider provider = kernels::GemmProvider::portml)
      : activation_(activation) {
    if (inputs < 0 || outputs < 0 || weights.size() != static_cast<std::size_t>(inputs * outputs)) {
      throw ShapeError("portml::layers::Dense: " + std::to_string(weights.size()) + " weights for " +
                       std::to_string(inputs) + " inputs and " + std::to_string(outputs) + " outputs");
    }
    if (!bias.empty() && bias.size() != static_cast<std::size_t>(outputs)) {
      throw ShapeError("portml::layers::Dense: " + std::to_string(bias.size()) + " biases for " +
                       std::to_string(outputs) + " outputs");
    }
    if (provider == kernels::GemmProvider::openblas && !PORTML_ENABLE_OPENBLAS) {
      throw NotSupported(kernels::gemm_detail::openblas_not_built("portml::layers::Dense"));
    }
    Tensor<T, 2> w({inputs, outputs});
    for (index_t o = 0; o < outputs; ++o)
      for (index_t i = 0; i < inputs; ++i) w(i, o) = static_cast<T>(weights[static_cast<std::size_t>(o * inputs + i)]);
    weights_ = kernels::PackedWeights<T>(w.view(), provider == kernels::GemmProvider::openblas);
    for (const double b : bias) bias_.push_back(static_cast<T>(b));
    ep_ = epilogue_params();
    row_plans_ = row_plans(weights_);
  }

  // Copies re-point the epilogue at their own bias (moves keep the vector's buffer, and so the pointer).
  Dense(const Dense& other)
      : weights_(other.weights_),
        bias_(other.bias_),
        activation_(other.activation_),
        ep_(epilogue_params()),
        row_plans_(other.row_plans_) {}
  Dense& operator=(const Dense& other) {
    if (this != &other) {
      weights_ = other.weights_;
      bias_ = other.bias_;
      activation_ = other.activation_;
      ep_ = epilogue_params();
      row_plans_ = other.row_plans_;
    }
    return *this;
  }
  Dense(Dense&&) noexcept = default;
  Dense& operator=(Dense&&) noexcept = default;
  ~Dense() = default;

  index_t inputs() const { return weights_.rows(); }
  index_t outputs() const { return weights_.cols(); }
  const kernels::ActivationSpec& activation() const { return activation_; }
  const kernels::PackedWeights<T>& weights() const { return weights_; }
  //! The bias (outputs values), or empty for none.
  std::span<const T> bias() const { return bias_; }

  //! y [M, outputs] = act(x [M, inputs] · Wᵀ + b). y must not overlap x.
  template <Backend B>
  void forward(Queue<B>& q, TensorView<const T, 2> x, TensorView<T, 2> y, const kernels::GemmConfig& cfg = {}) const {
    kernels::gemm(q, x, weights_, y, kernels::epilogue::Precomputed<T>{&ep_}, cfg);
    row_activation(y);
  }

  //! forward without the shape checks, for a caller that checked them once for several layers
  //! (Mlp::forward): x [M, inputs], y [M, outputs] with unit column stride, not overlapping x;
  //! `isa` = kernels::resolve_isa(cfg.isa). Same bits as forward.
  template <Backend B>
  void forward_prechecked(Queue<B>& q, const TensorView<const T, 2>& x, const TensorView<T, 2>& y, Isa isa,
                          const kernels::GemmConfig& cfg) const {
    kernels::gemm_prechecked(q, x, weights_, y, ep_, isa, cfg);
    row_activation(y);
  }

  //! One row: y[0, outputs) = act(x · Wᵀ + b), x[k] at x + k · x_col_stride (kernels::gemm_one_row), for
  //! a caller that checked the shapes (Mlp::forward at batch 1); `isa` resolved. Same bits as forward.
  void forward_row(const T* x, index_t x_col_stride, T* y, Isa isa) const {
    assert(isa != Isa::automatic);  // the plans are per resolved ISA (index: the enumerator − 1)
    kernels::gemm_one_row(row_plans_[static_cast<std::size_t>(isa) - 1], x, x_col_stride, weights_, y, ep_);
    row_activation(TensorView<T, 2>(y, {1, outputs()}));
  }

 private:
  kernels::PackedWeights<T> weights_;
  std::vector<T> bias_;
  kernels::ActivationSpec activation_{};
  kernels::EpilogueParams<T> ep_{};  //!< bias + the element-wise activation (softmax runs as a row pass)
  //! forward_row's row-kernel calls on Isa::scalar, avx2 and avx512 (index: the enumerator − 1).
  std::array<kernels::OneRowPlan<T>, 3> row_plans_{};

  static std::array<kernels::OneRowPlan<T>, 3> row_plans(const kernels::PackedWeights<T>& w) {
    static_assert(static_cast<int>(Isa::scalar) == 1 && static_cast<int>(Isa::avx2) == 2 &&
                  static_cast<int>(Isa::avx512) == 3);
    return {kernels::OneRowPlan<T>(Isa::scalar, w), kernels::OneRowPlan<T>(Isa::avx2, w),
            kernels::OneRowPlan<T>(Isa::avx512, w)};
  }

  //! The row softmax on the GEMM's output y, in place: the one activation the epilogue cannot apply.
  void row_activation(const TensorView<T, 2>& y) const {
    if (!activation_.elementwise()) activation_rows<T>(y, y, activation_);
  }
  //! The activation the GEMM applies: the element-wise one, or none before a row softmax.
  kernels::ActivationSpec gemm_activation() const {
    return activation_.elementwise() ? activation_ : kernels::ActivationSpec{};
  }
  kernels::EpilogueParams<T> epilogue_params() const {
    return kernels::make_epilogue_params<T>(nullptr, bias_.empty() ? nullptr : bias_.data(), gemm_activation());
  }
};

}  // namespace portml::layers
