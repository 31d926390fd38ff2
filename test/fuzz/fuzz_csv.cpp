// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: CSV tables and graph CSV parsing. Any input must give a Table or a FormatError.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <portml/io/error.hpp>
#include <portml/io/table.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const portml::io::Table t = portml::io::parse_csv(text, "fuzz.csv");
    if (t.values.size() != static_cast<std::size_t>(t.rows * t.cols)) __builtin_trap();
  } catch (const portml::io::FormatError&) {
  }
  return 0;
}
