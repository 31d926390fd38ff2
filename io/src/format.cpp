// SPDX-License-Identifier: Apache-2.0
#include <portml/io/error.hpp>
#include <portml/io/format.hpp>

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace portml::io {

namespace {

//! Bytes looked at to tell formats apart.
constexpr std::size_t sniff_bytes = 64 * 1024;

bool contains(std::string_view s, std::string_view needle) { return s.find(needle) != std::string_view::npos; }

std::string_view skip_space_and_bom(std::string_view s) {
  if (s.size() >= 3 && static_cast<unsigned char>(s[0]) == 0xEF && static_cast<unsigned char>(s[1]) == 0xBB &&
      static_cast<unsigned char>(s[2]) == 0xBF) {
    s.remove_prefix(3);
  }
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  return s;
}

//! An ONNX ModelProto starts with field 1 (ir_version, varint) and continues with other fields of
//! ModelProto (producer_name, graph, opset_import...).
bool looks_like_onnx(std::string_view s) {
  if (s.size() < 4 || s[0] != '\x08') return false;
  const auto ir_version = static_cast<unsigned char>(s[1]);
  if (ir_version < 1 || ir_version > 30) return false;
  const auto next_tag = static_cast<unsigned char>(s[2]);
  // wire type 2 (length-delimited) fields 2..8, or field 5 model_version (varint).
  return next_tag == 0x12 || next_tag == 0x1a || next_tag == 0x22 || next_tag == 0x28 || next_tag == 0x32 ||
         next_tag == 0x3a || next_tag == 0x42;
}

ModelFormat detect_text(std::string_view raw) {
  if (looks_like_onnx(raw)) return ModelFormat::onnx;
  const std::string_view s = skip_space_and_bom(raw);
  if (s.empty()) return ModelFormat::unknown;
  if (s.front() == '<') return contains(s, "<MethodSetup") ? ModelFormat::tmva_xml : ModelFormat::unknown;
  if (s.front() == '{') {
    const char marker = s.size() > 1 ? s[1] : '\0';
    // UBJSON object keys start with an integer length marker; JSON keys with a quote or space.
    if (std::strchr("iUIlL$#", marker) != nullptr && marker != '\0') {
      return contains(s, "learner") ? ModelFormat::xgboost_ubjson : ModelFormat::unknown;
    }
    if (contains(s, "\"learner\"")) return ModelFormat::xgboost_json;
    // docs/gnn.md: "format": "portml-gnn" (what tools/export_gnn.py writes).
    if (contains(s, "\"portml-gnn\"")) return ModelFormat::portml_gnn_json;
    if (contains(s, "\"layers\"") && (contains(s, "\"architecture\"") || contains(s, "\"nodes\""))) {
      return ModelFormat::lwtnn_json;
    }
    return ModelFormat::unknown;
  }
  const std::string_view first_line = s.substr(0, s.find('\n'));
  if (first_line == "tree" || first_line == "tree\r") return ModelFormat::lightgbm_text;
  return ModelFormat::unknown;
}

}  // namespace

const char* to_string(ModelFormat format) {
  switch (format) {
    case ModelFormat::onnx:
      return "onnx";
    case ModelFormat::lwtnn_json:
      return "lwtnn-json";
    case ModelFormat::xgboost_json:
      return "xgboost-json";
    case ModelFormat::xgboost_ubjson:
      return "xgboost-ubjson";
    case ModelFormat::lightgbm_text:
      return "lightgbm-text";
    case ModelFormat::tmva_xml:
      return "tmva-xml";
    case ModelFormat::portml_gnn_json:
      return "portml-gnn-json";
    case ModelFormat::unknown:
      break;
  }
  return "unknown";
}

bool is_gzip(std::string_view data) {
  return data.size() >= 2 && static_cast<unsigned char>(data[0]) == 0x1f && static_cast<unsigned char>(data[1]) == 0x8b;
}

std::string gunzip(std::string_view data, const std::string& file, std::size_t max_bytes) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) throw FormatError(file, "", "cannot initialise zlib");
  std::string out;
  char buf[1 << 16];
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(std::min<std::size_t>(data.size(), 0xffffffffu));
  int rc = Z_OK;
  do {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      const std::string msg = zs.msg != nullptr ? zs.msg : "corrupt data";
      const auto at = zs.total_in;
      inflateEnd(&zs);
      throw FormatError(file, "compressed byte " + std::to_string(at), "invalid gzip stream: " + msg);
    }
    out.append(buf, sizeof buf - zs.avail_out);
    if (out.size() > max_bytes) {
      inflateEnd(&zs);
      throw FormatError(file, "", "decompressed size exceeds the limit of " + std::to_string(max_bytes) + " bytes");
    }
  } while (rc != Z_STREAM_END && (zs.avail_in > 0 || zs.avail_out == 0));
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) throw FormatError(file, "end of file", "truncated gzip stream");
  return out;
}

ModelFormat detect_format(std::span<const std::byte> head) {
  const std::string_view s(reinterpret_cast<const char*>(head.data()), head.size());
  if (!is_gzip(s)) return detect_text(s.substr(0, sniff_bytes));
  // Inflate only the beginning: enough to see the format.
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) return ModelFormat::unknown;
  std::string out(sniff_bytes, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(s.data()));
  zs.avail_in = static_cast<uInt>(std::min<std::size_t>(s.size(), 0xffffffffu));
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&zs, Z_SYNC_FLUSH);
  out.resize(out.size() - zs.avail_out);
  inflateEnd(&zs);
  if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) return ModelFormat::unknown;
  return detect_text(out);
}

std::string read_file(const std::string& path, std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FormatError(path, "", std::string("cannot open file: ") + std::strerror(errno));
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) throw FormatError(path, "", "cannot determine the file size");
  if (static_cast<std::size_t>(size) > max_bytes) {
    throw FormatError(
        path, "",
        "file of " + std::to_string(size) + " bytes exceeds the limit of " + std::to_string(max_bytes) + " bytes");
  }
  in.seekg(0, std::ios::beg);
  std::string data(static_cast<std::size_t>(size), '\0');
  if (!in.read(data.data(), size)) throw FormatError(path, "", "read error");
  if (is_gzip(data)) return gunzip(data, path, max_bytes);
  return data;
}

ModelFormat detect_format_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FormatError(path, "", std::string("cannot open file: ") + std::strerror(errno));
  std::string head(sniff_bytes, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<std::size_t>(in.gcount()));
  return detect_format(std::as_bytes(std::span(head.data(), head.size())));
}

}  // namespace portml::io
