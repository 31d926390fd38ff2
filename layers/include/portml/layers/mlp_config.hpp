// SPDX-License-Identifier: Apache-2.0
//! \file
//! Plain configuration structures of a feed-forward model, as the loaders (portml::io) produce them:
//! numbers in double, no file format, no kernel types. Mlp<T> is built from an MlpConfig.
#pragma once

#include <string>
#include <vector>

#include <portml/core/tensor_view.hpp>
#include <portml/kernels/activation.hpp>

namespace portml::layers {

//! One layer of a sequential model.
struct LayerConfig {
  enum class Kind {
    Dense,       //!< y = act(W x + b); weights [out][in] row-major (PyTorch/ONNX Gemm/lwtnn layout)
    BatchNorm,   //!< y = act((x − mean) / √(var + eps) · gamma + beta); folded into a preceding linear Dense
    Affine,      //!< y = act((x + offset) ⊙ scale + shift)  (input normalisation, lwtnn "normalization")
    LayerNorm,   //!< y = act((x − mean_row) / √(var_row + eps) · gamma + beta), biased variance
    Activation,  //!< y = act(x), including Softmax over the row
  };
  Kind kind = Kind::Dense;
  index_t inputs = 0;
  index_t outputs = 0;
  std::vector<double> weights;                      //!< Dense: outputs × inputs
  std::vector<double> bias;                         //!< Dense
  std::vector<double> mean, variance, gamma, beta;  //!< BatchNorm (all four), LayerNorm (gamma, beta)
  std::vector<double> offset, scale, shift;         //!< Affine (each empty = 0 / 1 / 0)
  double epsilon = 1e-5;                            //!< BatchNorm, LayerNorm
  kernels::ActivationSpec activation{};             //!< applied after the layer
  std::string name;                                 //!< for error messages (node or layer name)
};

//! One named input; the model's input row is the concatenation of its inputs in this order.
struct InputConfig {
  std::string name;
  index_t size = 1;
};

//! A sequential model.
struct MlpConfig {
  std::vector<InputConfig> inputs;
  std::vector<LayerConfig> layers;
  std::string output_name = "output";
  std::vector<std::string> output_labels;  //!< optional, one per output column (lwtnn "outputs")
};

}  // namespace portml::layers
