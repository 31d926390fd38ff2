// SPDX-License-Identifier: Apache-2.0
#include <portml/io/error.hpp>
#include <portml/io/format.hpp>
#include <portml/io/table.hpp>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>
#include <string_view>

#include "atomic_file.hpp"

namespace portml::io {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::string where_field(std::size_t line, std::size_t column) {
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

//! A CSV field: empty or nan → NaN; otherwise the whole field must be a number.
double parse_number(std::string_view field, const std::string& file, std::size_t line, std::size_t column) {
  field = trim(field);
  if (field.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::string_view digits = field;
  if (digits.front() == '+') digits.remove_prefix(1);
  double value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec == std::errc::result_out_of_range) {
    throw FormatError(file, where_field(line, column), "number '" + std::string(field) + "' out of range");
  }
  if (ec != std::errc() || end != digits.data() + digits.size()) {
    throw FormatError(file, where_field(line, column), "cannot parse '" + std::string(field) + "' as a number");
  }
  return value;
}

//! Calls f(line_number, line) for every line; a final empty line after the last newline is not a line.
template <class F>
void for_each_line(std::string_view text, F&& f) {
  std::size_t line_no = 0;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    f(++line_no, line);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
}

//! Splits one CSV line into numbers.
void parse_row(std::string_view line, const std::string& file, std::size_t line_no, std::vector<double>& out) {
  std::size_t column = 0;
  for (;;) {
    const std::size_t comma = line.find(',');
    out.push_back(parse_number(line.substr(0, comma), file, line_no, ++column));
    if (comma == std::string_view::npos) break;
    line.remove_prefix(comma + 1);
  }
}

void format_number(std::string& out, double v, int digits) {
  if (std::isnan(v)) {
    out += "nan";
  } else if (std::isinf(v)) {
    out += v > 0 ? "inf" : "-inf";
  } else {
    char buf[40];
    const int n = std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    out.append(buf, static_cast<std::size_t>(n));
  }
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Table read_csv(const std::string& path) { return parse_csv(read_file(path), path); }

Table parse_csv(std::string_view text, const std::string& path) {
  Table t;
  std::vector<double> row;
  for_each_line(text, [&](std::size_t line_no, std::string_view line) {
    row.clear();
    parse_row(line, path, line_no, row);
    const auto n = static_cast<index_t>(row.size());
    if (t.rows == 0) {
      t.cols = n;
    } else if (n != t.cols) {
      throw FormatError(path, "line " + std::to_string(line_no),
                        std::to_string(n) + " columns, expected " + std::to_string(t.cols) + " (as on line 1)");
    }
    t.values.insert(t.values.end(), row.begin(), row.end());
    ++t.rows;
  });
  if (t.rows == 0) throw FormatError(path, "", "no rows");
  return t;
}

void write_csv(const std::string& path, const Table& table, int digits) {
  detail::AtomicFile file(path);
  std::string line;
  for (index_t r = 0; r < table.rows; ++r) {
    line.clear();
    for (index_t c = 0; c < table.cols; ++c) {
      if (c != 0) line += ',';
      format_number(line, table(r, c), digits);
    }
    line += '\n';
    file.write(line);
  }
  file.commit();
}

Table read_table(const std::string& path) {
  if (ends_with(path, ".npy")) return to_table(read_npy(path), path, "array");
  if (ends_with(path, ".csv")) return read_csv(path);
  throw FormatError(path, "", "unknown table format: use a .csv or .npy file");
}

void write_table(const std::string& path, const Table& table, int csv_digits, DType npy_dtype) {
  if (ends_with(path, ".npy")) return write_npy(path, table, npy_dtype);
  if (ends_with(path, ".csv")) return write_csv(path, table, csv_digits);
  throw FormatError(path, "", "unknown table format: use a .csv or .npy file");
}

GraphInput read_graph_input(const std::string& path) {
  GraphInput g;
  if (ends_with(path, ".npz")) {
    const auto arrays = read_npz(path);
    const auto x = arrays.find("x");
    const auto offsets = arrays.find("offsets");
    if (x == arrays.end() || offsets == arrays.end()) {
      throw FormatError(path, "",
                        "a graph input .npz needs the arrays 'x' [nodes, features] and 'offsets' [events + 1]");
    }
    if (x->second.shape.size() != 2) throw FormatError(path, "array 'x'", "must be 2-D [nodes, features]");
    g.x = to_table(x->second, path, "array 'x'");
    if (offsets->second.shape.size() != 1 || offsets->second.integer.empty()) {
      throw FormatError(path, "array 'offsets'", "must be a 1-D integer array of events + 1 entries");
    }
    g.offsets = offsets->second.integer;
    if (g.offsets.front() != 0 || g.offsets.back() != g.x.rows) {
      throw FormatError(path, "array 'offsets'",
                        "must start at 0 and end at the number of nodes (" + std::to_string(g.x.rows) + ")");
    }
    for (std::size_t e = 1; e < g.offsets.size(); ++e) {
      if (g.offsets[e] < g.offsets[e - 1]) {
        throw FormatError(path, "array 'offsets', entry " + std::to_string(e), "offsets must not decrease");
      }
      g.event_ids.push_back(static_cast<std::int64_t>(e - 1));
    }
    return g;
  }
  if (!ends_with(path, ".csv")) throw FormatError(path, "", "unknown graph input format: use a .csv or .npz file");
  const Table all = read_csv(path);
  if (all.cols < 2) throw FormatError(path, "line 1", "a graph CSV needs an event id column and at least one feature");
  g.x.rows = all.rows;
  g.x.cols = all.cols - 1;
  g.x.values.reserve(static_cast<std::size_t>(g.x.rows * g.x.cols));
  std::set<std::int64_t> seen;
  for (index_t r = 0; r < all.rows; ++r) {
    const double id = all(r, 0);
    if (!(std::abs(id) < 9.0e15) || id != std::floor(id)) {
      throw FormatError(path, where_field(static_cast<std::size_t>(r + 1), 1), "the event id must be an integer");
    }
    const auto event = static_cast<std::int64_t>(id);
    if (g.event_ids.empty() || event != g.event_ids.back()) {
      if (!seen.insert(event).second) {
        throw FormatError(path, "line " + std::to_string(r + 1),
                          "event " + std::to_string(event) + " appears again after event " +
                              std::to_string(g.event_ids.back()) + "; the rows of one event must be contiguous");
      }
      g.event_ids.push_back(event);
      g.offsets.push_back(r);
    }
    for (index_t c = 1; c < all.cols; ++c) g.x.values.push_back(all(r, c));
  }
  g.offsets.push_back(all.rows);
  return g;
}

}  // namespace portml::io
