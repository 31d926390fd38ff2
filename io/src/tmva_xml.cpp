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
//  - <Transformations>: read into bdt::InputTransform (see read_transformations below); Gauss and
//    Uniform rebuild TMVA's cumulative PDFs here (read_pdf).
#include <portml/io/error.hpp>
#include <portml/io/forest_loaders.hpp>
#include <portml/io/format.hpp>

#include <tinyxml2.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
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

// ---- input transformations (<Transformations>) ----------------------------------------------------
//
// TMVA's Reader transforms every event before the BDT (TransformationHandler::Transform), step by step
// in file order. Read from a weight file, every step uses its last class block (the reference class
// is -1 there, which each VariableTransform maps to its last block: "all classes" for multiclass /
// two-class files, the only block otherwise). Event values are float32 between steps.

//! Most steps a file may chain (TMVA files have one to three).
constexpr std::size_t max_transform_steps = 32;

struct VariableName {
  std::string label, expression;
};

//! A number in TMVA's text (`std::stringstream >> T`): leading blanks and one '+' allowed.
template <class T>
bool parse_number(std::string_view text, T* out) {
  while (!text.empty() &&
         (text.front() == ' ' || text.front() == '\t' || text.front() == '\n' || text.front() == '\r')) {
    text.remove_prefix(1);
  }
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

template <class T>
T number_attribute(const Reader& rd, const XMLElement* e, const char* name) {
  T v{};
  if (!parse_number(std::string_view(rd.text_attribute(e, name)), &v)) {
    rd.fail(e, std::string("<") + e->Name() + "> attribute " + name + " is not a number");
  }
  return v;
}

//! Exactly `count` whitespace-separated doubles of the element's text (nothing allocated up front:
//! the values are bounded by the text's length).
std::vector<double> number_list(const Reader& rd, const XMLElement* e, std::size_t count) {
  std::vector<double> out;
  std::string_view text = e->GetText() != nullptr ? e->GetText() : "";
  while (true) {
    const std::size_t begin = text.find_first_not_of(" \t\r\n");
    if (begin == std::string_view::npos) break;
    text.remove_prefix(begin);
    const std::size_t end = std::min(text.find_first_of(" \t\r\n"), text.size());
    double v = 0;
    if (!parse_number(text.substr(0, end), &v)) {
      rd.fail(e, std::string("<") + e->Name() + ">: not a number: \"" + std::string(text.substr(0, end)) + "\"");
    }
    if (out.size() == count) {
      rd.fail(e, std::string("<") + e->Name() + ">: more than the " + std::to_string(count) + " values declared");
    }
    out.push_back(v);
    text.remove_prefix(end);
  }
  if (out.size() != count) {
    rd.fail(e, std::string("<") + e->Name() + ">: " + std::to_string(out.size()) + " values, " + std::to_string(count) +
                   " declared");
  }
  return out;
}

//! The variables of <Selection><Input> or <Output>: each item names a variable by Label or Expression
//! (TMVA takes the first variable that matches either).
std::vector<std::int32_t> selected_variables(const Reader& rd, const XMLElement* list, const char* count_attribute,
                                             const std::vector<VariableName>& names, const std::string& step) {
  const int declared = rd.integer(list, count_attribute);
  if (declared < 1 || static_cast<std::size_t>(declared) > names.size()) {
    rd.fail(list, step + ": " + count_attribute + "=" + std::to_string(declared) + " outside [1, " +
                      std::to_string(names.size()) + "] (the number of <Variable>s)");
  }
  std::vector<std::int32_t> out;
  for (const XMLElement* item = list->FirstChildElement(); item != nullptr; item = item->NextSiblingElement()) {
    if (out.size() == static_cast<std::size_t>(declared)) {
      rd.fail(item, step + ": more <" + item->Name() + "> entries than " + count_attribute);
    }
    const std::string type = rd.text_attribute(item, "Type");
    const std::string label = rd.text_attribute(item, "Label");
    const std::string expression = rd.text_attribute(item, "Expression");
    if (type != "Variable") {
      rd.fail(item,
              step + ": transformation of a " + type + " ('" + label + "') is not supported (only input variables)");
    }
    std::int32_t found = -1;
    for (std::size_t v = 0; v < names.size() && found < 0; ++v) {
      if (names[v].label == label || names[v].expression == expression) found = static_cast<std::int32_t>(v);
    }
    if (found < 0) rd.fail(item, step + ": variable '" + label + "' (" + expression + ") is not in <Variables>");
    out.push_back(found);
  }
  if (out.size() != static_cast<std::size_t>(declared)) {
    rd.fail(list,
            step + ": " + std::to_string(out.size()) + " entries, " + count_attribute + "=" + std::to_string(declared));
  }
  return out;
}

//! Normalize: one <Class> block per class (ClassIndex 0, 1, ...; every block is checked); the Reader
//! uses the last.
bdt::InputTransformStep read_normalize(const Reader& rd, const XMLElement* t, bdt::InputTransformStep step) {
  const std::size_t n = step.inputs.size();
  int expected = 0;
  for (const XMLElement* c = t->FirstChildElement("Class"); c != nullptr;
       c = c->NextSiblingElement("Class"), ++expected) {
    if (rd.integer(c, "ClassIndex") != expected) {
      rd.fail(c, step.name + ": <Class> ClassIndex " + c->Attribute("ClassIndex") + ", expected " +
                     std::to_string(expected));
    }
    const XMLElement* ranges = rd.child(c, "Ranges");
    step.min.assign(n, 0.0f);
    step.max.assign(n, 0.0f);
    std::vector<char> seen(n, 0);
    for (const XMLElement* r = ranges->FirstChildElement("Range"); r != nullptr; r = r->NextSiblingElement("Range")) {
      const int index = rd.integer(r, "Index");
      if (index < 0 || static_cast<std::size_t>(index) >= n || seen[static_cast<std::size_t>(index)]++ != 0) {
        rd.fail(r, step.name + ": <Range> Index " + std::to_string(index) + " outside [0, " + std::to_string(n) +
                       ") or repeated");
      }
      // TMVA reads Min and Max as Float_t.
      step.min[static_cast<std::size_t>(index)] = number_attribute<float>(rd, r, "Min");
      step.max[static_cast<std::size_t>(index)] = number_attribute<float>(rd, r, "Max");
    }
    for (std::size_t k = 0; k < n; ++k) {
      if (seen[k] == 0) rd.fail(ranges, step.name + ": no <Range> for input " + std::to_string(k));
    }
  }
  if (expected == 0) rd.fail(t, step.name + ": no <Class>");
  return step;
}

//! Decorrelation: one <Matrix> per class (each checked); the Reader uses the last ("all classes").
bdt::InputTransformStep read_decorrelation(const Reader& rd, const XMLElement* t, bdt::InputTransformStep step) {
  const std::size_t n = step.inputs.size();
  bool any = false;
  for (const XMLElement* m = t->FirstChildElement("Matrix"); m != nullptr; m = m->NextSiblingElement("Matrix")) {
    const int rows = rd.integer(m, "Rows"), cols = rd.integer(m, "Columns");
    if (rows < 0 || cols < 0 || static_cast<std::size_t>(rows) != n || static_cast<std::size_t>(cols) != n) {
      rd.fail(m, step.name + ": <Matrix> " + std::to_string(rows) + " x " + std::to_string(cols) + " for " +
                     std::to_string(n) + " inputs");
    }
    step.matrix = number_list(rd, m, n * n);
    any = true;
  }
  if (!any) rd.fail(t, step.name + ": no <Matrix>");
  return step;
}

//! PCA: <Statistics> (means) and <Eigenvectors> per ClassIndex (each checked); the Reader uses the
//! highest ClassIndex.
bdt::InputTransformStep read_pca(const Reader& rd, const XMLElement* t, bdt::InputTransformStep step) {
  const std::size_t n = step.inputs.size();
  int stats_class = -1, vectors_class = -1;
  const XMLElement* vectors_at = nullptr;
  for (const XMLElement* e = t->FirstChildElement(); e != nullptr; e = e->NextSiblingElement()) {
    const std::string name = e->Name();
    if (name != "Statistics" && name != "Eigenvectors") continue;
    const int index = rd.integer(e, "ClassIndex");
    if (index < 0) rd.fail(e, step.name + ": negative ClassIndex");
    if (name == "Statistics") {
      if (rd.integer(e, "NRows") != static_cast<int>(n)) {
        rd.fail(e, step.name + ": <Statistics> NRows is not the " + std::to_string(n) + " inputs");
      }
      std::vector<double> mean = number_list(rd, e, n);
      if (index > stats_class) stats_class = index, step.mean = std::move(mean);
    } else {
      if (rd.integer(e, "NRows") != static_cast<int>(n) || rd.integer(e, "NCols") != static_cast<int>(n)) {
        rd.fail(e, step.name + ": <Eigenvectors> is not " + std::to_string(n) + " x " + std::to_string(n));
      }
      std::vector<double> matrix = number_list(rd, e, n * n);
      if (index > vectors_class) vectors_class = index, step.matrix = std::move(matrix), vectors_at = e;
    }
  }
  if (stats_class < 0) rd.fail(t, step.name + ": no <Statistics>");
  if (vectors_class < 0) rd.fail(t, step.name + ": no <Eigenvectors>");
  if (stats_class != vectors_class) {
    rd.fail(vectors_at, step.name + ": <Eigenvectors> up to ClassIndex " + std::to_string(vectors_class) +
                            " but <Statistics> up to " + std::to_string(stats_class));
  }
  return step;
}

// ---- Gauss / Uniform: TMVA::PDF rebuilt as PDF::ReadXML does (ROOT's VariableGaussTransform, PDF,
// TSpline1, TAxis) ----------------------------------------------------------------------------------
//
// Each input carries one <CumulativePDF_clsN> per class (plus "all classes"); the Reader uses the
// last. Its <PDF> holds the stored histogram (TH1F: float32 contents; equidistant over [XMin, XMax]
// or with <HistogramBinning> edges). Reading rebuilds the PDF: a TGraph of (bin centre, content), a
// TSpline1 over it (linear between the points; the first and last segments extrapolate), sampled at
// the centres of a 10^4-bin TH1F over the histogram's range; a sample <= 1e-12 is replaced by the
// stored content of the bin holding the centre; then max(., 1e-12), stored as float32.

//! The stored histogram of a <PDF>: contents and either [xmin, xmax] or the edges.
struct StoredHistogram {
  std::vector<double> content;  // float32 values (TH1F::SetBinContent)
  std::vector<double> edges;    // empty: equidistant
  double xmin = 0, xmax = 0;

  std::size_t size() const { return content.size(); }
  double centre(std::size_t i) const {  // TAxis::GetBinCenter(i + 1)
    if (edges.empty()) {
      const double width = (xmax - xmin) / double(size());
      return xmin + double(i) * width + 0.5 * width;
    }
    return edges[i] + 0.5 * (edges[i + 1] - edges[i]);
  }
  //! TH1::GetBinContent(TAxis::FindBin(x)): 0 in the under- and overflow bins.
  double content_at(double x) const {
    if (x < xmin || !(x < xmax)) return 0;
    std::size_t bin = 0;  // 0-based
    if (edges.empty()) {
      bin = static_cast<std::size_t>(static_cast<int>(double(size()) * (x - xmin) / (xmax - xmin)));
    } else {
      bin = static_cast<std::size_t>(std::upper_bound(edges.begin(), edges.end(), x) - edges.begin()) - 1;
    }
    return bin < size() ? content[bin] : 0;
  }
};

//! TMVA::TSpline1::Eval over the points (centre(i), content[i]).
double spline1(const StoredHistogram& h, const std::vector<double>& xs, double x) {
  const auto n = static_cast<std::ptrdiff_t>(xs.size());
  std::ptrdiff_t i = (std::upper_bound(xs.begin(), xs.end(), x) - xs.begin()) - 1;  // last xs[i] <= x
  i = std::min(std::max(i, std::ptrdiff_t{0}), n - 1);
  std::ptrdiff_t next = i;
  if ((x > xs[static_cast<std::size_t>(i)] && i != n - 1) || i == 0) {
    ++next;
  } else {
    --next;
  }
  const auto a = static_cast<std::size_t>(i), b = static_cast<std::size_t>(next);
  const double dx = xs[a] - xs[b];
  const double dy = h.content[a] - h.content[b];
  return h.content[a] + (x - xs[a]) * dy / dx;
}

//! Most bins a stored cumulative histogram may have (TMVA writes at most about 2000).
constexpr int max_pdf_bins = 1000000;

//! A <PDF> (TMVA::PDF::AddXMLTo) -> the fine histogram PDF::GetVal reads.
bdt::CumulativePdf read_pdf(const Reader& rd, const XMLElement* pdf, const std::string& where) {
  if (std::string(pdf->Name()) != "PDF") rd.fail(pdf, where + ": <" + pdf->Name() + ">, expected <PDF>");
  const int min_smooth = rd.integer(pdf, "MinNSmooth"), max_smooth = rd.integer(pdf, "MaxNSmooth");
  if (max_smooth > 0 && min_smooth >= 0) {
    rd.fail(pdf, where + ": smoothing (MinNSmooth=" + std::to_string(min_smooth) +
                     ", MaxNSmooth=" + std::to_string(max_smooth) + ") is not supported");
  }
  const int method = rd.integer(pdf, "InterpolMethod");
  if (method != 1) {
    rd.fail(pdf, where + ": InterpolMethod " + std::to_string(method) +
                     " is not supported (only 1, kSpline1, which VariableGaussTransform writes)");
  }
  const XMLElement* hist = pdf->FirstChildElement();
  if (hist == nullptr || std::string(hist->Name()) != "Histogram") rd.fail(pdf, where + ": no <Histogram>");
  const int nbins = rd.integer(hist, "NBins");
  if (nbins < 2 || nbins > max_pdf_bins) {
    rd.fail(hist, where + ": <Histogram> NBins=" + std::to_string(nbins) + " outside [2, " +
                      std::to_string(max_pdf_bins) + "]");
  }
  const std::string equidistant = rd.text_attribute(hist, "HasEquidistantBins");
  if (equidistant != "0" && equidistant != "1") {
    rd.fail(hist, where + ": <Histogram> HasEquidistantBins=\"" + equidistant + "\" is not 0 or 1");
  }
  StoredHistogram h;
  h.content = number_list(rd, hist, static_cast<std::size_t>(nbins));
  for (double& v : h.content) {
    if (!std::isfinite(v)) rd.fail(hist, where + ": <Histogram> content is not finite");
    v = static_cast<double>(static_cast<float>(v));  // a TH1F
  }
  if (equidistant == "1") {
    h.xmin = number_attribute<double>(rd, hist, "XMin");
    h.xmax = number_attribute<double>(rd, hist, "XMax");
    if (!(h.xmin < h.xmax) || !std::isfinite(h.xmin) || !std::isfinite(h.xmax)) {
      rd.fail(hist, where + ": <Histogram> XMin, XMax do not make a finite range");
    }
  } else {
    const XMLElement* binning = hist->NextSiblingElement();
    if (binning == nullptr || std::string(binning->Name()) != "HistogramBinning") {
      rd.fail(pdf, where + ": no <HistogramBinning> after a histogram without equidistant bins");
    }
    if (rd.integer(binning, "NBins") != nbins) {
      rd.fail(binning, where + ": <HistogramBinning> NBins is not the histogram's " + std::to_string(nbins));
    }
    h.edges = number_list(rd, binning, static_cast<std::size_t>(nbins) + 1);
    for (std::size_t i = 0; i < h.edges.size(); ++i) {
      if (!std::isfinite(h.edges[i]) || (i > 0 && !(h.edges[i - 1] < h.edges[i]))) {
        rd.fail(binning, where + ": <HistogramBinning> edge " + std::to_string(i) +
                             " is not finite or not above the one before");
      }
    }
    h.xmin = h.edges.front();
    h.xmax = h.edges.back();
  }
  std::vector<double> xs(h.size());
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = h.centre(i);
  bdt::CumulativePdf out;
  out.xmin = h.xmin;
  out.xmax = h.xmax;
  out.bins.resize(bdt::tmva_pdf_bins);
  const double width = (out.xmax - out.xmin) / double(bdt::tmva_pdf_bins);
  for (std::size_t b = 0; b < bdt::tmva_pdf_bins; ++b) {
    const double x = out.xmin + double(b) * width + 0.5 * width;
    double y = spline1(h, xs, x);
    if (y <= 1e-12) y = h.content_at(x);
    out.bins[b] = static_cast<float>(y >= 1e-12 ? y : 1e-12);
  }
  return out;
}

//! Gauss (also written "Uniform"): FlatOrGauss, then one <Variable VarIndex="k"> per input (k = 0, 1,
//! ...) holding <CumulativePDF_cls0>, <CumulativePDF_cls1>, ... (the same number for every input); the
//! Reader uses the last.
bdt::InputTransformStep read_gauss(const Reader& rd, const XMLElement* t, bdt::InputTransformStep step,
                                   const std::string& where, const std::vector<VariableName>& names) {
  const std::string flat_or_gauss = rd.text_attribute(t, "FlatOrGauss");
  if (flat_or_gauss != "Flat" && flat_or_gauss != "Gauss") {
    rd.fail(t, where + ": FlatOrGauss=\"" + flat_or_gauss + "\" is not Flat or Gauss");
  }
  step.kind = flat_or_gauss == "Flat" ? bdt::InputTransformKind::uniform : bdt::InputTransformKind::gauss;
  const std::size_t n = step.inputs.size();
  int classes = -1;
  for (const XMLElement* v = t->FirstChildElement(); v != nullptr; v = v->NextSiblingElement()) {
    if (std::string(v->Name()) == "Selection") continue;
    const std::size_t k = step.cdf.size();
    if (std::string(v->Name()) != "Variable") rd.fail(v, where + ": <" + v->Name() + ">, expected <Variable>");
    if (k == n) rd.fail(v, where + ": more <Variable> entries than the " + std::to_string(n) + " inputs");
    if (rd.integer(v, "VarIndex") != static_cast<int>(k)) {
      rd.fail(v, where + ": <Variable> VarIndex " + v->Attribute("VarIndex") + ", expected " + std::to_string(k));
    }
    const std::string variable = where + ", variable '" + names[static_cast<std::size_t>(step.inputs[k])].label +
                                 "' (input " + std::to_string(k) + ")";
    int c = 0;
    const XMLElement* last = nullptr;
    for (const XMLElement* e = v->FirstChildElement(); e != nullptr; e = e->NextSiblingElement(), ++c) {
      if (std::string(e->Name()) != "CumulativePDF_cls" + std::to_string(c)) {
        rd.fail(e, variable + ": <" + e->Name() + ">, expected <CumulativePDF_cls" + std::to_string(c) + ">");
      }
      last = e;
    }
    if (last == nullptr) rd.fail(v, variable + ": no <CumulativePDF_cls0>");
    if (classes >= 0 && c != classes) {
      rd.fail(v, variable + ": " + std::to_string(c) + " class blocks, the first input has " + std::to_string(classes));
    }
    classes = c;
    for (const XMLElement* e = v->FirstChildElement(); e != nullptr; e = e->NextSiblingElement()) {
      const XMLElement* pdf = e->FirstChildElement();
      if (pdf == nullptr) rd.fail(e, variable + ": <" + e->Name() + "> without <PDF>");
      bdt::CumulativePdf cdf = read_pdf(rd, pdf, variable + ", <" + e->Name() + ">");
      if (e == last) step.cdf.push_back(std::move(cdf));  // every block checked, the last kept
    }
  }
  if (step.cdf.size() != n) {
    rd.fail(
        t, where + ": " + std::to_string(step.cdf.size()) + " <Variable> entries for " + std::to_string(n) + " inputs");
  }
  return step;
}

bdt::InputTransform read_transformations(const Reader& rd, const XMLElement* transforms,
                                         const std::vector<VariableName>& names) {
  std::vector<bdt::InputTransformStep> steps;
  for (const XMLElement* t = transforms->FirstChildElement(); t != nullptr; t = t->NextSiblingElement()) {
    if (std::string(t->Name()) != "Transform") rd.fail(t, "<" + std::string(t->Name()) + "> in <Transformations>");
    if (steps.size() == max_transform_steps) {
      rd.fail(t, "more than " + std::to_string(max_transform_steps) + " input transformations");
    }
    bdt::InputTransformStep step;
    step.name = rd.text_attribute(t, "Name");
    const std::string where = "input transformation \"" + step.name + "\" (step " + std::to_string(steps.size()) + ")";
    const bool known = step.name == "Normalize" || step.name == "Decorrelation" || step.name == "PCA" ||
                       step.name == "Rearrange" || step.name == "Gauss" || step.name == "Uniform";
    if (!known) rd.fail(t, where + " is not supported");
    const XMLElement* selection = t->FirstChildElement("Selection");
    if (selection == nullptr) {
      rd.fail(t, where + ": no <Selection> (the format of TMVA before 4.0 is not supported)");
    }
    step.inputs = selected_variables(rd, rd.child(selection, "Input"), "NInputs", names, where);
    step.outputs = selected_variables(rd, rd.child(selection, "Output"), "NOutputs", names, where);
    if (step.outputs.size() != step.inputs.size()) {
      rd.fail(selection, where + ": " + std::to_string(step.inputs.size()) + " inputs but " +
                             std::to_string(step.outputs.size()) + " outputs");
    }
    if (step.name == "Normalize") {
      step.kind = bdt::InputTransformKind::normalize;
      step = read_normalize(rd, t, std::move(step));
    } else if (step.name == "Decorrelation") {
      step.kind = bdt::InputTransformKind::linear;
      step = read_decorrelation(rd, t, std::move(step));
    } else if (step.name == "PCA") {
      step.kind = bdt::InputTransformKind::pca;
      step = read_pca(rd, t, std::move(step));
    } else if (step.name == "Gauss" || step.name == "Uniform") {
      step = read_gauss(rd, t, std::move(step), where, names);
    } else {
      step.kind = bdt::InputTransformKind::rearrange;
    }
    steps.push_back(std::move(step));
  }
  if (transforms->Attribute("NTransformations") != nullptr &&
      rd.integer(transforms, "NTransformations") != static_cast<int>(steps.size())) {
    rd.fail(transforms, "NTransformations=" + std::string(transforms->Attribute("NTransformations")) + " but " +
                            std::to_string(steps.size()) + " <Transform> elements");
  }
  try {
    return bdt::InputTransform(static_cast<std::int32_t>(names.size()), std::move(steps));
  } catch (const Error& e) {
    rd.fail(transforms, e.what());
  }
}

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

  bdt::ForestConfig config;
  config.source = "tmva";
  config.split_rule = uses_greater_equal(setup) ? bdt::SplitRule::left_if_less : bdt::SplitRule::left_if_less_equal;
  config.precision = bdt::Precision::float64;
  std::vector<VariableName> names;
  for (const XMLElement* v = variables->FirstChildElement("Variable"); v != nullptr;
       v = v->NextSiblingElement("Variable")) {
    config.feature_names.push_back(rd.text_attribute(v, "Expression"));
    const char* label = v->Attribute("Label");
    names.push_back({label != nullptr ? label : config.feature_names.back(), config.feature_names.back()});
  }
  config.num_features = static_cast<std::int32_t>(config.feature_names.size());
  if (config.num_features == 0) rd.fail(variables, "no <Variable>");
  if (const XMLElement* transforms = setup->FirstChildElement("Transformations")) {
    config.input_transform = read_transformations(rd, transforms, names);
  }

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
