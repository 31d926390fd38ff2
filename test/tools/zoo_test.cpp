// SPDX-License-Identifier: Apache-2.0
// The default model zoo (models/zoo.json) through the portml tool's own subcommands, called in-process
// (the code path of the executable without its main, so this also runs in the sanitizer builds):
// `validate` against the training framework's output on every compiled host backend, `predict` into a
// file that matches that output, and `bench` giving a record per backend, thread count and batch. The
// entries made at benchmark time (where=build: too large to commit) are checked by scripts/zoo-bench.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <portml/io/table.hpp>

#include "cli/commands.hpp"
#include "cli/host_backends.hpp"
#include "cli/model_runner.hpp"

namespace portml::test {
namespace {

const std::string zoo_dir = PORTML_ZOO_DIR "/";

nlohmann::json zoo() {
  std::ifstream in(zoo_dir + "zoo.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str()).at("models");
}

//! The zoo entries committed in models/ (where=models).
std::vector<nlohmann::json> committed() {
  std::vector<nlohmann::json> out;
  for (const auto& e : zoo())
    if (e.at("where") == "models") out.push_back(e);
  return out;
}

std::string file(const nlohmann::json& e, const char* key) { return zoo_dir + e.at(key).get<std::string>(); }

//! The tool's model loaders, registered once (as the tool's main does).
void register_runners() {
  static const bool registered = (cli::register_all_runners(), true);
  (void)registered;
}

//! Runs a subcommand of the tool in-process: `portml <args...>`; returns its exit status.
template <class Command>
int call(Command command, std::vector<std::string> args) {
  register_runners();
  args.insert(args.begin(), "portml");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return command(static_cast<int>(args.size()), argv.data());
}

std::string number(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

TEST(Zoo, ManifestIsWellFormed) {
  const auto models = zoo();
  ASSERT_FALSE(models.empty());
  std::set<std::string> names;
  for (const auto& e : models) {
    const std::string name = e.at("name");
    EXPECT_TRUE(names.insert(name).second) << "duplicate " << name;
    EXPECT_TRUE(std::set<std::string>({"dense", "bdt", "gnn"}).count(e.at("pillar"))) << name;
    EXPECT_TRUE(std::set<std::string>({"models", "build"}).count(e.at("where"))) << name;
    EXPECT_TRUE(std::set<std::string>({"none", "onnxruntime", "xgboost", "lightgbm"}).count(e.at("peer"))) << name;
    for (const char* key : {"model", "input", "reference", "part", "framework", "description"})
      EXPECT_TRUE(e.contains(key)) << name << " lacks " << key;
    if (e.at("where") == "models") {
      for (const char* key : {"model", "input", "reference"})
        EXPECT_TRUE(std::ifstream(file(e, key)).good()) << file(e, key);
    }
  }
}

TEST(Zoo, ValidateEveryModelOnEveryBackend) {
  for (const auto& e : committed()) {
    for (const auto& backend : cli::host_backend_names()) {
      for (const int threads : {1, 2}) {
        if (threads > 1 && backend != "openmp") continue;
        ::testing::internal::CaptureStdout();  // the report validate prints, shown on failure
        const int status =
            call(cli::cmd_validate,
                 {"validate", "--model", file(e, "model"), "--input", file(e, "input"), "--reference",
                  file(e, "reference"), "--backend", backend, "--threads", std::to_string(threads), "--rtol",
                  number(e.at("rtol").get<double>()), "--atol", number(e.at("atol").get<double>())});
        const std::string report = ::testing::internal::GetCapturedStdout();
        EXPECT_EQ(status, 0) << e.at("name") << " on " << backend << " with " << threads << " threads\n" << report;
        // One row per input row; per event or per node for graph models (as many as the reference has).
        EXPECT_NE(report.find("rows: " + std::to_string(io::read_table(file(e, "reference")).rows)), std::string::npos)
            << report;
      }
    }
  }
}

TEST(Zoo, PredictGivesTheTrainingFrameworksOutput) {
  for (const auto& e : committed()) {
    const std::string out = ::testing::TempDir() + "portml_zoo_" + e.at("name").get<std::string>() + ".npy";
    ASSERT_EQ(
        call(cli::cmd_predict, {"predict", "--model", file(e, "model"), "--input", file(e, "input"), "--output", out}),
        0)
        << e.at("name");
    const io::Table got = io::read_table(out), want = io::read_table(file(e, "reference"));
    ASSERT_EQ(got.rows, want.rows) << e.at("name");
    ASSERT_EQ(got.cols, want.cols) << e.at("name");
    const double rtol = e.at("rtol"), atol = e.at("atol");
    for (std::size_t i = 0; i < got.values.size(); ++i) {
      ASSERT_LE(std::abs(got.values[i] - want.values[i]), atol + rtol * std::abs(want.values[i]))
          << e.at("name") << " value " << i;
    }
    std::remove(out.c_str());
  }
}

// What bench times at batch 1 (a forest's one-row path, an MLP's smallest block) gives the batch's numbers,
// bit for bit, on every backend.
TEST(Zoo, OneRowAtATimeEqualsTheWholeBatch) {
  register_runners();
  for (const auto& e : committed()) {
    const auto model = cli::load_model(file(e, "model"));
    if (model->is_graph()) continue;  // OneEventAtATimeEqualsTheWholeBatch
    const io::Table in = io::read_table(file(e, "input"));
    const std::vector<float> x(in.values.begin(), in.values.end());
    const index_t width = model->output_width(false);
    for (const auto& backend : cli::host_backend_names()) {
      std::vector<double> batch(static_cast<std::size_t>(in.rows * width)), row(static_cast<std::size_t>(width));
      model->session(backend, 1, in.rows, false)
          ->run(TensorView<const float, 2>(x.data(), {in.rows, in.cols}),
                TensorView<double, 2>(batch.data(), {in.rows, width}));
      const auto one = model->session(backend, 1, 1, false);
      for (index_t r = 0; r < in.rows; ++r) {
        one->run(TensorView<const float, 2>(x.data() + r * in.cols, {1, in.cols}),
                 TensorView<double, 2>(row.data(), {1, width}));
        for (index_t c = 0; c < width; ++c) {
          ASSERT_EQ(row[static_cast<std::size_t>(c)], batch[static_cast<std::size_t>(r * width + c)])
              << e.at("name") << " on " << backend << ", row " << r << ", output " << c;
        }
      }
    }
  }
}

// Graph models: an event evaluated alone gives the bits it gets in the whole batch (what bench times at
// batch 1), on every backend.
TEST(Zoo, OneEventAtATimeEqualsTheWholeBatch) {
  register_runners();
  std::size_t graphs = 0;
  for (const auto& e : committed()) {
    const auto model = cli::load_model(file(e, "model"));
    if (!model->is_graph()) continue;
    ++graphs;
    const io::GraphInput in = io::read_graph_input(file(e, "input"));
    const std::vector<float> x(in.x.values.begin(), in.x.values.end());
    const std::vector<std::int32_t> offsets(in.offsets.begin(), in.offsets.end());
    const index_t events = static_cast<index_t>(offsets.size()) - 1, width = model->output_width(false);
    const index_t rows = model->per_event() ? events : in.x.rows;
    ASSERT_EQ(rows, io::read_table(file(e, "reference")).rows) << e.at("name");
    for (const auto& backend : cli::host_backend_names()) {
      std::vector<double> batch(static_cast<std::size_t>(rows * width));
      model->graph_session(backend, 1, in.x.rows, events)
          ->run(TensorView<const float, 2>(x.data(), {in.x.rows, in.x.cols}), offsets,
                TensorView<double, 2>(batch.data(), {rows, width}));
      for (index_t ev = 0; ev < events; ++ev) {
        const std::int32_t lo = offsets[static_cast<std::size_t>(ev)], hi = offsets[static_cast<std::size_t>(ev + 1)];
        const index_t out_first = model->per_event() ? ev : lo, out_rows = model->per_event() ? 1 : hi - lo;
        const std::vector<std::int32_t> one_offsets = {0, hi - lo};
        std::vector<double> one(static_cast<std::size_t>(out_rows * width));
        model->graph_session(backend, 1, hi - lo, 1)
            ->run(TensorView<const float, 2>(x.data() + lo * in.x.cols, {hi - lo, in.x.cols}), one_offsets,
                  TensorView<double, 2>(one.data(), {out_rows, width}));
        for (std::size_t i = 0; i < one.size(); ++i) {
          ASSERT_EQ(one[i], batch[static_cast<std::size_t>(out_first * width) + i])
              << e.at("name") << " on " << backend << ", event " << ev << ", value " << i;
        }
      }
    }
  }
  EXPECT_GE(graphs, 2u) << "the zoo's ParticleNet-like and GravNet models";
}

TEST(Zoo, BenchRunsEveryModelOnEveryBackend) {
  for (const auto& e : committed()) {
    ::testing::internal::CaptureStdout();
    const int status =
        call(cli::cmd_bench, {"bench", "--model", file(e, "model"), "--input", file(e, "input"), "--batch", "1,3",
                              "--threads", "1,2", "--min-time", "0.0005", "--format", "json"});
    const std::string out = ::testing::internal::GetCapturedStdout();
    ASSERT_EQ(status, 0) << e.at("name");
    const auto records = nlohmann::json::parse(out);
    // Every backend at 1 thread, OpenMP also at 2; two batch sizes each.
    std::size_t expected = 0;
    for (const auto& b : cli::host_backend_names()) expected += b == "openmp" ? 4 : 2;
    EXPECT_EQ(records.size(), expected) << e.at("name") << "\n" << out;
    for (const auto& r : records) {
      EXPECT_GT(r.at("ns_per_row").get<double>(), 0) << e.at("name");
      EXPECT_GT(r.at("rows_per_second").get<double>(), 0) << e.at("name");
    }
  }
}

}  // namespace
}  // namespace portml::test
