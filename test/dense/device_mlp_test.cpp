// SPDX-License-Identifier: Apache-2.0
// DeviceMlp (the MLP on a backend's own memory: tiled GEMM with fused bias + activation, row kernels for
// softmax, LayerNorm, affine maps, Concat) on every backend case: Serial, the GPU-emulating Serial queue
// (team launches with real barriers on fibers), OpenMP, Kokkos, and CUDA/HIP (skipped without a device).
// Every committed fixture model of test/data/dense (lwtnn JSON and ONNX) against PyTorch's and ONNX
// Runtime's outputs at the host tests' tolerances; on host backends also bit for bit against the host
// Mlp with the scalar microkernel (the same K order and separate multiply and add); shapes, workspace
// errors and no allocation per call.
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include <portml/io/lwtnn.hpp>
#include <portml/io/onnx.hpp>
#include <portml/layers/device_mlp.hpp>

#include "allocation_counter.hpp"
#include "dense_fixtures.hpp"
#include "dense_test_util.hpp"

namespace portml::test {
namespace {

template <class T>
Tensor<T, 2> cast(const Tensor<double, 2>& x) {
  Tensor<T, 2> t(x.extents());
  for (index_t i = 0; i < t.size(); ++i) t.data()[i] = static_cast<T>(x.data()[i]);
  return t;
}

//! A fixture model and the double tolerance of its host test (mlp_lwtnn_test.cpp, mlp_onnx_test.cpp):
//! 1e-12, or 1e-7 where the ONNX file stores a constant in float32 that PyTorch's float64 run uses
//! exactly (Hardsigmoid's 1/6, hard sigmoid's 0.2, LayerNorm's eps).
struct ModelFile {
  const char* name;
  bool lwtnn;
  double double_tolerance;
};

constexpr ModelFile model_files[] = {
    {"l1_mlp", true, 1e-12},           {"activations", true, 1e-12},       {"batchnorm", true, 1e-12},
    {"l1_mlp", false, 1e-12},          {"activations", false, 1e-7},       {"batchnorm", false, 1e-12},
    {"onnx_ops", false, 1e-7},         {"concat_inputs", false, 1e-12},    {"clip_ops", false, 1e-12},
    {"clip_ops_opset9", false, 1e-12}, {"layernorm_opset13", false, 1e-7},
};

layers::MlpConfig load(const ModelFile& m) {
  return m.lwtnn ? io::load_lwtnn_json(fixture(std::string(m.name) + ".lwtnn.json"))
                 : io::load_onnx(fixture(std::string(m.name) + ".onnx"));
}

template <class T>
bool same_bits(T a, T b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

template <class Case>
class DeviceMlp : public BackendTest<Case> {
 protected:
  using Bk = typename Case::backend;
  using Sp = memory_space_t<Bk>;

  //! The device model's output for x (host data), through the multi-input forward when the model has
  //! several inputs (column slices of the device copy of x).
  template <class T>
  Tensor<T, 2> run(Queue<Bk>& q, const layers::DeviceMlp<T, Bk>& dm, const std::vector<layers::InputConfig>& inputs,
                   const Tensor<T, 2>& x) {
    const index_t batch = x.extent(0);
    auto dx = this->to_device(q, x);
    Tensor<T, 2, Sp> dy({batch, dm.output_size()});
    Tensor<std::byte, 1, Sp> ws({static_cast<index_t>(dm.workspace_bytes(batch))});
    if (inputs.size() == 1) {
      dm.forward(q, dx.view(), dy.view(), ws.view());
    } else {
      std::vector<TensorView<const T, 2, Sp>> parts;
      index_t col = 0;
      for (const auto& in : inputs) {
        parts.emplace_back(dx.data() + col, Extents<2>{batch, in.size}, Extents<2>{x.extent(1), 1});
        col += in.size;
      }
      dm.forward(q, std::span<const TensorView<const T, 2, Sp>>(parts), dy.view(), ws.view());
    }
    return this->to_host(q, TensorView<const T, 2, Sp>(dy.view()));
  }

  //! The host Mlp with the scalar microkernel on a Serial queue.
  template <class T>
  static Tensor<T, 2> host_scalar(const layers::Mlp<T>& model, const Tensor<T, 2>& x) {
    Queue<backend::Serial> hq;
    Tensor<T, 2> y({x.extent(0), model.output_size()});
    std::vector<std::byte> ws(model.workspace_bytes(x.extent(0)));
    model.forward(hq, TensorView<const T, 2>(x.view()), y.view(), ws, {.isa = Isa::scalar});
    return y;
  }

  template <class T>
  void check_fixture(const ModelFile& m) {
    const layers::Mlp<T> model(load(m));
    std::ifstream f(fixture(std::string(m.name) + ".ref.json"));
    const auto ref = nlohmann::json::parse(f);
    const auto want64 = matrix(ref.at(m.lwtnn ? "output_double" : "output_double_module"));
    const auto want32 = matrix(ref.at("output_float"));
    const auto ort = matrix(ref.at("output_onnxruntime"));
    const auto x = cast<T>(matrix(ref.at("inputs")));
    auto q = Case::make_queue();
    const layers::DeviceMlp<T, Bk> dm(q, model);
    ASSERT_EQ(dm.input_size(), model.input_size());
    ASSERT_EQ(dm.output_size(), model.output_size());
    ASSERT_EQ(dm.step_count(), model.step_count());
    const auto y = run<T>(q, dm, model.inputs(), x);
    // The host tests' tolerances: float 2e-5·(1 + |y|) against PyTorch float64 (≈ K·u per layer), twice
    // that against float32 outputs (both sides round); double as in ModelFile.
    const double float_tol = 2e-5;
    const double own_tol = std::is_same_v<T, float> ? float_tol : m.double_tolerance;
    const std::string where = std::string(m.name) + (m.lwtnn ? ".lwtnn.json " : ".onnx ") + Case::name;
    for (index_t i = 0; i < y.extent(0); ++i) {
      for (index_t j = 0; j < y.extent(1); ++j) {
        const double got = static_cast<double>(y(i, j));
        EXPECT_NEAR(got, want64(i, j), own_tol * (1 + std::abs(want64(i, j)))) << where << " vs PyTorch float64";
        EXPECT_NEAR(got, want32(i, j), 2 * float_tol * (1 + std::abs(want32(i, j)))) << where << " vs PyTorch f32";
        EXPECT_NEAR(got, ort(i, j), 2 * float_tol * (1 + std::abs(ort(i, j)))) << where << " vs ONNX Runtime";
      }
    }
    if constexpr (Bk::is_host) {
      // Host backends: the host Mlp's bits with the scalar microkernel (same K order, no FMA).
      const auto h = host_scalar(model, x);
      for (index_t i = 0; i < y.extent(0); ++i)
        for (index_t j = 0; j < y.extent(1); ++j)
          ASSERT_TRUE(same_bits(y(i, j), h(i, j)))
              << where << " (" << i << ", " << j << "): " << y(i, j) << " vs host " << h(i, j);
    }
  }
};
TYPED_TEST_SUITE(DeviceMlp, AllCases, CaseNames);

TYPED_TEST(DeviceMlp, EveryFixtureModelMatchesPyTorchAndOnnxRuntimeFloat) {
  for (const auto& m : model_files) this->template check_fixture<float>(m);
}

TYPED_TEST(DeviceMlp, EveryFixtureModelMatchesPyTorchAndOnnxRuntimeDouble) {
  for (const auto& m : model_files) this->template check_fixture<double>(m);
}

TYPED_TEST(DeviceMlp, LargeBatchMatchesHostModel) {
  // 301 rows: many 16-row tiles and a partial one; rows of batch 1 give the same values as in the batch.
  using B = typename TypeParam::backend;
  const layers::Mlp<float> model(io::load_onnx(fixture("onnx_ops.onnx")));
  auto q = TypeParam::make_queue();
  const layers::DeviceMlp<float, B> dm(q, model);
  std::mt19937 rng(7);
  Tensor<float, 2> x({301, model.input_size()});
  fill_uniform(x, rng, -3.0, 3.0);
  const auto y = this->template run<float>(q, dm, model.inputs(), x);
  const auto h = this->host_scalar(model, x);
  Tensor<float, 2> row({1, model.input_size()});
  for (index_t j = 0; j < x.extent(1); ++j) row(0, j) = x(123, j);
  const auto y1 = this->template run<float>(q, dm, model.inputs(), row);
  for (index_t i = 0; i < y.extent(0); ++i) {
    for (index_t j = 0; j < y.extent(1); ++j) {
      ASSERT_NEAR(y(i, j), h(i, j), 4e-5 * (1 + std::abs(h(i, j)))) << TypeParam::name << " row " << i;
      if constexpr (B::is_host) {
        ASSERT_TRUE(same_bits(y(i, j), h(i, j))) << TypeParam::name << " row " << i;
      }
    }
  }
  // A row's bits do not depend on the batch: the K order of the tiled kernel is fixed.
  for (index_t j = 0; j < y.extent(1); ++j) EXPECT_TRUE(same_bits(y1(0, j), y(123, j))) << TypeParam::name;
}

TYPED_TEST(DeviceMlp, ShapeAndWorkspaceErrors) {
  using B = typename TypeParam::backend;
  using S = memory_space_t<B>;
  const layers::Mlp<float> model(io::load_onnx(fixture("concat_inputs.onnx")));
  auto q = TypeParam::make_queue();
  const layers::DeviceMlp<float, B> dm(q, model);
  Tensor<float, 2, S> x({4, model.input_size()}), bad_x({4, model.input_size() + 1}), y({4, model.output_size()});
  Tensor<std::byte, 1, S> ws({static_cast<index_t>(dm.workspace_bytes(4))});
  Tensor<std::byte, 1, S> small({static_cast<index_t>(dm.workspace_bytes(4)) - 1});
  EXPECT_THROW(dm.forward(q, bad_x.view(), y.view(), ws.view()), ShapeError);
  EXPECT_THROW(dm.forward(q, x.view(), y.view(), small.view()), Error);
  std::vector<TensorView<const float, 2, S>> one{x.view()};
  EXPECT_THROW(dm.forward(q, std::span<const TensorView<const float, 2, S>>(one), y.view(), ws.view()), ShapeError);
  Tensor<float, 2, S> empty_y({0, model.output_size()});
  Tensor<float, 2, S> empty_x({0, model.input_size()});
  EXPECT_NO_THROW(dm.forward(q, empty_x.view(), empty_y.view(), ws.view()));
  q.wait();
}

TYPED_TEST(DeviceMlp, ForwardAllocatesNothing) {
  using B = typename TypeParam::backend;
  using S = memory_space_t<B>;
  // The model allocates nothing per call; the launch machinery of two cases does, outside it: the GPU
  // emulation's fibers (team stacks per launch) and Kokkos (a label per parallel_for). Serial and OpenMP
  // run the same DeviceMlp code with launches that allocate nothing, so they are the check.
  if constexpr (!B::is_host) {
    GTEST_SKIP() << "counts host allocations around host-backend launches only";
  } else if (std::string(TypeParam::name) != "Serial" && std::string(TypeParam::name) != "OpenMP") {
    GTEST_SKIP() << TypeParam::name << "'s launches allocate by themselves (fiber stacks / Kokkos labels)";
  } else {
    const layers::Mlp<float> model(io::load_onnx(fixture("onnx_ops.onnx")));
    auto q = TypeParam::make_queue();
    const layers::DeviceMlp<float, B> dm(q, model);
    std::mt19937 rng(3);
    Tensor<float, 2> xh({40, model.input_size()});
    fill_uniform(xh, rng);
    const auto x = this->to_device(q, xh);
    Tensor<float, 2, S> y({40, model.output_size()});
    Tensor<std::byte, 1, S> ws({static_cast<index_t>(dm.workspace_bytes(40))});
    dm.forward(q, x.view(), y.view(), ws.view());  // warm-up (thread pools, fiber stacks)
    q.wait();
    const long before = allocation_count();
    dm.forward(q, x.view(), y.view(), ws.view());
    q.wait();
    EXPECT_EQ(allocation_count() - before, 0) << TypeParam::name;
  }
}

}  // namespace
}  // namespace portml::test
