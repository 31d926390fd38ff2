// SPDX-License-Identifier: Apache-2.0
// TMVA BDT weight files (XML, optionally gzip-compressed) -> bdt::ForestConfig.
//
// Semantics (TMVA's MethodBDT / DecisionTree / DecisionTreeNode, as also read by CMSSW's GBRForestTools):
//  - a node sends an event right iff (x >= Cut) == cType (ROOT >= 5.34/20 and >= 6.02; `>` before);
//    cType = 0 nodes are stored here with their children swapped, so every node reads "left iff x < Cut"
//    (or "x <= Cut" for old files). TMVA has no missing values: a NaN compares false, which after the
//    swap always means "left".
//  - Grad (BDTG): the value of a leaf is `res`; classification output 2 / (1 + exp(-2 F)) - 1,
//    regression F + boostWeight of tree 0, multiclass: tree i adds to class i mod K, then softmax.
//  - AdaBoost and the other boost types: output sum_i w_i v_i / sum_i w_i with w_i the tree's
//    boostWeight and v_i the leaf's nType (+1 / -1) with UseYesNoLeaf, else its purity; the leaves
//    here hold w_i v_i and the transform divides by sum_i w_i.
#include <portml/io/error.hpp>
#include <portml/io/forest_loaders.hpp>
#include <portml/io/format.hpp>

#include <tinyxml2.h>

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace portml::io {

namespace {

using tinyxml2::XMLElement;

class Reader {
 public:
  explicit Reader(std::string name) : name_(std::move(name)) {}

  [[noreturn]] void fail(const XMLElement* at, const std::string& message) const {
    throw FormatError(name_, at != nullptr ? "line " + std::to_string(at->GetLineNum()) : std::string(), message);
  }

  const XMLElement* child(const XMLElement* parent, const char* name) const {
    const XMLElement* e = parent->FirstChildElement(name);
    if (e == nullptr) fail(parent, std::string("missing <") + name + ">");
    return e;
  }

  std::string text_attribute(const XMLElement* e, const char* name) const {
    const char* v = e->Attribute(name);
    if (v == nullptr) fail(e, std::string("<") + e->Name() + "> without attribute " + name);
    return v;
  }

  double number(const XMLElement* e, const char* name) const {
    double v = 0;
    if (e->QueryDoubleAttribute(name, &v) != tinyxml2::XML_SUCCESS) {
      fail(e, std::string("<") + e->Name() + "> attribute " + name + " is missing or not a number");
    }
    return v;
  }

  int integer(const XMLElement* e, const char* name) const {
    int v = 0;
    if (e->QueryIntAttribute(name, &v) != tinyxml2::XML_SUCCESS) {
      fail(e, std::string("<") + e->Name() + "> attribute " + name + " is missing or not an integer");
    }
    return v;
  }

 private:
  std::string name_;
};

//! The value of <Option name="..."> in <Options> ("" when absent).
std::string option(const XMLElement* options, const char* name) {
  for (const XMLElement* o = options->FirstChildElement("Option"); o != nullptr; o = o->NextSiblingElement("Option")) {
    const char* n = o->Attribute("name");
    if (n != nullptr && std::string(n) == name) return o->GetText() != nullptr ? o->GetText() : "";
  }
  return "";
}

//! Whether the file's ROOT release cuts with `>=` (ROOT >= 5.34/20 and >= 6.02) rather than `>`.
//! A file without a readable release is taken as recent.
bool uses_greater_equal(const XMLElement* setup) {
  const XMLElement* info = setup->FirstChildElement("GeneralInfo");
  if (info == nullptr) return true;
  for (const XMLElement* i = info->FirstChildElement("Info"); i != nullptr; i = i->NextSiblingElement("Info")) {
    const char* n = i->Attribute("name");
    const char* v = i->Attribute("value");
    if (n == nullptr || v == nullptr || std::string(n) != "ROOT Release") continue;
    int major = 0, minor = 0, patch = 0;
    if (std::sscanf(v, "%d.%d/%d", &major, &minor, &patch) < 2) return true;
    if (major != 5) return major > 6 || (major == 6 && minor >= 2);
    return minor > 34 || (minor == 34 && patch >= 20);
  }
  return true;
}

enum class LeafValue { response, purity, yes_no };

struct TreeBuilder {
  const Reader& rd;
  LeafValue leaf_value;
  double weight;  // multiplies the leaf value
  std::int32_t num_features;
  bdt::TreeConfig tree;

  std::int32_t add_node() {
    tree.left.push_back(-1);
    tree.right.push_back(-1);
    tree.feature.push_back(0);
    tree.threshold.push_back(0);
    tree.nan_left.push_back(1);
    tree.value.push_back(0);
    return static_cast<std::int32_t>(tree.left.size() - 1);
  }

  //! Adds the subtree of <Node> e (recursively; TMVA trees are at most a few tens deep).
  std::int32_t build(const XMLElement* e, int depth) {
    if (depth > 64) rd.fail(e, "tree deeper than 64 levels");
    const std::int32_t self = add_node();
    const XMLElement* left = nullptr;
    const XMLElement* right = nullptr;
    for (const XMLElement* c = e->FirstChildElement("Node"); c != nullptr; c = c->NextSiblingElement("Node")) {
      const std::string pos = rd.text_attribute(c, "pos");
      if (pos == "l") {
        left = c;
      } else if (pos == "r") {
        right = c;
      } else {
        rd.fail(c, "child <Node> with pos=\"" + pos + "\"");
      }
    }
    if ((left == nullptr) != (right == nullptr)) rd.fail(e, "<Node> with one child");
    if (left == nullptr) {
      double v = 0;
      switch (leaf_value) {
        case LeafValue::response:
          v = rd.number(e, "res");
          break;
        case LeafValue::purity:
          v = rd.number(e, "purity");
          break;
        case LeafValue::yes_no:
          v = rd.integer(e, "nType");
          break;
      }
      tree.value[self] = weight * v;
      return self;
    }
    if (e->Attribute("NCoef") != nullptr && rd.integer(e, "NCoef") != 0) {
      rd.fail(e, "Fisher cuts (NCoef > 0) are not supported");
    }
    const int ivar = rd.integer(e, "IVar");
    if (ivar < 0 || ivar >= num_features) rd.fail(e, "IVar " + std::to_string(ivar) + " out of range");
    const double cut = rd.number(e, "Cut");
    const bool c_type = rd.integer(e, "cType") != 0;
    // cType 1: right iff x >= cut. cType 0: right iff x < cut, so the children swap.
    const std::int32_t l = build(c_type ? left : right, depth + 1);
    const std::int32_t r = build(c_type ? right : left, depth + 1);
    tree.feature[self] = ivar;
    tree.threshold[self] = cut;
    tree.nan_left[self] = 1;  // NaN >= cut is false: the (swapped) left child
    tree.left[self] = l;
    tree.right[self] = r;
    return self;
  }
};

}  // namespace

bdt::ForestConfig parse_tmva_xml(std::string_view text, const std::string& name) {
  Reader rd(name);
  tinyxml2::XMLDocument doc;
  if (doc.Parse(text.data(), text.size()) != tinyxml2::XML_SUCCESS) {
    throw FormatError(name, "line " + std::to_string(doc.ErrorLineNum()),
                      std::string("invalid XML: ") + doc.ErrorStr());
  }
  const XMLElement* setup = doc.FirstChildElement("MethodSetup");
  if (setup == nullptr) rd.fail(nullptr, "no <MethodSetup>: not a TMVA weight file");
  const std::string method = setup->Attribute("Method") != nullptr ? setup->Attribute("Method") : "";
  if (method.rfind("BDT", 0) != 0) rd.fail(setup, "method \"" + method + "\" is not a BDT");
  const XMLElement* options = rd.child(setup, "Options");
  const XMLElement* variables = rd.child(setup, "Variables");
  const XMLElement* weights = rd.child(setup, "Weights");

  if (const XMLElement* transforms = setup->FirstChildElement("Transformations")) {
    int n = 0;
    transforms->QueryIntAttribute("NTransformations", &n);
    if (n > 0) {
      const XMLElement* t = transforms->FirstChildElement("Transform");
      const std::string kind = t != nullptr && t->Attribute("Name") != nullptr ? t->Attribute("Name") : "?";
      rd.fail(transforms, "input transformation \"" + kind + "\" is not supported");
    }
  }

  bdt::ForestConfig config;
  config.source = "tmva";
  config.split_rule = uses_greater_equal(setup) ? bdt::SplitRule::left_if_less : bdt::SplitRule::left_if_less_equal;
  config.precision = bdt::Precision::float64;
  for (const XMLElement* v = variables->FirstChildElement("Variable"); v != nullptr;
       v = v->NextSiblingElement("Variable")) {
    config.feature_names.push_back(rd.text_attribute(v, "Expression"));
  }
  config.num_features = static_cast<std::int32_t>(config.feature_names.size());
  if (config.num_features == 0) rd.fail(variables, "no <Variable>");

  const int analysis = weights->Attribute("AnalysisType") != nullptr ? rd.integer(weights, "AnalysisType") : 0;
  const std::string boost = option(options, "BoostType");
  const bool grad = boost == "Grad";
  const bool yes_no = option(options, "UseYesNoLeaf") != "False";
  int num_classes = 1;
  if (analysis == 2) {
    const XMLElement* classes = rd.child(setup, "Classes");
    num_classes = rd.integer(classes, "NClass");
    if (!grad) rd.fail(options, "multiclass BDT needs BoostType=Grad, got \"" + boost + "\"");
    if (num_classes < 2) rd.fail(classes, "multiclass with fewer than 2 classes");
  } else if (analysis != 0 && analysis != 1) {
    rd.fail(weights, "AnalysisType " + std::to_string(analysis) + " is not supported");
  }
  if (analysis == 1 && boost == "AdaBoostR2") {
    rd.fail(options, "BoostType=AdaBoostR2 regression (weighted median) is not supported");
  }
  config.num_outputs = num_classes;
  config.base_margin.assign(std::size_t(num_classes), 0.0);

  LeafValue leaf = LeafValue::response;
  if (analysis == 0 && !grad) leaf = yes_no ? LeafValue::yes_no : LeafValue::purity;
  const bool weighted = !grad;  // AdaBoost family: w_i * v_i, divided by sum of w_i
  double weight_sum = 0;
  double first_boost_weight = 0;
  int t = 0;
  for (const XMLElement* e = weights->FirstChildElement("BinaryTree"); e != nullptr;
       e = e->NextSiblingElement("BinaryTree"), ++t) {
    const double w = e->Attribute("boostWeight") != nullptr ? rd.number(e, "boostWeight") : 1.0;
    if (t == 0) first_boost_weight = w;
    weight_sum += w;
    const XMLElement* root = rd.child(e, "Node");
    TreeBuilder builder{rd, leaf, weighted ? w : 1.0, config.num_features, {}};
    builder.build(root, 0);
    builder.tree.output = t % num_classes;
    config.trees.push_back(std::move(builder.tree));
  }
  if (config.trees.empty()) rd.fail(weights, "no <BinaryTree>");

  if (analysis == 0 && grad) {
    config.objective = "tmva:bdtg";
    config.transform = bdt::OutputTransform::tmva_tanh;
  } else if (analysis == 0) {
    config.objective = "tmva:" + boost;
    config.transform = bdt::OutputTransform::divide;
    config.transform_scale = weight_sum;
  } else if (analysis == 1 && grad) {
    // TMVA adds boostWeight of tree 0 after the sum of the trees; here it is the base margin, added
    // first: the sum may differ from TMVA's in the last bits (double).
    config.objective = "tmva:regression:grad";
    config.base_margin = {first_boost_weight};
  } else if (analysis == 1) {
    config.objective = "tmva:regression:" + boost;
    config.transform = bdt::OutputTransform::divide;
    config.transform_scale = weight_sum;
  } else {
    config.objective = "tmva:multiclass";
    config.transform = bdt::OutputTransform::softmax;
  }
  return config;
}

bdt::ForestConfig load_tmva_xml(const std::string& path) { return parse_tmva_xml(read_file(path), path); }

}  // namespace portml::io
