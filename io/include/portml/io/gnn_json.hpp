// SPDX-License-Identifier: Apache-2.0
//! \file
//! portml's GNN JSON format (docs/gnn.md, "Model format") → layers::GnnModelConfig: a ParticleNet-like
//! model (EdgeConv blocks) or a GravNet model, architecture and weights in one file. Written by
//! tools/export_gnn.py from PyTorch modules.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <portml/layers/graph_config.hpp>

namespace portml::io {

//! Limits of the GNN JSON reader: larger values are a FormatError (files come from outside).
struct GnnJsonLimits {
  std::size_t max_file_bytes = std::size_t(1) << 28;  //!< 256 MiB
  long long max_width = 1 << 16;                      //!< features of any layer
  long long max_weights = 1 << 26;                    //!< elements of one weight matrix
  long long max_k = 1024;                             //!< neighbours per point
  std::size_t max_blocks = 64;
  std::size_t max_layers = 64;  //!< layers of one MLP
};

//! Parses GNN JSON text; `file` names the source in errors.
layers::GnnModelConfig parse_gnn_json(std::string_view text, const std::string& file, const GnnJsonLimits& limits = {});

//! Reads and parses a GNN JSON file. Throws FormatError naming the file and the JSON path of the bad
//! field (e.g. "blocks[1].mlp[0].weights").
layers::GnnModelConfig load_gnn_json(const std::string& path, const GnnJsonLimits& limits = {});

}  // namespace portml::io
