// SPDX-License-Identifier: Apache-2.0
// NumPy .npy and .npz files: a strict reader of the format (header dict, little-endian numeric
// types, C or Fortran order) and of the ZIP container numpy.savez writes (stored or deflated
// members, CRC-checked).
#include <portml/io/error.hpp>
#include <portml/io/format.hpp>
#include <portml/io/table.hpp>

#include <zlib.h>

#include <bit>
#include <charconv>
#include <cstring>
#include <limits>
#include <string_view>

#include "atomic_file.hpp"

namespace portml::io {

static_assert(std::endian::native == std::endian::little, "portml::io reads .npy data as little-endian");

namespace {

constexpr std::string_view npy_magic("\x93NUMPY", 6);

std::string byte_at(std::size_t offset) { return "byte " + std::to_string(offset); }

//! The Python-literal dict of a .npy header: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& file, std::size_t base) : s_(text), file_(file), base_(base) {}

  void parse(std::string& descr, bool& fortran, std::vector<index_t>& shape) {
    bool have_descr = false, have_order = false, have_shape = false;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = quoted();
      expect(':');
      if (key == "descr") {
        descr = quoted(), have_descr = true;
      } else if (key == "fortran_order") {
        fortran = boolean(), have_order = true;
      } else if (key == "shape") {
        shape = tuple(), have_shape = true;
      } else {
        fail("unknown header key '" + key + "'");
      }
      skip_space();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      skip_space();
      if (peek() != '}') fail("expected ',' or '}' in the header");
    }
    if (!have_descr || !have_order || !have_shape) fail("the header needs 'descr', 'fortran_order' and 'shape'");
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw FormatError(file_, byte_at(base_ + i_), what); }
  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n')) ++i_;
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail(std::string("expected '") + c + "' in the header");
    ++i_;
  }
  std::string quoted() {
    skip_space();
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string in the header");
    const std::size_t end = s_.find(q, i_ + 1);
    if (end == std::string_view::npos) fail("unterminated string in the header");
    std::string out(s_.substr(i_ + 1, end - i_ - 1));
    i_ = end + 1;
    return out;
  }
  bool boolean() {
    skip_space();
    if (s_.substr(i_, 4) == "True") return i_ += 4, true;
    if (s_.substr(i_, 5) == "False") return i_ += 5, false;
    fail("expected True or False in the header");
  }
  std::vector<index_t> tuple() {
    expect('(');
    std::vector<index_t> dims;
    while (true) {
      skip_space();
      if (peek() == ')') {
        ++i_;
        break;
      }
      index_t v = 0;
      const auto [end, ec] = std::from_chars(s_.data() + i_, s_.data() + s_.size(), v);
      if (ec != std::errc() || v < 0) fail("expected a non-negative integer in 'shape'");
      i_ = static_cast<std::size_t>(end - s_.data());
      dims.push_back(v);
      if (dims.size() > 8) fail("more than 8 dimensions");
      skip_space();
      if (peek() == ',') ++i_;
    }
    return dims;
  }

  std::string_view s_;
  const std::string& file_;
  std::size_t base_;
  std::size_t i_ = 0;
};

}  // namespace

NpyArray parse_npy(std::string_view data, const std::string& file) {
  if (data.size() < 10 || data.substr(0, 6) != npy_magic)
    throw FormatError(file, byte_at(0), "not a .npy file (bad magic)");
  const auto major = static_cast<unsigned char>(data[6]);
  std::size_t header_len = 0, header_start = 0;
  if (major == 1) {
    header_len =
        static_cast<unsigned char>(data[8]) | (static_cast<std::size_t>(static_cast<unsigned char>(data[9])) << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (data.size() < 12) throw FormatError(file, byte_at(8), "truncated header");
    for (int b = 0; b < 4; ++b)
      header_len |= static_cast<std::size_t>(static_cast<unsigned char>(data[8 + b])) << (8 * b);
    header_start = 12;
  } else {
    throw FormatError(file, byte_at(6), "unsupported .npy format version " + std::to_string(major));
  }
  if (header_len > data.size() - header_start)
    throw FormatError(file, byte_at(8), "header length beyond the end of the file");
  std::string descr;
  bool fortran = false;
  NpyArray a;
  HeaderParser(data.substr(header_start, header_len), file, header_start).parse(descr, fortran, a.shape);
  std::size_t item = 0;
  if (descr == "<f4") {
    a.dtype = DType::float32, item = 4;
  } else if (descr == "<f8") {
    a.dtype = DType::float64, item = 8;
  } else if (descr == "<i4") {
    a.dtype = DType::int32, item = 4;
  } else if (descr == "<i8") {
    a.dtype = DType::int64, item = 8;
  } else {
    throw FormatError(file, "header", "unsupported dtype '" + descr + "' (supported: <f4, <f8, <i4, <i8)");
  }
  const std::size_t payload = data.size() - header_start - header_len;
  // Element count checked against the bytes present before anything is allocated.
  std::size_t count = 1;
  for (const index_t d : a.shape) {
    if (d != 0 && count > payload / static_cast<std::size_t>(d)) {
      throw FormatError(file, "header", "dimension " + std::to_string(d) + " needs more data than the file holds");
    }
    count *= static_cast<std::size_t>(d);
  }
  if (count * item != payload) {
    throw FormatError(file, byte_at(header_start + header_len),
                      std::to_string(payload) + " bytes of data, expected " + std::to_string(count * item) +
                          " for the shape in the header");
  }
  const char* p = data.data() + header_start + header_len;
  // Fortran order: element k of the file is index (i0, i1, ...) with i0 fastest.
  std::vector<std::size_t> order;
  if (fortran && a.shape.size() > 1) {
    order.resize(count);
    std::vector<index_t> idx(a.shape.size(), 0);
    for (std::size_t k = 0; k < count; ++k) {
      std::size_t c_index = 0;
      for (std::size_t d = 0; d < a.shape.size(); ++d)
        c_index = c_index * static_cast<std::size_t>(a.shape[d]) + static_cast<std::size_t>(idx[d]);
      order[k] = c_index;
      for (std::size_t d = 0; d < a.shape.size(); ++d) {
        if (++idx[d] < a.shape[d]) break;
        idx[d] = 0;
      }
    }
  }
  const auto dest = [&](std::size_t k) { return order.empty() ? k : order[k]; };
  if (a.dtype == DType::float32 || a.dtype == DType::float64) {
    a.real.resize(count);
    for (std::size_t k = 0; k < count; ++k) {
      if (a.dtype == DType::float32) {
        float v;
        std::memcpy(&v, p + 4 * k, 4);
        a.real[dest(k)] = v;
      } else {
        std::memcpy(&a.real[dest(k)], p + 8 * k, 8);
      }
    }
  } else {
    a.integer.resize(count);
    for (std::size_t k = 0; k < count; ++k) {
      if (a.dtype == DType::int32) {
        std::int32_t v;
        std::memcpy(&v, p + 4 * k, 4);
        a.integer[dest(k)] = v;
      } else {
        std::memcpy(&a.integer[dest(k)], p + 8 * k, 8);
      }
    }
  }
  return a;
}

namespace {

std::uint32_t le32(std::string_view s, std::size_t at) {
  std::uint32_t v = 0;
  for (int b = 0; b < 4; ++b) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + b])) << (8 * b);
  return v;
}
std::uint16_t le16(std::string_view s, std::size_t at) {
  return static_cast<std::uint16_t>(static_cast<unsigned char>(s[at]) | (static_cast<unsigned char>(s[at + 1]) << 8));
}

std::string inflate_raw(std::string_view in, std::size_t expected, const std::string& file, const std::string& where) {
  std::string out(expected, '\0');
  z_stream zs{};
  if (inflateInit2(&zs, -15) != Z_OK) throw FormatError(file, where, "cannot initialise zlib");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&zs, Z_FINISH);
  const bool ok = rc == Z_STREAM_END && zs.total_out == expected;
  inflateEnd(&zs);
  if (!ok) throw FormatError(file, where, "corrupt deflated data");
  return out;
}

}  // namespace

index_t NpyArray::size() const {
  index_t n = 1;
  for (const index_t d : shape) n *= d;
  return n;
}

NpyArray read_npy(const std::string& path) { return parse_npy(read_file(path), path); }

std::map<std::string, NpyArray> read_npz(const std::string& path) { return parse_npz(read_file(path), path); }

std::map<std::string, NpyArray> parse_npz(std::string_view z, const std::string& path) {
  // End of central directory: 22 bytes plus a comment of at most 65535 bytes, at the end.
  constexpr std::uint32_t eocd_sig = 0x06054b50, central_sig = 0x02014b50, local_sig = 0x04034b50;
  std::size_t eocd = std::string_view::npos;
  for (std::size_t back = 22; back <= z.size() && back <= 22 + 65535; ++back) {
    if (le32(z, z.size() - back) == eocd_sig) {
      eocd = z.size() - back;
      break;
    }
  }
  if (eocd == std::string_view::npos)
    throw FormatError(path, "", "not a .npz file (no ZIP end-of-central-directory record)");
  const std::size_t entries = le16(z, eocd + 10);
  const std::size_t cd_size = le32(z, eocd + 12), cd_offset = le32(z, eocd + 16);
  if (cd_offset == 0xffffffffu || entries == 0xffff)
    throw FormatError(path, byte_at(eocd), "ZIP64 archives are not supported");
  if (cd_offset > eocd || cd_size > eocd - cd_offset)
    throw FormatError(path, byte_at(eocd), "central directory outside the file");
  std::map<std::string, NpyArray> arrays;
  std::size_t at = cd_offset;
  for (std::size_t e = 0; e < entries; ++e) {
    if (at + 46 > eocd || le32(z, at) != central_sig)
      throw FormatError(path, byte_at(at), "bad central directory entry");
    const std::uint16_t method = le16(z, at + 10);
    const std::uint32_t crc = le32(z, at + 16), csize = le32(z, at + 20), usize = le32(z, at + 24);
    const std::size_t name_len = le16(z, at + 28), extra_len = le16(z, at + 30), comment_len = le16(z, at + 32);
    const std::size_t local = le32(z, at + 42);
    if (at + 46 + name_len > eocd) throw FormatError(path, byte_at(at), "entry name beyond the central directory");
    std::string name(z.substr(at + 46, name_len));
    at += 46 + name_len + extra_len + comment_len;
    const std::string where = "member '" + name + "'";
    if (local + 30 > z.size() || le32(z, local) != local_sig) throw FormatError(path, where, "bad local header");
    const std::size_t data = local + 30 + le16(z, local + 26) + le16(z, local + 28);
    if (data > z.size() || csize > z.size() - data) throw FormatError(path, where, "data beyond the end of the file");
    if (usize > (std::size_t(1) << 31)) throw FormatError(path, where, "member larger than 2 GiB");
    // Deflate expands at most 1032:1: a larger declared size is a lie, rejected before allocating.
    if (method == 8 && usize > std::size_t(1032) * csize + 64) {
      throw FormatError(
          path, where,
          "declared size " + std::to_string(usize) + " impossible for " + std::to_string(csize) + " compressed bytes");
    }
    std::string content;
    if (method == 0) {
      if (csize != usize) throw FormatError(path, where, "stored member with different sizes");
      content.assign(z.substr(data, csize));
    } else if (method == 8) {
      content = inflate_raw(z.substr(data, csize), usize, path, where);
    } else {
      throw FormatError(path, where, "unsupported compression method " + std::to_string(method));
    }
    if (crc32(0L, reinterpret_cast<const Bytef*>(content.data()), static_cast<uInt>(content.size())) != crc) {
      throw FormatError(path, where, "CRC mismatch");
    }
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0) name.resize(name.size() - 4);
    arrays[name] = parse_npy(content, path + " [" + name + "]");
  }
  return arrays;
}

void write_npy(const std::string& path, const Table& table, DType dtype) {
  if (dtype != DType::float32 && dtype != DType::float64) {
    throw FormatError(path, "", "write_npy writes float32 or float64 tables");
  }
  std::string header = "{'descr': '" + std::string(dtype == DType::float32 ? "<f4" : "<f8") +
                       "', 'fortran_order': False, 'shape': (" + std::to_string(table.rows) + ", " +
                       std::to_string(table.cols) + "), }";
  // Pad with spaces so that magic + version + length + header + '\n' is a multiple of 64 bytes.
  const std::size_t total = (10 + header.size() + 1 + 63) / 64 * 64;
  header.append(total - 10 - header.size() - 1, ' ');
  header += '\n';
  if (header.size() > 65535) throw FormatError(path, "", "header too long");
  std::string out(npy_magic);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  for (const double v : table.values) {
    if (dtype == DType::float32) {
      const float f = static_cast<float>(v);
      out.append(reinterpret_cast<const char*>(&f), 4);
    } else {
      out.append(reinterpret_cast<const char*>(&v), 8);
    }
  }
  detail::AtomicFile file(path);
  file.write(out);
  file.commit();
}

Table to_table(const NpyArray& a, const std::string& file, const std::string& what) {
  if (a.shape.empty() || a.shape.size() > 2) {
    throw FormatError(file, what, "expected a 1-D or 2-D array, got " + std::to_string(a.shape.size()) + " dimensions");
  }
  Table t;
  t.rows = a.shape[0];
  t.cols = a.shape.size() == 2 ? a.shape[1] : 1;
  if (!a.real.empty() || a.integer.empty()) {
    t.values = a.real;
  } else {
    t.values.reserve(a.integer.size());
    for (const std::int64_t v : a.integer) t.values.push_back(static_cast<double>(v));
  }
  return t;
}

}  // namespace portml::io
