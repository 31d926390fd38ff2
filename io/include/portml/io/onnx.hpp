// SPDX-License-Identifier: Apache-2.0
//! \file
//! ONNX → MlpConfig for the feed-forward subset PyTorch and Keras exporters write (opsets 11 to 18).
//!
//! The file is read by a small bounded reader of the protobuf wire format (src/protobuf_wire.hpp), not by
//! libprotobuf: it links into any framework, including ones that already load ONNX Runtime or another
//! copy of the ONNX schema, without protobuf descriptor-registry clashes, and it checks every length
//! against the bytes that remain, so a malformed file is a FormatError and never a crash.
//!
//! Supported nodes, in a chain from the graph input to the graph output: Gemm (alpha = beta = 1,
//! transA = 0), MatMul with a constant weight (+ Add of a constant bias), Relu, LeakyRelu, Elu, Selu
//! (default constants), Sigmoid, Tanh, Softmax (last axis), HardSigmoid, Clip, Sigmoid → Mul (SiLU),
//! Div/Mul → Erf → Add 1 → Mul x → Mul 0.5 (exact GELU), BatchNormalization, LayerNormalization (last
//! axis), Add/Sub/Mul/Div by a constant per-feature vector or scalar, Flatten/Reshape to [batch, n],
//! Identity, Dropout, Constant. Anything else is a FormatError naming the node and the op.
#pragma once

#include <string>
#include <string_view>

#include <portml/layers/mlp_config.hpp>

namespace portml::io {

//! Parses an ONNX ModelProto held in `bytes`; `file` names it in errors.
layers::MlpConfig parse_onnx(std::string_view bytes, const std::string& file);

//! Reads and parses an ONNX file.
layers::MlpConfig load_onnx(const std::string& path);

}  // namespace portml::io
