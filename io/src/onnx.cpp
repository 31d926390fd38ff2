// SPDX-License-Identifier: Apache-2.0
// ONNX → MlpConfig: the ModelProto is read with the bounded wire-format reader (protobuf_wire.hpp), then
// the node chain is mapped onto portml's layers, with the exporters' decomposed GELU and SiLU fused.
#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <portml/io/error.hpp>
#include <portml/io/format.hpp>
#include <portml/io/onnx.hpp>

#include "protobuf_wire.hpp"

namespace portml::io {
namespace {

using kernels::Activation;
using kernels::ActivationSpec;
using layers::LayerConfig;

constexpr std::size_t max_elements = std::size_t(1) << 28;

struct OnnxTensor {
  std::string name;
  std::vector<std::int64_t> dims;
  std::int32_t data_type = 0;
  std::vector<double> values;
  std::size_t offset = 0;
};

struct Attribute {
  std::string name;
  float f = 0;
  std::int64_t i = 0;
  std::vector<std::int64_t> ints;
  bool has_f = false, has_i = false, has_t = false;
  OnnxTensor t;
};

struct Node {
  std::string name, op, domain;
  std::vector<std::string> inputs, outputs;
  std::vector<Attribute> attributes;
  std::size_t offset = 0;

  const Attribute* attribute(const std::string& n) const {
    for (const auto& a : attributes)
      if (a.name == n) return &a;
    return nullptr;
  }
};

struct ValueInfo {
  std::string name;
  std::vector<std::int64_t> dims;  // −1: symbolic or unknown
};

struct Graph {
  std::vector<Node> nodes;
  std::map<std::string, OnnxTensor> constants;
  std::vector<ValueInfo> inputs, outputs;
  std::int64_t opset = 0;
};

// ---- wire format → structures ------------------------------------------------------------------------

template <class F>
void for_each_packed(const wire::Field& f, std::size_t width, F&& fn) {
  // A repeated scalar: one element per field, or (Bytes) a packed run.
  if (f.type != wire::WireType::Bytes) {
    fn(f.value);
    return;
  }
  wire::Reader r(f.bytes, f.offset);
  if (width == 0) {
    while (!r.done()) fn(r.varint());
    return;
  }
  if (f.bytes.size() % width != 0) throw wire::WireError(f.offset, "packed array length not a multiple of its element");
  for (std::size_t p = 0; p < f.bytes.size(); p += width) {
    std::uint64_t v = 0;
    std::memcpy(&v, f.bytes.data() + p, width);
    fn(v);
  }
}

double bits_to_double(std::uint64_t v, std::size_t width) {
  if (width == 4) {
    const auto b = static_cast<std::uint32_t>(v);
    float x;
    std::memcpy(&x, &b, 4);
    return x;
  }
  double x;
  std::memcpy(&x, &v, 8);
  return x;
}

OnnxTensor read_tensor(wire::Reader r, const std::string& file) {
  OnnxTensor t;
  t.offset = r.offset();
  std::string_view raw;
  bool has_raw = false;
  while (!r.done()) {
    const auto f = r.next();
    switch (f.number) {
      case 1:
        for_each_packed(f, 0, [&](std::uint64_t v) { t.dims.push_back(static_cast<std::int64_t>(v)); });
        break;
      case 2:
        t.data_type = static_cast<std::int32_t>(wire::as_int64(f));
        break;
      case 4:
        for_each_packed(f, 4, [&](std::uint64_t v) { t.values.push_back(bits_to_double(v, 4)); });
        break;
      case 5:
        for_each_packed(f, 0, [&](std::uint64_t v) { t.values.push_back(double(static_cast<std::int32_t>(v))); });
        break;
      case 7:
        for_each_packed(f, 0, [&](std::uint64_t v) { t.values.push_back(double(static_cast<std::int64_t>(v))); });
        break;
      case 8:
        t.name = wire::as_string(f);
        break;
      case 9:
        raw = f.bytes;
        has_raw = true;
        break;
      case 10:
        for_each_packed(f, 8, [&](std::uint64_t v) { t.values.push_back(bits_to_double(v, 8)); });
        break;
      case 13:
      case 14:
        throw FormatError(file, "byte " + std::to_string(f.offset), "tensor with external data is not supported");
      default:
        break;
    }
    if (t.values.size() > max_elements) throw FormatError(file, "byte " + std::to_string(f.offset), "tensor too large");
  }
  std::size_t count = 1;
  for (const auto d : t.dims) {
    if (d < 0 || std::size_t(d) > max_elements || count * std::size_t(d) > max_elements) {
      throw FormatError(file, "byte " + std::to_string(t.offset), "tensor '" + t.name + "' has invalid dimensions");
    }
    count *= std::size_t(d);
  }
  if (has_raw) {
    std::size_t width = 0;
    switch (t.data_type) {
      case 1:  // FLOAT
      case 6:  // INT32
        width = 4;
        break;
      case 7:   // INT64
      case 11:  // DOUBLE
        width = 8;
        break;
      default:
        throw FormatError(file, "byte " + std::to_string(t.offset),
                          "tensor '" + t.name + "' has unsupported data type " + std::to_string(t.data_type));
    }
    if (raw.size() != count * width) {
      throw FormatError(file, "byte " + std::to_string(t.offset),
                        "tensor '" + t.name + "' has " + std::to_string(raw.size()) + " bytes of raw data for " +
                            std::to_string(count) + " elements");
    }
    t.values.resize(count);
    for (std::size_t k = 0; k < count; ++k) {
      std::uint64_t v = 0;
      std::memcpy(&v, raw.data() + k * width, width);
      if (t.data_type == 1 || t.data_type == 11) {
        t.values[k] = bits_to_double(v, width);
      } else if (t.data_type == 6) {
        t.values[k] = double(static_cast<std::int32_t>(v));
      } else {
        t.values[k] = double(static_cast<std::int64_t>(v));
      }
    }
  } else if (t.values.size() != count) {
    throw FormatError(file, "byte " + std::to_string(t.offset),
                      "tensor '" + t.name + "' has " + std::to_string(t.values.size()) + " values for " +
                          std::to_string(count) + " elements");
  }
  return t;
}

Attribute read_attribute(wire::Reader r, const std::string& file) {
  Attribute a;
  while (!r.done()) {
    const auto f = r.next();
    switch (f.number) {
      case 1:
        a.name = wire::as_string(f);
        break;
      case 2:
        a.f = wire::as_float(f);
        a.has_f = true;
        break;
      case 3:
        a.i = wire::as_int64(f);
        a.has_i = true;
        break;
      case 5:
        a.t = read_tensor(wire::sub(f), file);
        a.has_t = true;
        break;
      case 8:
        for_each_packed(f, 0, [&](std::uint64_t v) { a.ints.push_back(static_cast<std::int64_t>(v)); });
        break;
      default:
        break;
    }
  }
  return a;
}

Node read_node(wire::Reader r, const std::string& file) {
  Node n;
  n.offset = r.offset();
  while (!r.done()) {
    const auto f = r.next();
    switch (f.number) {
      case 1:
        n.inputs.push_back(wire::as_string(f));
        break;
      case 2:
        n.outputs.push_back(wire::as_string(f));
        break;
      case 3:
        n.name = wire::as_string(f);
        break;
      case 4:
        n.op = wire::as_string(f);
        break;
      case 5:
        n.attributes.push_back(read_attribute(wire::sub(f), file));
        break;
      case 7:
        n.domain = wire::as_string(f);
        break;
      default:
        break;
    }
  }
  return n;
}

ValueInfo read_value_info(wire::Reader r) {
  ValueInfo v;
  while (!r.done()) {
    const auto f = r.next();
    if (f.number == 1) v.name = wire::as_string(f);
    if (f.number != 2) continue;
    auto type = wire::sub(f);
    while (!type.done()) {
      const auto tf = type.next();
      if (tf.number != 1) continue;  // tensor_type
      auto tensor = wire::sub(tf);
      while (!tensor.done()) {
        const auto sf = tensor.next();
        if (sf.number != 2) continue;  // shape
        auto shape = wire::sub(sf);
        while (!shape.done()) {
          const auto df = shape.next();
          if (df.number != 1) continue;
          auto dim = wire::sub(df);
          std::int64_t value = -1;
          while (!dim.done()) {
            const auto xf = dim.next();
            if (xf.number == 1) value = wire::as_int64(xf);
          }
          v.dims.push_back(value);
        }
      }
    }
  }
  return v;
}

Graph read_model(std::string_view bytes, const std::string& file) {
  Graph g;
  bool has_graph = false;
  wire::Reader model(bytes, 0);
  while (!model.done()) {
    const auto f = model.next();
    if (f.number == 8) {  // opset_import
      auto r = wire::sub(f);
      std::string domain;
      std::int64_t version = 0;
      while (!r.done()) {
        const auto of = r.next();
        if (of.number == 1) domain = wire::as_string(of);
        if (of.number == 2) version = wire::as_int64(of);
      }
      if (domain.empty() || domain == "ai.onnx") g.opset = version;
    } else if (f.number == 7) {  // graph
      has_graph = true;
      auto r = wire::sub(f);
      while (!r.done()) {
        const auto gf = r.next();
        if (gf.number == 1) {
          g.nodes.push_back(read_node(wire::sub(gf), file));
        } else if (gf.number == 5) {
          auto t = read_tensor(wire::sub(gf), file);
          g.constants[t.name] = std::move(t);
        } else if (gf.number == 11) {
          g.inputs.push_back(read_value_info(wire::sub(gf)));
        } else if (gf.number == 12) {
          g.outputs.push_back(read_value_info(wire::sub(gf)));
        }
      }
    }
  }
  if (!has_graph) throw FormatError(file, "", "no graph in the ONNX model");
  return g;
}

// ---- graph → layers ----------------------------------------------------------------------------------

class Converter {
 public:
  Converter(const Graph& g, const std::string& file) : g_(g), file_(file) {
    for (const Node& n : g_.nodes)
      if (n.op != "Constant") nodes_.push_back(&n);  // Constant nodes are constants, not layers
  }

  [[noreturn]] void fail(const Node& n, const std::string& message) const {
    throw FormatError(file_, "node '" + n.name + "' (op " + n.op + ")", message);
  }

  const OnnxTensor* constant(const std::string& name) const {
    const auto it = g_.constants.find(name);
    return it == g_.constants.end() ? nullptr : &it->second;
  }

  const OnnxTensor& require_constant(const Node& n, std::size_t input) const {
    if (input >= n.inputs.size() || n.inputs[input].empty()) fail(n, "missing input " + std::to_string(input));
    const OnnxTensor* t = constant(n.inputs[input]);
    if (t == nullptr) fail(n, "input '" + n.inputs[input] + "' must be a constant (initializer or Constant)");
    return *t;
  }

  float attr_f(const Node& n, const char* name, float fallback) const {
    const Attribute* a = n.attribute(name);
    return a != nullptr && a->has_f ? a->f : fallback;
  }
  std::int64_t attr_i(const Node& n, const char* name, std::int64_t fallback) const {
    const Attribute* a = n.attribute(name);
    return a != nullptr && a->has_i ? a->i : fallback;
  }

  //! A per-feature vector from a constant of `width` elements, or of 1 (broadcast).
  std::vector<double> feature_vector(const Node& n, const OnnxTensor& t) const {
    if (t.values.size() == 1) return std::vector<double>(std::size_t(width_), t.values[0]);
    if (std::int64_t(t.values.size()) != width_) {
      fail(n, "constant '" + t.name + "' has " + std::to_string(t.values.size()) + " values for " +
                  std::to_string(width_) + " features");
    }
    return t.values;
  }

  //! Index of the input that is the running tensor, or throws.
  std::size_t chained_input(const Node& n) const {
    for (std::size_t k = 0; k < n.inputs.size(); ++k)
      if (n.inputs[k] == cur_) return k;
    fail(n, "does not consume the output of the previous layer ('" + cur_ + "'): only a chain of layers is supported");
  }

  std::size_t consumers(const std::string& name) const {
    std::size_t c = 0;
    for (const auto& n : g_.nodes)
      for (const auto& in : n.inputs) c += in == name ? 1 : 0;
    return c;
  }

  bool is_const_scalar(const std::string& name, double value, double tol) const {
    const OnnxTensor* t = constant(name);
    return t != nullptr && t->values.size() == 1 && std::abs(t->values[0] - value) <= tol;
  }

  void add_dense(const Node& n, std::vector<double> weights_out_in, std::int64_t outputs, std::vector<double> bias) {
    LayerConfig l;
    l.kind = LayerConfig::Kind::Dense;
    l.name = n.name;
    l.inputs = width_;
    l.outputs = outputs;
    l.weights = std::move(weights_out_in);
    l.bias = std::move(bias);
    cfg_.layers.push_back(std::move(l));
    width_ = outputs;
  }

  void add_activation(const Node& n, const ActivationSpec& a) {
    LayerConfig l;
    l.kind = LayerConfig::Kind::Activation;
    l.name = n.name;
    l.inputs = l.outputs = width_;
    l.activation = a;
    cfg_.layers.push_back(std::move(l));
  }

  //! Weight of a Dense as outputs × inputs from a constant [K, N] (transposed = false) or [N, K].
  std::vector<double> dense_weights(const Node& n, const OnnxTensor& w, bool transposed, std::int64_t& outputs) const {
    if (w.dims.size() != 2) fail(n, "weight '" + w.name + "' is not a matrix");
    const std::int64_t k = transposed ? w.dims[1] : w.dims[0];
    outputs = transposed ? w.dims[0] : w.dims[1];
    if (k != width_) {
      fail(n, "weight '" + w.name + "' has " + std::to_string(k) + " inputs, the layer receives " +
                  std::to_string(width_));
    }
    if (transposed) return w.values;
    std::vector<double> out(w.values.size());
    for (std::int64_t i = 0; i < k; ++i)
      for (std::int64_t o = 0; o < outputs; ++o) out[std::size_t(o * k + i)] = w.values[std::size_t(i * outputs + o)];
    return out;
  }

  std::vector<double> bias_vector(const Node& n, const OnnxTensor& b, std::int64_t outputs) const {
    if (b.values.size() == 1) return std::vector<double>(std::size_t(outputs), b.values[0]);
    if (std::int64_t(b.values.size()) != outputs) {
      fail(n, "bias '" + b.name + "' has " + std::to_string(b.values.size()) + " values for " +
                  std::to_string(outputs) + " outputs");
    }
    return b.values;
  }

  //! Div(x, √2) or Mul(x, 1/√2) → Erf → Add 1 → Mul with x → Mul 0.5: exact GELU. Returns nodes used.
  std::size_t match_gelu(std::size_t i) const {
    if (i + 4 >= nodes_.size()) return 0;
    const Node& scale = *nodes_[i];
    const bool div = scale.op == "Div" && scale.inputs.size() == 2 && scale.inputs[0] == cur_ &&
                     is_const_scalar(scale.inputs[1], std::sqrt(2.0), 1e-6);
    const bool mul = scale.op == "Mul" && scale.inputs.size() == 2 && scale.inputs[0] == cur_ &&
                     is_const_scalar(scale.inputs[1], std::sqrt(0.5), 1e-6);
    if (!div && !mul) return 0;
    const Node& erf = *nodes_[i + 1];
    const Node& add = *nodes_[i + 2];
    const Node& mx = *nodes_[i + 3];
    const Node& half = *nodes_[i + 4];
    const auto other = [](const Node& n, const std::string& a) { return n.inputs[0] == a ? n.inputs[1] : n.inputs[0]; };
    // A node of the pattern without an output (or Erf without an input) is no GELU.
    for (const Node* n : {&scale, &erf, &add, &mx}) {
      if (n->outputs.empty()) return 0;
    }
    if (erf.inputs.empty()) return 0;
    if (erf.op != "Erf" || erf.inputs.at(0) != scale.outputs.at(0)) return 0;
    if (add.op != "Add" || add.inputs.size() != 2 || !is_const_scalar(other(add, erf.outputs.at(0)), 1.0, 1e-12))
      return 0;
    if (mx.op != "Mul" || mx.inputs.size() != 2 || other(mx, add.outputs.at(0)) != cur_) return 0;
    if (half.op != "Mul" || half.inputs.size() != 2 || !is_const_scalar(other(half, mx.outputs.at(0)), 0.5, 1e-12))
      return 0;
    return 5;
  }

  //! ReduceMean over the feature axis (axes as attribute, opset < 18, or as a constant input) with
  //! keepdims = 1, reading `input`.
  bool is_feature_mean(const Node& n, const std::string& input) const {
    if (n.op != "ReduceMean" || n.inputs.empty() || n.inputs[0] != input || n.outputs.empty()) return false;
    if (attr_i(n, "keepdims", 1) != 1) return false;
    std::vector<double> axes;
    if (const Attribute* a = n.attribute("axes"); a != nullptr) {
      for (const auto v : a->ints) axes.push_back(double(v));
    } else if (n.inputs.size() > 1 && constant(n.inputs[1]) != nullptr) {
      axes = constant(n.inputs[1])->values;
    }
    return axes.size() == 1 && (axes[0] == -1.0 || axes[0] == 1.0);
  }

  //! The decomposed LayerNorm that exporters write before opset 17: ReduceMean → Sub (x − μ) → Pow 2 →
  //! ReduceMean → Add eps → Sqrt → Div, then optionally Mul gamma and Add beta (per-feature constants).
  //! Returns the nodes used (0: no match) and fills `out` with a LayerNorm layer.
  std::size_t match_layer_norm(std::size_t i, LayerConfig& out) const {
    if (i + 6 >= nodes_.size()) return 0;
    const Node& mean = *nodes_[i];
    if (!is_feature_mean(mean, cur_)) return 0;
    const Node& sub = *nodes_[i + 1];
    const Node& pow = *nodes_[i + 2];
    const Node& var = *nodes_[i + 3];
    const Node& add = *nodes_[i + 4];
    const Node& sqrt = *nodes_[i + 5];
    const Node& div = *nodes_[i + 6];
    for (const Node* n : {&sub, &pow, &var, &add, &sqrt, &div}) {
      if (n->outputs.empty() || n->inputs.empty()) return 0;
    }
    const auto other = [](const Node& n, const std::string& a) { return n.inputs[0] == a ? n.inputs[1] : n.inputs[0]; };
    if (sub.op != "Sub" || sub.inputs.size() != 2 || sub.inputs[0] != cur_ || sub.inputs[1] != mean.outputs[0])
      return 0;
    if (consumers(mean.outputs[0]) != 1 || consumers(sub.outputs[0]) != 2) return 0;
    if (pow.op != "Pow" || pow.inputs.size() != 2 || pow.inputs[0] != sub.outputs[0] ||
        !is_const_scalar(pow.inputs[1], 2.0, 0.0))
      return 0;
    if (!is_feature_mean(var, pow.outputs[0])) return 0;
    if (add.op != "Add" || add.inputs.size() != 2 ||
        (add.inputs[0] != var.outputs[0] && add.inputs[1] != var.outputs[0]))
      return 0;
    const OnnxTensor* eps = constant(other(add, var.outputs[0]));
    if (eps == nullptr || eps->values.size() != 1 || !(eps->values[0] >= 0.0)) return 0;
    if (sqrt.op != "Sqrt" || sqrt.inputs[0] != add.outputs[0]) return 0;
    if (div.op != "Div" || div.inputs.size() != 2 || div.inputs[0] != sub.outputs[0] ||
        div.inputs[1] != sqrt.outputs[0])
      return 0;
    for (const Node* n : {&pow, &var, &add, &sqrt}) {
      if (consumers(n->outputs[0]) != 1) return 0;
    }
    out = LayerConfig{};
    out.kind = LayerConfig::Kind::LayerNorm;
    out.name = mean.name;
    out.inputs = out.outputs = width_;
    out.epsilon = eps->values[0];
    std::size_t used = 7;
    std::string last = div.outputs[0];
    // Optional per-feature Mul gamma, then Add beta, each the only consumer of what it reads.
    const auto affine_constant = [&](const char* op, std::vector<double>& into) {
      if (i + used >= nodes_.size() || consumers(last) != 1) return;
      const Node& n = *nodes_[i + used];
      if (n.op != op || n.inputs.size() != 2 || n.outputs.empty() || (n.inputs[0] != last && n.inputs[1] != last))
        return;
      const OnnxTensor* c = constant(other(n, last));
      if (c == nullptr || (c->values.size() != 1 && std::int64_t(c->values.size()) != width_)) return;
      into = feature_vector(n, *c);
      last = n.outputs[0];
      ++used;
    };
    affine_constant("Mul", out.gamma);
    affine_constant("Add", out.beta);
    return used;
  }

  layers::MlpConfig convert() {
    // Graph inputs that are not initializers (older exporters list weights as inputs too).
    std::vector<ValueInfo> inputs;
    for (const auto& v : g_.inputs)
      if (constant(v.name) == nullptr) inputs.push_back(v);
    if (inputs.empty()) throw FormatError(file_, "graph", "no input");
    if (g_.outputs.size() != 1)
      throw FormatError(file_, "graph", "expected one output, found " + std::to_string(g_.outputs.size()));
    for (const auto& v : inputs) {
      if (v.dims.size() != 2 || v.dims[1] <= 0) {
        throw FormatError(file_, "input '" + v.name + "'", "expected a [batch, features] input with known features");
      }
      cfg_.inputs.push_back({v.name, v.dims[1]});
    }
    std::size_t i = 0;
    if (inputs.size() == 1) {
      cur_ = inputs[0].name;
      width_ = inputs[0].dims[1];
    } else {
      // Several inputs: the first node must concatenate them, in order, along the features.
      const Node* first = nodes_.empty() ? nullptr : nodes_[0];
      if (first == nullptr || first->op != "Concat" || first->inputs.size() != inputs.size()) {
        throw FormatError(file_, "graph", "several inputs must first be joined by one Concat");
      }
      const std::int64_t axis = attr_i(*first, "axis", 1);
      if (axis != 1 && axis != -1) fail(*first, "Concat of inputs must be along axis 1");
      for (std::size_t k = 0; k < inputs.size(); ++k) {
        if (first->inputs[k] != inputs[k].name) fail(*first, "must concatenate the graph inputs in their order");
        width_ += inputs[k].dims[1];
      }
      cur_ = first->outputs.at(0);
      ++i;
    }
    for (; i < nodes_.size(); ++i) {
      const Node& n = *nodes_[i];
      if (!n.domain.empty() && n.domain != "ai.onnx") fail(n, "operator domain '" + n.domain + "' is not supported");
      if (n.outputs.empty()) fail(n, "has no output");
      if (const std::size_t used = match_gelu(i)) {
        add_activation(n, {Activation::Gelu});
        cur_ = nodes_[i + used - 1]->outputs.at(0);
        i += used - 1;
        continue;
      }
      if (LayerConfig ln; const std::size_t used = match_layer_norm(i, ln)) {
        cfg_.layers.push_back(std::move(ln));
        cur_ = nodes_[i + used - 1]->outputs.at(0);
        i += used - 1;
        continue;
      }
      const std::size_t x = chained_input(n);
      if (n.op == "Gemm") {
        if (x != 0) fail(n, "the layer input must be input A");
        if (attr_f(n, "alpha", 1.0f) != 1.0f || attr_i(n, "transA", 0) != 0) fail(n, "only alpha = 1, transA = 0");
        std::int64_t outputs = 0;
        auto w = dense_weights(n, require_constant(n, 1), attr_i(n, "transB", 0) != 0, outputs);
        std::vector<double> bias;
        if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
          if (attr_f(n, "beta", 1.0f) != 1.0f) fail(n, "only beta = 1");
          bias = bias_vector(n, require_constant(n, 2), outputs);
        }
        add_dense(n, std::move(w), outputs, std::move(bias));
      } else if (n.op == "MatMul") {
        if (x != 0) fail(n, "the layer input must be the left operand");
        std::int64_t outputs = 0;
        auto w = dense_weights(n, require_constant(n, 1), false, outputs);
        std::vector<double> bias;
        // MatMul + Add(bias): one Dense.
        if (i + 1 < nodes_.size() && nodes_[i + 1]->op == "Add" && consumers(n.outputs[0]) == 1) {
          const Node& add = *nodes_[i + 1];
          const std::size_t other = add.inputs.at(0) == n.outputs[0] ? 1 : 0;
          if (add.inputs.at(1 - other) == n.outputs[0] && constant(add.inputs.at(other)) != nullptr) {
            bias = bias_vector(add, *constant(add.inputs[other]), outputs);
            add_dense(n, std::move(w), outputs, std::move(bias));
            cur_ = add.outputs.at(0);
            ++i;
            continue;
          }
        }
        add_dense(n, std::move(w), outputs, std::move(bias));
      } else if (n.op == "Add" || n.op == "Sub" || n.op == "Mul" || n.op == "Div") {
        if (n.inputs.size() != 2) fail(n, "expected two inputs");
        const OnnxTensor& c = require_constant(n, 1 - x);
        const auto v = feature_vector(n, c);
        LayerConfig l;
        l.kind = LayerConfig::Kind::Affine;
        l.name = n.name;
        l.inputs = l.outputs = width_;
        if (n.op == "Add") {
          l.offset = v;
        } else if (n.op == "Mul") {
          l.scale = v;
        } else if (n.op == "Sub" && x == 0) {  // x − c
          l.offset = v;
          for (auto& o : l.offset) o = -o;
        } else if (n.op == "Sub") {  // c − x
          l.scale.assign(v.size(), -1.0);
          l.shift = v;
        } else if (x == 0) {  // x / c
          l.scale = v;
          for (auto& s : l.scale) s = 1.0 / s;
        } else {
          fail(n, "division by the layer input is not supported");
        }
        cfg_.layers.push_back(std::move(l));
      } else if (n.op == "Relu") {
        add_activation(n, {Activation::Relu});
      } else if (n.op == "LeakyRelu") {
        add_activation(n, {Activation::LeakyRelu, attr_f(n, "alpha", 0.01f)});
      } else if (n.op == "Elu") {
        add_activation(n, {Activation::Elu, attr_f(n, "alpha", 1.0f)});
      } else if (n.op == "Selu") {
        if (std::abs(attr_f(n, "alpha", 1.67326319217681884765625f) - 1.6732632423543772) > 1e-6 ||
            std::abs(attr_f(n, "gamma", 1.05070102214813232421875f) - 1.0507009873554805) > 1e-6) {
          fail(n, "only the standard SELU constants are supported");
        }
        add_activation(n, {Activation::Selu});
      } else if (n.op == "Sigmoid") {
        // Sigmoid(x) → Mul(x, ·): SiLU.
        if (i + 1 < nodes_.size() && nodes_[i + 1]->op == "Mul") {
          const Node& m = *nodes_[i + 1];
          if (m.inputs.size() == 2 && ((m.inputs[0] == cur_ && m.inputs[1] == n.outputs[0]) ||
                                       (m.inputs[1] == cur_ && m.inputs[0] == n.outputs[0]))) {
            add_activation(n, {Activation::Silu});
            cur_ = m.outputs.at(0);
            ++i;
            continue;
          }
        }
        add_activation(n, {Activation::Sigmoid});
      } else if (n.op == "Tanh") {
        add_activation(n, {Activation::Tanh});
      } else if (n.op == "HardSigmoid") {
        add_activation(n, {Activation::HardSigmoid, attr_f(n, "alpha", 0.2f), attr_f(n, "beta", 0.5f)});
      } else if (n.op == "Clip") {
        // Bounds as attributes (opset < 11) or as optional constant inputs 1 and 2 (opset >= 11).
        double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
        if (g_.opset != 0 && g_.opset < 11) {
          lo = attr_f(n, "min", -std::numeric_limits<float>::infinity());
          hi = attr_f(n, "max", std::numeric_limits<float>::infinity());
        } else {
          for (std::size_t k = 1; k < 3 && k < n.inputs.size(); ++k) {
            if (n.inputs[k].empty()) continue;
            const OnnxTensor& c = require_constant(n, k);
            if (c.values.size() != 1) fail(n, std::string(k == 1 ? "min" : "max") + " must be a scalar");
            (k == 1 ? lo : hi) = c.values[0];
          }
        }
        add_activation(n, {Activation::Clip, lo, hi});
      } else if (n.op == "Softmax") {
        const std::int64_t axis = attr_i(n, "axis", g_.opset >= 13 ? -1 : 1);
        if (axis != -1 && axis != 1) fail(n, "only the feature axis is supported");
        add_activation(n, {Activation::Softmax});
      } else if (n.op == "BatchNormalization") {
        if (n.outputs.size() > 1) fail(n, "training-mode outputs are not supported");
        LayerConfig l;
        l.kind = LayerConfig::Kind::BatchNorm;
        l.name = n.name;
        l.inputs = l.outputs = width_;
        l.gamma = feature_vector(n, require_constant(n, 1));
        l.beta = feature_vector(n, require_constant(n, 2));
        l.mean = feature_vector(n, require_constant(n, 3));
        l.variance = feature_vector(n, require_constant(n, 4));
        l.epsilon = attr_f(n, "epsilon", 1e-5f);
        cfg_.layers.push_back(std::move(l));
      } else if (n.op == "LayerNormalization") {
        const std::int64_t axis = attr_i(n, "axis", -1);
        if (axis != -1 && axis != 1) fail(n, "only the feature axis is supported");
        LayerConfig l;
        l.kind = LayerConfig::Kind::LayerNorm;
        l.name = n.name;
        l.inputs = l.outputs = width_;
        l.gamma = feature_vector(n, require_constant(n, 1));
        if (n.inputs.size() > 2 && !n.inputs[2].empty()) l.beta = feature_vector(n, require_constant(n, 2));
        l.epsilon = attr_f(n, "epsilon", 1e-5f);
        cfg_.layers.push_back(std::move(l));
      } else if (n.op == "Identity" || n.op == "Dropout") {
        // no-ops in inference
      } else if (n.op == "Flatten") {
        if (attr_i(n, "axis", 1) != 1) fail(n, "only axis 1 is supported");
      } else if (n.op == "Reshape") {
        const OnnxTensor& shape = require_constant(n, 1);
        if (shape.values.size() != 2 || (shape.values[1] != double(width_) && shape.values[1] != -1.0)) {
          fail(n, "only a reshape to [batch, " + std::to_string(width_) + "] is supported");
        }
      } else {
        fail(n, "unsupported op");
      }
      cur_ = n.outputs[0];
    }
    if (cur_ != g_.outputs[0].name) {
      throw FormatError(file_, "output '" + g_.outputs[0].name + "'",
                        "is not the end of the layer chain ('" + cur_ + "')");
    }
    cfg_.output_name = g_.outputs[0].name;
    return cfg_;
  }

 private:
  const Graph& g_;
  std::vector<const Node*> nodes_;
  std::string file_;
  layers::MlpConfig cfg_;
  std::string cur_;
  std::int64_t width_ = 0;
};

}  // namespace

layers::MlpConfig parse_onnx(std::string_view bytes, const std::string& file) {
  Graph g;
  try {
    g = read_model(bytes, file);
  } catch (const wire::WireError& e) {
    throw FormatError(file, "byte " + std::to_string(e.offset()), std::string("malformed protobuf: ") + e.what());
  }
  if (g.opset != 0 && (g.opset < 7 || g.opset > 21)) {
    throw FormatError(file, "opset_import", "opset " + std::to_string(g.opset) + " is outside the supported 7..21");
  }
  // Constant nodes become constants.
  for (const Node& n : g.nodes) {
    if (n.op != "Constant") continue;
    const Attribute* v = n.attribute("value");
    if (v != nullptr && v->has_t && n.outputs.size() == 1) {
      OnnxTensor t = v->t;
      t.name = n.outputs[0];
      g.constants[t.name] = std::move(t);
    } else if (const Attribute* vf = n.attribute("value_float"); vf != nullptr && n.outputs.size() == 1) {
      g.constants[n.outputs[0]] = OnnxTensor{n.outputs[0], {}, 1, {double(vf->f)}, n.offset};
    } else {
      throw FormatError(file, "node '" + n.name + "' (op Constant)", "only tensor or float constants are supported");
    }
  }
  try {
    return Converter(g, file).convert();
  } catch (const std::out_of_range&) {
    // The converter reads nodes' inputs and outputs with at(): a node missing one is a bad file.
    throw FormatError(file, "graph", "malformed graph: a node lacks an input or output the op needs");
  }
}

layers::MlpConfig load_onnx(const std::string& path) { return parse_onnx(read_file(path, std::size_t(1) << 30), path); }

}  // namespace portml::io
