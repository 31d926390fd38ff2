// SPDX-License-Identifier: Apache-2.0
// The default model zoo (models/zoo.json) through the portml tool's own subcommands, called in-process
// (the code path of the executable without its main, so this also runs in the sanitizer builds):
// `validate` against the training framework's output on every compiled host backend, `predict` into a
// file that matches that output, and `bench` giving a record per backend, thread count and batch. The
// entries made at benchmark time (where=build: too large to commit) are checked by scripts/zoo-bench.
// The GPU backends (ZooGpu/Cuda, ZooGpu/Hip) run the same subcommands on the device and skip, saying why,
// where there is none; ZooGpuNoDevice checks the error a user gets then.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <portml/config.hpp>
#include <portml/io/table.hpp>

#include "cli/commands.hpp"
#include "cli/device_backends.hpp"
#include "cli/host_backends.hpp"
#include "cli/model_runner.hpp"
#include "cli/options.hpp"

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
      model->session(backend, 1, in.rows, false, "portml")
          ->run(TensorView<const float, 2>(x.data(), {in.rows, in.cols}),
                TensorView<double, 2>(batch.data(), {in.rows, width}));
      const auto one = model->session(backend, 1, 1, false, "portml");
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
    // Every backend at 1 thread, OpenMP also at 2; two batch sizes each; GPU backends only with a device.
    std::size_t expected = 0;
    for (const auto& b : cli::host_backend_names()) expected += b == "openmp" ? 4 : 2;
    for (const auto& b : cli::device_backend_names()) expected += cli::missing_device(b).empty() ? 2 : 0;
    EXPECT_EQ(records.size(), expected) << e.at("name") << "\n" << out;
    for (const auto& r : records) {
      EXPECT_GT(r.at("ns_per_row").get<double>(), 0) << e.at("name");
      EXPECT_GT(r.at("rows_per_second").get<double>(), 0) << e.at("name");
    }
  }
}

// ---- the GEMM provider of MLPs (--gemm portml|openblas) -----------------------------------------------------

//! The committed zoo entries that are MLPs (ONNX, lwtnn): the models with a GEMM provider to choose.
std::vector<nlohmann::json> committed_mlps() {
  register_runners();
  std::vector<nlohmann::json> out;
  for (const auto& e : committed())
    if (!cli::load_model(file(e, "model"))->gemm_providers().empty()) out.push_back(e);
  return out;
}

#define PORTML_SKIP_WITHOUT_OPENBLAS()                                                                         \
  if (!PORTML_ENABLE_OPENBLAS) {                                                                               \
    GTEST_SKIP() << "built without PORTML_ENABLE_OPENBLAS: --gemm openblas is a usage error here "             \
                    "(ZooGemm.OpenBlasWithoutTheBuildOptionIsAUsageError and Cli.GemmUsageErrors check that)"; \
  }

// validate --gemm openblas: the training framework's outputs within the zoo's tolerances, on every host
// backend (OpenMP with 1 and 2 threads: each thread's rows through its own cblas calls).
TEST(ZooGemm, ValidateWithOpenBlasMatchesTheFramework) {
  PORTML_SKIP_WITHOUT_OPENBLAS();
  const auto mlps = committed_mlps();
  ASSERT_FALSE(mlps.empty()) << "the zoo's MLP tagger";
  for (const auto& e : mlps) {
    for (const auto& backend : cli::host_backend_names()) {
      for (const int threads : {1, 2}) {
        if (threads > 1 && backend != "openmp") continue;
        ::testing::internal::CaptureStdout();
        const int status =
            call(cli::cmd_validate, {"validate", "--model", file(e, "model"), "--input", file(e, "input"),
                                     "--reference", file(e, "reference"), "--backend", backend, "--threads",
                                     std::to_string(threads), "--gemm", "openblas", "--rtol",
                                     number(e.at("rtol").get<double>()), "--atol", number(e.at("atol").get<double>())});
        const std::string report = ::testing::internal::GetCapturedStdout();
        EXPECT_EQ(status, 0) << e.at("name") << " on " << backend << " with " << threads << " threads\n" << report;
        EXPECT_NE(report.find("rows: " + std::to_string(io::read_table(file(e, "reference")).rows)), std::string::npos)
            << report;
      }
    }
  }
}

//! predict's outputs for a zoo entry with `--gemm gemm` on `backend`.
io::Table predict_gemm(const nlohmann::json& e, const std::string& backend, const std::string& gemm) {
  const std::string out =
      ::testing::TempDir() + "portml_zoo_" + e.at("name").get<std::string>() + "_" + backend + "_" + gemm + ".npy";
  EXPECT_EQ(call(cli::cmd_predict, {"predict", "--model", file(e, "model"), "--input", file(e, "input"), "--output",
                                    out, "--backend", backend, "--gemm", gemm}),
            0)
      << e.at("name") << " on " << backend << " with --gemm " << gemm;
  io::Table t = io::read_table(out);
  std::remove(out.c_str());
  return t;
}

// predict --gemm openblas gives predict's (portml's) outputs within the zoo's tolerances (not bit for bit:
// OpenBLAS sums in its own order), and --gemm portml is predict's default bit for bit.
TEST(ZooGemm, PredictWithOpenBlasEqualsPortml) {
  PORTML_SKIP_WITHOUT_OPENBLAS();
  for (const auto& e : committed_mlps()) {
    for (const auto& backend : cli::host_backend_names()) {
      const io::Table portml = predict_gemm(e, backend, "portml"), blas = predict_gemm(e, backend, "openblas");
      ASSERT_EQ(blas.rows, portml.rows) << e.at("name");
      ASSERT_EQ(blas.cols, portml.cols) << e.at("name");
      const double rtol = e.at("rtol"), atol = e.at("atol");
      for (std::size_t i = 0; i < blas.values.size(); ++i) {
        ASSERT_LE(std::abs(blas.values[i] - portml.values[i]), atol + rtol * std::abs(portml.values[i]))
            << e.at("name") << " on " << backend << ", value " << i;
      }
    }
  }
}

TEST(ZooGemm, PortmlIsTheDefault) {
  for (const auto& e : committed_mlps()) {
    const std::string out = ::testing::TempDir() + "portml_zoo_default_" + e.at("name").get<std::string>() + ".npy";
    ASSERT_EQ(
        call(cli::cmd_predict, {"predict", "--model", file(e, "model"), "--input", file(e, "input"), "--output", out}),
        0);
    const io::Table by_default = io::read_table(out), portml = predict_gemm(e, "serial", "portml");
    std::remove(out.c_str());
    EXPECT_EQ(by_default.values, portml.values) << e.at("name");
  }
}

// bench --gemm portml,openblas: both providers at each backend, thread count and batch, one after the other,
// each record naming its provider; an MLP's records always name it (portml by default).
TEST(ZooGemm, BenchTimesBothProvidersSideBySide) {
  for (const auto& e : committed_mlps()) {
    std::vector<std::string> gemms = {"portml"};
    if (PORTML_ENABLE_OPENBLAS) gemms.push_back("openblas");
    const std::string list = gemms.size() == 2 ? "portml,openblas" : "portml";
    ::testing::internal::CaptureStdout();
    const int status = call(cli::cmd_bench, {"bench", "--model", file(e, "model"), "--backend", "serial", "--batch",
                                             "1,3", "--min-time", "0.0005", "--format", "json", "--gemm", list});
    const std::string out = ::testing::internal::GetCapturedStdout();
    ASSERT_EQ(status, 0) << e.at("name");
    const auto records = nlohmann::json::parse(out);
    ASSERT_EQ(records.size(), 2 * gemms.size()) << out;
    for (std::size_t i = 0; i < records.size(); ++i) {
      EXPECT_EQ(records[i].at("gemm"), gemms[i % gemms.size()]) << out;
      EXPECT_EQ(records[i].at("batch"), i < gemms.size() ? 1 : 3) << out;
      EXPECT_GT(records[i].at("ns_per_row").get<double>(), 0) << out;
    }
    // The table: a gemm column, and with both providers each row's time over portml's.
    ::testing::internal::CaptureStdout();
    ASSERT_EQ(call(cli::cmd_bench, {"bench", "--model", file(e, "model"), "--backend", "serial", "--batch", "2",
                                    "--min-time", "0.0005", "--gemm", list}),
              0);
    const std::string table = ::testing::internal::GetCapturedStdout();
    EXPECT_NE(table.find("gemm"), std::string::npos) << table;
    for (const auto& g : gemms) EXPECT_NE(table.find("serial   " + g), std::string::npos) << table;
    if (gemms.size() == 2) {
      EXPECT_NE(table.find("/ portml"), std::string::npos) << table;
    }
  }
  // Models without a GEMM provider: no gemm field.
  ::testing::internal::CaptureStdout();
  const auto forest = committed().at(1);
  ASSERT_EQ(forest.at("pillar"), "bdt");
  ASSERT_EQ(call(cli::cmd_bench, {"bench", "--model", file(forest, "model"), "--backend", "serial", "--batch", "2",
                                  "--min-time", "0.0005", "--format", "json"}),
            0);
  const std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(out.find("gemm"), std::string::npos) << out;
}

//! Runs `args` in-process and returns the UsageError's message ("" and a test failure if none is thrown).
std::string usage_error(const std::vector<std::string>& args) {
  try {
    call(args[0] == "predict" ? cli::cmd_predict : args[0] == "validate" ? cli::cmd_validate : cli::cmd_bench, args);
  } catch (const cli::UsageError& err) {
    return err.what();
  }
  ADD_FAILURE() << args[0] << " did not fail with a usage error";
  return "";
}

//! predict, validate and bench of zoo entry `e` with `extra` options.
std::vector<std::vector<std::string>> every_command(const nlohmann::json& e, const std::vector<std::string>& extra) {
  const std::string out = ::testing::TempDir() + "portml_zoo_gemm_never.csv";
  std::vector<std::vector<std::string>> commands = {
      {"predict", "--model", file(e, "model"), "--input", file(e, "input"), "--output", out},
      {"validate", "--model", file(e, "model"), "--input", file(e, "input"), "--reference", file(e, "reference")},
      {"bench", "--model", file(e, "model"), "--batch", "1", "--min-time", "0.0005"}};
  for (auto& c : commands) c.insert(c.end(), extra.begin(), extra.end());
  return commands;
}

// Each mistake with --gemm is a UsageError (exit status 2) naming the option, before any input is read.
TEST(ZooGemm, UsageErrors) {
  const auto mlps = committed_mlps();
  ASSERT_FALSE(mlps.empty());
  for (const auto& args : every_command(mlps.front(), {"--gemm", "mkl"}))
    EXPECT_EQ(usage_error(args).rfind("--gemm: unknown GEMM provider 'mkl' (portml or openblas", 0), 0u) << args[0];
  EXPECT_EQ(usage_error(every_command(mlps.front(), {"--gemm", "portml,openblas"})[0]),
            "--gemm: one provider here (portml or openblas), got 'portml,openblas'");
  EXPECT_EQ(usage_error(every_command(mlps.front(), {"--gemm", "portml,portml"})[2]), "--gemm: 'portml' given twice");
  // Models that are not MLPs: forests and graph models (said before the build option: rebuilding would not help).
  std::size_t others = 0;
  for (const auto& e : committed()) {
    if (e.at("pillar") == "dense") continue;
    ++others;
    for (const auto& args : every_command(e, {"--gemm", "openblas"})) {
      EXPECT_NE(usage_error(args).find("--gemm openblas: the OpenBLAS provider is for MLP models (ONNX, lwtnn) only"),
                std::string::npos)
          << e.at("name") << " " << args[0];
    }
    // portml is what every model runs on.
    ::testing::internal::CaptureStdout();
    EXPECT_EQ(call(cli::cmd_bench, {"bench", "--model", file(e, "model"), "--backend", "serial", "--batch", "1",
                                    "--min-time", "0.0005", "--gemm", "portml"}),
              0);
    ::testing::internal::GetCapturedStdout();
  }
  EXPECT_GE(others, 5u) << "the zoo's forests and graph models";
}

TEST(ZooGemm, OpenBlasWithoutTheBuildOptionIsAUsageError) {
  if (PORTML_ENABLE_OPENBLAS) GTEST_SKIP() << "built with PORTML_ENABLE_OPENBLAS: --gemm openblas runs here";
  for (const auto& e : committed_mlps()) {
    for (const auto& args : every_command(e, {"--gemm", "openblas"})) {
      EXPECT_EQ(usage_error(args),
                "--gemm openblas: this build has no OpenBLAS provider: configure with -DPORTML_ENABLE_OPENBLAS=ON")
          << args[0];
    }
  }
}

// The OpenBLAS provider is host only: --backend cuda (hip) with it is a usage error, said before the device
// is looked for; bench --backend all times the GPU backend with portml only.
TEST(ZooGemm, OpenBlasOnAGpuBackendIsAUsageError) {
  if (cli::device_backend_names().empty()) GTEST_SKIP() << "no GPU backend compiled into this build";
  for (const auto& e : committed_mlps()) {
    for (const auto& b : cli::device_backend_names()) {
      for (const auto& args : every_command(e, {"--gemm", "openblas", "--backend", b})) {
        EXPECT_EQ(usage_error(args),
                  "--gemm openblas: the OpenBLAS provider runs on the host backends only, not on --backend " + b)
            << args[0];
      }
    }
  }
}

// ---- GPU backends ------------------------------------------------------------------------------------------

//! The outputs of `predict` for a zoo entry on `backend`.
io::Table predict(const nlohmann::json& e, const std::string& backend) {
  const std::string out =
      ::testing::TempDir() + "portml_zoo_" + e.at("name").get<std::string>() + "_" + backend + ".npy";
  EXPECT_EQ(call(cli::cmd_predict, {"predict", "--model", file(e, "model"), "--input", file(e, "input"), "--output",
                                    out, "--backend", backend}),
            0)
      << e.at("name") << " on " << backend;
  io::Table t = io::read_table(out);
  std::remove(out.c_str());
  return t;
}

//! Parameter: a GPU backend compiled into this build ("cuda", "hip").
class ZooGpu : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string why = cli::missing_device(GetParam());
    if (!why.empty()) GTEST_SKIP() << why;
  }
};

// The training framework's outputs, within the zoo's tolerances, on the device.
TEST_P(ZooGpu, ValidateEveryModel) {
  for (const auto& e : committed()) {
    ::testing::internal::CaptureStdout();
    const int status =
        call(cli::cmd_validate, {"validate", "--model", file(e, "model"), "--input", file(e, "input"), "--reference",
                                 file(e, "reference"), "--backend", GetParam(), "--rtol",
                                 number(e.at("rtol").get<double>()), "--atol", number(e.at("atol").get<double>())});
    const std::string report = ::testing::internal::GetCapturedStdout();
    EXPECT_EQ(status, 0) << e.at("name") << " on " << GetParam() << "\n" << report;
    EXPECT_NE(report.find("rows: " + std::to_string(io::read_table(file(e, "reference")).rows)), std::string::npos)
        << report;
  }
}

// The host backend's outputs: a forest's bit for bit (the device margins are the host's, and the output
// transform runs on the host), an MLP's or GNN's within the zoo's tolerances (the device compilers
// contract multiply-adds).
TEST_P(ZooGpu, PredictGivesTheHostBackendsOutput) {
  for (const auto& e : committed()) {
    const io::Table got = predict(e, GetParam()), want = predict(e, "serial");
    ASSERT_EQ(got.rows, want.rows) << e.at("name");
    ASSERT_EQ(got.cols, want.cols) << e.at("name");
    const bool forest = e.at("pillar") == "bdt";
    const double rtol = e.at("rtol"), atol = e.at("atol");
    for (std::size_t i = 0; i < got.values.size(); ++i) {
      if (forest) {
        ASSERT_EQ(got.values[i], want.values[i]) << e.at("name") << " value " << i;
      } else {
        ASSERT_LE(std::abs(got.values[i] - want.values[i]), atol + rtol * std::abs(want.values[i]))
            << e.at("name") << " value " << i;
      }
    }
  }
}

// --margin on the device: the host's margins bit for bit, in one batch, one row at a time and from
// column-major rows.
TEST_P(ZooGpu, ForestMarginsEqualTheHosts) {
  register_runners();
  std::size_t forests = 0;
  for (const auto& e : committed()) {
    if (e.at("pillar") != "bdt") continue;
    ++forests;
    const auto model = cli::load_model(file(e, "model"));
    const io::Table in = io::read_table(file(e, "input"));
    const std::vector<float> x(in.values.begin(), in.values.end());
    const index_t k = model->output_width(true);
    std::vector<double> host(static_cast<std::size_t>(in.rows * k)), device(host.size()), row(host.size());
    const TensorView<const float, 2> xv(x.data(), {in.rows, in.cols});
    model->session("serial", 1, in.rows, true, "portml")->run(xv, TensorView<double, 2>(host.data(), {in.rows, k}));
    model->session(GetParam(), 1, in.rows, true, "portml")->run(xv, TensorView<double, 2>(device.data(), {in.rows, k}));
    const auto one = model->session(GetParam(), 1, 1, true, "portml");
    for (index_t r = 0; r < in.rows; ++r) {
      one->run(xv.row_slice(r, r + 1), TensorView<double, 2>(row.data() + r * k, {1, k}));
    }
    // The same rows column-major (rows not contiguous: the session packs them on the host first).
    std::vector<float> xc(x.size());
    for (index_t r = 0; r < in.rows; ++r)
      for (index_t c = 0; c < in.cols; ++c) xc[static_cast<std::size_t>(c * in.rows + r)] = xv(r, c);
    std::vector<double> strided(host.size());
    model->session(GetParam(), 1, in.rows, true, "portml")
        ->run(TensorView<const float, 2>::col_major(xc.data(), {in.rows, in.cols}),
              TensorView<double, 2>(strided.data(), {in.rows, k}));
    for (std::size_t i = 0; i < host.size(); ++i) {
      ASSERT_EQ(device[i], host[i]) << e.at("name") << " margin " << i;
      ASSERT_EQ(row[i], host[i]) << e.at("name") << " margin " << i << " (one row at a time)";
      ASSERT_EQ(strided[i], host[i]) << e.at("name") << " margin " << i << " (column-major input)";
    }
  }
  EXPECT_GE(forests, 3u) << "the zoo's XGBoost, LightGBM and TMVA forests";
}

TEST_P(ZooGpu, BenchTimesEveryModel) {
  for (const auto& e : committed()) {
    ::testing::internal::CaptureStdout();
    const int status =
        call(cli::cmd_bench, {"bench", "--model", file(e, "model"), "--input", file(e, "input"), "--backend",
                              GetParam(), "--batch", "1,3", "--min-time", "0.0005", "--format", "json"});
    const std::string out = ::testing::internal::GetCapturedStdout();
    ASSERT_EQ(status, 0) << e.at("name");
    const auto records = nlohmann::json::parse(out);
    ASSERT_EQ(records.size(), 2u) << e.at("name") << "\n" << out;
    for (const auto& r : records) {
      EXPECT_EQ(r.at("backend"), GetParam()) << e.at("name");
      EXPECT_GT(r.at("ns_per_row").get<double>(), 0) << e.at("name");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Zoo, ZooGpu, ::testing::ValuesIn(cli::device_backend_names()),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           std::string name = param.param;  // "cuda" -> "Cuda", as the other GPU tests name them
                           name[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(name[0])));
                           return name;
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ZooGpu);

// A GPU backend without a device: predict, validate and bench --backend B fail before reading any input
// (the message names the backend and the runtime's reason; no output file), and bench --backend all skips
// it with one line on stderr.
TEST(ZooGpuNoDevice, OneErrorNamingTheBackend) {
  std::vector<std::string> absent;
  for (const auto& b : cli::device_backend_names())
    if (!cli::missing_device(b).empty()) absent.push_back(b);
  if (cli::device_backend_names().empty()) GTEST_SKIP() << "no GPU backend compiled into this build";
  if (absent.empty()) GTEST_SKIP() << "every compiled GPU backend has a device here";
  const auto e = committed().front();
  for (const auto& b : absent) {
    const std::string out = ::testing::TempDir() + "portml_zoo_nodevice_" + b + ".csv";
    std::remove(out.c_str());
    const std::string want = "--backend " + b + ": no " + b + " device (";
    const auto expect_no_device = [&](const std::vector<std::string>& args) {
      try {
        call(args[0] == "predict"    ? cli::cmd_predict
             : args[0] == "validate" ? cli::cmd_validate
                                     : cli::cmd_bench,
             args);
        ADD_FAILURE() << args[0] << " --backend " << b << " did not fail";
      } catch (const cli::NoDeviceError& err) {
        EXPECT_EQ(std::string(err.what()).rfind(want, 0), 0u) << err.what();
      }
    };
    expect_no_device(
        {"predict", "--model", file(e, "model"), "--input", file(e, "input"), "--output", out, "--backend", b});
    EXPECT_FALSE(std::filesystem::exists(out)) << out;
    expect_no_device({"validate", "--model", file(e, "model"), "--input", file(e, "input"), "--reference",
                      file(e, "reference"), "--backend", b});
    expect_no_device({"bench", "--model", file(e, "model"), "--backend", b});

    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    const int status = call(cli::cmd_bench, {"bench", "--model", file(e, "model"), "--batch", "2", "--min-time",
                                             "0.0005", "--format", "json"});
    const std::string records = ::testing::internal::GetCapturedStdout(),
                      err = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(status, 0) << err;
    EXPECT_NE(err.find("bench: skipping " + b + ": no " + b + " device ("), std::string::npos) << err;
    for (const auto& r : nlohmann::json::parse(records)) EXPECT_NE(r.at("backend"), b) << records;
  }
}

}  // namespace
}  // namespace portml::test
