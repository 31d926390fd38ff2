// SPDX-License-Identifier: Apache-2.0
// The lines of docs/errors.md on graph inputs and atomic writes that the fixture tests do not reach:
// a graph .npz whose arrays are missing, of the wrong rank or type, or whose offsets do not start at
// 0, end at the node count or increase; a graph CSV without a feature column; a failed write_npy.
// The archives are written here (stored ZIP members, real CRC-32) so each differs from a valid one
// in exactly the checked property.
#include <gtest/gtest.h>

#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <portml/io/error.hpp>
#include <portml/io/table.hpp>

namespace portml::io {
namespace {

std::string temp_path(const std::string& name) { return ::testing::TempDir() + "portml_graph_input_" + name; }

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const FormatError& e) {
    return e.what();
  }
  return "no FormatError";
}

void put16(std::string& s, std::uint32_t v) {
  s.push_back(static_cast<char>(v & 0xff));
  s.push_back(static_cast<char>((v >> 8) & 0xff));
}

void put32(std::string& s, std::uint32_t v) {
  put16(s, v & 0xffff);
  put16(s, v >> 16);
}

//! A version 1.0 .npy file: `descr` ('<i8', '<f8'), the shape as a Python tuple, the raw data.
std::string npy(const std::string& descr, const std::string& shape, const std::string& data) {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + header.size() + 1) % 64 != 0) header.push_back(' ');
  header.push_back('\n');
  std::string s = "\x93NUMPY";
  s.push_back('\x01');
  s.push_back('\x00');
  put16(s, static_cast<std::uint32_t>(header.size()));
  return s + header + data;
}

template <class T>
std::string bytes_of(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

std::string i8(const std::vector<std::int64_t>& v) {
  std::string shape = "(";  // appended, not "(" + ...: GCC 12 warns (-Wrestrict) on that form
  shape += std::to_string(v.size());
  shape += ",)";
  return npy("<i8", shape, bytes_of(v));
}

std::string f8(const std::vector<double>& v, const std::string& shape) { return npy("<f8", shape, bytes_of(v)); }

//! A ZIP archive of stored members (what numpy.savez writes), written to `path`.
void write_npz(const std::string& path, const std::vector<std::pair<std::string, std::string>>& members) {
  std::string zip, central;
  for (const auto& [name, content] : members) {
    const auto crc = static_cast<std::uint32_t>(
        crc32(0L, reinterpret_cast<const Bytef*>(content.data()), static_cast<uInt>(content.size())));
    const auto size = static_cast<std::uint32_t>(content.size());
    const auto offset = static_cast<std::uint32_t>(zip.size());
    put32(zip, 0x04034b50);
    put16(zip, 20);
    put16(zip, 0);
    put16(zip, 0);  // stored
    put32(zip, 0);  // time, date
    put32(zip, crc);
    put32(zip, size);
    put32(zip, size);
    put16(zip, static_cast<std::uint32_t>(name.size()));
    put16(zip, 0);
    zip += name + content;
    put32(central, 0x02014b50);
    put16(central, 20);
    put16(central, 20);
    put16(central, 0);
    put16(central, 0);
    put32(central, 0);
    put32(central, crc);
    put32(central, size);
    put32(central, size);
    put16(central, static_cast<std::uint32_t>(name.size()));
    put16(central, 0);
    put16(central, 0);
    put16(central, 0);
    put16(central, 0);
    put32(central, 0);
    put32(central, offset);
    central += name;
  }
  const auto cd_offset = static_cast<std::uint32_t>(zip.size());
  zip += central;
  put32(zip, 0x06054b50);
  put16(zip, 0);
  put16(zip, 0);
  put16(zip, static_cast<std::uint32_t>(members.size()));
  put16(zip, static_cast<std::uint32_t>(members.size()));
  put32(zip, static_cast<std::uint32_t>(central.size()));
  put32(zip, cd_offset);
  put16(zip, 0);
  std::ofstream(path, std::ios::binary) << zip;
}

// x: 4 nodes, 2 features.
const std::string x_4x2 = f8({1, 2, 3, 4, 5, 6, 7, 8}, "(4, 2)");

TEST(GraphNpz, ValidArchiveWrittenHereIsRead) {
  // The writer above makes archives the reader accepts: the failures below are the checked property.
  const std::string path = temp_path("ok.npz");
  write_npz(path, {{"x.npy", x_4x2}, {"offsets.npy", i8({0, 1, 1, 4})}});
  const GraphInput g = read_graph_input(path);
  EXPECT_EQ(g.x.rows, 4);
  EXPECT_EQ(g.x.cols, 2);
  EXPECT_EQ(g.offsets, (std::vector<std::int64_t>{0, 1, 1, 4}));
  EXPECT_EQ(g.event_ids, (std::vector<std::int64_t>{0, 1, 2}));
  std::filesystem::remove(path);
}

TEST(GraphNpz, RejectsMissingArraysWrongRanksAndBadOffsets) {
  const std::string path = temp_path("bad.npz");
  const auto error = [&](const std::vector<std::pair<std::string, std::string>>& members) {
    write_npz(path, members);
    return error_of([&] { read_graph_input(path); });
  };
  EXPECT_EQ(error({{"x.npy", x_4x2}}),
            path + ": a graph input .npz needs the arrays 'x' [nodes, features] and 'offsets' [events + 1]");
  EXPECT_EQ(error({{"x.npy", f8({1, 2, 3, 4}, "(4,)")}, {"offsets.npy", i8({0, 4})}}),
            path + ": array 'x': must be 2-D [nodes, features]");
  // offsets 2-D, of floats, or empty
  EXPECT_EQ(error({{"x.npy", x_4x2}, {"offsets.npy", npy("<i8", "(1, 2)", bytes_of(std::vector<std::int64_t>{0, 4}))}}),
            path + ": array 'offsets': must be a 1-D integer array of events + 1 entries");
  EXPECT_EQ(error({{"x.npy", x_4x2}, {"offsets.npy", f8({0, 4}, "(2,)")}}),
            path + ": array 'offsets': must be a 1-D integer array of events + 1 entries");
  EXPECT_EQ(error({{"x.npy", x_4x2}, {"offsets.npy", i8({})}}),
            path + ": array 'offsets': must be a 1-D integer array of events + 1 entries");
  // from 0 to the node count
  EXPECT_EQ(error({{"x.npy", x_4x2}, {"offsets.npy", i8({1, 4})}}),
            path + ": array 'offsets': must start at 0 and end at the number of nodes (4)");
  EXPECT_EQ(error({{"x.npy", x_4x2}, {"offsets.npy", i8({0, 2, 5})}}),
            path + ": array 'offsets': must start at 0 and end at the number of nodes (4)");
  // not decreasing; the message names the first bad entry
  EXPECT_EQ(error({{"x.npy", x_4x2}, {"offsets.npy", i8({0, 3, 1, 4})}}),
            path + ": array 'offsets', entry 2: offsets must not decrease");
  std::filesystem::remove(path);
}

TEST(GraphCsv, NeedsAnEventIdAndAFeatureColumn) {
  const std::string path = temp_path("one_column.csv");
  std::ofstream(path, std::ios::binary) << "1\n2\n";
  EXPECT_EQ(error_of([&] { read_graph_input(path); }),
            path + ": line 1: a graph CSV needs an event id column and at least one feature");
  std::filesystem::remove(path);
  EXPECT_NE(error_of([] { read_graph_input("events.txt"); }).find("use a .csv or .npz file"), std::string::npos);
}

TEST(Npy, FailedWriteLeavesNoFile) {
  // write_npy writes through a temporary renamed on success: a failed write leaves nothing behind.
  const std::string path = "/nonexistent-dir/out.npy";
  EXPECT_NE(error_of([&] {
              write_npy(path, Table{1, 1, {1.0}}, DType::float32);
            }).find("cannot create file"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".portml-tmp"));
}

}  // namespace
}  // namespace portml::io
