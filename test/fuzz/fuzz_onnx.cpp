// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: io::parse_onnx, then the MLP it describes is built and run on one row.
#include <portml/io/onnx.hpp>

#include "fuzz_mlp.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return portml::fuzz::run_mlp(data, size, [](std::string_view b) { return portml::io::parse_onnx(b, "fuzz.onnx"); });
}
