// SPDX-License-Identifier: Apache-2.0
// portml GNN JSON → GnnModelConfig, with nlohmann::json (Debian nlohmann-json3-dev). Every size is
// bounded (GnnJsonLimits) and every layer list is checked for consistent widths here, so that a bad
// file fails with the file and the JSON path rather than later in the model constructor.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <portml/io/error.hpp>
#include <portml/io/format.hpp>
#include <portml/io/gnn_json.hpp>

namespace portml::io {
namespace {

using kernels::Activation;
using kernels::ActivationSpec;
using layers::LayerConfig;
using nlohmann::json;

class Reader {
 public:
  Reader(const std::string& file, const GnnJsonLimits& limits) : file_(file), limits_(limits) {}

  [[noreturn]] void fail(const std::string& where, const std::string& message) const {
    throw FormatError(file_, where, message);
  }

  const json& member(const json& obj, const char* key, const std::string& where) const {
    if (!obj.is_object()) fail(where, "expected an object, got " + std::string(obj.type_name()));
    const auto it = obj.find(key);
    if (it == obj.end()) fail(where, std::string("missing \"") + key + "\"");
    return *it;
  }
  const json* optional(const json& obj, const char* key) const {
    const auto it = obj.find(key);
    return it == obj.end() ? nullptr : &*it;
  }

  double number(const json& v, const std::string& where) const {
    if (!v.is_number()) fail(where, "expected a number, got " + std::string(v.type_name()));
    const double d = v.get<double>();
    if (!std::isfinite(d)) fail(where, "not a finite number");
    return d;
  }

  long long integer(const json& v, const std::string& where, long long lo, long long hi) const {
    if (!v.is_number_integer()) fail(where, "expected an integer, got " + std::string(v.type_name()));
    const long long i =
        v.is_number_unsigned()
            ? static_cast<long long>(std::min<std::uint64_t>(v.get<std::uint64_t>(), std::uint64_t(1) << 62))
            : v.get<long long>();
    if (i < lo || i > hi) {
      fail(where, std::to_string(i) + " outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    }
    return i;
  }

  std::string string(const json& v, const std::string& where) const {
    if (!v.is_string()) fail(where, "expected a string, got " + std::string(v.type_name()));
    return v.get<std::string>();
  }

  std::vector<double> numbers(const json& v, const std::string& where, std::size_t expected) const {
    if (!v.is_array()) fail(where, "expected an array of numbers, got " + std::string(v.type_name()));
    if (v.size() != expected) {
      fail(where, std::to_string(v.size()) + " values, expected " + std::to_string(expected));
    }
    std::vector<double> out;
    out.reserve(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) out.push_back(number(v[i], where + "[" + std::to_string(i) + "]"));
    return out;
  }

  const json& array(const json& v, const std::string& where, std::size_t max) const {
    if (!v.is_array()) fail(where, "expected an array, got " + std::string(v.type_name()));
    if (v.size() > max) fail(where, std::to_string(v.size()) + " entries, at most " + std::to_string(max));
    return v;
  }

  ActivationSpec activation(const json& obj, const char* key, const std::string& where) const {
    const std::string name = string(member(obj, key, where), where + "." + key);
    const json* a = optional(obj, "alpha");
    const double alpha = a != nullptr ? number(*a, where + ".alpha") : std::nan("");
    for (const Activation kind :
         {Activation::Linear, Activation::Relu, Activation::LeakyRelu, Activation::Elu, Activation::Selu,
          Activation::Sigmoid, Activation::Tanh, Activation::Silu, Activation::Gelu, Activation::Softmax}) {
      if (name == kernels::activation_name(kind)) {
        ActivationSpec spec = kernels::make_activation(kind);
        if (!std::isnan(alpha)) {
          if (kind != Activation::LeakyRelu && kind != Activation::Elu) {
            fail(where + ".alpha", "\"" + name + "\" takes no alpha");
          }
          spec.alpha = alpha;
        }
        return spec;
      }
    }
    fail(where + "." + key, "unsupported activation \"" + name +
                                "\" (linear, relu, leaky_relu, elu, selu, sigmoid, tanh, silu, gelu, softmax)");
  }

  //! One layer; `width` is the number of features entering it (updated for a Dense).
  LayerConfig layer(const json& lj, const std::string& where, long long& width) const {
    const std::string type = string(member(lj, "type", where), where + ".type");
    LayerConfig l;
    l.name = where;
    if (type == "dense") {
      const long long in = integer(member(lj, "inputs", where), where + ".inputs", 1, limits_.max_width);
      const long long out = integer(member(lj, "outputs", where), where + ".outputs", 1, limits_.max_width);
      if (in != width) {
        fail(where + ".inputs", std::to_string(in) + " inputs, but the layer receives " + std::to_string(width));
      }
      if (in * out > limits_.max_weights) {
        fail(where, std::to_string(in) + " × " + std::to_string(out) + " weights exceed the limit of " +
                        std::to_string(limits_.max_weights));
      }
      l.kind = LayerConfig::Kind::Dense;
      l.inputs = static_cast<index_t>(in);
      l.outputs = static_cast<index_t>(out);
      l.weights = numbers(member(lj, "weights", where), where + ".weights", static_cast<std::size_t>(in * out));
      if (const json* b = optional(lj, "bias")) l.bias = numbers(*b, where + ".bias", static_cast<std::size_t>(out));
      if (optional(lj, "activation") != nullptr) l.activation = activation(lj, "activation", where);
      width = out;
    } else if (type == "batchnorm") {
      const auto n = static_cast<std::size_t>(width);
      l.kind = LayerConfig::Kind::BatchNorm;
      l.inputs = l.outputs = static_cast<index_t>(width);
      l.mean = numbers(member(lj, "mean", where), where + ".mean", n);
      l.variance = numbers(member(lj, "variance", where), where + ".variance", n);
      l.gamma = numbers(member(lj, "gamma", where), where + ".gamma", n);
      l.beta = numbers(member(lj, "beta", where), where + ".beta", n);
      if (const json* e = optional(lj, "epsilon")) l.epsilon = number(*e, where + ".epsilon");
      for (std::size_t i = 0; i < n; ++i) {
        if (!(l.variance[i] + l.epsilon > 0.0)) {
          fail(where + ".variance[" + std::to_string(i) + "]", "variance + epsilon must be positive");
        }
      }
    } else if (type == "activation") {
      l.kind = LayerConfig::Kind::Activation;
      l.inputs = l.outputs = static_cast<index_t>(width);
      l.activation = activation(lj, "activation", where);
    } else {
      fail(where + ".type", "unsupported layer type \"" + type + "\" (dense, batchnorm, activation)");
    }
    return l;
  }

  std::vector<LayerConfig> layers(const json& v, const std::string& where, long long& width) const {
    std::vector<LayerConfig> out;
    const json& arr = array(v, where, limits_.max_layers);
    for (std::size_t i = 0; i < arr.size(); ++i)
      out.push_back(layer(arr[i], where + "[" + std::to_string(i) + "]", width));
    // Softmax is a row operation: only the last layer of a head may use it (checked by the caller).
    return out;
  }

  static bool has_softmax(const std::vector<LayerConfig>& ls) {
    for (const auto& l : ls)
      if (l.activation.kind == Activation::Softmax) return true;
    return false;
  }

  //! A block's MLP: no softmax inside.
  std::vector<LayerConfig> block_layers(const json& v, const std::string& where, long long& width) const {
    auto ls = layers(v, where, width);
    if (has_softmax(ls)) fail(where, "softmax is only allowed in the head");
    return ls;
  }

  layers::EdgeConvConfig edgeconv(const json& bj, const std::string& where, long long width,
                                  layers::KnnCoordinates& coords) const {
    layers::EdgeConvConfig c;
    c.name = where;
    c.k = static_cast<index_t>(integer(member(bj, "k", where), where + ".k", 1, limits_.max_k));
    const std::string co = string(member(bj, "coordinates", where), where + ".coordinates");
    if (co == "points") {
      coords = layers::KnnCoordinates::points;
    } else if (co == "features") {
      coords = layers::KnnCoordinates::features;
    } else {
      fail(where + ".coordinates", "expected \"points\" or \"features\", got \"" + co + "\"");
    }
    const std::string agg = string(member(bj, "aggregation", where), where + ".aggregation");
    if (agg == "mean") {
      c.aggregation = kernels::graph::Reduce::mean;
    } else if (agg == "max") {
      c.aggregation = kernels::graph::Reduce::max;
    } else {
      fail(where + ".aggregation", "expected \"mean\" or \"max\", got \"" + agg + "\"");
    }
    const std::string missing = string(member(bj, "missing", where), where + ".missing");
    if (missing == "skip") {
      c.missing = layers::MissingNeighbours::skip;
    } else if (missing == "zero_point") {
      c.missing = layers::MissingNeighbours::zero_point;
    } else {
      fail(where + ".missing", "expected \"skip\" or \"zero_point\", got \"" + missing + "\"");
    }
    if (optional(bj, "activation") != nullptr) {
      c.activation = activation(bj, "activation", where);
      if (!c.activation.elementwise()) fail(where + ".activation", "softmax is only allowed in the head");
    }
    if (const json* p = optional(bj, "periodic_dim")) {
      c.periodic_dim = static_cast<int>(integer(*p, where + ".periodic_dim", -1, limits_.max_width));
    }
    if (const json* p = optional(bj, "period")) {
      c.period = number(*p, where + ".period");
      if (!(c.period > 0)) fail(where + ".period", "must be positive");
    }
    long long w = 2 * width;
    c.mlp = block_layers(member(bj, "mlp", where), where + ".mlp", w);
    if (c.mlp.empty() || c.mlp.front().kind != LayerConfig::Kind::Dense) {
      fail(where + ".mlp", "must start with a dense layer taking [x_i, x_j - x_i]");
    }
    long long sw = width;
    if (const json* s = optional(bj, "shortcut")) c.shortcut = block_layers(*s, where + ".shortcut", sw);
    if (sw != w) {
      fail(where + ".shortcut", "gives " + std::to_string(sw) + " features, the MLP " + std::to_string(w) +
                                    (c.shortcut.empty() ? " (an identity shortcut needs them equal)" : ""));
    }
    return c;
  }

  layers::GravNetConfig gravnet(const json& bj, const std::string& where, long long width) const {
    layers::GravNetConfig c;
    c.name = where;
    c.k = static_cast<index_t>(integer(member(bj, "k", where), where + ".k", 1, limits_.max_k));
    const std::string conv = string(member(bj, "convention", where), where + ".convention");
    if (conv == "pyg") {
      c.set_convention(layers::GravNetConvention::pyg);
    } else if (conv == "cms") {
      c.set_convention(layers::GravNetConvention::cms);
    } else {
      fail(where + ".convention", "expected \"pyg\" or \"cms\", got \"" + conv + "\"");
    }
    if (const json* e = optional(bj, "exponent")) {
      c.exponent = number(*e, where + ".exponent");
      if (c.exponent < 0) fail(where + ".exponent", "must be >= 0");
    }
    long long sw = width, pw = width;
    c.space = layer(member(bj, "space", where), where + ".space", sw);
    c.propagate = layer(member(bj, "propagate", where), where + ".propagate", pw);
    for (const auto* l : {&c.space, &c.propagate}) {
      if (l->kind != LayerConfig::Kind::Dense || l->activation.kind != Activation::Linear) {
        fail(l->name, "must be a dense layer without activation");
      }
    }
    long long w = width + 2 * pw;
    c.output = block_layers(member(bj, "output", where), where + ".output", w);
    if (c.output.empty() || c.output.front().kind != LayerConfig::Kind::Dense) {
      fail(where + ".output", "must start with a dense layer taking [x, mean, max]");
    }
    return c;
  }

  long long width_after(const std::vector<LayerConfig>& ls, long long w) const {
    for (const auto& l : ls)
      if (l.kind == LayerConfig::Kind::Dense) w = l.outputs;
    return w;
  }

  std::vector<LayerConfig> input_norm(const json& doc, long long width) const {
    std::vector<LayerConfig> out;
    if (const json* n = optional(doc, "input_norm")) {
      long long w = width;
      out = layers(*n, "input_norm", w);
      for (const auto& l : out) {
        if (l.kind != LayerConfig::Kind::BatchNorm) fail(l.name, "input_norm holds batchnorm layers only");
      }
    }
    return out;
  }

  std::vector<LayerConfig> head(const json& doc, long long& width) const {
    auto h = layers(member(doc, "head", "top level"), "head", width);
    for (std::size_t i = 0; i + 1 < h.size(); ++i) {
      if (h[i].activation.kind == Activation::Softmax) fail(h[i].name, "softmax only in the last layer");
    }
    return h;
  }

  std::vector<std::string> labels(const json& doc, long long width) const {
    std::vector<std::string> out;
    if (const json* o = optional(doc, "outputs")) {
      const json& arr = array(*o, "outputs", static_cast<std::size_t>(limits_.max_width));
      for (std::size_t i = 0; i < arr.size(); ++i) out.push_back(string(arr[i], "outputs[" + std::to_string(i) + "]"));
      if (static_cast<long long>(out.size()) != width) {
        fail("outputs", std::to_string(out.size()) + " names for " + std::to_string(width) + " outputs");
      }
    }
    return out;
  }

 private:
  std::string file_;
  GnnJsonLimits limits_;
};

}  // namespace

layers::GnnModelConfig parse_gnn_json(std::string_view text, const std::string& file, const GnnJsonLimits& limits) {
  const Reader rd(file, limits);
  if (text.size() > limits.max_file_bytes)
    rd.fail("", "larger than the limit of " + std::to_string(limits.max_file_bytes) + " bytes");
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    rd.fail("byte " + std::to_string(e.byte), "invalid JSON");
  } catch (const json::exception& e) {
    rd.fail("", std::string("invalid JSON: ") + e.what());
  }
  const std::string format = rd.string(rd.member(doc, "format", "top level"), "format");
  if (format != "portml-gnn") rd.fail("format", "expected \"portml-gnn\", got \"" + format + "\"");
  rd.integer(rd.member(doc, "version", "top level"), "version", 1, 1);
  const std::string model = rd.string(rd.member(doc, "model", "top level"), "model");
  const json& inputs = rd.member(doc, "inputs", "top level");
  const json& blocks = rd.array(rd.member(doc, "blocks", "top level"), "blocks", limits.max_blocks);
  if (blocks.empty()) rd.fail("blocks", "at least one block is needed");
  layers::GnnModelConfig cfg;
  if (model == "particlenet") {
    cfg.kind = layers::GnnModelConfig::Kind::particlenet;
    auto& pn = cfg.particlenet;
    pn.points =
        static_cast<index_t>(rd.integer(rd.member(inputs, "points", "inputs"), "inputs.points", 1, limits.max_width));
    long long width = rd.integer(rd.member(inputs, "features", "inputs"), "inputs.features", 1, limits.max_width);
    pn.features = static_cast<index_t>(width);
    pn.input_norm = rd.input_norm(doc, width);
    for (std::size_t b = 0; b < blocks.size(); ++b) {
      const std::string where = "blocks[" + std::to_string(b) + "]";
      const std::string type = rd.string(rd.member(blocks[b], "type", where), where + ".type");
      if (type != "edgeconv") rd.fail(where + ".type", "a particlenet model has edgeconv blocks, got \"" + type + "\"");
      layers::KnnCoordinates coords{};
      pn.blocks.push_back(rd.edgeconv(blocks[b], where, width, coords));
      pn.coordinates.push_back(coords);
      width = rd.width_after(pn.blocks.back().mlp, 2 * width);
    }
    if (const json* p = rd.optional(doc, "pooling")) {
      const std::string pool = rd.string(*p, "pooling");
      if (pool == "mean") {
        pn.pooling = kernels::graph::Reduce::mean;
      } else if (pool == "max") {
        pn.pooling = kernels::graph::Reduce::max;
      } else if (pool == "sum") {
        pn.pooling = kernels::graph::Reduce::sum;
      } else {
        rd.fail("pooling", "expected \"mean\", \"max\" or \"sum\", got \"" + pool + "\"");
      }
    }
    pn.head = rd.head(doc, width);
    pn.output_labels = rd.labels(doc, width);
  } else if (model == "gravnet") {
    cfg.kind = layers::GnnModelConfig::Kind::gravnet;
    auto& gm = cfg.gravnet;
    long long width = rd.integer(rd.member(inputs, "features", "inputs"), "inputs.features", 1, limits.max_width);
    gm.features = static_cast<index_t>(width);
    gm.input_norm = rd.input_norm(doc, width);
    for (std::size_t b = 0; b < blocks.size(); ++b) {
      const std::string where = "blocks[" + std::to_string(b) + "]";
      const std::string type = rd.string(rd.member(blocks[b], "type", where), where + ".type");
      if (type != "gravnet") rd.fail(where + ".type", "a gravnet model has gravnet blocks, got \"" + type + "\"");
      gm.blocks.push_back(rd.gravnet(blocks[b], where, width));
      width = rd.width_after(gm.blocks.back().output, width);
    }
    gm.head = rd.head(doc, width);
    gm.output_labels = rd.labels(doc, width);
  } else {
    rd.fail("model", "expected \"particlenet\" or \"gravnet\", got \"" + model + "\"");
  }
  return cfg;
}

layers::GnnModelConfig load_gnn_json(const std::string& path, const GnnJsonLimits& limits) {
  return parse_gnn_json(read_file(path, limits.max_file_bytes), path, limits);
}

}  // namespace portml::io
