// SPDX-License-Identifier: Apache-2.0
//! \file
//! The error of every file portml reads: which file, where in it, and what was expected there.
#pragma once

#include <string>

#include <portml/core/error.hpp>

namespace portml::io {

//! A file that cannot be read, or is not valid in the format being read. `what()` is
//! "<file>: <where>: <message>", e.g. "model.onnx: node 'fc1' (op Gemm): unsupported attribute transA=1".
class FormatError : public Error {
 public:
  //! \param file    the path as the caller gave it
  //! \param where   a position ("byte 120", "line 4, column 7") or a node/tree name; may be empty
  //! \param message what is wrong or what was expected
  FormatError(std::string file, std::string where, std::string message);

  const std::string& file() const { return file_; }
  const std::string& where() const { return where_; }
  const std::string& message() const { return message_; }

 private:
  std::string file_, where_, message_;
};

}  // namespace portml::io
