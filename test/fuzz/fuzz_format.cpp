// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: format detection by content (including the look into gzip streams) and gunzip.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include <portml/io/error.hpp>
#include <portml/io/format.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  (void)portml::io::detect_format(bytes);
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (portml::io::is_gzip(text)) {
    try {
      (void)portml::io::gunzip(text, "fuzz.gz", std::size_t(1) << 24);
    } catch (const portml::io::FormatError&) {
    }
  }
  return 0;
}
