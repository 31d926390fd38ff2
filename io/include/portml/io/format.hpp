// SPDX-License-Identifier: Apache-2.0
//! \file
//! Reading files and telling model formats apart by their content (never by the file name).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace portml::io {

enum class ModelFormat {
  unknown,
  onnx,            //!< ONNX ModelProto (protobuf binary)
  lwtnn_json,      //!< lwtnn sequential or graph JSON
  xgboost_json,    //!< XGBoost JSON model
  xgboost_ubjson,  //!< XGBoost UBJSON model
  lightgbm_text,   //!< LightGBM text model
  tmva_xml,        //!< TMVA XML weight file (plain or gzip-compressed)
  portml_gnn_json  //!< portml's GNN model JSON
};

//! "onnx", "lwtnn-json", ... ("unknown" for ModelFormat::unknown).
const char* to_string(ModelFormat format);

//! The format of a file whose first bytes are `head` (a gzip stream is looked into).
ModelFormat detect_format(std::span<const std::byte> head);

//! The format of the file at `path`; throws FormatError if it cannot be read.
ModelFormat detect_format_file(const std::string& path);

//! The whole content of `path` (gunzipped when it is a gzip stream). Throws FormatError when the file
//! cannot be opened or read, or is larger than `max_bytes`.
std::string read_file(const std::string& path, std::size_t max_bytes = std::size_t(1) << 31);

//! Whether `data` starts with the gzip magic bytes.
bool is_gzip(std::string_view data);

//! Inflates a gzip stream; `file` names it in errors. Throws FormatError on corrupt data or when the
//! output would exceed `max_bytes`.
std::string gunzip(std::string_view data, const std::string& file, std::size_t max_bytes = std::size_t(1) << 31);

}  // namespace portml::io
