// SPDX-License-Identifier: Apache-2.0
//! \file
//! lwtnn's sequential JSON format (the `lwtnn::JSONConfig` that keras2json.py writes) → MlpConfig.
//!
//! Supported: inputs with offset and scale (y = (x + offset) · scale), layers "dense" and
//! "normalization" (y = W ⊙ (x + b), lwtnn's BatchNorm), activations linear, rectified, sigmoid, tanh,
//! softmax, hard_sigmoid (Keras 2: clip(0.2x + 0.5)), elu, leakyrelu, swish with alpha 1 (SiLU), as a name
//! or as {"function": name, "alpha": a}. Anything else is a FormatError naming the layer.
#pragma once

#include <string>
#include <string_view>

#include <portml/layers/mlp_config.hpp>

namespace portml::io {

//! Parses lwtnn sequential JSON text; `file` names the source in errors.
layers::MlpConfig parse_lwtnn_json(std::string_view text, const std::string& file);

//! Reads and parses an lwtnn sequential JSON file. Throws FormatError naming the file and the position
//! (byte offset of a syntax error, or the JSON path of a bad value, e.g. "layers[2].weights").
layers::MlpConfig load_lwtnn_json(const std::string& path);

}  // namespace portml::io
