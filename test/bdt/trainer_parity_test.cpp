// SPDX-License-Identifier: Apache-2.0
// Forests loaded from models made by the real trainers (XGBoost 1.7 and 3.x, LightGBM 4.x) give the
// trainer's own outputs: margins bit for bit, on every layout, every ISA path, every input layout,
// batch and one-row paths alike; transformed predictions within a few float ulps (the exp of another libm).
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <portml/bdt/forest.hpp>
#include <portml/bdt/input_transform.hpp>
#include <portml/bdt/predict.hpp>
#include <portml/io/error.hpp>
#include <portml/io/format.hpp>

#include "fixtures.hpp"

namespace portml::test {
namespace {

using bdt::Forest;
using bdt::Layout;

std::vector<Isa> isas_here() {
  std::vector<Isa> isas{Isa::scalar};
  if (isa_available(Isa::avx2)) isas.push_back(Isa::avx2);
  if (isa_available(Isa::avx512)) isas.push_back(Isa::avx512);
  return isas;
}

template <class T>
std::size_t count_bit_differences(const std::vector<T>& got, const std::vector<T>& want, std::string* first) {
  std::size_t bad = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (std::memcmp(&got[i], &want[i], sizeof(T)) != 0) {
      if (bad++ == 0) {
        *first = "element " + std::to_string(i) + ": got " + std::to_string(got[i]) + ", trainer " +
                 std::to_string(want[i]) + " (diff " + std::to_string(double(got[i]) - double(want[i])) + ")";
      }
    }
  }
  return bad;
}

//! The fixture's raw rows: the host entry points apply the forest's input transformation (TMVA
//! <Transformations>) themselves.
template <class Value>
std::vector<float> model_inputs(const BdtFixture& fx, const Forest<Value>&) {
  return fx.inputs();
}

//! Margins on every path: batch (each ISA, row-major and column-major input), one row at a time.
template <class Value>
void check_margins(const BdtFixture& fx, const Forest<Value>& forest) {
  const std::vector<float> x = model_inputs(fx, forest);
  const std::vector<Value> want = fx.margins<Value>();
  const index_t n = fx.rows, nf = fx.features, k = fx.outputs;
  ASSERT_EQ(x.size(), std::size_t(n * nf));
  ASSERT_EQ(want.size(), std::size_t(n * k));
  ASSERT_EQ(forest.num_outputs(), k);
  const TensorView<const float, 2> rows(x.data(), {n, nf});
  std::vector<float> x_cm(x.size());
  for (index_t r = 0; r < n; ++r)
    for (index_t j = 0; j < nf; ++j) x_cm[j * n + r] = x[r * nf + j];
  const auto cols = TensorView<const float, 2>::col_major(x_cm.data(), {n, nf});
  std::string first;
  for (const Isa isa : isas_here()) {
    if (isa != Isa::scalar && forest.has_zero_missing()) continue;  // such forests run on the scalar path only
    for (const bool col_major : {false, true}) {
      std::vector<Value> got(want.size());
      bdt::predict_margins(forest, col_major ? cols : rows, TensorView<Value, 2>(got.data(), {n, k}), isa);
      EXPECT_EQ(count_bit_differences(got, want, &first), 0u)
          << fx.name << " layout " << to_string(forest.layout()) << " isa " << to_string(isa)
          << (col_major ? " column-major" : " row-major") << ": " << first;
    }
  }
  {  // three rows of the column-major input: the one-row kernel with a feature stride
    std::vector<Value> got(std::size_t(3 * k));
    bdt::predict_margins(forest, cols.row_slice(0, 3), TensorView<Value, 2>(got.data(), {3, k}));
    EXPECT_EQ(count_bit_differences(got, std::vector<Value>(want.begin(), want.begin() + 3 * k), &first), 0u)
        << fx.name << " three column-major rows: " << first;
  }
  std::vector<Value> got(want.size());
  for (index_t r = 0; r < n; ++r) {
    bdt::predict_margins_row(forest, std::span<const float>(x.data() + r * nf, nf),
                             std::span<Value>(got.data() + r * k, k));
  }
  EXPECT_EQ(count_bit_differences(got, want, &first), 0u)
      << fx.name << " layout " << to_string(forest.layout()) << " one row at a time: " << first;
}

//! Batches of 1 to 17 rows at every offset of a 64-row block (the widest SIMD block), row- and
//! column-major, on every ISA path forced and the automatic choice: each row's margins equal the trainer's
//! bit for bit wherever the row sits in the batch and whatever the batch holds (the double forests'
//! SIMD paths keep a row's leaves in its own lane, added in tree order in double).
template <class Value>
void check_small_batches(const BdtFixture& fx, const Forest<Value>& forest) {
  const std::vector<float> x = model_inputs(fx, forest);
  const std::vector<Value> want = fx.margins<Value>();
  const index_t n = fx.rows, nf = fx.features, k = fx.outputs;
  std::vector<float> x_cm(x.size());
  for (index_t r = 0; r < n; ++r)
    for (index_t j = 0; j < nf; ++j) x_cm[j * n + r] = x[r * nf + j];
  const TensorView<const float, 2> rows(x.data(), {n, nf});
  const auto cols = TensorView<const float, 2>::col_major(x_cm.data(), {n, nf});
  std::vector<Isa> isas = isas_here();
  isas.push_back(Isa::automatic);
  for (const Isa isa : isas) {
    if (isa != Isa::scalar && isa != Isa::automatic && forest.has_zero_missing()) continue;
    for (const bool col_major : {false, true}) {
      std::size_t bad = 0;
      std::string first;
      for (index_t batch = 1; batch <= 17; ++batch) {
        for (index_t offset = 0; offset < 64 && offset + batch <= n; ++offset) {
          std::vector<Value> got(static_cast<std::size_t>(batch * k));
          bdt::predict_margins(forest, (col_major ? cols : rows).row_slice(offset, offset + batch),
                               TensorView<Value, 2>(got.data(), {batch, k}), isa);
          const std::vector<Value> expected(want.begin() + offset * k, want.begin() + (offset + batch) * k);
          std::string what;
          if (count_bit_differences(got, expected, &what) != 0 && bad++ == 0) {
            first = "batch " + std::to_string(batch) + " offset " + std::to_string(offset) + ": " + what;
          }
        }
      }
      EXPECT_EQ(bad, 0u) << fx.name << " layout " << to_string(forest.layout()) << " isa " << to_string(isa)
                         << (col_major ? " column-major" : " row-major") << ": " << first;
    }
  }
}

//! Transformed predictions. The trainers' exp/expf may come from another libm or formulation (XGBoost
//! 3.x clamps the sigmoid argument at 88.7 and adds 1e-16): `ulps` of the result, relative, and at
//! least `ulps` of `floor` absolute.
template <class Value>
void check_predictions(const BdtFixture& fx, const Forest<Value>& forest, double ulps = 4,
                       double floor = std::numeric_limits<Value>::min()) {
  const std::vector<float> x = model_inputs(fx, forest);
  const std::vector<Value> want = fx.predictions<Value>();
  const index_t n = fx.rows, nf = fx.features, w = fx.prediction_width;
  ASSERT_EQ(forest.prediction_width(), w);
  std::vector<Value> got(want.size());
  bdt::predict(forest, TensorView<const float, 2>(x.data(), {n, nf}), TensorView<Value, 2>(got.data(), {n, w}));
  const double ulp = std::numeric_limits<Value>::epsilon();
  std::size_t bad = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const double tol = ulps * ulp * std::max(std::abs(double(want[i])), floor);
    if (!(std::abs(double(got[i]) - double(want[i])) <= tol)) {
      if (bad++ < 3) ADD_FAILURE() << fx.name << " prediction " << i << ": got " << got[i] << ", trainer " << want[i];
    }
  }
  EXPECT_EQ(bad, 0u) << fx.name;
}

class XGBoostParity : public ::testing::TestWithParam<BdtFixture> {};

TEST_P(XGBoostParity, MarginsBitIdenticalOnEveryPath) {
  const BdtFixture& fx = GetParam();
  const bdt::ForestConfig config = fx.load();
  for (const Layout layout : {Layout::perfect, Layout::sparse}) {
    const Forest<float> forest(config, layout);
    check_margins(fx, forest);
  }
}

TEST_P(XGBoostParity, PredictionsMatchTrainer) {
  const BdtFixture& fx = GetParam();
  const Forest<float> forest(fx.load());
  check_predictions(fx, forest);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, XGBoostParity, ::testing::ValuesIn(bdt_fixtures("xgboost-json")),
                         [](const auto& param_info) { return param_info.param.name; });

class LightGBMParity : public ::testing::TestWithParam<BdtFixture> {};

TEST_P(LightGBMParity, MarginsBitIdenticalOnEveryPath) {
  const BdtFixture& fx = GetParam();
  const bdt::ForestConfig config = fx.load();
  for (const Layout layout : {Layout::perfect, Layout::sparse}) check_margins(fx, Forest<double>(config, layout));
}

TEST_P(LightGBMParity, SmallBatchesAtEveryOffsetBitIdentical) {
  const BdtFixture& fx = GetParam();
  const bdt::ForestConfig config = fx.load();
  for (const Layout layout : {Layout::perfect, Layout::sparse}) check_small_batches(fx, Forest<double>(config, layout));
}

//! Which LightGBM fixtures run on the SIMD paths: all but those with zero-as-missing nodes whose zero
//! range goes against the default direction (a per-node flag only the scalar kernels read).
TEST_P(LightGBMParity, ZeroAsMissingFlagOnlyWhereNeeded) {
  const BdtFixture& fx = GetParam();
  const Forest<double> forest(fx.load());
  if (fx.name != "lgb_zero_as_missing") {
    EXPECT_FALSE(forest.has_zero_missing()) << fx.name;
  }
  // Double forests take the AVX-512 kernels where the CPU has them, else the scalar path (docs/bdt.md).
  const Isa simd = widest_isa() == Isa::avx512 ? Isa::avx512 : Isa::scalar;
  EXPECT_EQ(bdt::resolve_isa(forest, Isa::automatic), forest.has_zero_missing() ? Isa::scalar : simd) << fx.name;
}

TEST_P(LightGBMParity, PredictionsMatchTrainer) {
  const BdtFixture& fx = GetParam();
  const Forest<double> forest(fx.load());
  check_predictions(fx, forest);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, LightGBMParity, ::testing::ValuesIn(bdt_fixtures("lightgbm-text")),
                         [](const auto& param_info) { return param_info.param.name; });

// TMVA: hand-written weight files (ROOT is not installable here) against the independent Python evaluator
// of make_tmva_fixtures.py. Margins (the sums TMVA forms first) are bit-identical; the outputs allow 64
// double ulps of max(|output|, 1): TMVA adds the regression offset after the trees (here: first), and
// writes its multiclass softmax as 1 / (1 + sum exp(F_j - F_c)).
class TmvaParity : public ::testing::TestWithParam<BdtFixture> {};

TEST_P(TmvaParity, MarginsBitIdenticalOnEveryPath) {
  const BdtFixture& fx = GetParam();
  if (!fx.has_margins) GTEST_SKIP() << fx.name << ": TMVA adds the offset last; see PredictionsMatchEvaluator";
  const bdt::ForestConfig config = fx.load();
  for (const Layout layout : {Layout::perfect, Layout::sparse}) check_margins(fx, Forest<double>(config, layout));
}

TEST_P(TmvaParity, SmallBatchesAtEveryOffsetBitIdentical) {
  const BdtFixture& fx = GetParam();
  if (!fx.has_margins) GTEST_SKIP() << fx.name << ": TMVA adds the offset last; see PredictionsMatchEvaluator";
  const bdt::ForestConfig config = fx.load();
  for (const Layout layout : {Layout::perfect, Layout::sparse}) check_small_batches(fx, Forest<double>(config, layout));
}

TEST_P(TmvaParity, PredictionsMatchEvaluator) {
  const BdtFixture& fx = GetParam();
  check_predictions(fx, Forest<double>(fx.load()), 64, 1.0);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TmvaParity, ::testing::ValuesIn(bdt_fixtures("tmva-xml")),
                         [](const auto& param_info) { return param_info.param.name; });

TEST(TmvaLoader, NamesRulesAndErrors) {
  const bdt::ForestConfig c = io::load_tmva_xml(bdt_fixture_path("tmva_bdtg.weights.xml"));
  EXPECT_EQ(c.feature_names, (std::vector<std::string>{"pt", "eta", "abs(dxy)", "chi2/ndof", "nhits"}));
  EXPECT_EQ(c.split_rule, bdt::SplitRule::left_if_less);
  EXPECT_EQ(c.transform, bdt::OutputTransform::tmva_tanh);
  EXPECT_EQ(io::load_tmva_xml(bdt_fixture_path("tmva_bdtg_root5.weights.xml")).split_rule,
            bdt::SplitRule::left_if_less_equal);
  try {
    (void)io::load_tmva_xml(bdt_fixture_path("tmva_normalize.weights.xml"));
    FAIL() << "expected a FormatError";
  } catch (const io::FormatError& e) {
    // a <Transform> without <Selection>: TMVA's format before 4.0
    EXPECT_NE(std::string(e.what()).find("input transformation \"Normalize\" (step 0): no <Selection>"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW((void)io::parse_tmva_xml("<MethodSetup Method=\"MLP\"/>", "mlp.xml"), io::FormatError);
  EXPECT_THROW((void)io::parse_tmva_xml("<MethodSetup", "broken.xml"), io::FormatError);
}

// ---- TMVA input transformations -----------------------------------------------------------------

std::string fixture_text(const std::string& file) { return io::read_file(bdt_fixture_path(file)); }

//! `text` with the first occurrence of `from` replaced by `to` (which must exist).
std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const std::size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "no '" << from << "' in the fixture";
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

//! parse_tmva_xml(text) throws a FormatError naming the file, a line and containing `what`.
void expect_tmva_error(const std::string& text, const std::string& what) {
  try {
    (void)io::parse_tmva_xml(text, "bad.weights.xml");
    ADD_FAILURE() << "expected a FormatError containing: " << what;
  } catch (const io::FormatError& e) {
    EXPECT_EQ(e.file(), "bad.weights.xml");
    EXPECT_NE(std::string(e.what()).find("line "), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
  }
}

TEST(TmvaLoader, TransformationsAreReadInOrderWithTheLastClassBlock) {
  const bdt::ForestConfig c = io::load_tmva_xml(bdt_fixture_path("tmva_bdtg_chain.weights.xml"));
  const auto& steps = c.input_transform.steps();
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps[0].kind, bdt::InputTransformKind::normalize);
  EXPECT_EQ(steps[1].kind, bdt::InputTransformKind::linear);
  EXPECT_EQ(steps[2].kind, bdt::InputTransformKind::pca);
  EXPECT_EQ(steps[0].inputs, (std::vector<std::int32_t>{0, 2, 3}));  // selected by Label or Expression
  EXPECT_EQ(steps[0].outputs, steps[0].inputs);
  EXPECT_EQ(steps[2].inputs, (std::vector<std::int32_t>{1, 2, 4}));
  // Normalize: the third <Class> block ("all classes"), Min and Max read as float32
  EXPECT_EQ(steps[0].min[0], std::stof("-3.2443697452545166e+00"));
  EXPECT_EQ(steps[0].max[2], std::stof("3.4029474258422852e+00"));
  EXPECT_EQ(steps[1].matrix.size(), 25u);
  EXPECT_EQ(steps[2].mean.size(), 3u);
  const Forest<double> forest(c);
  EXPECT_EQ(forest.input_transform().steps().size(), 3u);
  EXPECT_EQ(forest.input_transform().workspace_size(), 5u);
  // files without transformations: the identity
  EXPECT_TRUE(io::load_tmva_xml(bdt_fixture_path("tmva_bdtg.weights.xml")).input_transform.empty());
}

TEST(InputTransform, RowBatchLayoutsAndInPlaceAgreeBitForBit) {
  const Forest<double> forest(io::load_tmva_xml(bdt_fixture_path("tmva_bdtg_chain.weights.xml")));
  const bdt::InputTransform& t = forest.input_transform();
  const BdtFixture fx = [] {
    for (const BdtFixture& f : bdt_fixtures("tmva-xml"))
      if (f.name == "tmva_bdtg_chain") return f;
    throw std::runtime_error("no tmva_bdtg_chain fixture");
  }();
  const std::vector<float> raw = fx.inputs();
  const index_t n = fx.rows, nf = fx.features;
  std::vector<float> work(t.workspace_size());
  std::vector<float> batch(raw.size());
  bdt::transform_inputs(t, TensorView<const float, 2>(raw.data(), {n, nf}), TensorView<float, 2>(batch.data(), {n, nf}),
                        work);
  // column-major in and out
  std::vector<float> cm(raw.size()), cm_out(raw.size());
  for (index_t r = 0; r < n; ++r)
    for (index_t j = 0; j < nf; ++j) cm[j * n + r] = raw[r * nf + j];
  bdt::transform_inputs(t, TensorView<const float, 2>::col_major(cm.data(), {n, nf}),
                        TensorView<float, 2>::col_major(cm_out.data(), {n, nf}), work);
  // in place
  std::vector<float> in_place = raw;
  const TensorView<float, 2> ip(in_place.data(), {n, nf});
  bdt::transform_inputs(t, TensorView<const float, 2>(in_place.data(), {n, nf}), ip, work);
  std::size_t differ = 0;
  for (index_t r = 0; r < n; ++r) {
    std::vector<float> row(static_cast<std::size_t>(nf));
    bdt::transform_row(t, std::span<const float>(raw.data() + r * nf, static_cast<std::size_t>(nf)), row, work);
    for (index_t j = 0; j < nf; ++j) {
      const float want = batch[static_cast<std::size_t>(r * nf + j)];
      for (const float got : {row[static_cast<std::size_t>(j)], cm_out[static_cast<std::size_t>(j * n + r)],
                              in_place[static_cast<std::size_t>(r * nf + j)]}) {
        differ += std::memcmp(&got, &want, sizeof(float)) != 0;
      }
    }
  }
  EXPECT_EQ(differ, 0u);
  // the transformation changes the rows; the identity copies them
  EXPECT_NE(std::memcmp(batch.data(), raw.data(), raw.size() * sizeof(float)), 0);
  std::vector<float> copy(raw.size());
  bdt::transform_inputs(bdt::InputTransform(), TensorView<const float, 2>(raw.data(), {n, nf}),
                        TensorView<float, 2>(copy.data(), {n, nf}), {});
  EXPECT_EQ(std::memcmp(copy.data(), raw.data(), raw.size() * sizeof(float)), 0);
  // shape and workspace errors
  std::vector<float> small(t.workspace_size() - 1);
  EXPECT_THROW(bdt::transform_inputs(t, TensorView<const float, 2>(raw.data(), {n, nf}),
                                     TensorView<float, 2>(batch.data(), {n, nf}), small),
               ShapeError);
  EXPECT_THROW(bdt::transform_inputs(t, TensorView<const float, 2>(raw.data(), {n, nf - 1}),
                                     TensorView<float, 2>(batch.data(), {n, nf - 1}), work),
               ShapeError);
  std::vector<float> one(static_cast<std::size_t>(nf - 1));
  EXPECT_THROW(bdt::transform_row(t, std::span<const float>(raw.data(), one.size()), one, work), ShapeError);
}

TEST(InputTransform, StepsAreCheckedAndNormalizeIsFloat32) {
  bdt::InputTransformStep norm;
  norm.kind = bdt::InputTransformKind::normalize;
  norm.name = "Normalize";
  norm.inputs = {1};
  norm.outputs = {1};
  norm.min = {-3.0f};
  norm.max = {5.0f};
  const bdt::InputTransform t(2, {norm});
  std::vector<float> row{7.0f, 1.0f}, work(t.workspace_size());
  bdt::transform_row(t, row, row, work);
  EXPECT_EQ(row[0], 7.0f);                                                          // not selected: unchanged
  EXPECT_EQ(row[1], (1.0f - -3.0f) * static_cast<float>(1.0 / 8.0) * 2.0f - 1.0f);  // 0
  bdt::InputTransformStep bad = norm;
  bad.outputs = {2};
  EXPECT_THROW(bdt::InputTransform(2, {bad}), Error);
  bad = norm;
  bad.max = {};
  EXPECT_THROW(bdt::InputTransform(2, {bad}), Error);
  bad = norm;
  bad.kind = bdt::InputTransformKind::linear;  // no matrix
  EXPECT_THROW(bdt::InputTransform(2, {bad}), Error);
  bad = norm;
  bad.inputs = {0, 1};
  bad.outputs = {1, 1};  // written twice
  bad.min = {0, 0};
  bad.max = {1, 1};
  EXPECT_THROW(bdt::InputTransform(2, {bad}), Error);
  bdt::ForestConfig config = io::load_tmva_xml(bdt_fixture_path("tmva_bdtg.weights.xml"));
  config.input_transform = t;  // 2 features for a 5-feature forest
  EXPECT_THROW(Forest<double>{config}, Error);
}

TEST(TmvaLoader, MalformedTransformationsNameFileLineAndElement) {
  const std::string norm = fixture_text("tmva_bdtg_normalize.weights.xml");
  const std::string decorr = fixture_text("tmva_adaboost_decorrelation.weights.xml");
  const std::string pca = fixture_text("tmva_bdtg_pca.weights.xml");
  // Gauss / Uniform need FlatOrGauss and their cumulative distributions
  expect_tmva_error(replaced(norm, "Name=\"Normalize\"", "Name=\"Gauss\""),
                    "<Transform> without attribute FlatOrGauss");
  expect_tmva_error(replaced(norm, "Name=\"Normalize\"", "Name=\"Uniform\" FlatOrGauss=\"Flat\""),
                    "input transformation \"Uniform\" (step 0): <Class>, expected <Variable>");
  expect_tmva_error(replaced(norm, "Name=\"Normalize\"", "Name=\"Fancy\""), "\"Fancy\" (step 0) is not supported");
  // the selection
  expect_tmva_error(replaced(norm, "Label=\"eta\" Expression=\"eta\"", "Label=\"phi\" Expression=\"phi\""),
                    "variable 'phi' (phi) is not in <Variables>");
  expect_tmva_error(replaced(norm, "<Input Type=\"Variable\"", "<Input Type=\"Target\""),
                    "transformation of a Target ('pt') is not supported");
  expect_tmva_error(replaced(norm, "NInputs=\"5\"", "NInputs=\"4\""), "more <Input> entries than NInputs");
  expect_tmva_error(replaced(norm, "NInputs=\"5\"", "NInputs=\"900\""), "NInputs=900 outside [1, 5]");
  expect_tmva_error(replaced(norm, "NTransformations=\"1\"", "NTransformations=\"2\""),
                    "NTransformations=2 but 1 <Transform> elements");
  // Normalize ranges and class blocks
  expect_tmva_error(replaced(norm, "<Range Index=\"4\"", "<Range Index=\"7\""), "<Range> Index 7 outside [0, 5)");
  expect_tmva_error(replaced(norm, "<Range Index=\"0\" Min=\"", "<Range Index=\"0\" Min=\"x"),
                    "<Range> attribute Min is not a number");
  expect_tmva_error(replaced(norm, "<Class ClassIndex=\"1\"", "<Class ClassIndex=\"5\""),
                    "<Class> ClassIndex 5, expected 1");
  // Decorrelation matrices: declared shape first (before any allocation), then the values
  expect_tmva_error(replaced(decorr, "Rows=\"4\"", "Rows=\"100000\""), "<Matrix> 100000 x 4 for 4 inputs");
  expect_tmva_error(replaced(decorr, " </Matrix>", " 1.0 </Matrix>"), "more than the 16 values declared");
  expect_tmva_error(replaced(decorr, " </Matrix>", " zz </Matrix>"), "<Matrix>: not a number: \"zz\"");
  // PCA blocks
  expect_tmva_error(replaced(pca, "<Eigenvectors Class=\"Combined\" ClassIndex=\"2\"",
                             "<Eigenvectors Class=\"Combined\" ClassIndex=\"3\""),
                    "<Eigenvectors> up to ClassIndex 3 but <Statistics> up to 2");
  expect_tmva_error(replaced(pca, "NRows=\"5\" NCols=\"5\">", "NRows=\"5\" NCols=\"4\">"),
                    "<Eigenvectors> is not 5 x 5");
  // a chain longer than the limit
  std::string many = norm;
  const std::size_t begin = norm.find("    <Transform Name=\"Normalize\">");
  const std::size_t end = norm.find("</Transform>") + std::string("</Transform>\n").size();
  const std::string step = norm.substr(begin, end - begin);
  std::string chain;
  for (int i = 0; i < 33; ++i) chain += step;
  many.replace(begin, end - begin, chain);
  expect_tmva_error(many, "more than 32 input transformations");
}

//! The Gauss / Uniform fixtures: bdt::transform_inputs equals the evaluator's transformed rows
//! (NAME.xt.f32, make_tmva_fixtures.py) bit for bit, bin edges and centres, out-of-range values, NaN
//! and +-inf included.
TEST(InputTransform, GaussAndUniformEqualTheEvaluatorBitForBit) {
  int seen = 0;
  for (const BdtFixture& fx : bdt_fixtures("tmva-xml")) {
    if (fx.name != "tmva_bdtg_gauss" && fx.name != "tmva_adaboost_uniform" && fx.name != "tmva_bdtg_normalize_gauss") {
      continue;
    }
    ++seen;
    const Forest<double> forest(fx.load());
    const bdt::InputTransform& t = forest.input_transform();
    const std::vector<float> raw = fx.inputs();
    const std::vector<float> want = read_binary<float>(fx.name + ".xt.f32");
    ASSERT_EQ(want.size(), raw.size()) << fx.name;
    std::vector<float> got(raw.size()), work(t.workspace_size());
    const index_t n = fx.rows, nf = fx.features;
    bdt::transform_inputs(t, TensorView<const float, 2>(raw.data(), {n, nf}), TensorView<float, 2>(got.data(), {n, nf}),
                          work);
    std::string first;
    EXPECT_EQ(count_bit_differences(got, want, &first), 0u) << fx.name << ": " << first;
  }
  EXPECT_EQ(seen, 3);
}

TEST(TmvaLoader, GaussTransformationKeepsTheLastClassBlockRebuilt) {
  const bdt::ForestConfig g = io::load_tmva_xml(bdt_fixture_path("tmva_bdtg_gauss.weights.xml"));
  ASSERT_EQ(g.input_transform.steps().size(), 1u);
  const bdt::InputTransformStep& st = g.input_transform.steps()[0];
  EXPECT_EQ(st.kind, bdt::InputTransformKind::gauss);
  ASSERT_EQ(st.cdf.size(), 5u);
  for (const bdt::CumulativePdf& p : st.cdf) EXPECT_EQ(p.bins.size(), bdt::tmva_pdf_bins);
  const bdt::ForestConfig u = io::load_tmva_xml(bdt_fixture_path("tmva_adaboost_uniform.weights.xml"));
  EXPECT_EQ(u.input_transform.steps()[0].kind, bdt::InputTransformKind::uniform);
  const bdt::ForestConfig c = io::load_tmva_xml(bdt_fixture_path("tmva_bdtg_normalize_gauss.weights.xml"));
  ASSERT_EQ(c.input_transform.steps().size(), 2u);
  EXPECT_EQ(c.input_transform.steps()[0].kind, bdt::InputTransformKind::normalize);
  EXPECT_EQ(c.input_transform.steps()[1].kind, bdt::InputTransformKind::gauss);
  // ROOT's ErfInverse iteration: odd, 0 at 0, 0 outside (-1, 1); erf of the result within 1e-14
  EXPECT_EQ(bdt::root_erf_inverse(0.0), 0.0);
  EXPECT_EQ(bdt::root_erf_inverse(-0.5), -bdt::root_erf_inverse(0.5));
  EXPECT_EQ(bdt::root_erf_inverse(1.0), 0.0);
  for (const double a : {1e-10, 0.1, 0.5, 0.9, 0.999, 0.99999999}) {
    EXPECT_NEAR(std::erf(bdt::root_erf_inverse(a)), a, 2e-14) << a;
  }
}

TEST(TmvaLoader, MalformedGaussTransformationNamesVariableAndElement) {
  const std::string gauss = fixture_text("tmva_bdtg_gauss.weights.xml");
  expect_tmva_error(replaced(gauss, "FlatOrGauss=\"Gauss\"", "FlatOrGauss=\"Gaus\""),
                    "input transformation \"Gauss\" (step 0): FlatOrGauss=\"Gaus\" is not Flat or Gauss");
  expect_tmva_error(replaced(gauss, "InterpolMethod=\"1\"", "InterpolMethod=\"2\""),
                    "variable 'pt' (input 0), <CumulativePDF_cls0>: InterpolMethod 2 is not supported");
  expect_tmva_error(replaced(gauss, "MaxNSmooth=\"0\"", "MaxNSmooth=\"3\""),
                    "smoothing (MinNSmooth=0, MaxNSmooth=3) is not supported");
  expect_tmva_error(replaced(gauss, "HasEquidistantBins=\"0\"", "HasEquidistantBins=\"2\""),
                    "<Histogram> HasEquidistantBins=\"2\" is not 0 or 1");
  expect_tmva_error(replaced(gauss, "<Variable VarIndex=\"1\">", "<Variable VarIndex=\"3\">"),
                    "<Variable> VarIndex 3, expected 1");
  expect_tmva_error(replaced(replaced(gauss, "<CumulativePDF_cls1>", "<CumulativePDF_cls7>"), "</CumulativePDF_cls1>",
                             "</CumulativePDF_cls7>"),
                    "variable 'pt' (input 0): <CumulativePDF_cls7>, expected <CumulativePDF_cls1>");
  expect_tmva_error(replaced(gauss, "NBins=\"", "NBins=\"1"), "values, ");
  expect_tmva_error(replaced(gauss, "<HistogramBinning NBins=\"", "<HistogramBinning NBins=\"9"),
                    "<HistogramBinning> NBins is not the histogram's");
  expect_tmva_error(replaced(gauss, "<Histogram Name=\"Cumulative_original\" NBins=\"",
                             "<Histogram Name=\"Cumulative_original\" NBins=\"-"),
                    "<Histogram> NBins=-");
}

TEST(TmvaLoader, BindFeaturesByVariableExpressions) {
  const Forest<double> forest(io::load_tmva_xml(bdt_fixture_path("tmva_bdtg_chain.weights.xml")));
  const std::vector<std::string> model{"pt", "eta", "abs(dxy)", "chi2/ndof", "nhits"};
  EXPECT_EQ(forest.feature_names(), model);
  const std::vector<std::string> caller{"nhits", "pt", "chi2/ndof", "eta", "abs(dxy)"};
  EXPECT_EQ(bdt::bind_features(forest, caller), (std::vector<std::int32_t>{4, 0, 3, 1, 2}));
  const auto message = [&](const std::vector<std::string>& names) {
    try {
      (void)bdt::bind_features(forest, names);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  // a missing name
  EXPECT_NE(message({"nhits", "pt", "chi2/ndof", "eta"}).find("model features not given: abs(dxy)"), std::string::npos);
  // an extra name (not a model variable), and a Label that is not the Expression
  const std::string extra = message({"nhits", "pt", "chi2/ndof", "eta", "abs(dxy)", "phi"});
  EXPECT_NE(extra.find("not features of the model: phi"), std::string::npos) << extra;
  EXPECT_NE(message({"nhits", "pt", "chi2ndof", "eta", "abs(dxy)"}).find("not features of the model: chi2ndof"),
            std::string::npos);
}

// ---- LightGBM categorical splits (the parity fixtures lgb_categorical* run in LightGBMParity) ------

TEST(LightGBMLoader, CategoricalSplitsBecomeExactNumericSubtrees) {
  const bdt::ForestConfig c = io::load_lightgbm_text(bdt_fixture_path("lgb_categorical.txt"));
  // tree 0's root: categories {1, 4, 6} of v3 (bitset 82) go left
  const bdt::TreeConfig& t = c.trees[0];
  std::vector<double> bounds;
  std::vector<std::int32_t> stack{0};
  while (!stack.empty()) {
    const std::int32_t i = stack.back();
    stack.pop_back();
    if (t.left[static_cast<std::size_t>(i)] < 0 || t.feature[static_cast<std::size_t>(i)] != 3) continue;
    EXPECT_EQ(t.nan_left[static_cast<std::size_t>(i)], 0);  // NaN goes right
    bounds.push_back(t.threshold[static_cast<std::size_t>(i)]);
    stack.push_back(t.left[static_cast<std::size_t>(i)]);
    stack.push_back(t.right[static_cast<std::size_t>(i)]);
  }
  std::sort(bounds.begin(), bounds.end());
  const auto below = [](double v) { return std::nextafter(v, -1e300); };
  EXPECT_EQ(bounds, (std::vector<double>{below(1), below(2), below(4), below(5), below(6), below(7)}));
}

TEST(LightGBMLoader, CategoricalErrorsNameTreeNodeAndFeature) {
  const std::string text = fixture_text("lgb_categorical.txt");
  const auto expect_error = [](const std::string& model, const std::string& what) {
    try {
      (void)io::parse_lightgbm_text(model, "bad.txt");
      ADD_FAILURE() << "expected a FormatError containing: " << what;
    } catch (const io::FormatError& e) {
      EXPECT_EQ(e.file(), "bad.txt");
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  expect_error(replaced(text, "version=v4", "version=v3"),
               "Tree=0 (line 12), node 0: categorical split on feature 3 ('v3') in a model older than version v4");
  expect_error(replaced(text, "threshold=0 ", "threshold=5 "),
               "node 0: categorical split on feature 3 ('v3'): bitset index");
  expect_error(replaced(text, "threshold=0 ", "threshold=0.5 "), "bitset index");
  expect_error(replaced(text, "cat_boundaries=0 1", "cat_boundaries=0 2"), "cat_threshold: 1 values, expected 2");
  expect_error(replaced(text, "cat_boundaries=0 1", "cat_boundaries=0 99999999"),
               "cat_boundaries must increase by at most");
  expect_error(replaced(text, "cat_threshold=82", "cat_threshold=-3"), "cat_threshold: not a number");
  expect_error(replaced(text, "num_cat=1", "num_cat=0"), "num_cat out of range");
  expect_error(replaced(text, "left_child=2 5 -1", "left_child=2 0 -1"), "reached twice");
  // every category of a 2^16-word bitset alternating in and out: the expansion limit, not memory
  std::string words;
  for (int i = 0; i < 65536; ++i) words.append(i == 0 ? "1431655765" : " 1431655765");  // 0x55555555
  std::string huge = replaced(text, "cat_boundaries=0 1", "cat_boundaries=0 65536");
  huge = replaced(huge, "cat_threshold=82", "cat_threshold=" + words);
  expect_error(huge, "categorical splits expand the tree beyond");
}

// The UBJSON files hold the same models as their JSON twins (saved by make_fixtures.py from one booster).
TEST(XGBoostUbjson, MarginsBitIdenticalToTheTrainer) {
  int checked = 0;
  for (const BdtFixture& fx : bdt_fixtures("xgboost-json")) {
    if (fx.name.ends_with("_binary") || fx.name.ends_with("_softprob") || fx.name.ends_with("_regression")) {
      const bdt::ForestConfig ubj = io::load_xgboost_ubjson(bdt_fixture_path(fx.name + ".ubj"));
      EXPECT_EQ(ubj.base_margin, fx.load().base_margin) << fx.name;
      check_margins(fx, Forest<float>(ubj));
      ++checked;
    }
  }
  EXPECT_EQ(checked, 6);
  EXPECT_THROW((void)io::parse_xgboost_ubjson("{i", "broken.ubj"), io::FormatError);
}

// ---- XGBoost categorical splits (the parity fixtures xgb*_categorical* run in XGBoostParity) -------

// The UBJSON twins of the categorical fixtures (XGBoost 1.7 writes the unused split condition of a
// categorical node as a binary NaN there, as the bare token NaN in JSON).
TEST(XGBoostUbjson, CategoricalMarginsBitIdenticalToTheTrainer) {
  int checked = 0;
  for (const BdtFixture& fx : bdt_fixtures("xgboost-json")) {
    if (fx.name.find("_categorical") == std::string::npos) continue;
    const bdt::ForestConfig ubj = io::load_xgboost_ubjson(bdt_fixture_path(fx.name + ".ubj"));
    EXPECT_EQ(ubj.base_margin, fx.load().base_margin) << fx.name;
    for (const Layout layout : {Layout::perfect, Layout::sparse}) check_margins(fx, Forest<float>(ubj, layout));
    ++checked;
  }
  EXPECT_EQ(checked, 4);
}

TEST(XGBoostLoader, CategoricalSplitsBecomeExactNumericSubtrees) {
  const bdt::ForestConfig c = io::load_xgboost_json(bdt_fixture_path("xgb3_categorical.json"));
  // tree 0's root: feature 1, categories {0, 2, 3, 5, 7, 8, 10, 11} go right, NaN right (default_left 0)
  const bdt::TreeConfig& t = c.trees[0];
  std::vector<double> bounds;
  std::vector<std::int32_t> stack{0};
  while (!stack.empty()) {
    const auto i = static_cast<std::size_t>(stack.back());
    stack.pop_back();
    if (t.left[i] < 0 || t.feature[i] != 1) continue;
    bounds.push_back(t.threshold[i]);
    stack.push_back(t.left[i]);
    stack.push_back(t.right[i]);
  }
  std::sort(bounds.begin(), bounds.end());
  // intervals [0, 1), [2, 4), [5, 6), [7, 9), [10, 12) under the rule x < t
  EXPECT_EQ(bounds, (std::vector<double>{0, 1, 2, 4, 5, 6, 7, 9, 10, 12}));
}

// XGBoost's rule (common::Decision) on a one-node model, leaf by leaf: the stump fixture's split on
// feature 5 made categorical with categories {3, 4, 9}, NaN to the default child (right in the file).
TEST(XGBoostLoader, CategoricalDecisionFollowsXGBoostRule) {
  std::string text = fixture_text("xgb1_stump.json");
  text = replaced(text, "\"split_type\":[0,0,0]", "\"split_type\":[1,0,0]");
  text = replaced(text, "\"categories\":[]", "\"categories\":[9,3,4]");
  text = replaced(text, "\"categories_nodes\":[]", "\"categories_nodes\":[0]");
  text = replaced(text, "\"categories_segments\":[]", "\"categories_segments\":[0]");
  text = replaced(text, "\"categories_sizes\":[]", "\"categories_sizes\":[3]");
  text = replaced(text, "\"split_conditions\":[-1.282504E-1,", "\"split_conditions\":[NaN,");
  const bdt::ForestConfig config = io::parse_xgboost_json(text, "stump.json");
  const float left = -4.5575066e1f, right = 3.129391e1f, base = 0.5f;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // right: the listed categories (int(x) truncates: 3.5 and the float before 4 are category 3) and
  // NaN; left: the others, negatives (-0.5 is not category 0), 2^24 and beyond
  const std::vector<std::pair<float, float>> cases{{3.0f, right},
                                                   {3.5f, right},
                                                   {std::nextafter(4.0f, 0.0f), right},
                                                   {4.0f, right},
                                                   {9.99f, right},
                                                   {nan, right},
                                                   {std::nextafter(3.0f, 0.0f), left},
                                                   {5.0f, left},
                                                   {0.0f, left},
                                                   {-0.0f, left},
                                                   {-3.0f, left},
                                                   {-0.5f, left},
                                                   {10.0f, left},
                                                   {16777216.0f, left},
                                                   {3e9f, left},
                                                   {std::numeric_limits<float>::infinity(), left},
                                                   {-std::numeric_limits<float>::infinity(), left}};
  for (const Layout layout : {Layout::perfect, Layout::sparse}) {
    const Forest<float> forest(config, layout);
    for (const auto& [x, leaf] : cases) {
      std::vector<float> row(8, 0.0f);
      row[5] = x;
      float margin = 0;
      bdt::predict_margins_row(forest, std::span<const float>(row), std::span<float>(&margin, 1));
      EXPECT_EQ(margin, base + leaf) << "x = " << x;
    }
  }
  // the bare token NaN is rewritten outside strings only: a feature named "NaN" keeps its name
  std::string named = fixture_text("xgb3_categorical.json");
  named = replaced(named, "\"feature_names\":[]", R"("feature_names":["NaN","a NaN","b","c\"NaN","NaN"])");
  EXPECT_EQ(io::parse_xgboost_json(named, "named.json").feature_names,
            (std::vector<std::string>{"NaN", "a NaN", "b", "c\"NaN", "NaN"}));
}

TEST(XGBoostLoader, FeatureNamesAndBaseScore) {
  const bdt::ForestConfig c = io::load_xgboost_json(bdt_fixture_path("xgb1_binary.json"));
  ASSERT_EQ(c.feature_names.size(), 10u);
  EXPECT_EQ(c.feature_names[0], "f_a");
  EXPECT_EQ(c.objective, "binary:logistic");
  EXPECT_EQ(c.base_margin, std::vector<double>{0.0});  // logit(0.5)
  const bdt::ForestConfig r = io::load_xgboost_json(bdt_fixture_path("xgb1_regression.json"));
  EXPECT_EQ(r.base_margin, std::vector<double>{3.25});
  const bdt::ForestConfig m = io::load_xgboost_json(bdt_fixture_path("xgb3_softprob.json"));
  EXPECT_EQ(m.base_margin.size(), 3u);
  EXPECT_EQ(m.num_outputs, 3);
}

TEST(XGBoostLoader, ErrorsNameTheFileAndPlace) {
  EXPECT_THROW((void)io::parse_xgboost_json("{\"learner\": 3", "broken.json"), io::FormatError);
  const std::string no_trees =
      R"({"learner":{"learner_model_param":{"base_score":"5E-1","num_class":"0","num_feature":"2"},)"
      R"("objective":{"name":"survival:aft"},)"
      R"("gradient_booster":{"name":"gbtree","model":{"trees":[],"tree_info":[]}}}})";
  try {
    (void)io::parse_xgboost_json(no_trees, "aft.json");
    FAIL() << "expected a FormatError";
  } catch (const io::FormatError& e) {
    EXPECT_EQ(e.file(), "aft.json");
    EXPECT_NE(e.message().find("survival:aft"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace portml::test
