// SPDX-License-Identifier: Apache-2.0
//! \file
//! Tables of numbers in the files users hand to portml and get back from it: CSV and NumPy `.npy`
//! (inputs, outputs, references), `.npz` archives, and graph inputs (node rows grouped by event).
//! Every reader checks what it reads and reports a FormatError naming the file and the line, byte
//! or array; writers never leave a partial file behind.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <portml/core/tensor_view.hpp>

namespace portml::io {

//! A row-major matrix of doubles (every float32 and int32 value is exact in a double).
struct Table {
  index_t rows = 0;
  index_t cols = 0;
  std::vector<double> values;  //!< rows * cols, row-major

  double& operator()(index_t r, index_t c) { return values[static_cast<std::size_t>(r * cols + c)]; }
  double operator()(index_t r, index_t c) const { return values[static_cast<std::size_t>(r * cols + c)]; }
  TensorView<const double, 2> view() const { return {values.data(), {rows, cols}}; }
};

//! Element type of a NumPy array.
enum class DType { float32, float64, int32, int64 };

//! One NumPy array: shape and values (converted to double or int64 by element type).
struct NpyArray {
  std::vector<index_t> shape;
  DType dtype = DType::float64;
  std::vector<double> real;           //!< float32/float64 arrays, C order
  std::vector<std::int64_t> integer;  //!< int32/int64 arrays, C order
  index_t size() const;
};

//! CSV: no header, comma-separated, one row per line, `nan` or an empty field for a missing
//! value (also `inf`, `-inf`); every line must have the same number of fields.
Table read_csv(const std::string& path);
//! CSV text already in memory; `file` names it in errors.
Table parse_csv(std::string_view text, const std::string& file);

//! Writes `table` as CSV with `digits` significant digits (9 round-trips float32 exactly, 17 float64).
void write_csv(const std::string& path, const Table& table, int digits = 9);

//! A `.npy` file (format versions 1 to 3; little-endian f4, f8, i4, i8; C or Fortran order).
NpyArray read_npy(const std::string& path);
//! A `.npy` image already in memory; `file` names it in errors.
NpyArray parse_npy(std::string_view data, const std::string& file);

//! A `.npz` archive (stored or deflated members): arrays by name without the `.npy` suffix.
std::map<std::string, NpyArray> read_npz(const std::string& path);
//! A `.npz` image already in memory; `file` names it in errors.
std::map<std::string, NpyArray> parse_npz(std::string_view data, const std::string& file);

//! Writes a 2-D `.npy` file (format 1.0, C order) of float32 or float64.
void write_npy(const std::string& path, const Table& table, DType dtype);

//! The 2-D table of a real or integer array (a 1-D array of n values is n rows of one column).
//! `what` names the array in errors.
Table to_table(const NpyArray& array, const std::string& file, const std::string& what);

//! A table from `.csv` or `.npy`, chosen by the file extension.
Table read_table(const std::string& path);

//! A table to `.csv` (with `csv_digits`) or `.npy` (`npy_dtype`), chosen by the file extension.
void write_table(const std::string& path, const Table& table, int csv_digits, DType npy_dtype);

//! Node rows of several events: `x` holds all nodes, event e owns rows [offsets[e], offsets[e+1]).
struct GraphInput {
  Table x;
  std::vector<std::int64_t> offsets;    //!< events + 1 entries, offsets[0] = 0
  std::vector<std::int64_t> event_ids;  //!< the CSV's event id of each event (0, 1, ... for .npz)
};

//! Graph input from a CSV whose first column is an integer event id (the rows of one event are
//! contiguous), or from a `.npz` with `x` [nodes, features] and `offsets` [events + 1].
GraphInput read_graph_input(const std::string& path);

}  // namespace portml::io
