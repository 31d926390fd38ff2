// SPDX-License-Identifier: Apache-2.0
// CSV, .npy and .npz reading and writing against files written by NumPy (test/data/io/make_fixtures.py).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <portml/io/error.hpp>
#include <portml/io/format.hpp>
#include <portml/io/table.hpp>

namespace portml::io {
namespace {

const std::string data_dir = PORTML_TEST_DATA "/io/";

std::string temp_path(const std::string& name) { return ::testing::TempDir() + "portml_table_test_" + name; }

void write_text(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const FormatError& e) {
    return e.what();
  }
  return "no FormatError";
}

const float x_f4[3][3] = {{1.5f, -2.25f, NAN}, {3.0e-38f, 1.0e30f, -0.0f}, {7.0f, 8.125f, 9.0f}};

//! The fixture's values; `as_float` compares after conversion to float32 (what a CSV round trip keeps).
void expect_x(const Table& t, double scale, bool as_float = false) {
  ASSERT_EQ(t.rows, 3);
  ASSERT_EQ(t.cols, 3);
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) {
      const double want = static_cast<double>(x_f4[r][c]) * scale;
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(t(r, c)));
      } else {
        EXPECT_EQ(as_float ? static_cast<float>(t(r, c)) : t(r, c), as_float ? static_cast<float>(want) : want)
            << r << "," << c;
        EXPECT_EQ(std::signbit(t(r, c)), std::signbit(want));
      }
    }
  }
}

TEST(Npy, ReadsNumPyFiles) {
  const NpyArray a = read_npy(data_dir + "f4_c.npy");
  EXPECT_EQ(a.dtype, DType::float32);
  EXPECT_EQ(a.shape, (std::vector<index_t>{3, 3}));
  expect_x(to_table(a, "f4_c.npy", "array"), 1.0);
  // Fortran order is reordered to C order.
  expect_x(read_table(data_dir + "f8_fortran.npy"), 3.0);
  const NpyArray i8 = read_npy(data_dir + "i8_1d.npy");
  EXPECT_EQ(i8.integer, (std::vector<std::int64_t>{0, 2, 2, 5}));
  const Table col = to_table(i8, "i8_1d.npy", "array");
  EXPECT_EQ(col.rows, 4);
  EXPECT_EQ(col.cols, 1);
  EXPECT_EQ(read_npy(data_dir + "i4_2d.npy").integer, (std::vector<std::int64_t>{1, -2, 3, 4}));
  EXPECT_NE(error_of([] { read_npy(data_dir + "u1.npy"); }).find("unsupported dtype '|u1'"), std::string::npos);
}

TEST(Npy, WritesTheBytesNumPyWrites) {
  const Table t = read_table(data_dir + "f4_c.npy");
  const std::string out = temp_path("f4.npy");
  write_npy(out, t, DType::float32);
  EXPECT_EQ(read_file(out), read_file(data_dir + "f4_c.npy"));
  std::remove(out.c_str());
}

TEST(Npy, RejectsDamagedFiles) {
  const std::string good = read_file(data_dir + "f4_c.npy");
  const std::string truncated = temp_path("truncated.npy");
  write_text(truncated, good.substr(0, good.size() - 5));
  EXPECT_NE(error_of([&] { read_npy(truncated); }).find("bytes of data, expected 36"), std::string::npos);
  const auto npy_with_header = [](const std::string& h) {
    return std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(h.size()) + '\0' + h;
  };
  write_text(truncated, npy_with_header("{'descr': '<f4', 'shape': (2, 2), }"));
  EXPECT_NE(error_of([&] { read_npy(truncated); }).find("'fortran_order'"), std::string::npos);
  // An absurd shape is rejected before anything is allocated.
  write_text(truncated,
             npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }"));
  EXPECT_NE(error_of([&] { read_npy(truncated); }).find("needs more data than the file holds"), std::string::npos);
  write_text(truncated, "hello");
  EXPECT_NE(error_of([&] { read_npy(truncated); }).find("not a .npy file"), std::string::npos);
  std::remove(truncated.c_str());
}

TEST(Npz, ReadsStoredAndCompressedArchives) {
  for (const char* name : {"graph.npz", "graph_compressed.npz"}) {
    const auto arrays = read_npz(data_dir + name);
    ASSERT_EQ(arrays.size(), 2u) << name;
    EXPECT_EQ(arrays.at("offsets").integer, (std::vector<std::int64_t>{0, 2, 2, 5}));
    const GraphInput g = read_graph_input(data_dir + name);
    EXPECT_EQ(g.x.rows, 5);
    EXPECT_EQ(g.x.cols, 3);
    EXPECT_EQ(g.x(4, 2), 14.0 / 4);
    EXPECT_EQ(g.offsets, (std::vector<std::int64_t>{0, 2, 2, 5}));
    EXPECT_EQ(g.event_ids, (std::vector<std::int64_t>{0, 1, 2}));
  }
}

TEST(Npz, RejectsCorruptArchives) {
  std::string zip = read_file(data_dir + "graph.npz");
  zip[120] = static_cast<char>(zip[120] ^ 0x40);  // inside the first member's data
  const std::string bad = temp_path("bad.npz");
  write_text(bad, zip);
  EXPECT_NE(error_of([&] { read_npz(bad); }).find("bad.npz"), std::string::npos);
  // Found by fuzz_npz: a deflated member declaring a huge size must not be allocated.
  write_text(bad, read_file(PORTML_TEST_DATA "/../fuzz/corpus/fuzz_npz/regression-oom-declared-size"));
  EXPECT_NE(error_of([&] { read_npz(bad); }).find("impossible for"), std::string::npos);
  write_text(bad, "PK not really");
  EXPECT_NE(error_of([&] { read_npz(bad); }).find("not a .npz file"), std::string::npos);
  std::remove(bad.c_str());
}

TEST(Csv, ParsesNumbersAndMissingValues) {
  const std::string path = temp_path("in.csv");
  write_text(path, "1,2.5,-3e2\r\n nan , ,+inf\n-0,1e-45,NaN\n");
  const Table t = read_csv(path);
  ASSERT_EQ(t.rows, 3);
  ASSERT_EQ(t.cols, 3);
  EXPECT_EQ(t(0, 2), -300.0);
  EXPECT_TRUE(std::isnan(t(1, 0)));
  EXPECT_TRUE(std::isnan(t(1, 1)));
  EXPECT_EQ(t(1, 2), INFINITY);
  EXPECT_TRUE(std::signbit(t(2, 0)));
  EXPECT_TRUE(std::isnan(t(2, 2)));
  std::remove(path.c_str());
}

TEST(Csv, ErrorsNameFileLineAndColumn) {
  const std::string path = temp_path("bad.csv");
  write_text(path, "1,2,3\n4,abc,6\n");
  EXPECT_EQ(error_of([&] { read_csv(path); }), path + ": line 2, column 2: cannot parse 'abc' as a number");
  write_text(path, "1,2,3\n4,5,6\n7,8\n");
  EXPECT_EQ(error_of([&] { read_csv(path); }), path + ": line 3: 2 columns, expected 3 (as on line 1)");
  write_text(path, "1,2,3 4\n");
  EXPECT_NE(error_of([&] { read_csv(path); }).find("cannot parse '3 4'"), std::string::npos);
  write_text(path, "");
  EXPECT_EQ(error_of([&] { read_csv(path); }), path + ": no rows");
  std::remove(path.c_str());
  EXPECT_NE(error_of([] { read_table("model.txt"); }).find("use a .csv or .npy file"), std::string::npos);
}

TEST(Csv, RoundTripsFloat32ExactlyWithNineDigits) {
  const Table t = read_table(data_dir + "f4_c.npy");
  const std::string csv = temp_path("rt.csv"), npy = temp_path("rt.npy");
  write_table(csv, t, 9, DType::float32);
  expect_x(read_table(csv), 1.0, true);  // %.9g: every float32 value comes back bit for bit
  write_table(npy, read_table(csv), 9, DType::float32);
  EXPECT_EQ(read_file(npy), read_file(data_dir + "f4_c.npy"));  // CSV -> npy gives NumPy's bytes
  std::remove(csv.c_str());
  std::remove(npy.c_str());
}

TEST(Csv, FailedWriteLeavesNoFile) {
  const std::string path = "/nonexistent-dir/out.csv";
  EXPECT_NE(error_of([&] { write_csv(path, Table{1, 1, {1.0}}); }).find("cannot create file"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(path + ".portml-tmp"));
}

TEST(GraphCsv, EventIdColumnGroupsRows) {
  const std::string path = temp_path("graph.csv");
  write_text(path, "7,1,2\n7,3,4\n3,5,6\n9,7,8\n9,9,10\n");
  const GraphInput g = read_graph_input(path);
  EXPECT_EQ(g.x.cols, 2);
  EXPECT_EQ(g.offsets, (std::vector<std::int64_t>{0, 2, 3, 5}));
  EXPECT_EQ(g.event_ids, (std::vector<std::int64_t>{7, 3, 9}));
  write_text(path, "1,1\n2,1\n1,1\n");
  EXPECT_EQ(error_of([&] { read_graph_input(path); }),
            path + ": line 3: event 1 appears again after event 2; the rows of one event must be contiguous");
  write_text(path, "1.5,1\n");
  EXPECT_EQ(error_of([&] { read_graph_input(path); }), path + ": line 1, column 1: the event id must be an integer");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace portml::io
