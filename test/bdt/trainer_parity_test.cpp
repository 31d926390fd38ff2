// SPDX-License-Identifier: Apache-2.0
// Forests loaded from models made by the real trainers (XGBoost 1.7 and 3.x, LightGBM 4.x) give the
// trainer's own outputs: margins bit for bit, on every layout, every ISA path, every input layout,
// batch and one-row paths alike; transformed predictions within a few float ulps (the exp of another libm).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include <portml/bdt/forest.hpp>
#include <portml/bdt/predict.hpp>
#include <portml/io/error.hpp>

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

//! Margins on every path: batch (each ISA, row-major and column-major input), one row at a time.
template <class Value>
void check_margins(const BdtFixture& fx, const Forest<Value>& forest) {
  const std::vector<float> x = fx.inputs();
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
    if (isa != Isa::scalar && !std::is_same_v<Value, float>) continue;
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

//! Transformed predictions. The trainers' exp/expf may come from another libm or formulation (XGBoost
//! 3.x clamps the sigmoid argument at 88.7 and adds 1e-16): `ulps` of the result, relative, and at
//! least `ulps` of `floor` absolute.
template <class Value>
void check_predictions(const BdtFixture& fx, const Forest<Value>& forest, double ulps = 4,
                       double floor = std::numeric_limits<Value>::min()) {
  const std::vector<float> x = fx.inputs();
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
    EXPECT_NE(std::string(e.what()).find("input transformation \"Normalize\" is not supported"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW((void)io::parse_tmva_xml("<MethodSetup Method=\"MLP\"/>", "mlp.xml"), io::FormatError);
  EXPECT_THROW((void)io::parse_tmva_xml("<MethodSetup", "broken.xml"), io::FormatError);
}

TEST(LightGBMLoader, CategoricalSplitIsRejectedNamingTheFeature) {
  try {
    (void)io::load_lightgbm_text(bdt_fixture_path("lgb_categorical.txt"));
    FAIL() << "expected a FormatError";
  } catch (const io::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("categorical split on feature 3 ('v3')"), std::string::npos) << e.what();
  }
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
