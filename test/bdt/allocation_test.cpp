// SPDX-License-Identifier: Apache-2.0
// Forest evaluation allocates nothing (the project's rule for hot paths): predict_margins on every
// path (one row, small batches, blocks on every ISA, strided inputs) and predict, for fixture models
// of every format within the documented stack bounds (max_stack_outputs, max_stack_features).
#include <gtest/gtest.h>

#include <vector>

#include <portml/bdt/forest.hpp>
#include <portml/bdt/predict.hpp>
#include <portml/portability/serial.hpp>

#include "../dense/allocation_counter.hpp"
#include "fixtures.hpp"

namespace portml::test {
namespace {

std::vector<Isa> isas_here() {
  std::vector<Isa> isas{Isa::automatic, Isa::scalar};
  if (isa_available(Isa::avx2)) isas.push_back(Isa::avx2);
  if (isa_available(Isa::avx512)) isas.push_back(Isa::avx512);
  return isas;
}

template <class Value>
void expect_no_allocation(const BdtFixture& fx, bdt::Layout layout) {
  const bdt::Forest<Value> forest(fx.load(), layout);
  const std::vector<float> x = fx.inputs();
  const index_t n = fx.rows, nf = fx.features, k = fx.outputs, w = fx.prediction_width;
  std::vector<float> x_cm(x.size());
  for (index_t r = 0; r < n; ++r)
    for (index_t j = 0; j < nf; ++j) x_cm[j * n + r] = x[r * nf + j];
  const TensorView<const float, 2> rows(x.data(), {n, nf});
  const auto cols = TensorView<const float, 2>::col_major(x_cm.data(), {n, nf});
  std::vector<Value> margins(static_cast<std::size_t>(n * k)), predictions(static_cast<std::size_t>(n * w));
  const TensorView<Value, 2> m(margins.data(), {n, k});
  const TensorView<Value, 2> p(predictions.data(), {n, w});
  const auto m_cm = TensorView<Value, 2>::col_major(margins.data(), {n, k});
  Queue<backend::Serial> q;
  for (const Isa isa : isas_here()) {
    if (isa != Isa::automatic && isa != Isa::scalar && forest.has_zero_missing()) {
      continue;
    }
    for (const index_t batch : {index_t(1), index_t(3), index_t(17), n}) {
      const long before = allocation_count();
      bdt::predict_margins(forest, rows.row_slice(0, batch), m.row_slice(0, batch), isa);
      bdt::predict_margins(forest, cols.row_slice(0, batch), m_cm.row_slice(0, batch), isa);
      bdt::predict_margins(q, forest, cols.row_slice(0, batch), m.row_slice(0, batch), isa);
      bdt::predict(forest, rows.row_slice(0, batch), p.row_slice(0, batch), isa);
      bdt::predict(forest, cols.row_slice(0, batch), p.row_slice(0, batch), isa);
      bdt::predict_margins_row(forest, std::span<const float>(x.data(), nf), std::span<Value>(margins.data(), k));
      EXPECT_EQ(allocation_count() - before, 0)
          << fx.name << " layout " << bdt::to_string(layout) << " isa " << to_string(isa) << " batch " << batch;
    }
  }
}

TEST(BdtAllocation, PredictAndMarginsAllocateNothing) {
  for (const char* format : {"xgboost-json", "lightgbm-text", "tmva-xml"}) {
    for (const BdtFixture& fx : bdt_fixtures(format)) {
      ASSERT_LE(fx.outputs, bdt::max_stack_outputs) << fx.name;
      ASSERT_LE(fx.features, bdt::max_stack_features) << fx.name;
      for (const bdt::Layout layout : {bdt::Layout::perfect, bdt::Layout::sparse}) {
        if (fx.precision == "float32") {
          expect_no_allocation<float>(fx, layout);
        } else {
          expect_no_allocation<double>(fx, layout);
        }
      }
    }
  }
}

//! Beyond the stack bounds the results are unchanged (one buffer per call): a forest with more
//! outputs than max_stack_outputs gives the same margins through predict_margins as one row at a time.
TEST(BdtAllocation, ManyOutputsBeyondTheStackBoundsStillExact) {
  bdt::ForestConfig c;
  c.num_features = 3;
  c.num_outputs = bdt::max_stack_outputs + 5;
  c.base_margin.assign(static_cast<std::size_t>(c.num_outputs), 0.25);
  c.transform = bdt::OutputTransform::softmax;
  for (int t = 0; t < 3 * c.num_outputs; ++t) {
    bdt::TreeConfig tree;
    tree.left = {1, -1, -1};
    tree.right = {2, -1, -1};
    tree.feature = {t % 3, 0, 0};
    tree.threshold = {0.1 * (t % 7) - 0.3, 0, 0};
    tree.nan_left = {static_cast<std::uint8_t>(t % 2), 0, 0};
    tree.value = {0, 0.01 * t, -0.02 * t};
    tree.output = t % c.num_outputs;
    c.trees.push_back(tree);
  }
  const bdt::Forest<float> forest(c);
  const index_t n = 300, k = c.num_outputs;
  std::vector<float> x(static_cast<std::size_t>(n * 3));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(static_cast<int>(i * 37 % 23) - 11) / 20.0f;
  std::vector<float> batch(static_cast<std::size_t>(n * k)), one(batch.size()), pred(batch.size());
  for (const Isa isa : isas_here()) {
    bdt::predict_margins(forest, TensorView<const float, 2>(x.data(), {n, 3}),
                         TensorView<float, 2>(batch.data(), {n, k}), isa);
    for (index_t r = 0; r < n; ++r) {
      bdt::predict_margins_row(forest, std::span<const float>(x.data() + r * 3, 3),
                               std::span<float>(one.data() + r * k, k));
    }
    EXPECT_EQ(batch, one) << to_string(isa);
    bdt::predict(forest, TensorView<const float, 2>(x.data(), {n, 3}), TensorView<float, 2>(pred.data(), {n, k}), isa);
    for (index_t r = 0; r < n; ++r) {
      std::vector<float> want(static_cast<std::size_t>(k));
      bdt::apply_transform(forest, std::span<const float>(one.data() + r * k, k), std::span<float>(want));
      EXPECT_TRUE(std::equal(want.begin(), want.end(), pred.begin() + r * k)) << to_string(isa) << " row " << r;
    }
  }
}

}  // namespace
}  // namespace portml::test
