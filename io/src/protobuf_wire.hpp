// SPDX-License-Identifier: Apache-2.0
// A bounded reader of the protobuf wire format (varints, fixed32/64, length-delimited fields). Every read
// is checked against the end of its message, so malformed input throws WireError, never reads outside
// the buffer. It knows nothing of any schema: the ONNX loader names the fields it wants.
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

namespace portml::io::wire {

//! A violation of the wire format at byte `offset` of the file.
class WireError : public std::runtime_error {
 public:
  WireError(std::size_t offset, const std::string& what) : std::runtime_error(what), offset_(offset) {}
  std::size_t offset() const { return offset_; }

 private:
  std::size_t offset_;
};

enum class WireType : std::uint8_t { Varint = 0, Fixed64 = 1, Bytes = 2, Fixed32 = 5 };

//! One field of a message: its number, wire type and value (a number, or the bytes of a submessage,
//! a string or a packed array, with their offset in the file).
struct Field {
  std::uint32_t number = 0;
  WireType type = WireType::Varint;
  std::uint64_t value = 0;  //!< Varint, Fixed64, Fixed32
  std::string_view bytes;   //!< Bytes
  std::size_t offset = 0;   //!< of the field's value in the file
};

//! Reads the fields of one message in order.
class Reader {
 public:
  //! `message` lies at `base` bytes into the file (for error positions).
  Reader(std::string_view message, std::size_t base) : data_(message), base_(base) {}

  bool done() const { return pos_ >= data_.size(); }
  std::size_t offset() const { return base_ + pos_; }

  Field next() {
    const std::size_t start = offset();
    const std::uint64_t key = varint();
    Field f;
    f.number = static_cast<std::uint32_t>(key >> 3);
    if (f.number == 0 || key >> 3 > 0x1FFFFFFF) throw WireError(start, "invalid field number");
    f.offset = offset();
    switch (key & 7) {
      case 0:
        f.type = WireType::Varint;
        f.value = varint();
        break;
      case 1:
        f.type = WireType::Fixed64;
        f.value = fixed(8);
        break;
      case 2: {
        f.type = WireType::Bytes;
        const std::uint64_t n = varint();
        if (n > data_.size() - pos_) throw WireError(f.offset, "length " + std::to_string(n) + " past the end");
        f.offset = offset();
        f.bytes = data_.substr(pos_, static_cast<std::size_t>(n));
        pos_ += static_cast<std::size_t>(n);
        break;
      }
      case 5:
        f.type = WireType::Fixed32;
        f.value = fixed(4);
        break;
      default:
        throw WireError(start, "unsupported wire type " + std::to_string(key & 7));
    }
    return f;
  }

  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) throw WireError(offset(), "truncated varint");
      const auto byte = static_cast<std::uint8_t>(data_[pos_++]);
      v |= static_cast<std::uint64_t>(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) return v;
    }
    throw WireError(offset(), "varint longer than 10 bytes");
  }

 private:
  std::uint64_t fixed(std::size_t n) {
    if (data_.size() - pos_ < n) throw WireError(offset(), "truncated fixed-width value");
    std::uint64_t v = 0;
    std::memcpy(&v, data_.data() + pos_, n);  // little-endian hosts (x86-64, AArch64)
    pos_ += n;
    return v;
  }

  std::string_view data_;
  std::size_t base_;
  std::size_t pos_ = 0;
};

//! A submessage field as a Reader positioned at its first byte.
inline Reader sub(const Field& f) {
  if (f.type != WireType::Bytes) throw WireError(f.offset, "expected a length-delimited field");
  return Reader(f.bytes, f.offset);
}

inline std::int64_t as_int64(const Field& f) {
  if (f.type != WireType::Varint) throw WireError(f.offset, "expected a varint");
  return static_cast<std::int64_t>(f.value);
}

inline float as_float(const Field& f) {
  if (f.type != WireType::Fixed32) throw WireError(f.offset, "expected a 32-bit float");
  const auto bits = static_cast<std::uint32_t>(f.value);
  float x;
  std::memcpy(&x, &bits, 4);
  return x;
}

inline std::string as_string(const Field& f) {
  if (f.type != WireType::Bytes) throw WireError(f.offset, "expected a string");
  return std::string(f.bytes);
}

}  // namespace portml::io::wire
