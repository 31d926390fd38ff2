// SPDX-License-Identifier: Apache-2.0
// The portml command-line tool, run as a user runs it: every subcommand, every error path (message
// on stderr, exit status 2, no partial output file), golden outputs of the training frameworks, and
// predict's output equal to the library call's.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <portml/bdt/forest.hpp>
#include <portml/bdt/predict.hpp>
#include <portml/io/forest_loaders.hpp>
#include <portml/io/format.hpp>
#include <portml/io/table.hpp>

namespace portml::test {
namespace {

const std::string tool = PORTML_TOOL;
const std::string bdt_data = PORTML_TEST_DATA "/bdt/";

struct Result {
  int status;
  std::string out, err;
};

//! A file name private to the running test (ctest runs tests in parallel processes).
std::string temp(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return ::testing::TempDir() + "portml_cli_" + info->name() + "_" + name;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

//! Runs the tool with `args` (a shell-quoted string).
Result run(const std::string& args) {
  const std::string out = temp("stdout.txt"), err = temp("stderr.txt");
  const int rc = std::system((tool + " " + args + " >" + out + " 2>" + err).c_str());
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, slurp(out), slurp(err)};
}

//! A raw little-endian fixture of `rows` x `cols` values of type T as a Table.
template <class T>
io::Table raw_table(const std::string& path, index_t rows, index_t cols) {
  const std::string bytes = slurp(path);
  EXPECT_EQ(bytes.size(), sizeof(T) * static_cast<std::size_t>(rows * cols)) << path;
  io::Table t{rows, cols, std::vector<double>(static_cast<std::size_t>(rows * cols))};
  for (std::size_t i = 0; i < t.values.size(); ++i) {
    T v;
    std::memcpy(&v, bytes.data() + i * sizeof(T), sizeof(T));
    t.values[i] = v;
  }
  return t;
}

struct Fixture {
  std::string name, model;
  index_t rows, features, width;
  bool float32;
};

// One per format, with the framework's own outputs beside each (test/data/bdt/make_fixtures.py).
const Fixture fixtures[] = {
    {"xgb1_binary", "xgb1_binary.json", 240, 10, 1, true},
    {"xgb3_softprob", "xgb3_softprob.json", 240, 6, 3, true},
    {"xgb1_deep", "xgb1_deep.json.gz", 240, 12, 1, true},
    {"lgb_multiclass", "lgb_multiclass.txt", 240, 6, 3, false},
    {"tmva_bdtg", "tmva_bdtg.weights.xml", 200, 5, 1, false},
    {"xgb3_softprob", "xgb3_softprob.ubj", 240, 6, 3, true},
};

//! Writes the fixture's inputs and reference predictions as .npy and .csv files.
void write_inputs(const Fixture& f) {
  const io::Table x = raw_table<float>(bdt_data + f.name + ".x.f32", f.rows, f.features);
  io::write_npy(temp(f.name + ".x.npy"), x, io::DType::float32);
  io::write_csv(temp(f.name + ".x.csv"), x);
  const io::Table ref = f.float32 ? raw_table<float>(bdt_data + f.name + ".pred.f32", f.rows, f.width)
                                  : raw_table<double>(bdt_data + f.name + ".pred.f64", f.rows, f.width);
  io::write_npy(temp(f.name + ".ref.npy"), ref, io::DType::float64);
}

TEST(Cli, ValidateMatchesTheTrainingFrameworkForEveryFormat) {
  for (const Fixture& f : fixtures) {
    write_inputs(f);
    for (const char* ext : {".x.npy", ".x.csv"}) {
      const Result r = run("validate --model " + bdt_data + f.model + " --input " + temp(f.name + ext) +
                           " --reference " + temp(f.name + ".ref.npy"));
      EXPECT_EQ(r.status, 0) << f.name << ext << "\n" << r.out << r.err;
      EXPECT_NE(r.out.find("rows: " + std::to_string(f.rows)), std::string::npos) << r.out;
    }
  }
}

//! The reference JSON of an MLP fixture (test/data/dense/make_fixtures.py) as a table.
io::Table json_table(const nlohmann::json& rows) {
  io::Table t;
  t.rows = static_cast<index_t>(rows.size());
  t.cols = static_cast<index_t>(rows.at(0).size());
  for (const auto& row : rows)
    for (const auto& v : row) t.values.push_back(v.get<double>());
  return t;
}

TEST(Cli, ValidateMlpsAgainstPyTorchAndOnnxRuntime) {
  const std::string dense = PORTML_TEST_DATA "/dense/";
  for (const auto& [model, ref] :
       std::vector<std::pair<std::string, std::string>>{{"l1_mlp.onnx", "l1_mlp"},
                                                        {"batchnorm.onnx", "batchnorm"},
                                                        {"onnx_ops.onnx", "onnx_ops"},
                                                        {"l1_mlp.lwtnn.json", "l1_mlp"},
                                                        {"activations.lwtnn.json", "activations"}}) {
    const nlohmann::json j = nlohmann::json::parse(slurp(dense + ref + ".ref.json"));
    io::write_npy(temp("mlp.x.npy"), json_table(j.at("inputs")), io::DType::float32);
    for (const char* which : {"output_float", "output_onnxruntime"}) {  // PyTorch float32, ONNX Runtime
      io::write_npy(temp("mlp.ref.npy"), json_table(j.at(which)), io::DType::float64);
      const Result r = run("validate --model " + dense + model + " --input " + temp("mlp.x.npy") + " --reference " +
                           temp("mlp.ref.npy"));
      EXPECT_EQ(r.status, 0) << model << " vs " << which << "\n" << r.out << r.err;
    }
  }
  // --margin is for forests only.
  const Result r = run("predict --margin --model " + dense + "l1_mlp.onnx --input " + temp("mlp.x.npy") + " --output " +
                       temp("never.csv"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--margin is only for forest models"), std::string::npos) << r.err;
}

TEST(Cli, PredictEqualsTheLibraryCall) {
  const Fixture& f = fixtures[0];
  write_inputs(f);
  for (const char* backend : {"serial", "openmp"}) {
    const std::string out = temp("pred.csv");
    const Result r = run("predict --model " + bdt_data + f.model + " --input " + temp(f.name + ".x.csv") +
                         " --output " + out + " --backend " + backend + " --threads 2");
    if (std::string(backend) == "openmp" && r.status == 2 &&
        r.err.find("unknown or unavailable backend") != std::string::npos) {
      continue;  // a build without OpenMP
    }
    ASSERT_EQ(r.status, 0) << r.err;
    const io::Table got = io::read_csv(out);
    const bdt::Forest<float> forest(io::load_xgboost_json(bdt_data + f.model));
    const io::Table x = raw_table<float>(bdt_data + f.name + ".x.f32", f.rows, f.features);
    std::vector<float> xf(x.values.begin(), x.values.end()), want(static_cast<std::size_t>(f.rows));
    bdt::predict(forest, TensorView<const float, 2>(xf.data(), {f.rows, f.features}),
                 TensorView<float, 2>(want.data(), {f.rows, 1}));
    ASSERT_EQ(got.rows, f.rows);
    for (index_t i = 0; i < f.rows; ++i) {
      ASSERT_EQ(static_cast<float>(got(i, 0)), want[static_cast<std::size_t>(i)]) << "row " << i;  // %.9g: exact
    }
    std::remove(out.c_str());
  }
}

TEST(Cli, MarginGivesRawScores) {
  const Fixture& f = fixtures[0];
  write_inputs(f);
  const io::Table margin = raw_table<float>(bdt_data + f.name + ".margin.f32", f.rows, 1);
  io::write_npy(temp("margin.ref.npy"), margin, io::DType::float32);
  const Result r = run("validate --margin --model " + bdt_data + f.model + " --input " + temp(f.name + ".x.npy") +
                       " --reference " + temp("margin.ref.npy") + " --rtol 0 --atol 0");
  EXPECT_EQ(r.status, 0) << r.out << r.err;  // margins are bit-identical to XGBoost's
}

TEST(Cli, ValidateFailsOutsideTolerance) {
  const Fixture& f = fixtures[0];
  write_inputs(f);
  io::Table ref = io::read_table(temp(f.name + ".ref.npy"));
  ref(17, 0) += 1e-3;
  io::write_npy(temp("bad.ref.npy"), ref, io::DType::float64);
  const Result r = run("validate --model " + bdt_data + f.model + " --input " + temp(f.name + ".x.npy") +
                       " --reference " + temp("bad.ref.npy"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("worst row: 17"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("FAILED: 1 of 240 rows"), std::string::npos) << r.out;
}

TEST(Cli, BenchJson) {
  const Fixture& f = fixtures[0];
  const Result r =
      run("bench --model " + bdt_data + f.model + " --backend serial --batch 1,8 --format json --min-time 0.001");
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* key : {"\"model\"", "\"backend\": \"serial\"", "\"threads\": 1", "\"batch\": 8", "\"ns_per_row\"",
                          "\"rows_per_second\""}) {
    EXPECT_NE(r.out.find(key), std::string::npos) << key << "\n" << r.out;
  }
  const Result t = run("bench --model " + bdt_data + f.model + " --backend serial --batch 4 --min-time 0.001");
  ASSERT_EQ(t.status, 0) << t.err;
  EXPECT_NE(t.out.find("ns/row"), std::string::npos) << t.out;
}

//! Runs a failing command: exit status 2, `message` on stderr, no output file left behind.
void expect_error(const std::string& args, const std::string& message, const std::string& output = "") {
  const Result r = run(args);
  EXPECT_EQ(r.status, 2) << args << "\n" << r.err;
  EXPECT_NE(r.err.find(message), std::string::npos) << args << "\nstderr: " << r.err;
  if (!output.empty()) {
    EXPECT_FALSE(std::filesystem::exists(output)) << output;
    EXPECT_FALSE(std::filesystem::exists(output + ".portml-tmp")) << output;
  }
}

TEST(Cli, ErrorPaths) {
  const Fixture& f = fixtures[0];
  write_inputs(f);
  const std::string model = bdt_data + f.model, out = temp("never.csv");
  std::remove(out.c_str());
  const std::string io = " --input " + temp(f.name + ".x.csv") + " --output " + out;
  expect_error("frobnicate", "unknown command 'frobnicate'");
  expect_error("predict --model " + model + io + " --speed 3", "unknown option '--speed'", out);
  expect_error("predict --model " + model + io + " --backend quantum", "unknown or unavailable backend 'quantum'", out);
  expect_error("predict --model " + model + io + " --threads 0", "--threads needs an integer of at least 1", out);
  expect_error("predict --model /nonexistent.json" + io, "/nonexistent.json: cannot open file", out);
  expect_error("predict --input x.csv --output " + out, "option --model is required", out);
  // A malformed model names the file.
  const std::string broken = temp("broken.json");
  std::ofstream(broken) << "{\"learner\": {\"gradient_booster\": ";
  expect_error("predict --model " + broken + io, broken, out);
  // Wrong column count, unparsable number: the input file and line.
  const std::string narrow = temp("narrow.csv");
  std::ofstream(narrow) << "1,2,3\n";
  expect_error("predict --model " + model + " --input " + narrow + " --output " + out,
               narrow + ": line 1: 3 columns, the model expects 10 inputs", out);
  const std::string garbage = temp("garbage.csv");
  std::ofstream(garbage) << "1,2,3,4,5,6,7,8,9,10\n1,2,3,4,x5,6,7,8,9,10\n";
  expect_error("predict --model " + model + " --input " + garbage + " --output " + out,
               garbage + ": line 2, column 5: cannot parse 'x5' as a number", out);
  // An output in a folder that does not exist.
  expect_error("predict --model " + model + " --input " + temp(f.name + ".x.csv") + " --output /nonexistent/o.csv",
               "/nonexistent/o.csv: cannot create file");
  // validate: a reference of the wrong shape.
  expect_error("validate --model " + model + " --input " + temp(f.name + ".x.csv") + " --reference " + narrow,
               "1 rows of 3 values, the model gives 240 rows of 1");
}

}  // namespace
}  // namespace portml::test
