// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: io::parse_tmva_xml, then the forest it describes is built and evaluated.
#include <portml/io/forest_loaders.hpp>

#include "fuzz_forest.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return portml::fuzz::run(data, size,
                           [](std::string_view bytes) { return portml::io::parse_tmva_xml(bytes, "fuzz"); });
}
