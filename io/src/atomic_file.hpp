// SPDX-License-Identifier: Apache-2.0
// Private to portml::io: writes a file completely or not at all (a temporary beside it, renamed on
// commit, removed if never committed).
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include <portml/io/error.hpp>

namespace portml::io::detail {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path) : path_(std::move(path)), tmp_(path_ + ".portml-tmp") {
    file_ = std::fopen(tmp_.c_str(), "wb");
    if (file_ == nullptr) throw FormatError(path_, "", std::string("cannot create file: ") + std::strerror(errno));
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile() {
    if (file_ != nullptr) std::fclose(file_);
    if (!committed_) std::remove(tmp_.c_str());
  }

  void write(std::string_view bytes) {
    if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) {
      throw FormatError(path_, "", std::string("write error: ") + std::strerror(errno));
    }
  }
  void commit() {
    const int rc = std::fclose(file_);
    file_ = nullptr;
    if (rc != 0) throw FormatError(path_, "", std::string("write error: ") + std::strerror(errno));
    if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
      throw FormatError(path_, "", std::string("cannot rename the temporary file: ") + std::strerror(errno));
    }
    committed_ = true;
  }

 private:
  std::string path_, tmp_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

}  // namespace portml::io::detail
