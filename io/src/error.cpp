// SPDX-License-Identifier: Apache-2.0
#include <portml/io/error.hpp>

#include <utility>

namespace portml::io {

namespace {
std::string compose(const std::string& file, const std::string& where, const std::string& message) {
  std::string s = file.empty() ? std::string("<memory>") : file;
  if (!where.empty()) s += ": " + where;
  return s + ": " + message;
}
}  // namespace

FormatError::FormatError(std::string file, std::string where, std::string message)
    : Error(compose(file, where, message)),
      file_(std::move(file)),
      where_(std::move(where)),
      message_(std::move(message)) {}

}  // namespace portml::io
