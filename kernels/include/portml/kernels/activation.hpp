// SPDX-License-Identifier: Apache-2.0
//! \file
//! Element-wise activation functions: the one definition used by the GEMM epilogues, the layers and
//! the test oracles. Each is written as the formula of the framework it must match (PyTorch / ONNX).
#pragma once

#include <cmath>
#include <string>
#include <string_view>

#include <portml/core/error.hpp>
#include <portml/core/macros.hpp>

namespace portml::kernels {

//! The activation functions of dense layers. Softmax works on whole rows and is applied by the
//! layers, never inside a GEMM epilogue.
enum class Activation {
  Linear,       //!< y = x
  Relu,         //!< y = max(x, 0)
  LeakyRelu,    //!< y = x if x > 0 else alpha·x
  Elu,          //!< y = x if x > 0 else alpha·(exp(x) − 1)
  Selu,         //!< y = λ·x if x > 0 else λ·α·(exp(x) − 1), λ = 1.0507009873554805, α = 1.6732632423543772
  Sigmoid,      //!< y = 1 / (1 + exp(−x))
  Tanh,         //!< y = tanh(x)
  Silu,         //!< y = x · sigmoid(x)  (swish)
  Gelu,         //!< y = x/2 · (1 + erf(x/√2))  (exact, erf form)
  HardSigmoid,  //!< y = max(0, min(1, alpha·x + beta))  (ONNX/Keras 2: alpha 0.2, beta 0.5; PyTorch: 1/6, 0.5)
  Softmax,      //!< y_j = exp(x_j − max x) / Σ exp(x_k − max x) over a row
  Clip,         //!< y = min(max(x, alpha), beta)  (ONNX Clip: ReLU6, Hardtanh, clamp)
};

//! An activation with its parameters (alpha/beta are ignored by the functions that have none).
struct ActivationSpec {
  Activation kind = Activation::Linear;
  double alpha = 0.0;
  double beta = 0.0;

  //! True for the functions that act on each element alone (all but Softmax).
  constexpr bool elementwise() const { return kind != Activation::Softmax; }
};

//! Default parameters: LeakyRelu 0.01 (PyTorch), Elu 1, HardSigmoid 0.2/0.5 (ONNX).
constexpr ActivationSpec make_activation(Activation kind) {
  switch (kind) {
    case Activation::LeakyRelu:
      return {kind, 0.01, 0.0};
    case Activation::Elu:
      return {kind, 1.0, 0.0};
    case Activation::HardSigmoid:
      return {kind, 0.2, 0.5};
    default:
      return {kind, 0.0, 0.0};
  }
}

//! Lower-case name, e.g. "leaky_relu".
inline const char* activation_name(Activation a) {
  switch (a) {
    case Activation::Linear:
      return "linear";
    case Activation::Relu:
      return "relu";
    case Activation::LeakyRelu:
      return "leaky_relu";
    case Activation::Elu:
      return "elu";
    case Activation::Selu:
      return "selu";
    case Activation::Sigmoid:
      return "sigmoid";
    case Activation::Tanh:
      return "tanh";
    case Activation::Silu:
      return "silu";
    case Activation::Gelu:
      return "gelu";
    case Activation::HardSigmoid:
      return "hard_sigmoid";
    case Activation::Softmax:
      return "softmax";
    case Activation::Clip:
      return "clip";
  }
  return "?";
}

//! One element through an element-wise activation. NaN propagates through every function. Softmax is
//! not element-wise: callers check ActivationSpec::elementwise() first (the GEMM epilogue and the layers
//! do) and apply softmax_row; here it returns x unchanged. Callable on host and device.
template <class T>
PORTML_HOST_DEVICE T apply_activation(const ActivationSpec& a, T x) {
  const T alpha = static_cast<T>(a.alpha);
  switch (a.kind) {
    case Activation::Linear:
      return x;
    case Activation::Relu:
      return x < T(0) ? T(0) : x;
    case Activation::LeakyRelu:
      return x > T(0) ? x : alpha * x;
    case Activation::Elu:
      return x > T(0) ? x : alpha * std::expm1(x);
    case Activation::Selu: {
      const T lambda = static_cast<T>(1.0507009873554804934193349852946);
      const T selu_alpha = static_cast<T>(1.6732632423543772848170429916717);
      return x > T(0) ? lambda * x : lambda * (selu_alpha * std::expm1(x));
    }
    case Activation::Sigmoid:
      return T(1) / (T(1) + std::exp(-x));
    case Activation::Tanh:
      return std::tanh(x);
    case Activation::Silu:
      return x / (T(1) + std::exp(-x));
    case Activation::Gelu:
      return T(0.5) * x * (T(1) + std::erf(x * static_cast<T>(0.70710678118654752440084436210485)));
    case Activation::HardSigmoid: {
      const T y = alpha * x + static_cast<T>(a.beta);
      return y < T(0) ? T(0) : (y > T(1) ? T(1) : y);
    }
    case Activation::Clip: {  // max then min, as ONNX defines it; NaN compares false and passes through
      const T lo = x < alpha ? alpha : x;
      const T hi = static_cast<T>(a.beta);
      return lo > hi ? hi : lo;
    }
    case Activation::Softmax:
      break;
  }
  return x;
}

//! Softmax of one row of `n` elements, in place (max subtracted first, so no overflow).
template <class T>
void softmax_row(T* x, long n) {
  if (n <= 0) return;
  T m = x[0];
  for (long j = 1; j < n; ++j) m = x[j] > m ? x[j] : m;
  T sum = T(0);
  for (long j = 0; j < n; ++j) {
    x[j] = std::exp(x[j] - m);
    sum += x[j];
  }
  const T inv = T(1) / sum;
  for (long j = 0; j < n; ++j) x[j] *= inv;
}

}  // namespace portml::kernels
