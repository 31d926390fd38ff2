// SPDX-License-Identifier: Apache-2.0
// The portml command-line tool, run as a user runs it: every subcommand, every error path (message
// on stderr, exit status 2, no partial output file), golden outputs of the training frameworks, and
// predict's output equal to the library call's.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <portml/bdt/forest.hpp>
#include <portml/bdt/predict.hpp>
#include <portml/config.hpp>
#include <portml/io/forest_loaders.hpp>
#include <portml/io/format.hpp>
#include <portml/io/table.hpp>
#include <portml/portability/all.hpp>

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

//! Runs the tool with `args` (a shell-quoted string), with `env` ("NAME=value ...") added to its environment.
Result run(const std::string& args, const std::string& env = "") {
  const std::string out = temp("stdout.txt"), err = temp("stderr.txt");
  const int rc =
      std::system(((env.empty() ? "" : "env " + env + " ") + tool + " " + args + " >" + out + " 2>" + err).c_str());
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

//! The committed lwtnn and ONNX MLP fixtures (test/data/dense/) and the stem of their reference file.
const std::vector<std::pair<std::string, std::string>> mlp_fixtures = {{"l1_mlp.onnx", "l1_mlp"},
                                                                       {"batchnorm.onnx", "batchnorm"},
                                                                       {"onnx_ops.onnx", "onnx_ops"},
                                                                       {"l1_mlp.lwtnn.json", "l1_mlp"},
                                                                       {"activations.lwtnn.json", "activations"}};

TEST(Cli, ValidateMlpsAgainstPyTorchAndOnnxRuntime) {
  const std::string dense = PORTML_TEST_DATA "/dense/";
  for (const auto& [model, ref] : mlp_fixtures) {
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

// A GPU backend compiled in but without a device here (CI): one line on stderr naming the backend and the
// runtime's reason, exit status 2, no output file; bench --backend all skips it and says so.
TEST(Cli, GpuBackendWithoutADeviceIsOneError) {
  std::vector<std::string> absent;
  bool compiled = false;
  for_each_type(device_backends{}, [&]<class B>() {
    compiled = true;
    if (device_count<B>() == 0) absent.push_back(B::name);
  });
  if (!compiled) GTEST_SKIP() << "no GPU backend compiled into this build";
  if (absent.empty()) GTEST_SKIP() << "every compiled GPU backend has a device here";
  const Fixture& f = fixtures[0];
  write_inputs(f);
  const std::string model = bdt_data + f.model, out = temp("never.csv");
  std::remove(out.c_str());
  for (const auto& b : absent) {
    for (const std::string& args :
         {"predict --model " + model + " --input " + temp(f.name + ".x.csv") + " --output " + out + " --backend " + b,
          "validate --model " + model + " --input " + temp(f.name + ".x.csv") + " --reference " +
              temp(f.name + ".ref.npy") + " --backend " + b,
          "bench --model " + model + " --backend " + b}) {
      const Result r = run(args);
      EXPECT_EQ(r.status, 2) << args;
      EXPECT_EQ(r.err.rfind("portml: --backend " + b + ": no " + b + " device (", 0), 0u) << args << "\n" << r.err;
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line, no usage text:\n" << r.err;
      EXPECT_TRUE(r.out.empty()) << r.out;
      EXPECT_FALSE(std::filesystem::exists(out)) << out;
    }
    const Result r = run("bench --model " + model + " --batch 2 --min-time 0.001 --format json");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.err.find("bench: skipping " + b + ": no " + b + " device ("), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("\"backend\": \"" + b + "\""), std::string::npos) << r.out;
  }
}

// ---- graph models (portml GNN JSON: the zoo's ParticleNet-like and GravNet models) -------------------------

const std::string zoo = PORTML_ZOO_DIR "/";

//! The graph input `g` as CSV with a leading event-id column (ids 7, 5, 9, ...: any integers will do).
void write_graph_csv(const std::string& path, const io::GraphInput& g) {
  io::Table t{g.x.rows, g.x.cols + 1, {}};
  for (std::size_t e = 0; e + 1 < g.offsets.size(); ++e) {
    for (std::int64_t r = g.offsets[e]; r < g.offsets[e + 1]; ++r) {
      t.values.push_back(static_cast<double>(7 + (static_cast<long>(e) * 5) % 11));
      for (index_t c = 0; c < g.x.cols; ++c) t.values.push_back(g.x(r, c));
    }
  }
  io::write_csv(path, t, 9);
}

TEST(Cli, GraphModelsReadCsvWithEventIdsAndNpz) {
  // GravNet: one output row per node, from the .npz and from the CSV (the same nodes).
  const io::GraphInput gravnet = io::read_graph_input(zoo + "gravnet.input.npz");
  write_graph_csv(temp("gravnet.csv"), gravnet);
  for (const std::string& input : {zoo + "gravnet.input.npz", temp("gravnet.csv")}) {
    const Result r = run("validate --model " + zoo + "gravnet.json --input " + input + " --reference " + zoo +
                         "gravnet.reference.npy");
    EXPECT_EQ(r.status, 0) << input << "\n" << r.out << r.err;
    EXPECT_NE(r.out.find("rows: " + std::to_string(gravnet.x.rows)), std::string::npos) << r.out;
  }
  // ParticleNet: one output row per event. A CSV cannot hold an empty event, so its output lacks those rows.
  const io::GraphInput pn = io::read_graph_input(zoo + "particlenet.input.npz");
  write_graph_csv(temp("pn.csv"), pn);
  const std::string out = temp("pn.out.csv");
  Result r = run("predict --model " + zoo + "particlenet.json --input " + temp("pn.csv") + " --output " + out +
                 " --backend serial");
  ASSERT_EQ(r.status, 0) << r.err;
  const io::Table got = io::read_csv(out), want = io::read_table(zoo + "particlenet.reference.npy");
  index_t row = 0;
  for (std::size_t e = 0; e + 1 < pn.offsets.size(); ++e) {
    if (pn.offsets[e + 1] == pn.offsets[e]) continue;
    ASSERT_LT(row, got.rows);
    for (index_t c = 0; c < want.cols; ++c) {
      const double w = want(static_cast<index_t>(e), c);
      EXPECT_LE(std::abs(got(row, c) - w), 1e-6 + 1e-5 * std::abs(w)) << "event " << e << ", output " << c;
    }
    ++row;
  }
  EXPECT_EQ(got.rows, row);
  EXPECT_EQ(got.cols, want.cols);
  // bench: batch = events, random events without --input.
  r = run("bench --model " + zoo + "particlenet.json --backend serial --batch 1,4 --format json --min-time 0.001");
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* key : {"\"batch\": 4", "\"unit\": \"event\"", "\"nodes\": 200", "\"ns_per_row\""})
    EXPECT_NE(r.out.find(key), std::string::npos) << key << "\n" << r.out;
  r = run("bench --model " + zoo + "gravnet.json --input " + temp("gravnet.csv") +
          " --backend serial --batch 3 --min-time 0.001");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("ns/event"), std::string::npos) << r.out;
}

void put_le(std::string& s, std::uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

//! A version 1.0 .npy image of little-endian `values` of type T ("<f4", "<i8") and `shape` ("(4, 2)").
template <class T>
std::string npy(const char* descr, const std::string& shape, const std::vector<T>& values) {
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + header.size() + 1) % 64 != 0) header.push_back(' ');
  header.push_back('\n');
  std::string s = "\x93NUMPY\x01";
  s.push_back('\0');
  put_le(s, static_cast<std::uint32_t>(header.size()), 2);
  return s + header + std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

//! An .npz of stored members, as numpy.savez writes it.
void write_npz(const std::string& path, const std::vector<std::pair<std::string, std::string>>& members) {
  std::string zip, central;
  for (const auto& [name, data] : members) {
    const auto crc = static_cast<std::uint32_t>(
        crc32(0L, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
    const auto size = static_cast<std::uint32_t>(data.size()), offset = static_cast<std::uint32_t>(zip.size());
    const auto name_size = static_cast<std::uint32_t>(name.size());
    put_le(zip, 0x04034b50, 4);
    for (const auto& [v, n] :
         {std::pair{20u, 2}, {0u, 2}, {0u, 2}, {0u, 4}, {crc, 4}, {size, 4}, {size, 4}, {name_size, 2}, {0u, 2}})
      put_le(zip, v, n);
    zip += name + data;
    put_le(central, 0x02014b50, 4);
    for (const auto& [v, n] : {std::pair{20u, 2},
                               {20u, 2},
                               {0u, 2},
                               {0u, 2},
                               {0u, 4},
                               {crc, 4},
                               {size, 4},
                               {size, 4},
                               {name_size, 2},
                               {0u, 2},
                               {0u, 2},
                               {0u, 2},
                               {0u, 2},
                               {0u, 4},
                               {offset, 4}})
      put_le(central, v, n);
    central += name;
  }
  const auto count = static_cast<std::uint32_t>(members.size());
  const auto cd_offset = static_cast<std::uint32_t>(zip.size()), cd_size = static_cast<std::uint32_t>(central.size());
  zip += central;
  put_le(zip, 0x06054b50, 4);
  for (const auto& [v, n] : {std::pair{0u, 2}, {0u, 2}, {count, 2}, {count, 2}, {cd_size, 4}, {cd_offset, 4}, {0u, 2}})
    put_le(zip, v, n);
  std::ofstream(path, std::ios::binary) << zip;
}

TEST(Cli, GraphErrorPaths) {
  const std::string pn = zoo + "particlenet.json", gravnet = zoo + "gravnet.json", out = temp("never.csv");
  std::remove(out.c_str());
  const auto predict = [&](const std::string& model, const std::string& input) {
    return "predict --model " + model + " --input " + input + " --output " + out;
  };
  // --margin is for forests only.
  expect_error(predict(pn, zoo + "particlenet.input.npz") + " --margin", "--margin is only for forest models", out);
  // CSV: wrong column count (the event id + 3 values for 2 + 5 inputs), events not contiguous, a bad event id.
  const std::string narrow = temp("narrow.csv");
  std::ofstream(narrow) << "0,1,2,3\n0,4,5,6\n";
  expect_error(predict(pn, narrow), narrow + ": line 1: 3 columns after the event id, the model expects 7 inputs", out);
  const std::string split = temp("split.csv");
  std::ofstream(split) << "0,1,2,3,4,5,6\n1,1,2,3,4,5,6\n1,1,2,3,4,5,6\n0,1,2,3,4,5,6\n";
  expect_error(predict(gravnet, split),
               split + ": line 4: event 0 appears again after event 1; the rows of one event must be contiguous", out);
  const std::string bad_id = temp("bad_id.csv");
  std::ofstream(bad_id) << "0,1,2,3,4,5,6\n0.5,1,2,3,4,5,6\n";
  expect_error(predict(gravnet, bad_id), bad_id + ": line 2, column 1: the event id must be an integer", out);
  // .npz: x of the wrong width, offsets that do not end at the node count or decrease, no offsets.
  const std::string x4x6 = npy<float>("<f4", "(4, 6)", std::vector<float>(24, 0.5f));
  const std::string npz = temp("bad.npz");
  write_npz(npz, {{"x.npy", npy<float>("<f4", "(4, 2)", std::vector<float>(8, 0.5f))},
                  {"offsets.npy", npy<std::int64_t>("<i8", "(2,)", {0, 4})}});
  expect_error(predict(gravnet, npz), npz + ": array 'x': 2 columns, the model expects 6 inputs", out);
  write_npz(npz, {{"x.npy", x4x6}, {"offsets.npy", npy<std::int64_t>("<i8", "(3,)", {0, 1, 5})}});
  expect_error(predict(gravnet, npz), npz + ": array 'offsets': must start at 0 and end at the number of nodes (4)",
               out);
  write_npz(npz, {{"x.npy", x4x6}, {"offsets.npy", npy<std::int64_t>("<i8", "(4,)", {0, 3, 1, 4})}});
  expect_error(predict(gravnet, npz), npz + ": array 'offsets', entry 2: offsets must not decrease", out);
  write_npz(npz, {{"x.npy", x4x6}});
  expect_error(predict(gravnet, npz), npz + ": a graph input .npz needs the arrays 'x'", out);
  // The same checks in validate and bench; a table input (.npy) is not a graph input.
  expect_error("validate --model " + gravnet + " --input " + split + " --reference " + zoo + "gravnet.reference.npy",
               split + ": line 4: event 0 appears again");
  expect_error("bench --model " + pn + " --input " + narrow, narrow + ": line 1: 3 columns after the event id");
  expect_error(predict(gravnet, zoo + "gravnet.reference.npy"), "unknown graph input format: use a .csv or .npz file",
               out);
  // Sanity: the archive writer makes inputs the tool accepts.
  write_npz(npz, {{"x.npy", x4x6}, {"offsets.npy", npy<std::int64_t>("<i8", "(3,)", {0, 1, 4})}});
  const Result ok = run(predict(gravnet, npz));
  EXPECT_EQ(ok.status, 0) << ok.err;
  EXPECT_EQ(io::read_csv(out).rows, 4);
  std::remove(out.c_str());
}

// ---- the GEMM provider of MLPs (--gemm portml|openblas) -----------------------------------------------------

// info's "blas:" line says whether this build has the OpenBLAS provider.
TEST(Cli, InfoSaysWhetherTheBuildHasOpenBlas) {
  const Result r = run("info");
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string want = PORTML_ENABLE_OPENBLAS ? "\nblas: openblas (MLPs: --gemm openblas" : "\nblas: none";
  EXPECT_NE(r.out.find(want), std::string::npos) << r.out;
}

// The lwtnn and ONNX fixtures through the OpenBLAS provider, against PyTorch and ONNX Runtime at the tool's
// default tolerances (as Cli.ValidateMlpsAgainstPyTorchAndOnnxRuntime with portml's kernels), one and two
// OpenMP threads.
TEST(Cli, ValidateMlpsWithOpenBlas) {
  if (!PORTML_ENABLE_OPENBLAS) {
    GTEST_SKIP() << "built without PORTML_ENABLE_OPENBLAS: --gemm openblas is a usage error here "
                    "(Cli.GemmUsageErrors checks that)";
  }
  const std::string dense = PORTML_TEST_DATA "/dense/";
  for (const auto& [model, ref] : mlp_fixtures) {
    const nlohmann::json j = nlohmann::json::parse(slurp(dense + ref + ".ref.json"));
    io::write_npy(temp("mlp.x.npy"), json_table(j.at("inputs")), io::DType::float32);
    for (const char* which : {"output_float", "output_onnxruntime"}) {
      io::write_npy(temp("mlp.ref.npy"), json_table(j.at(which)), io::DType::float64);
      for (const std::string backend : {"serial", "openmp --threads 2"}) {
        const Result r = run("validate --gemm openblas --model " + dense + model + " --input " + temp("mlp.x.npy") +
                             " --reference " + temp("mlp.ref.npy") + " --backend " + backend);
        if (backend != "serial" && r.status == 2 && r.err.find("unknown or unavailable backend") != std::string::npos)
          continue;  // a build without OpenMP
        EXPECT_EQ(r.status, 0) << model << " vs " << which << " on " << backend << "\n" << r.out << r.err;
      }
    }
  }
}

// Each mistake with --gemm: exit status 2, the message naming the option on stderr, no output file.
TEST(Cli, GemmUsageErrors) {
  const Fixture& f = fixtures[0];
  write_inputs(f);
  const std::string forest = bdt_data + f.model, mlp = zoo + "mlp_tagger.onnx", out = temp("never.csv");
  std::remove(out.c_str());
  const std::string mlp_io = " --input " + zoo + "mlp_tagger.input.npy --output " + out;
  expect_error("predict --model " + mlp + mlp_io + " --gemm mkl", "portml: --gemm: unknown GEMM provider 'mkl'", out);
  expect_error("bench --model " + mlp + " --gemm portml,mkl", "portml: --gemm: unknown GEMM provider 'mkl'");
  expect_error("validate --model " + mlp + " --input " + zoo + "mlp_tagger.input.npy --reference " + zoo +
                   "mlp_tagger.reference.npy --gemm portml,openblas",
               "portml: --gemm: one provider here (portml or openblas)");
  // Not an MLP: a forest, a graph model.
  const std::string not_mlp = "portml: --gemm openblas: the OpenBLAS provider is for MLP models (ONNX, lwtnn) only";
  expect_error(
      "predict --model " + forest + " --input " + temp(f.name + ".x.csv") + " --output " + out + " --gemm openblas",
      not_mlp + ", not for this forest", out);
  expect_error("bench --model " + zoo + "gravnet.json --gemm portml,openblas",
               not_mlp + ", not for this portml GNN JSON, GravNet");
  if (!PORTML_ENABLE_OPENBLAS) {
    const std::string no_build =
        "portml: --gemm openblas: this build has no OpenBLAS provider: configure with -DPORTML_ENABLE_OPENBLAS=ON\n";
    expect_error("predict --model " + mlp + mlp_io + " --gemm openblas", no_build, out);
    expect_error("bench --model " + mlp + " --gemm portml,openblas", no_build);
  }
}

// What the provider refuses at run time is the library's own message (exit status 2, one line, no usage
// text, no output file): here OpenBLAS's threads, with OPENBLAS_NUM_THREADS=2 in the tool's environment
// (skips, saying so, where OpenBLAS runs one thread anyway: its serial build, one CPU).
TEST(Cli, OpenBlasThreadsAreTheLibrarysError) {
  if (!PORTML_ENABLE_OPENBLAS) GTEST_SKIP() << "built without PORTML_ENABLE_OPENBLAS";
  const std::string out = temp("blas.csv"), mlp = zoo + "mlp_tagger.onnx";
  std::remove(out.c_str());
  const std::string refusal = "portml: portml::kernels::gemm: OpenBLAS would run the product on 2 threads";
  for (const std::string backend : {"serial", "openmp --threads 2"}) {
    const Result r = run("predict --gemm openblas --model " + mlp + " --input " + zoo +
                             "mlp_tagger.input.npy --output " + out + " --backend " + backend,
                         "OPENBLAS_NUM_THREADS=2");
    if (backend != "serial" && r.status == 2 && r.err.find("unknown or unavailable backend") != std::string::npos)
      continue;  // a build without OpenMP
    if (r.status == 0) {
      std::remove(out.c_str());
      GTEST_SKIP() << "OpenBLAS runs one thread here even with OPENBLAS_NUM_THREADS=2: no refusal to show";
    }
    EXPECT_EQ(r.status, 2) << backend << "\n" << r.err;
    EXPECT_EQ(r.err.rfind(refusal, 0), 0u) << backend << "\n" << r.err;
    EXPECT_NE(r.err.find("OPENBLAS_NUM_THREADS=1"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line, no usage text:\n" << r.err;
    EXPECT_FALSE(std::filesystem::exists(out)) << out;
  }
  const Result b = run("bench --gemm portml,openblas --backend serial --batch 4 --min-time 0.001 --model " + mlp,
                       "OPENBLAS_NUM_THREADS=2");
  EXPECT_EQ(b.status, 2) << b.err;
  EXPECT_EQ(b.err.rfind(refusal, 0), 0u) << b.err;
  // The same commands under OPENBLAS_NUM_THREADS=1 (ctest's environment) run.
  const Result ok = run("bench --gemm portml,openblas --backend serial --batch 4 --min-time 0.001 --model " + mlp,
                        "OPENBLAS_NUM_THREADS=1");
  EXPECT_EQ(ok.status, 0) << ok.err;
  EXPECT_NE(ok.out.find("serial   openblas"), std::string::npos) << ok.out;
}

}  // namespace
}  // namespace portml::test
