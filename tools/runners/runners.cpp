// SPDX-License-Identifier: Apache-2.0
// The model kinds compiled into the tool. Each kind's file registers the formats it loads.
#include "../cli/model_runner.hpp"

namespace portml::cli {

void register_forest_runners();
void register_mlp_runners();
void register_gnn_runners();

void register_all_runners() {
  register_forest_runners();
  register_mlp_runners();
  register_gnn_runners();
}

}  // namespace portml::cli
