// SPDX-License-Identifier: Apache-2.0
// The MLP fixtures of test/data/dense (lwtnn JSON and ONNX files made by make_fixtures.py, with
// PyTorch's float64 and float32 outputs and ONNX Runtime's) through the OpenBLAS provider
// (GemmProvider::openblas): float and double; the model built for OpenBLAS (row-major weights, one
// cblas call per layer) and built for portml (panels, one call per panel); the whole batch (cblas_?gemm),
// each row alone (cblas_?gemv), and the batch repeated 5 times on Serial, OpenMP with 2 threads and
// Kokkos (the threads' row ranges). Tolerances are those of mlp_lwtnn_test.cpp and mlp_onnx_test.cpp:
// they bound the float rounding of any summation order. Skips, saying why, in a build without
// PORTML_ENABLE_OPENBLAS.
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include <portml/io/lwtnn.hpp>
#include <portml/io/onnx.hpp>
#include <portml/layers/mlp.hpp>

#include "dense_fixtures.hpp"
#include "dense_test_util.hpp"

namespace portml::test {
namespace {

using kernels::GemmProvider;

//! One committed model and its references.
struct Fixture {
  std::string name;
  bool lwtnn = false;       //!< <name>.lwtnn.json, else <name>.onnx
  double double_tolerance;  //!< of the double model against PyTorch float64 (mlp_onnx_test.cpp says why 1e-7)
};

const Fixture fixtures[] = {
    {"l1_mlp", true, 1e-12},           {"activations", true, 1e-12},       {"batchnorm", true, 1e-12},
    {"l1_mlp", false, 1e-12},          {"batchnorm", false, 1e-12},        {"onnx_ops", false, 1e-7},
    {"concat_inputs", false, 1e-12},   {"layernorm_opset13", false, 1e-7}, {"clip_ops", false, 1e-12},
    {"clip_ops_opset9", false, 1e-12}, {"activations", false, 1e-7}};

template <class T, Backend B>
void check_fixture(Queue<B>& q, const Fixture& f) {
  const auto config =
      f.lwtnn ? io::load_lwtnn_json(fixture(f.name + ".lwtnn.json")) : io::load_onnx(fixture(f.name + ".onnx"));
  std::ifstream in(fixture(f.name + ".ref.json"));
  const auto ref = nlohmann::json::parse(in);
  const auto x64 = matrix(ref.at("inputs"));
  // lwtnn fixtures: PyTorch's float64 run of the converted weights; ONNX: of the exported module.
  const auto want64 = matrix(ref.at(f.lwtnn ? "output_double" : "output_double_module"));
  const auto want32 = matrix(ref.at("output_float"));
  const auto ort = matrix(ref.at("output_onnxruntime"));
  const index_t rows = x64.extent(0), repeats = 5, batch = rows * repeats;
  Tensor<T, 2> x({batch, x64.extent(1)});
  for (index_t r = 0; r < batch; ++r)
    for (index_t j = 0; j < x.extent(1); ++j) x(r, j) = static_cast<T>(x64(r % rows, j));
  const double float_tol = 2e-5;  // mlp_lwtnn_test.cpp: ≤ 4 layers · K ≤ 64 · u, relative to 1 + |y|
  const double own_tol = std::is_same_v<T, float> ? float_tol : f.double_tolerance;
  const kernels::GemmConfig blas{.min_parallel_flops = 0.0, .provider = GemmProvider::openblas};
  for (const auto built_for : {GemmProvider::openblas, GemmProvider::portml}) {
    const layers::Mlp<T> model(config, built_for);
    std::vector<std::byte> ws(model.workspace_bytes(q, batch));
    const auto check_rows = [&](const Tensor<T, 2>& y, index_t first_row, const char* how) {
      for (index_t r = 0; r < y.extent(0); ++r) {
        const index_t i = (first_row + r) % rows;
        for (index_t j = 0; j < model.output_size(); ++j) {
          const double got = static_cast<double>(y(r, j));
          const std::string where = f.name + (f.lwtnn ? ".lwtnn.json " : ".onnx ") + B::name + " " +
                                    (std::is_same_v<T, float> ? "float" : "double") + " built for " +
                                    to_string(built_for) + " " + how + " row " + std::to_string(first_row + r);
          ASSERT_NEAR(got, want64(i, j), own_tol * (1 + std::abs(want64(i, j)))) << where << " vs PyTorch float64";
          ASSERT_NEAR(got, want32(i, j), 2 * float_tol * (1 + std::abs(want32(i, j)))) << where << " vs PyTorch f32";
          ASSERT_NEAR(got, ort(i, j), 2 * float_tol * (1 + std::abs(ort(i, j)))) << where << " vs ONNX Runtime";
        }
      }
    };
    Tensor<T, 2> y({batch, model.output_size()});
    model.forward(q, x.view(), y.view(), ws, blas);
    check_rows(y, 0, "batch of 5 copies");
    Tensor<T, 2> y1({1, model.output_size()});
    for (index_t r = 0; r < rows; ++r) {
      model.forward(q, x.view().row_slice(r, r + 1), y1.view(), ws, blas);
      check_rows(y1, r, "alone");
    }
  }
}

template <class Case>
class MlpOpenBlas : public BackendTest<Case> {};
TYPED_TEST_SUITE(MlpOpenBlas, HostCases, CaseNames);

TYPED_TEST(MlpOpenBlas, EveryFixtureAgainstPyTorchAndOnnxRuntime) {
  if (!PORTML_ENABLE_OPENBLAS) {
    GTEST_SKIP() << "built without PORTML_ENABLE_OPENBLAS: GemmProvider::openblas is NotSupported here";
  }
  auto q = TypeParam::make_queue();
  for (const Fixture& f : fixtures) {
    check_fixture<float>(q, f);
    check_fixture<double>(q, f);
  }
}

}  // namespace
}  // namespace portml::test
