// SPDX-License-Identifier: Apache-2.0
// QuickScorer (bdt/detail/quickscorer.hpp) on every committed fixture that fits it (depth <= 6, no
// zero-as-missing split): margins bit-identical to the trainer's (or TMVA's independent evaluator's)
// and to the descent kernels', on every ISA path this CPU has, one row at a time and in batches of
// every block remainder, row- and column-major; and on random forests with NaNs, rows at the
// thresholds and their float neighbours, several outputs and both split rules, against a plain
// walk of the ForestConfig written here.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <portml/bdt/detail/quickscorer.hpp>
#include <portml/bdt/forest.hpp>
#include <portml/bdt/input_transform.hpp>
#include <portml/bdt/predict.hpp>

#include "fixtures.hpp"
#include "reference_walk.hpp"

namespace portml::test {
namespace {

using bdt::Forest;
using bdt::ForestConfig;
using bdt::TreeConfig;
using bdt::detail::QuickScorer;

std::vector<Isa> isas_for(bool is_float) {
  std::vector<Isa> isas{Isa::scalar};
  if (!is_float) return isas;
  if (isa_available(Isa::avx2)) isas.push_back(Isa::avx2);
  if (isa_available(Isa::avx512)) isas.push_back(Isa::avx512);
  return isas;
}

template <class T>
std::size_t bit_differences(const std::vector<T>& got, const std::vector<T>& want, std::string* first) {
  std::size_t bad = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (std::memcmp(&got[i], &want[i], sizeof(T)) != 0 && bad++ == 0) {
      *first = "element " + std::to_string(i) + ": got " + std::to_string(got[i]) + ", want " + std::to_string(want[i]);
    }
  }
  return bad;
}

//! QuickScorer's margins of rows x [n, nf] on every path equal `want` bit for bit: each ISA, row-major
//! and column-major, batches of 1..17 rows (every block remainder), and margins_row.
template <class Value>
void expect_all_paths(const QuickScorer<Value>& qs, const std::vector<float>& x, index_t n, index_t nf, index_t k,
                      const std::vector<Value>& want, const std::string& what) {
  std::vector<float> x_cm(x.size());
  for (index_t r = 0; r < n; ++r)
    for (index_t j = 0; j < nf; ++j) x_cm[j * n + r] = x[r * nf + j];
  const TensorView<const float, 2> rows(x.data(), {n, nf});
  const auto cols = TensorView<const float, 2>::col_major(x_cm.data(), {n, nf});
  std::string first;
  for (const Isa isa : isas_for(std::is_same_v<Value, float>)) {
    for (const bool col_major : {false, true}) {
      std::vector<Value> got(want.size());
      qs.margins(col_major ? cols : rows, TensorView<Value, 2>(got.data(), {n, k}), isa);
      EXPECT_EQ(bit_differences(got, want, &first), 0u)
          << what << " isa " << to_string(isa) << (col_major ? " column-major" : " row-major") << ": " << first;
    }
    // Batches of 1..17 rows starting at every row: each block remainder of every path.
    std::vector<Value> got(want.size());
    for (index_t r0 = 0, m = 1; r0 < n; r0 += m, m = m % 17 + 1) {
      const index_t rows_here = std::min(m, n - r0);
      qs.margins(rows.row_slice(r0, r0 + rows_here), TensorView<Value, 2>(got.data() + r0 * k, {rows_here, k}), isa);
    }
    EXPECT_EQ(bit_differences(got, want, &first), 0u)
        << what << " isa " << to_string(isa) << " small batches: " << first;
  }
  std::vector<Value> got(want.size());
  for (index_t r = 0; r < n; ++r) qs.margins_row(x.data() + r * nf, 1, got.data() + r * k);
  EXPECT_EQ(bit_differences(got, want, &first), 0u) << what << " margins_row: " << first;
}

//! A fixture's margins through QuickScorer equal the trainer's and the descent kernels' (the trees'
//! inputs: a TMVA input transformation applied first, as predict_margins does).
template <class Value>
void check_fixture(const BdtFixture& fx) {
  const Forest<Value> forest(fx.load());
  const std::string reason = QuickScorer<Value>::unsupported_reason(forest);
  if (!reason.empty()) GTEST_SKIP() << fx.name << ": " << reason;
  const QuickScorer<Value> qs(forest);
  const index_t n = fx.rows, nf = fx.features, k = fx.outputs;
  std::vector<float> x = fx.inputs();
  ASSERT_EQ(x.size(), std::size_t(n * nf));
  std::vector<Value> descent(std::size_t(n * k));
  bdt::predict_margins(forest, TensorView<const float, 2>(x.data(), {n, nf}),
                       TensorView<Value, 2>(descent.data(), {n, k}));
  if (fx.has_margins) {
    std::string first;
    EXPECT_EQ(bit_differences(descent, fx.margins<Value>(), &first), 0u) << fx.name << " descent vs trainer: " << first;
  }
  const bdt::InputTransform& t = forest.input_transform();
  if (!t.empty()) {
    std::vector<float> work(t.workspace_size());
    bdt::transform_inputs(t, TensorView<const float, 2>(x.data(), {n, nf}), TensorView<float, 2>(x.data(), {n, nf}),
                          std::span<float>(work));
  }
  expect_all_paths(qs, x, n, nf, k, descent, fx.name);
}

class QuickScorerXGBoost : public ::testing::TestWithParam<BdtFixture> {};
TEST_P(QuickScorerXGBoost, MarginsBitIdenticalToTrainer) { check_fixture<float>(GetParam()); }
INSTANTIATE_TEST_SUITE_P(Fixtures, QuickScorerXGBoost, ::testing::ValuesIn(bdt_fixtures("xgboost-json")),
                         [](const auto& param_info) { return param_info.param.name; });

class QuickScorerLightGBM : public ::testing::TestWithParam<BdtFixture> {};
TEST_P(QuickScorerLightGBM, MarginsBitIdenticalToTrainer) { check_fixture<double>(GetParam()); }
INSTANTIATE_TEST_SUITE_P(Fixtures, QuickScorerLightGBM, ::testing::ValuesIn(bdt_fixtures("lightgbm-text")),
                         [](const auto& param_info) { return param_info.param.name; });

class QuickScorerTmva : public ::testing::TestWithParam<BdtFixture> {};
TEST_P(QuickScorerTmva, MarginsBitIdenticalToEvaluator) { check_fixture<double>(GetParam()); }
INSTANTIATE_TEST_SUITE_P(Fixtures, QuickScorerTmva, ::testing::ValuesIn(bdt_fixtures("tmva-xml")),
                         [](const auto& param_info) { return param_info.param.name; });

//! Which fixtures QuickScorer takes: the shallow ones; deep and zero-as-missing forests are refused.
TEST(QuickScorer, RefusesDeepAndZeroAsMissingForests) {
  std::size_t taken = 0;
  for (const BdtFixture& fx : bdt_fixtures("xgboost-json")) {
    const Forest<float> forest(fx.load());
    const bool fits = forest.max_depth() <= bdt::detail::quickscorer_max_depth;
    EXPECT_EQ(QuickScorer<float>::unsupported_reason(forest).empty(), fits) << fx.name;
    if (!fits) {
      EXPECT_THROW((void)QuickScorer<float>(forest), NotSupported) << fx.name;
    }
    taken += fits ? 1 : 0;
  }
  EXPECT_GE(taken, 10u);
  for (const BdtFixture& fx : bdt_fixtures("lightgbm-text")) {
    if (fx.name != "lgb_zero_as_missing") continue;
    const Forest<double> forest(fx.load());
    ASSERT_TRUE(forest.has_zero_missing());
    EXPECT_THROW((void)QuickScorer<double>(forest), NotSupported);
  }
  const Forest<float> sparse(bdt_fixtures("xgboost-json").front().load(), bdt::Layout::sparse);
  EXPECT_THROW((void)QuickScorer<float>(sparse), NotSupported);
}

//! The dispatch rule: Forest builds the tables for float forests of depth <= 5 in the perfect layout on an
//! AVX2 CPU, and predict_margins' AVX2 path then gives QuickScorer's margins (= the trainer's, above).
TEST(QuickScorer, ForestBuildsTablesForExactlyTheDispatchedForests) {
  std::size_t dispatched = 0;
  for (const BdtFixture& fx : bdt_fixtures("xgboost-json")) {
    for (const bdt::Layout layout : {bdt::Layout::automatic, bdt::Layout::sparse}) {
      const Forest<float> forest(fx.load(), layout);
      const bool expected = isa_available(Isa::avx2) && layout == bdt::Layout::automatic &&
                            forest.max_depth() <= bdt::detail::quickscorer_dispatch_max_depth;
      EXPECT_EQ(forest.quickscorer() != nullptr, expected) << fx.name;
      if (!expected) continue;
      ++dispatched;
      const index_t n = fx.rows, nf = fx.features, k = fx.outputs;
      const std::vector<float> x = fx.inputs();
      std::vector<float> got(std::size_t(n * k)), want(got.size());
      bdt::predict_margins(forest, TensorView<const float, 2>(x.data(), {n, nf}),
                           TensorView<float, 2>(got.data(), {n, k}), Isa::avx2);
      QuickScorer<float>(forest).margins(TensorView<const float, 2>(x.data(), {n, nf}),
                                         TensorView<float, 2>(want.data(), {n, k}), Isa::avx2);
      std::string first;
      EXPECT_EQ(bit_differences(got, want, &first), 0u) << fx.name << ": " << first;
      EXPECT_GT(forest.memory_bytes(), forest.quickscorer()->memory_bytes());
    }
  }
  if (isa_available(Isa::avx2)) {
    EXPECT_GE(dispatched, 10u);
  }
  for (const BdtFixture& fx : bdt_fixtures("tmva-xml")) {  // double forests never
    EXPECT_EQ(Forest<double>(fx.load()).quickscorer(), nullptr) << fx.name;
  }
}

//! A random unbalanced tree of depth <= max_depth; thresholds often repeat (few distinct values, ±0).
TreeConfig random_tree(std::mt19937& rng, int max_depth, int num_features) {
  TreeConfig t;
  std::uniform_real_distribution<double> u(-2, 2);
  const double shared[] = {-1.0, -0.0, 0.0, 0.5, 1.0};
  struct Item {
    std::int32_t node, depth;
  };
  const auto add = [&t] {
    t.left.push_back(-1);
    t.right.push_back(-1);
    t.feature.push_back(0);
    t.threshold.push_back(0);
    t.nan_left.push_back(0);
    t.value.push_back(0);
    return static_cast<std::int32_t>(t.left.size() - 1);
  };
  std::vector<Item> stack{{add(), 0}};
  while (!stack.empty()) {
    const Item it = stack.back();
    stack.pop_back();
    if (it.depth >= max_depth || (it.depth >= 1 && rng() % 5 == 0)) {
      t.value[it.node] = static_cast<double>(static_cast<float>(u(rng)));
      continue;
    }
    t.feature[it.node] = static_cast<std::int32_t>(rng() % num_features);
    t.threshold[it.node] = rng() % 3 == 0 ? shared[rng() % 5] : u(rng);
    t.nan_left[it.node] = static_cast<std::uint8_t>(rng() % 2);
    const std::int32_t l = add(), r = add();
    t.left[it.node] = l;
    t.right[it.node] = r;
    stack.push_back({l, it.depth + 1});
    stack.push_back({r, it.depth + 1});
  }
  return t;
}

template <class Value>
void check_random_forests(bdt::SplitRule rule) {
  std::mt19937 rng(2026);
  for (int depth = 0; depth <= bdt::detail::quickscorer_max_depth; ++depth) {
    for (const int outputs : {1, 3}) {
      ForestConfig c;
      c.split_rule = rule;
      c.num_features = 7;
      c.num_outputs = outputs;
      for (int g = 0; g < outputs; ++g) c.base_margin.push_back(0.25 * g - 0.5);
      const int num_trees = 37 + depth;  // not a multiple of any block
      for (int i = 0; i < num_trees; ++i) {
        c.trees.push_back(random_tree(rng, depth, c.num_features));
        c.trees.back().output = i % outputs;
      }
      // Rows: random values, NaNs, ±inf, ±0, and every threshold with its float neighbours.
      std::vector<float> specials{std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                                  -std::numeric_limits<float>::infinity(), 0.0f, -0.0f};
      for (const TreeConfig& t : c.trees) {
        for (std::size_t i = 0; i < t.left.size(); ++i) {
          if (t.left[i] < 0) continue;
          const auto f = static_cast<float>(t.threshold[i]);
          specials.insert(specials.end(), {f, std::nextafter(f, -INFINITY), std::nextafter(f, INFINITY)});
        }
      }
      std::uniform_real_distribution<float> u(-2.5f, 2.5f);
      const index_t n = 301, nf = c.num_features, k = outputs;
      std::vector<float> x(std::size_t(n * nf));
      for (float& v : x) v = rng() % 2 == 0 ? u(rng) : specials[rng() % specials.size()];
      std::vector<Value> want;
      for (index_t r = 0; r < n; ++r) {
        const std::vector<Value> m = walk<Value>(c, x.data() + r * nf);
        want.insert(want.end(), m.begin(), m.end());
      }
      const Forest<Value> forest(c);
      const QuickScorer<Value> qs(forest);
      EXPECT_EQ(qs.depth(), forest.max_depth());
      std::vector<Value> descent(want.size());
      bdt::predict_margins(forest, TensorView<const float, 2>(x.data(), {n, nf}),
                           TensorView<Value, 2>(descent.data(), {n, k}));
      std::string first;
      ASSERT_EQ(bit_differences(descent, want, &first), 0u) << "descent kernels: " << first;
      expect_all_paths(qs, x, n, nf, k, want,
                       "random depth " + std::to_string(depth) + ", " + std::to_string(outputs) + " outputs");
    }
  }
}

TEST(QuickScorer, RandomFloatForestsEqualTheWalk) { check_random_forests<float>(bdt::SplitRule::left_if_less); }
TEST(QuickScorer, RandomDoubleForestsEqualTheWalk) { check_random_forests<double>(bdt::SplitRule::left_if_less_equal); }

TEST(QuickScorer, ShapeAndIsaErrors) {
  ForestConfig c;
  c.num_features = 2;
  c.base_margin = {0.0};
  std::mt19937 rng(1);
  c.trees.push_back(random_tree(rng, 3, 2));
  const QuickScorer<double> qs{Forest<double>(c)};
  std::vector<float> x(6);
  std::vector<double> out(3);
  EXPECT_THROW(qs.margins(TensorView<const float, 2>(x.data(), {2, 3}), TensorView<double, 2>(out.data(), {2, 1})),
               ShapeError);
  if (isa_available(Isa::avx2)) {
    EXPECT_THROW(
        qs.margins(TensorView<const float, 2>(x.data(), {3, 2}), TensorView<double, 2>(out.data(), {3, 1}), Isa::avx2),
        NotSupported);
  }
}

}  // namespace
}  // namespace portml::test
