// SPDX-License-Identifier: Apache-2.0
// Thread safety of what portml shares between threads: const inputs (models, weights) read by many
// threads at once, each thread with its own queue and outputs, as a framework's streams run. Each
// test compares every thread's results with a single-threaded run, bit for bit. CI runs this
// executable under ThreadSanitizer (scripts/test stage tsan).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <portml/bdt/forest.hpp>
#include <portml/bdt/predict.hpp>
#include <portml/io/error.hpp>
#include <portml/io/forest_loaders.hpp>
#include <portml/io/gnn_json.hpp>
#include <portml/io/onnx.hpp>
#include <portml/io/table.hpp>
#include <portml/kernels/reference/matmul.hpp>
#include <portml/layers/gnn_models.hpp>
#include <portml/layers/mlp.hpp>
#include <portml/portml.hpp>

namespace portml::test {
namespace {

constexpr int num_threads = 8;
constexpr int iterations = 50;

//! Runs body(thread_index) on num_threads threads started together.
template <class F>
void run_threads(F&& body) {
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < num_threads; ++t) {
    threads.emplace_back([&, t] {
      ready.fetch_add(1);
      while (ready.load() < num_threads) std::this_thread::yield();
      body(t);
    });
  }
  for (auto& th : threads) th.join();
}

TEST(Concurrency, SharedInputsPrivateQueues) {
  // The shared, read-only operand plays the role of a model's weights.
  const index_t k = 48, n = 32;
  Tensor<float, 2> weights({k, n});
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1, 1);
  for (index_t i = 0; i < weights.size(); ++i) weights.data()[i] = dist(rng);
  const Tensor<float, 2>& shared = weights;

  // Each thread has its own batch; the single-threaded results are the reference.
  std::vector<Tensor<float, 2>> inputs, expected;
  for (int t = 0; t < num_threads; ++t) {
    inputs.emplace_back(Extents<2>{t + 1, k});
    for (index_t i = 0; i < inputs.back().size(); ++i) inputs.back().data()[i] = dist(rng);
    expected.emplace_back(Extents<2>{t + 1, n});
    Queue<backend::Serial> q;
    kernels::reference::matmul<backend::Serial, float>(q, inputs[t].view(), shared.view(), expected[t].view());
  }
  std::atomic<int> mismatches{0};
  run_threads([&](int t) {
    Queue<backend::Serial> q;  // one queue per thread, as one per framework stream
    Tensor<float, 2> out({t + 1, n});
    for (int it = 0; it < iterations; ++it) {
      kernels::reference::matmul<backend::Serial, float>(q, inputs[t].view(), shared.view(), out.view());
      for (index_t i = 0; i < out.size(); ++i) {
        if (out.data()[i] != expected[t].data()[i]) mismatches.fetch_add(1);
      }
    }
  });
  EXPECT_EQ(mismatches.load(), 0);
}

//! Each thread evaluates its own batch (1 + rows_step * t rows of random inputs) `iterations` times
//! through its own evaluator from make_evaluator() (its own queue and workspace; the model they
//! share is captured by reference). Every result must equal the single-threaded one bit for bit.
//! out_rows(rows) is the number of output rows for `rows` input rows (a model with one output per
//! event has fewer than its input rows); by default the same.
template <class MakeEvaluator, class OutRows = index_t (*)(index_t)>
void expect_shared_model_is_thread_safe(
    index_t in_width, index_t out_width, index_t rows_step, MakeEvaluator make_evaluator,
    OutRows out_rows = [](index_t rows) { return rows; }) {
  const auto rows_of = [&](int t) { return 1 + rows_step * t; };
  std::mt19937 rng(11);
  std::normal_distribution<float> dist(0, 1);
  std::vector<std::vector<float>> inputs, expected;
  auto reference = make_evaluator();
  for (int t = 0; t < num_threads; ++t) {
    inputs.emplace_back(static_cast<std::size_t>(rows_of(t) * in_width));
    for (float& v : inputs.back()) v = dist(rng);
    expected.emplace_back(static_cast<std::size_t>(out_rows(rows_of(t)) * out_width));
    reference(TensorView<const float, 2>(inputs[t].data(), {rows_of(t), in_width}),
              TensorView<float, 2>(expected[t].data(), {out_rows(rows_of(t)), out_width}));
  }
  std::atomic<int> mismatches{0};
  run_threads([&](int t) {
    auto evaluate = make_evaluator();
    std::vector<float> out(expected[t].size());
    for (int it = 0; it < iterations; ++it) {
      evaluate(TensorView<const float, 2>(inputs[t].data(), {rows_of(t), in_width}),
               TensorView<float, 2>(out.data(), {out_rows(rows_of(t)), out_width}));
      if (out != expected[t]) mismatches.fetch_add(1);
    }
  });
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(Concurrency, OneForestSharedByAllThreads) {
  // One immutable forest (XGBoost, 3 classes).
  const bdt::Forest<float> forest(io::load_xgboost_json(PORTML_TEST_DATA "/bdt/xgb3_softprob.json"));
  expect_shared_model_is_thread_safe(forest.num_features(), forest.num_outputs(), 37, [&] {
    return [&forest, q = Queue<backend::Serial>{}](TensorView<const float, 2> x, TensorView<float, 2> y) mutable {
      bdt::predict_margins(q, forest, x, y);
    };
  });
}

TEST(Concurrency, OneMlpSharedByAllThreads) {
  // One immutable MLP (ONNX with BatchNorm folded); each thread owns its workspace.
  const layers::Mlp<float> model(io::load_onnx(PORTML_TEST_DATA "/dense/batchnorm.onnx"));
  expect_shared_model_is_thread_safe(model.input_size(), model.output_size(), 13, [&] {
    return [&model, q = Queue<backend::Serial>{}, workspace = std::vector<std::byte>()](
               TensorView<const float, 2> x, TensorView<float, 2> y) mutable {
      workspace.resize(model.workspace_bytes(x.extent(0)));
      model.forward(q, x, y, std::span<std::byte>(workspace));
    };
  });
}

//! Event offsets of a ragged batch of n points: an empty event first, then events of 3, 8, 1, 5, 12
//! and 2 points in turn (events smaller and larger than the models' k), the last one cut at n.
std::vector<std::int32_t> event_offsets(index_t n) {
  static constexpr index_t sizes[] = {3, 8, 1, 5, 12, 2};
  std::vector<std::int32_t> offsets{0, 0};
  for (std::size_t e = 0; offsets.back() < n; ++e) {
    offsets.push_back(static_cast<std::int32_t>(std::min<index_t>(n, offsets.back() + sizes[e % std::size(sizes)])));
  }
  return offsets;
}

index_t events_of(index_t n) { return static_cast<index_t>(event_offsets(n).size()) - 1; }

TEST(Concurrency, OneParticleNetSharedByAllThreads) {
  // One immutable ParticleNet-like model (input BatchNorm, EdgeConv blocks, pooling, dense head per
  // event) from the GNN JSON loader. Each thread's batch is [points | features] per row, split into
  // ragged events; its queue, workspace and offsets are its own.
  const layers::ParticleNet<float> model(io::load_gnn_json(PORTML_TEST_DATA "/gnn/model_particlenet.json").particlenet);
  const index_t np = model.point_size(), nf = model.feature_size();
  expect_shared_model_is_thread_safe(
      np + nf, model.output_size(), 5,
      [&] {
        return [&model, np, nf, q = Queue<backend::Serial>{}, points = std::vector<float>(),
                features = std::vector<float>(),
                workspace = std::vector<std::byte>()](TensorView<const float, 2> x, TensorView<float, 2> y) mutable {
          const index_t n = x.extent(0);
          const std::vector<std::int32_t> offsets = event_offsets(n);
          points.resize(static_cast<std::size_t>(n * np));
          features.resize(static_cast<std::size_t>(n * nf));
          for (index_t r = 0; r < n; ++r) {
            for (index_t j = 0; j < np; ++j) points[static_cast<std::size_t>(r * np + j)] = x(r, j);
            for (index_t j = 0; j < nf; ++j) features[static_cast<std::size_t>(r * nf + j)] = x(r, np + j);
          }
          const index_t events = static_cast<index_t>(offsets.size()) - 1;
          workspace.resize(model.workspace_bytes(n, events, layers::graph_threads(q)));
          model.forward<backend::Serial>(q, TensorView<const float, 2>(points.data(), {n, np}),
                                         TensorView<const float, 2>(features.data(), {n, nf}),
                                         TensorView<const std::int32_t, 1>(offsets.data(), {events + 1}), y,
                                         std::span<std::byte>(workspace));
        };
      },
      events_of);
}

TEST(Concurrency, OneGravNetSharedByAllThreads) {
  // One immutable GravNet model (input BatchNorm, GravNet blocks, dense head per point) from the GNN
  // JSON loader; each thread evaluates its own ragged batch with its own queue and workspace.
  const layers::GravNetModel<float> model(io::load_gnn_json(PORTML_TEST_DATA "/gnn/model_gravnet.json").gravnet);
  expect_shared_model_is_thread_safe(model.feature_size(), model.output_size(), 5, [&] {
    return [&model, q = Queue<backend::Serial>{}, workspace = std::vector<std::byte>()](
               TensorView<const float, 2> x, TensorView<float, 2> y) mutable {
      const index_t n = x.extent(0);
      const std::vector<std::int32_t> offsets = event_offsets(n);
      const index_t events = static_cast<index_t>(offsets.size()) - 1;
      workspace.resize(model.workspace_bytes(n, events, layers::graph_threads(q)));
      model.forward<backend::Serial>(q, x, TensorView<const std::int32_t, 1>(offsets.data(), {events + 1}), y,
                                     std::span<std::byte>(workspace));
    };
  });
}

TEST(Concurrency, ReadersAreReentrant) {
  const std::string csv = "1,2,3\n4,nan,6\n";
  std::atomic<int> failures{0};
  run_threads([&](int t) {
    for (int it = 0; it < iterations; ++it) {
      const io::Table table = io::parse_csv(csv, "thread" + std::to_string(t));
      if (table.rows != 2 || table.cols != 3 || table(1, 2) != 6.0) failures.fetch_add(1);
      try {
        io::parse_csv("1,x\n", "bad.csv");
        failures.fetch_add(1);
      } catch (const io::FormatError&) {
      }
    }
  });
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace portml::test
