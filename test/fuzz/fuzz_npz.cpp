// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: .npz (ZIP) archives. Any input must give arrays or a FormatError.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <portml/io/error.hpp>
#include <portml/io/table.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    (void)portml::io::parse_npz(bytes, "fuzz.npz");
  } catch (const portml::io::FormatError&) {
  }
  return 0;
}
