// SPDX-License-Identifier: Apache-2.0
#include "model_runner.hpp"

#include <map>

#include <portml/io/error.hpp>

#include "options.hpp"

namespace portml::cli {

namespace {
std::map<io::ModelFormat, Loader>& registry() {
  static std::map<io::ModelFormat, Loader> loaders;
  return loaders;
}
}  // namespace

std::unique_ptr<GraphSession> ModelRunner::graph_session(const std::string&, int, index_t, index_t) const {
  throw UsageError("not a graph model: it takes rows, not events");
}

void register_loader(io::ModelFormat format, Loader loader) { registry()[format] = std::move(loader); }

std::vector<io::ModelFormat> supported_formats() {
  std::vector<io::ModelFormat> formats;
  for (const auto& [format, loader] : registry()) formats.push_back(format);
  return formats;
}

std::unique_ptr<ModelRunner> load_model(const std::string& path) {
  const io::ModelFormat format = io::detect_format_file(path);
  if (format == io::ModelFormat::unknown) {
    throw io::FormatError(path, "",
                          "not a model file portml recognises (ONNX, lwtnn JSON, XGBoost JSON, LightGBM "
                          "text, TMVA XML or portml GNN JSON)");
  }
  const auto it = registry().find(format);
  if (it == registry().end()) {
    throw io::FormatError(path, "",
                          std::string("models in the ") + io::to_string(format) +
                              " format are not supported by this build of the portml tool yet");
  }
  return it->second(path);
}

}  // namespace portml::cli
