// SPDX-License-Identifier: Apache-2.0
//! \file
//! The exception types of portml. Every error a caller can trigger with bad input is one of these;
//! the message names the operation and the offending values.
#pragma once

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace portml {

//! Base of every exception portml throws.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

//! Operand shapes do not fit the operation (the message names the operation and both shapes).
class ShapeError : public Error {
 public:
  using Error::Error;
};

//! An index is outside the valid range (bounds-checked element access, gather indices, offsets).
class IndexError : public Error {
 public:
  using Error::Error;
};

//! A GPU runtime call failed (the message names the call, the file and the line).
class BackendError : public Error {
 public:
  using Error::Error;
};

//! The backend was compiled in, but no device is present at run time.
class DeviceUnavailable : public BackendError {
 public:
  using BackendError::BackendError;
};

//! The operation is valid but this backend or layout does not implement it.
class NotSupported : public Error {
 public:
  using Error::Error;
};

namespace detail {

//! "[3, 4]" for extents {3, 4}.
template <class Index, std::size_t Rank>
std::string format_shape(const std::array<Index, Rank>& extents) {
  std::string s = "[";
  for (std::size_t d = 0; d < Rank; ++d) {
    if (d != 0) s += ", ";
    s += std::to_string(extents[d]);
  }
  return s + "]";
}

}  // namespace detail
}  // namespace portml
