// SPDX-License-Identifier: Apache-2.0
// Mlp models loaded from ONNX (exported by torch.onnx in make_fixtures.py) against PyTorch's outputs
// and ONNX Runtime's: every host backend, every ISA, float and double; plus the loader's errors on
// unsupported ops and malformed files.
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include <portml/io/error.hpp>
#include <portml/io/format.hpp>
#include <portml/io/onnx.hpp>
#include <portml/layers/mlp.hpp>

#include "dense_fixtures.hpp"
#include "dense_test_util.hpp"

namespace portml::test {
namespace {

// Tolerances (see mlp_lwtnn_test.cpp for the float argument): float 2e-5·(1 + |y|) against the float64
// reference, twice that against float32 outputs. Double: 1e-12, except where the ONNX file stores an
// attribute in float32 that PyTorch's float64 run uses exactly (Hardsigmoid's 1/6 is 0.16666667f, a
// relative difference of 3e-8 on that term): there the double model can only agree to ~1e-7.
template <class T>
void check_onnx_model(const std::string& name, double double_tolerance) {
  const auto config = io::load_onnx(fixture(name + ".onnx"));
  const layers::Mlp<T> model(config);
  std::ifstream f(fixture(name + ".ref.json"));
  const auto ref = nlohmann::json::parse(f);
  const auto x64 = matrix(ref.at("inputs"));
  const auto want64 = matrix(ref.at("output_double_module"));
  const auto want32 = matrix(ref.at("output_float"));
  const auto ort = matrix(ref.at("output_onnxruntime"));
  ASSERT_EQ(model.inputs().size(), ref.at("input_names").size());
  for (std::size_t k = 0; k < model.inputs().size(); ++k) {
    EXPECT_EQ(model.inputs()[k].name, ref.at("input_names")[k].get<std::string>());
    EXPECT_EQ(model.inputs()[k].size, ref.at("input_widths")[k].get<index_t>());
  }
  EXPECT_EQ(model.output_name(), "y");
  const index_t batch = x64.extent(0);
  Tensor<T, 2> x(x64.extents());
  for (index_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<T>(x64.data()[i]);
  std::vector<std::byte> ws(model.workspace_bytes(batch));
  const double float_tol = 2e-5;
  const double own_tol = std::is_same_v<T, float> ? float_tol : double_tolerance;
  for_each_type(host_backends{}, [&]<class B>() {
    Queue<B> q;
    for (Isa isa : runnable_isas()) {
      Tensor<T, 2> y({batch, model.output_size()});
      if (model.inputs().size() == 1) {
        model.forward(q, x.view(), y.view(), ws, {.isa = isa});
      } else {  // the inputs separately, as column slices of x
        std::vector<TensorView<const T, 2>> parts;
        index_t col = 0;
        for (const auto& in : model.inputs()) {
          parts.emplace_back(x.data() + col, Extents<2>{batch, in.size}, Extents<2>{x.extent(1), 1});
          col += in.size;
        }
        model.forward(q, std::span<const TensorView<const T, 2>>(parts), y.view(), ws, {.isa = isa});
      }
      for (index_t i = 0; i < batch; ++i) {
        for (index_t j = 0; j < model.output_size(); ++j) {
          const double got = static_cast<double>(y(i, j));
          const std::string where = name + " " + B::name + " " + to_string(isa);
          EXPECT_NEAR(got, want64(i, j), own_tol * (1 + std::abs(want64(i, j)))) << where << " vs PyTorch float64";
          EXPECT_NEAR(got, want32(i, j), 2 * float_tol * (1 + std::abs(want32(i, j)))) << where << " vs PyTorch f32";
          EXPECT_NEAR(got, ort(i, j), 2 * float_tol * (1 + std::abs(ort(i, j)))) << where << " vs ONNX Runtime";
        }
      }
    }
  });
}

TEST(OnnxLoader, L1NetGemmSoftmaxAndInputNormalisation) {
  check_onnx_model<float>("l1_mlp", 1e-12);
  check_onnx_model<double>("l1_mlp", 1e-12);
}
TEST(OnnxLoader, BatchNormalizationFolded) {
  check_onnx_model<float>("batchnorm", 1e-12);
  check_onnx_model<double>("batchnorm", 1e-12);
  EXPECT_EQ(layers::Mlp<float>(io::load_onnx(fixture("batchnorm.onnx"))).step_count(), 2u);
}
TEST(OnnxLoader, GeluMatMulLayerNormSeluSiluHardSigmoid) {
  check_onnx_model<float>("onnx_ops", 1e-7);
  check_onnx_model<double>("onnx_ops", 1e-7);
  // Gemm+GELU, MatMul, LayerNorm+SELU, Gemm+BN+SiLU (folded, fused), Gemm+HardSigmoid, Gemm.
  EXPECT_EQ(layers::Mlp<float>(io::load_onnx(fixture("onnx_ops.onnx"))).step_count(), 6u);
}
TEST(OnnxLoader, ConcatOfTwoInputs) {
  check_onnx_model<float>("concat_inputs", 1e-12);
  check_onnx_model<double>("concat_inputs", 1e-12);
}

TEST(OnnxLoader, DecomposedLayerNormOfOpset13Fused) {
  // torch.onnx at opset 13 writes torch.nn.LayerNorm as ReduceMean, Sub, Pow 2, ReduceMean, Add eps,
  // Sqrt, Div (+ Mul gamma, Add beta): fused into one LayerNorm layer each, the second without gamma and
  // beta. Double: eps is stored as a float32 constant (1e-3f), which PyTorch's float64 run uses as 1e-3.
  check_onnx_model<float>("layernorm_opset13", 1e-7);
  check_onnx_model<double>("layernorm_opset13", 1e-7);
  const auto config = io::load_onnx(fixture("layernorm_opset13.onnx"));
  std::vector<const layers::LayerConfig*> norms;
  for (const auto& l : config.layers) {
    EXPECT_NE(l.kind, layers::LayerConfig::Kind::Affine) << l.name;
    if (l.kind == layers::LayerConfig::Kind::LayerNorm) norms.push_back(&l);
  }
  ASSERT_EQ(norms.size(), 2u);
  EXPECT_EQ(norms[0]->gamma.size(), 20u);
  EXPECT_EQ(norms[0]->beta.size(), 20u);
  EXPECT_NEAR(norms[0]->epsilon, 1e-3, 1e-10);
  EXPECT_TRUE(norms[1]->gamma.empty());
  EXPECT_TRUE(norms[1]->beta.empty());
  EXPECT_NEAR(norms[1]->epsilon, 1e-5, 1e-12);
  // Gemm, LayerNorm + ReLU, Gemm, LayerNorm + Tanh, Gemm.
  EXPECT_EQ(layers::Mlp<float>(config).step_count(), 5u);
}

// Threads on the multi-input forward (inputs joined into the workspace, the thread ranges' buffers
// after them) and on LayerNorm steps: every row has the bits of a batch-1 call on the calling thread,
// at batch sizes across the row blocks, for both workspace sizes (per thread, and one thread's).
template <Backend B>
void check_threaded_rows(const std::string& name, Queue<B>& q) {
  const layers::Mlp<float> model(io::load_onnx(fixture(name + ".onnx")));
  const index_t block = model.block_rows(), largest = 2 * block + 31, in = model.input_size();
  const index_t out = model.output_size();
  std::mt19937 rng(41);
  Tensor<float, 2> x({largest, in}), want({largest, out});
  fill_uniform(x, rng, -2, 2);
  const TensorView<const float, 2> xv(x.view());
  std::vector<std::byte> ws1(model.workspace_bytes(1));
  Queue<backend::Serial> serial;
  for (Isa isa : runnable_isas()) {
    for (index_t i = 0; i < largest; ++i) {
      model.forward(serial, xv.row_slice(i, i + 1), want.view().row_slice(i, i + 1), ws1, {.isa = isa});
    }
    for (const index_t batch : {index_t{30}, block + 1, 2 * block + 31}) {
      for (const bool per_thread : {true, false}) {
        std::vector<std::byte> ws(per_thread ? model.workspace_bytes(q, batch) : model.workspace_bytes(batch));
        std::vector<TensorView<const float, 2>> parts;
        index_t col = 0;
        for (const auto& input : model.inputs()) {
          parts.emplace_back(x.data() + col, Extents<2>{batch, input.size}, Extents<2>{in, 1});
          col += input.size;
        }
        Tensor<float, 2> y({batch, out});
        model.forward(q, std::span<const TensorView<const float, 2>>(parts), y.view(), ws,
                      {.isa = isa, .min_parallel_flops = 0.0});
        EXPECT_EQ(std::memcmp(y.data(), want.data(), sizeof(float) * static_cast<std::size_t>(batch * out)), 0)
            << name << " " << B::name << " " << to_string(isa) << " batch " << batch
            << (per_thread ? " (per-thread workspace)" : " (one-thread workspace)");
      }
    }
  }
}

TEST(MlpOnnx, ThreadsOnSeparateInputsAndLayerNormGiveBatchOneBits) {
  for_each_type(host_backends{}, [&]<class B>() {
    auto q = [] {
      if constexpr (std::is_same_v<B, backend::OpenMP>) {
        return Queue<B>(2);
      } else {
        return Queue<B>{};  // Kokkos: the host space's threads (OMP_NUM_THREADS in the kokkos-openmp stage)
      }
    }();
    check_threaded_rows("concat_inputs", q);
    check_threaded_rows("layernorm_opset13", q);
  });
}

std::string onnx_error(const std::string& bytes) {
  try {
    io::parse_onnx(bytes, "m.onnx");
  } catch (const io::FormatError& e) {
    return e.what();
  }
  return "no error";
}

TEST(OnnxLoader, ClipAsReluSixHardtanhAndHardSigmoid) {
  // Clip with constant-input bounds (opset 13: ReLU6, Hardtanh) and attribute bounds (opset 9), and
  // torch's clamp(0.2x + 0.5, 0, 1) exported as Mul, Add, Clip. Double: the ONNX file stores 0.2 as
  // 0.2f, which PyTorch's float64 module uses as 0.2 (relative 1.5e-8 on that term), hence 1e-7.
  check_onnx_model<float>("clip_ops", 1e-12);
  check_onnx_model<double>("clip_ops", 1e-12);
  check_onnx_model<float>("clip_ops_opset9", 1e-12);
  check_onnx_model<double>("clip_ops_opset9", 1e-12);
  check_onnx_model<float>("activations", 1e-7);
  check_onnx_model<double>("activations", 1e-7);
}

TEST(OnnxLoader, UnsupportedOpNamesNodeAndOp) {
  // activations.onnx with every "Clip" (op type, node and value names) replaced by "Ceil": the same
  // length, so the protobuf stays valid, and the chain stays connected.
  std::string bytes = io::read_file(fixture("activations.onnx"));
  int replaced = 0;
  for (auto at = bytes.find("Clip"); at != std::string::npos; at = bytes.find("Clip", at + 4), ++replaced) {
    bytes.replace(at, 4, "Ceil");
  }
  ASSERT_GT(replaced, 0);
  try {
    io::parse_onnx(bytes, "activations.onnx");
    FAIL() << "expected a FormatError";
  } catch (const io::FormatError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("activations.onnx"), std::string::npos) << what;
    EXPECT_NE(what.find("(op Ceil)"), std::string::npos) << what;
    EXPECT_NE(what.find("unsupported op"), std::string::npos) << what;
  }
}

TEST(OnnxLoader, MalformedFilesNeverCrash) {
  const std::string good = io::read_file(fixture("l1_mlp.onnx"));
  // Every truncation and a byte flipped at many positions: a FormatError or a valid model, never a crash.
  int errors = 0;
  for (std::size_t n = 0; n < good.size(); n += 97) {
    if (onnx_error(good.substr(0, n)) != "no error") ++errors;
  }
  EXPECT_GT(errors, 0);
  for (std::size_t p = 0; p < good.size(); p += 61) {
    std::string bad = good;
    bad[p] = static_cast<char>(bad[p] ^ 0x5A);
    (void)onnx_error(bad);
  }
  EXPECT_NE(onnx_error("\x0a\xff\xff\xff\xff\x0f").find("m.onnx: byte"), std::string::npos);
  EXPECT_NE(onnx_error("").find("no graph"), std::string::npos);
}

}  // namespace
}  // namespace portml::test
