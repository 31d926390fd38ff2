// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: .npy images. Any input must give an array or a FormatError.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <portml/io/error.hpp>
#include <portml/io/table.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    const portml::io::NpyArray a = portml::io::parse_npy(bytes, "fuzz.npy");
    const auto n = static_cast<std::size_t>(a.size());
    if (a.real.size() != n && a.integer.size() != n) __builtin_trap();
    if (a.shape.size() <= 2) (void)portml::io::to_table(a, "fuzz.npy", "array");
  } catch (const portml::io::FormatError&) {
  }
  return 0;
}
