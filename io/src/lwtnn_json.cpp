// SPDX-License-Identifier: Apache-2.0
// lwtnn sequential JSON → MlpConfig, with nlohmann::json (Debian nlohmann-json3-dev).
#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

#include <portml/io/error.hpp>
#include <portml/io/format.hpp>
#include <portml/io/lwtnn.hpp>

namespace portml::io {
namespace {

using kernels::Activation;
using kernels::ActivationSpec;
using nlohmann::json;

class Reader {
 public:
  explicit Reader(const std::string& file) : file_(file) {}

  [[noreturn]] void fail(const std::string& where, const std::string& message) const {
    throw FormatError(file_, where, message);
  }

  const json& member(const json& obj, const char* key, const std::string& where) const {
    if (!obj.is_object()) fail(where, "expected an object");
    const auto it = obj.find(key);
    if (it == obj.end()) fail(where, std::string("missing \"") + key + "\"");
    return *it;
  }

  double number(const json& v, const std::string& where) const {
    if (!v.is_number()) fail(where, "expected a number, got " + std::string(v.type_name()));
    const double d = v.get<double>();
    if (!std::isfinite(d)) fail(where, "not a finite number");
    return d;
  }

  std::string string(const json& v, const std::string& where) const {
    if (!v.is_string()) fail(where, "expected a string, got " + std::string(v.type_name()));
    return v.get<std::string>();
  }

  std::vector<double> numbers(const json& v, const std::string& where) const {
    if (!v.is_array()) fail(where, "expected an array of numbers, got " + std::string(v.type_name()));
    std::vector<double> out;
    out.reserve(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) out.push_back(number(v[i], where + "[" + std::to_string(i) + "]"));
    return out;
  }

  ActivationSpec activation(const json& v, const std::string& where) const {
    std::string name;
    double alpha = std::nan("");
    if (v.is_string()) {
      name = v.get<std::string>();
    } else if (v.is_object()) {
      name = string(member(v, "function", where), where + ".function");
      if (v.contains("alpha")) alpha = number(v["alpha"], where + ".alpha");
    } else {
      fail(where, "expected an activation name or object");
    }
    if (name == "linear") return {Activation::Linear};
    if (name == "rectified") return {Activation::Relu};
    if (name == "sigmoid") return {Activation::Sigmoid};
    if (name == "tanh") return {Activation::Tanh};
    if (name == "softmax") return {Activation::Softmax};
    if (name == "hard_sigmoid") return {Activation::HardSigmoid, 0.2, 0.5};
    if (name == "elu") return {Activation::Elu, std::isnan(alpha) ? 1.0 : alpha};
    if (name == "leakyrelu") {
      if (std::isnan(alpha)) fail(where, "leakyrelu needs an \"alpha\"");
      return {Activation::LeakyRelu, alpha};
    }
    if (name == "swish") {
      if (!std::isnan(alpha) && alpha != 1.0) fail(where, "swish with alpha != 1 is not supported");
      return {Activation::Silu};
    }
    fail(where, "unsupported activation \"" + name + "\"");
  }

 private:
  std::string file_;
};

}  // namespace

layers::MlpConfig parse_lwtnn_json(std::string_view text, const std::string& file) {
  const Reader rd(file);
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    rd.fail("byte " + std::to_string(e.byte), "invalid JSON");
  } catch (const json::exception& e) {  // e.g. a number beyond double's range
    rd.fail("", std::string("invalid JSON: ") + e.what());
  }
  layers::MlpConfig cfg;
  const json& inputs = rd.member(doc, "inputs", "top level");
  if (!inputs.is_array()) rd.fail("inputs", "expected an array");
  layers::LayerConfig norm;
  norm.kind = layers::LayerConfig::Kind::Affine;
  norm.name = "input normalisation";
  bool any_norm = false;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const std::string where = "inputs[" + std::to_string(i) + "]";
    const json& in = inputs[i];
    cfg.inputs.push_back({rd.string(rd.member(in, "name", where), where + ".name"), 1});
    const double offset = in.contains("offset") ? rd.number(in["offset"], where + ".offset") : 0.0;
    const double scale = in.contains("scale") ? rd.number(in["scale"], where + ".scale") : 1.0;
    norm.offset.push_back(offset);
    norm.scale.push_back(scale);
    any_norm = any_norm || offset != 0.0 || scale != 1.0;
  }
  index_t width = static_cast<index_t>(inputs.size());
  if (any_norm) {
    norm.inputs = norm.outputs = width;
    cfg.layers.push_back(norm);
  }
  const json& layers_json = rd.member(doc, "layers", "top level");
  if (!layers_json.is_array()) rd.fail("layers", "expected an array");
  for (std::size_t l = 0; l < layers_json.size(); ++l) {
    const std::string where = "layers[" + std::to_string(l) + "]";
    const json& lj = layers_json[l];
    const std::string arch = rd.string(rd.member(lj, "architecture", where), where + ".architecture");
    layers::LayerConfig layer;
    layer.name = where + " (" + arch + ")";
    layer.activation =
        lj.contains("activation") ? rd.activation(lj["activation"], where + ".activation") : ActivationSpec{};
    const auto weights = rd.numbers(rd.member(lj, "weights", where), where + ".weights");
    const auto bias = rd.numbers(rd.member(lj, "bias", where), where + ".bias");
    if (arch == "dense") {
      const index_t outputs = static_cast<index_t>(bias.size());
      if (static_cast<index_t>(weights.size()) != outputs * width) {
        rd.fail(where + ".weights", std::to_string(weights.size()) + " weights for " + std::to_string(width) +
                                        " inputs and " + std::to_string(outputs) + " outputs (the bias length)");
      }
      layer.kind = layers::LayerConfig::Kind::Dense;
      layer.inputs = width;
      layer.outputs = outputs;
      layer.weights = weights;
      layer.bias = bias;
      width = outputs;
    } else if (arch == "normalization") {
      if (static_cast<index_t>(weights.size()) != width || static_cast<index_t>(bias.size()) != width) {
        rd.fail(where, "normalization needs " + std::to_string(width) + " weights and biases, got " +
                           std::to_string(weights.size()) + " and " + std::to_string(bias.size()));
      }
      layer.kind = layers::LayerConfig::Kind::Affine;  // W ⊙ (x + b)
      layer.inputs = layer.outputs = width;
      layer.scale = weights;
      layer.offset = bias;
    } else {
      rd.fail(where, "unsupported architecture \"" + arch + "\" (supported: dense, normalization)");
    }
    cfg.layers.push_back(std::move(layer));
  }
  const json& outputs = rd.member(doc, "outputs", "top level");
  if (!outputs.is_array()) rd.fail("outputs", "expected an array of names");
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    cfg.output_labels.push_back(rd.string(outputs[i], "outputs[" + std::to_string(i) + "]"));
  }
  if (static_cast<index_t>(cfg.output_labels.size()) != width) {
    rd.fail("outputs", std::to_string(cfg.output_labels.size()) + " output names for " + std::to_string(width) +
                           " outputs of the last layer");
  }
  return cfg;
}

layers::MlpConfig load_lwtnn_json(const std::string& path) {
  return parse_lwtnn_json(read_file(path, std::size_t(1) << 30), path);
}

}  // namespace portml::io
