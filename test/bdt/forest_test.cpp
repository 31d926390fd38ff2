// SPDX-License-Identifier: Apache-2.0
// Forest construction and evaluation on hand-made and random forests, against a plain tree walk over
// the ForestConfig written here (the trainer's rule compared in double, NaN to the node's default).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <portml/bdt/forest.hpp>
#include <portml/bdt/predict.hpp>

#include "reference_walk.hpp"

namespace portml::test {
namespace {

using bdt::Forest;
using bdt::ForestConfig;
using bdt::Layout;
using bdt::SplitRule;
using bdt::TreeConfig;

//! A random tree with up to `max_depth` levels (unbalanced), thresholds as double or float values.
TreeConfig random_tree(std::mt19937& rng, int max_depth, int num_features, bool double_thresholds) {
  TreeConfig t;
  std::uniform_real_distribution<double> u(-2, 2);
  std::uniform_int_distribution<int> feat(0, num_features - 1);
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
    const bool split = it.depth < max_depth && (it.depth < 2 || rng() % 4 != 0);
    if (!split) {
      t.value[it.node] = static_cast<double>(static_cast<float>(u(rng)));
      continue;
    }
    t.feature[it.node] = feat(rng);
    const double th = u(rng);
    t.threshold[it.node] = double_thresholds ? th : static_cast<double>(static_cast<float>(th));
    t.nan_left[it.node] = static_cast<std::uint8_t>(rng() % 2);
    const std::int32_t l = add(), r = add();
    t.left[it.node] = l;
    t.right[it.node] = r;
    stack.push_back({l, it.depth + 1});
    stack.push_back({r, it.depth + 1});
  }
  return t;
}

ForestConfig random_forest(unsigned seed, int trees, int max_depth, int num_features, int outputs, SplitRule rule,
                           bool double_thresholds) {
  std::mt19937 rng(seed);
  ForestConfig c;
  c.split_rule = rule;
  c.num_features = num_features;
  c.num_outputs = outputs;
  for (int k = 0; k < outputs; ++k) c.base_margin.push_back(0.25 * k - 0.5);
  for (int t = 0; t < trees; ++t) {
    c.trees.push_back(random_tree(rng, max_depth, num_features, double_thresholds));
    c.trees.back().output = t % outputs;
  }
  return c;
}

//! Rows with NaNs, infinities and values exactly at and one ulp around the thresholds.
std::vector<float> probing_rows(const ForestConfig& c, index_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<double> thresholds;
  for (const auto& t : c.trees)
    for (std::size_t i = 0; i < t.left.size(); ++i)
      if (t.left[i] >= 0) thresholds.push_back(t.threshold[i]);
  std::vector<float> x(static_cast<std::size_t>(n * c.num_features));
  std::normal_distribution<float> normal(0, 1.5f);
  for (float& v : x) {
    const unsigned kind = rng() % 16;
    if (kind == 0) {
      v = std::numeric_limits<float>::quiet_NaN();
    } else if (kind == 1) {
      v = (rng() % 2 != 0 ? 1 : -1) * std::numeric_limits<float>::infinity();
    } else if (kind < 9 && !thresholds.empty()) {
      const float t = static_cast<float>(thresholds[rng() % thresholds.size()]);
      const float inf = std::numeric_limits<float>::infinity();
      v = kind % 3 == 0 ? t : (kind % 3 == 1 ? std::nextafter(t, inf) : std::nextafter(t, -inf));
    } else {
      v = normal(rng);
    }
  }
  return x;
}

template <class Value>
void expect_all_paths_match_walk(const ForestConfig& c, index_t n, unsigned seed) {
  const std::vector<float> x = probing_rows(c, n, seed);
  const index_t nf = c.num_features, k = c.num_outputs;
  std::vector<Value> want(static_cast<std::size_t>(n * k));
  for (index_t r = 0; r < n; ++r) {
    const std::vector<Value> m = walk<Value>(c, x.data() + r * nf);
    std::copy(m.begin(), m.end(), want.begin() + r * k);
  }
  for (const Layout layout : {Layout::perfect, Layout::sparse}) {
    const Forest<Value> forest(c, layout);
    std::vector<Isa> isas{Isa::scalar};
    if (isa_available(Isa::avx2)) isas.push_back(Isa::avx2);
    if (isa_available(Isa::avx512)) isas.push_back(Isa::avx512);
    for (const Isa isa : isas) {
      std::vector<Value> got(want.size());
      bdt::predict_margins(forest, TensorView<const float, 2>(x.data(), {n, nf}),
                           TensorView<Value, 2>(got.data(), {n, k}), isa);
      EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(Value)), 0)
          << "layout " << to_string(layout) << " isa " << to_string(isa);
    }
    std::vector<Value> got(want.size());
    for (index_t r = 0; r < n; ++r) {
      bdt::predict_margins_row(forest, std::span<const float>(x.data() + r * nf, nf),
                               std::span<Value>(got.data() + r * k, k));
    }
    EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(Value)), 0)
        << "layout " << to_string(layout) << " one row";
  }
}

TEST(FloatThreshold, EqualsTheTrainersCompareForEveryFloatNearby) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(-1e3, 1e3);
  std::vector<double> ts{0.0,
                         -0.0,
                         1e-40,
                         -1e-40,
                         1e-35,
                         3.4e38,
                         -3.4e38,
                         1e300,
                         -1e300,
                         std::numeric_limits<double>::min(),
                         -std::numeric_limits<double>::infinity()};
  for (int i = 0; i < 2000; ++i) ts.push_back(u(rng));
  for (int i = 0; i < 200; ++i) ts.push_back(static_cast<double>(static_cast<float>(u(rng))));  // float-valued
  const float inf = std::numeric_limits<float>::infinity();
  for (const double t : ts) {
    for (const SplitRule rule : {SplitRule::left_if_less, SplitRule::left_if_less_equal}) {
      float tf = 0;
      ASSERT_TRUE(bdt::float_threshold(t, rule, &tf)) << t;
      float x = static_cast<float>(t);
      for (int s = 0; s < 3; ++s) x = std::nextafter(x, -inf);
      std::vector<float> probes{inf, -inf, std::numeric_limits<float>::max(), -std::numeric_limits<float>::max()};
      for (int s = 0; s < 7; ++s, x = std::nextafter(x, inf)) probes.push_back(x);
      for (const float p : probes) {
        const bool want = rule == SplitRule::left_if_less ? double(p) < t : double(p) <= t;
        EXPECT_EQ(p < tf, want) << "t=" << t << " x=" << p << " rule " << int(rule);
      }
    }
  }
  float tf = 0;
  EXPECT_FALSE(bdt::float_threshold(std::numeric_limits<double>::infinity(), SplitRule::left_if_less_equal, &tf));
}

TEST(Forest, HandMadeTreeNaNAndPadding) {
  // Tree 0: root splits f0 < 1 (NaN right); left child is a leaf (depth 1), right splits f1 < -2 (NaN left).
  ForestConfig c;
  c.num_features = 2;
  c.base_margin = {0.5};
  TreeConfig t;
  t.left = {1, -1, 3, -1, -1};
  t.right = {2, -1, 4, -1, -1};
  t.feature = {0, 0, 1, 0, 0};
  t.threshold = {1.0, 0, -2.0, 0, 0};
  t.nan_left = {0, 0, 1, 0, 0};
  t.value = {0, 10, 0, 20, 30};
  c.trees.push_back(t);
  TreeConfig leaf;  // a lone leaf
  leaf.left = {-1};
  leaf.right = {-1};
  leaf.feature = {0};
  leaf.threshold = {0};
  leaf.nan_left = {0};
  leaf.value = {100};
  c.trees.push_back(leaf);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<std::pair<std::array<float, 2>, float>> cases = {
      {{0.f, 0.f}, 110.5f}, {{1.f, 0.f}, 130.5f},  {{1.f, -3.f}, 120.5f}, {{nan, nan}, 120.5f},
      {{nan, 5.f}, 130.5f}, {{-1.f, nan}, 110.5f}, {{1.f, -2.f}, 130.5f}};
  for (const Layout layout : {Layout::perfect, Layout::sparse}) {
    const Forest<float> f(c, layout);
    EXPECT_EQ(f.max_depth(), 2);
    for (const auto& [x, want] : cases) {
      float got = 0;
      bdt::predict_margins_row(f, std::span<const float>(x), std::span<float>(&got, 1));
      EXPECT_EQ(got, want) << to_string(layout) << " x=(" << x[0] << ", " << x[1] << ")";
    }
  }
}

TEST(Forest, RejectsInconsistentConfigs) {
  ForestConfig c;
  c.num_features = 2;
  c.base_margin = {0};
  TreeConfig t;
  t.left = {1, -1, -1};
  t.right = {2, -1, -1};
  t.feature = {5, 0, 0};
  t.threshold = {0, 0, 0};
  t.nan_left = {0, 0, 0};
  t.value = {0, 1, 2};
  c.trees = {t};
  EXPECT_THROW(Forest<float>{c}, Error);  // feature 5 of 2
  c.trees[0].feature[0] = 1;
  c.trees[0].right[0] = 1;  // both children the same node
  EXPECT_THROW(Forest<float>{c}, Error);
  c.trees[0].right[0] = 0;  // a cycle to the root
  EXPECT_THROW(Forest<float>{c}, Error);
  c.trees[0].right[0] = 2;
  EXPECT_NO_THROW(Forest<float>{c});
  c.base_margin = {0, 0};
  EXPECT_THROW(Forest<float>{c}, Error);
}

TEST(Forest, RandomForestsAllPathsEqualTheWalk) {
  // float thresholds with `<` (XGBoost-like) and double thresholds with `<=` (LightGBM-like), depths
  // 1 to 12 (perfect and sparse), one and several outputs, row counts that leave partial blocks.
  expect_all_paths_match_walk<float>(random_forest(1, 37, 4, 7, 1, SplitRule::left_if_less, false), 203, 11);
  expect_all_paths_match_walk<float>(random_forest(2, 20, 1, 3, 1, SplitRule::left_if_less, false), 70, 12);
  expect_all_paths_match_walk<float>(random_forest(3, 30, 9, 13, 4, SplitRule::left_if_less, false), 131, 13);
  expect_all_paths_match_walk<float>(random_forest(4, 25, 6, 9, 3, SplitRule::left_if_less_equal, true), 97, 14);
  expect_all_paths_match_walk<double>(random_forest(5, 25, 7, 9, 2, SplitRule::left_if_less_equal, true), 97, 15);
  expect_all_paths_match_walk<double>(random_forest(6, 10, 12, 5, 1, SplitRule::left_if_less, true), 64, 16);
}

//! A random forest (41 trees: groups of 16 and a remainder) in which about half the split thresholds
//! are at the edges of float32: infinities, signed zeros, the largest, the smallest normal and the
//! subnormal floats (and, for double thresholds, values between floats near them).
ForestConfig forest_with_extreme_thresholds(unsigned seed, int depth, int num_features, int outputs, SplitRule rule,
                                            bool double_thresholds) {
  ForestConfig c = random_forest(seed, 41, depth, num_features, outputs, rule, double_thresholds);
  const double inf = std::numeric_limits<double>::infinity();
  const double fmax = std::numeric_limits<float>::max(), fmin = std::numeric_limits<float>::min();
  const double sub = std::numeric_limits<float>::denorm_min();
  std::vector<double> specials = {inf, -inf, 0.0, -0.0, fmax, -fmax, fmin, -fmin, sub, -sub, 3 * sub, -3 * sub};
  if (double_thresholds) specials.insert(specials.end(), {1.5 * sub, -1.5 * sub, 1e-300, -1e-300, 1e300, -1e300});
  std::mt19937 rng(seed);
  for (TreeConfig& t : c.trees)
    for (std::size_t i = 0; i < t.left.size(); ++i)
      if (t.left[i] >= 0 && rng() % 2 == 0) t.threshold[i] = specials[rng() % specials.size()];
  return c;
}

TEST(Forest, DefaultFirstWalkEqualsTheWalkAtFloatEdges) {
  // The one-row kernel of sparse forests reads default-first nodes (one compare per node, the
  // NaN-right nodes on the negated input with threshold next(-t)): checked against the walk on
  // thresholds and inputs at infinities, signed zeros, FLT_MAX and subnormals, NaN in both directions.
  struct Case {
    unsigned seed;
    int depth, features, outputs;
    SplitRule rule;
    bool double_thresholds;
  };
  for (const Case& k :
       {Case{21, 11, 6, 1, SplitRule::left_if_less, false}, Case{22, 9, 5, 3, SplitRule::left_if_less, false},
        Case{23, 10, 7, 1, SplitRule::left_if_less_equal, true},
        Case{24, 12, 4, 2, SplitRule::left_if_less_equal, true}}) {
    const ForestConfig c =
        forest_with_extreme_thresholds(k.seed, k.depth, k.features, k.outputs, k.rule, k.double_thresholds);
    EXPECT_NE(Forest<float>(c, Layout::sparse).data().default_first_node, nullptr);
    EXPECT_NE(Forest<double>(c, Layout::sparse).data().default_first_node, nullptr);
    EXPECT_EQ(Forest<float>(c, Layout::perfect).data().default_first_node, nullptr);
    expect_all_paths_match_walk<float>(c, 301, k.seed + 100);
    expect_all_paths_match_walk<double>(c, 301, k.seed + 200);
  }
  // More features than the walk keeps on the stack: the sparse arrays' kernel, same margins.
  const ForestConfig wide = random_forest(25, 20, 10, 200, 1, SplitRule::left_if_less, false);
  EXPECT_EQ(Forest<float>(wide, Layout::sparse).data().default_first_node, nullptr);
  expect_all_paths_match_walk<float>(wide, 64, 125);
}

//! Double forests (LightGBM, TMVA, scikit-learn: `x <= t` in double) on every path, with leaf values that
//! are not floats (so a float sum or a change of the summation order would show) and a quarter of the
//! thresholds at float boundaries (a float, its neighbours, and the doubles just beside them): the SIMD
//! kernels of every depth (register-resident 1-6, gathered 7-8, sparse) against the walk, bit for bit,
//! on the whole batch and on batches of 1 to 17 rows at every offset of a 64-row block, row- and
//! column-major.
TEST(Forest, DoubleForestsEveryPathEqualsTheWalk) {
  std::vector<Isa> isas{Isa::automatic, Isa::scalar};
  if (isa_available(Isa::avx2)) isas.push_back(Isa::avx2);
  if (isa_available(Isa::avx512)) isas.push_back(Isa::avx512);
  for (int depth = 1; depth <= 8; ++depth) {
    for (const int outputs : {1, 3}) {
      const auto seed = static_cast<unsigned>(40 + depth * 2 + outputs);
      ForestConfig c = random_forest(seed, 23, depth, 6, outputs, SplitRule::left_if_less_equal, true);
      std::mt19937 rng(seed);
      std::uniform_real_distribution<double> u(-3, 3);
      for (TreeConfig& t : c.trees) {
        for (std::size_t i = 0; i < t.left.size(); ++i) {
          if (t.left[i] < 0) {
            t.value[i] = rng() % 8 == 0 ? u(rng) * 1e12 : u(rng);  // large leaves: the order of the adds shows
          } else if (rng() % 4 == 0) {
            const auto f = static_cast<float>(t.threshold[i]);
            const double inf = std::numeric_limits<double>::infinity();
            const double near[] = {double(f), double(std::nextafter(f, 1e30f)), double(std::nextafter(f, -1e30f)),
                                   std::nextafter(double(f), inf), std::nextafter(double(f), -inf)};
            t.threshold[i] = near[rng() % 5];
          }
        }
      }
      for (double& b : c.base_margin) b = u(rng);
      expect_all_paths_match_walk<double>(c, 203, seed + 1000);
      const index_t n = 90, nf = c.num_features, k = c.num_outputs;
      const std::vector<float> x = probing_rows(c, n, seed + 2000);
      std::vector<float> x_cm(x.size());
      for (index_t r = 0; r < n; ++r)
        for (index_t j = 0; j < nf; ++j) x_cm[j * n + r] = x[r * nf + j];
      std::vector<double> want(static_cast<std::size_t>(n * k));
      for (index_t r = 0; r < n; ++r) {
        const std::vector<double> m = walk<double>(c, x.data() + r * nf);
        std::copy(m.begin(), m.end(), want.begin() + r * k);
      }
      const TensorView<const float, 2> rows(x.data(), {n, nf});
      const auto cols = TensorView<const float, 2>::col_major(x_cm.data(), {n, nf});
      for (const Layout layout : {Layout::perfect, Layout::sparse}) {
        const Forest<double> forest(c, layout);
        for (const Isa isa : isas) {
          for (const bool col_major : {false, true}) {
            std::size_t bad = 0;
            for (index_t batch = 1; batch <= 17; ++batch) {
              for (index_t offset = 0; offset < 64 && offset + batch <= n; ++offset) {
                std::vector<double> got(static_cast<std::size_t>(batch * k));
                bdt::predict_margins(forest, (col_major ? cols : rows).row_slice(offset, offset + batch),
                                     TensorView<double, 2>(got.data(), {batch, k}), isa);
                bad += std::memcmp(got.data(), want.data() + offset * k, got.size() * sizeof(double)) != 0;
              }
            }
            EXPECT_EQ(bad, 0u) << "depth " << depth << " outputs " << outputs << " layout " << to_string(layout)
                               << " isa " << to_string(isa) << (col_major ? " column-major" : " row-major");
          }
        }
      }
    }
  }
}

TEST(Forest, BindFeaturesByName) {
  ForestConfig c = random_forest(7, 3, 2, 3, 1, SplitRule::left_if_less, false);
  c.feature_names = {"pt", "eta", "phi"};
  const Forest<float> f(c);
  const std::vector<std::string> names{"phi", "pt", "eta"};
  EXPECT_EQ(bdt::bind_features(f, std::span<const std::string>(names)), (std::vector<std::int32_t>{2, 0, 1}));
  const std::vector<std::string> bad{"pt", "mass", "pt"};
  try {
    (void)bdt::bind_features(f, std::span<const std::string>(bad));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("not features of the model: mass"), std::string::npos) << msg;
    EXPECT_NE(msg.find("given twice: pt"), std::string::npos) << msg;
    EXPECT_NE(msg.find("model features not given: eta, phi"), std::string::npos) << msg;
  }
  // Reordering the caller's columns gives the same margins as the forest's own order.
  const std::vector<float> in{0.5f, -1.f, 2.f};  // phi, pt, eta
  std::vector<float> ordered(3);
  const auto binding = bdt::bind_features(f, std::span<const std::string>(names));
  bdt::reorder_features(binding, TensorView<const float, 2>(in.data(), {1, 3}),
                        TensorView<float, 2>(ordered.data(), {1, 3}));
  EXPECT_EQ(ordered, (std::vector<float>{-1.f, 2.f, 0.5f}));
}

TEST(Forest, ShapeErrors) {
  const Forest<float> f(random_forest(8, 3, 2, 3, 2, SplitRule::left_if_less, false));
  std::vector<float> x(12), out(8);
  EXPECT_THROW(
      bdt::predict_margins(f, TensorView<const float, 2>(x.data(), {3, 4}), TensorView<float, 2>(out.data(), {3, 2})),
      ShapeError);
  EXPECT_THROW(
      bdt::predict_margins(f, TensorView<const float, 2>(x.data(), {4, 3}), TensorView<float, 2>(out.data(), {4, 1})),
      ShapeError);
}

}  // namespace
}  // namespace portml::test
