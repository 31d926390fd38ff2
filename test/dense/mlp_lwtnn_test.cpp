// SPDX-License-Identifier: Apache-2.0
// Mlp models loaded from lwtnn JSON against PyTorch's outputs (test/data/dense, made by
// make_fixtures.py) and ONNX Runtime's (make_ort_refs.py): every host backend, every ISA, float and
// double; plus folding, sharing one model between threads, allocation-free forward and loader errors.
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include <portml/io/error.hpp>
#include <portml/io/lwtnn.hpp>
#include <portml/layers/mlp.hpp>

#include "allocation_counter.hpp"
#include "dense_fixtures.hpp"
#include "dense_test_util.hpp"

namespace portml::test {
namespace {

using kernels::Activation;

struct Reference {
  Tensor<double, 2> inputs, output_float, output_double, output_ort;
};

Reference load_reference(const std::string& model) {
  std::ifstream f(fixture(model + ".ref.json"));
  const auto j = nlohmann::json::parse(f);
  return {matrix(j.at("inputs")), matrix(j.at("output_float")), matrix(j.at("output_double")),
          matrix(j.at("output_onnxruntime"))};
}

template <class T>
Tensor<T, 2> cast(const Tensor<double, 2>& x) {
  Tensor<T, 2> t(x.extents());
  for (index_t i = 0; i < t.size(); ++i) t.data()[i] = static_cast<T>(x.data()[i]);
  return t;
}

// Tolerances. The float64 reference is PyTorch in double on exactly the weights of the JSON, so the
// float model differs from it by its own rounding only: at most ~K·u per layer relative to the sum of
// |terms| (K ≤ 64, u = 6e-8, 4 layers, O(1) activations): 4·64·6e-8 ≈ 1.5e-5, taken as 2e-5·(1 + |y|).
// Against PyTorch's and ONNX Runtime's float32 outputs both sides carry that error: twice the bound.
// The double model against the double reference: the same argument with u = 1.1e-16 gives 3e-14; 1e-12.
template <class T>
double tolerance(double want, bool float_reference) {
  const double base = std::is_same_v<T, float> ? 2e-5 : 1e-12;
  return (float_reference ? 2.0 * 2e-5 : base) * (1.0 + std::abs(want));
}

template <class Case>
class MlpLwtnn : public BackendTest<Case> {};
TYPED_TEST_SUITE(MlpLwtnn, HostCases, CaseNames);

template <class Case, class T>
void check_model(const std::string& name) {
  const auto config = io::load_lwtnn_json(fixture(name + ".lwtnn.json"));
  const layers::Mlp<T> model(config);
  const Reference ref = load_reference(name);
  const auto x = cast<T>(ref.inputs);
  const index_t batch = x.extent(0);
  ASSERT_EQ(model.input_size(), x.extent(1));
  ASSERT_EQ(model.output_size(), ref.output_float.extent(1));
  auto q = Case::make_queue();
  Tensor<std::byte, 1> ws({static_cast<index_t>(model.workspace_bytes(batch))});
  for (Isa isa : runnable_isas()) {
    Tensor<T, 2> y({batch, model.output_size()});
    model.forward(q, x.view(), y.view(), std::span<std::byte>(ws.data(), static_cast<std::size_t>(ws.size())),
                  {.isa = isa, .min_parallel_flops = 0.0});
    for (index_t i = 0; i < batch; ++i) {
      for (index_t j = 0; j < model.output_size(); ++j) {
        const double got = static_cast<double>(y(i, j));
        const auto where = [&] {
          return name + " " + Case::name + " " + to_string(isa) + " (" + std::to_string(i) + ", " + std::to_string(j) +
                 ")";
        };
        EXPECT_NEAR(got, ref.output_double(i, j), tolerance<T>(ref.output_double(i, j), false))
            << where() << " vs PyTorch float64";
        EXPECT_NEAR(got, ref.output_float(i, j), tolerance<T>(ref.output_float(i, j), true))
            << where() << " vs PyTorch float32";
        EXPECT_NEAR(got, ref.output_ort(i, j), tolerance<T>(ref.output_ort(i, j), true))
            << where() << " vs ONNX Runtime";
      }
    }
  }
}

TYPED_TEST(MlpLwtnn, L1NetWithInputNormalisationAndSoftmax) {
  check_model<TypeParam, float>("l1_mlp");
  check_model<TypeParam, double>("l1_mlp");
}
TYPED_TEST(MlpLwtnn, EveryLwtnnActivation) {
  check_model<TypeParam, float>("activations");
  check_model<TypeParam, double>("activations");
}
TYPED_TEST(MlpLwtnn, BatchNormFoldedIntoDense) {
  check_model<TypeParam, float>("batchnorm");
  check_model<TypeParam, double>("batchnorm");
}

TEST(Mlp, FoldsBatchNormAndFusesActivations) {
  const layers::Mlp<float> bn(io::load_lwtnn_json(fixture("batchnorm.lwtnn.json")));
  EXPECT_EQ(bn.step_count(), 2u);  // Dense + normalization(ReLU) → one Dense; then the output Dense
  const layers::Mlp<float> l1(io::load_lwtnn_json(fixture("l1_mlp.lwtnn.json")));
  EXPECT_EQ(l1.step_count(), 5u);  // input normalisation + 4 Dense (softmax fused into the last)
  EXPECT_EQ(l1.inputs().size(), 16u);
  EXPECT_EQ(l1.output_labels().size(), 5u);
}

// One model, several threads, each with its own workspace: the same bits as a serial run.
TEST(Mlp, SharedBetweenThreads) {
  const layers::Mlp<float> model(io::load_lwtnn_json(fixture("l1_mlp.lwtnn.json")));
  std::mt19937 rng(21);
  Tensor<float, 2> x({33, 16}), want({33, 5});
  fill_uniform(x, rng, -3, 3);
  std::vector<std::byte> ws(model.workspace_bytes(33) + 64);
  Queue<backend::Serial> q;
  model.forward(q, x.view(), want.view(), ws);
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Queue<backend::Serial> mine;
      std::vector<std::byte> my_ws(model.workspace_bytes(33));
      Tensor<float, 2> y({33, 5});
      bool same = true;
      for (int rep = 0; rep < 50; ++rep) {
        model.forward(mine, x.view(), y.view(), my_ws);
        same = same && std::memcmp(y.data(), want.data(), sizeof(float) * 33 * 5) == 0;
      }
      ok[static_cast<std::size_t>(t)] = same ? 1 : 0;
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(ok[static_cast<std::size_t>(t)], 1) << "thread " << t;
}

// A large batch runs through the layers in row blocks: every row has the bits of a batch-1 call.
TEST(Mlp, LargeBatchInRowBlocksGivesBatchOneBits) {
  const layers::Mlp<float> model(io::load_lwtnn_json(fixture("l1_mlp.lwtnn.json")));
  const index_t batch = 2 * model.block_rows() + 7;
  std::mt19937 rng(22);
  Tensor<float, 2> x({batch, 16}), y({batch, 5}), one({1, 5});
  fill_uniform(x, rng, -3, 3);
  std::vector<std::byte> ws(model.workspace_bytes(batch));
  EXPECT_LT(model.workspace_bytes(batch), model.workspace_bytes(1) * std::size_t(batch));  // one block of buffers
  for (Isa isa : runnable_isas()) {
#if PORTML_ENABLE_OPENMP
    Queue<backend::OpenMP> q(2);
#else
    Queue<backend::Serial> q;
#endif
    model.forward(q, x.view(), y.view(), ws, {.isa = isa, .min_parallel_flops = 0.0});
    Queue<backend::Serial> serial;
    for (index_t i = 0; i < batch; i += 13) {
      model.forward(serial, TensorView<const float, 2>(x.view()).row_slice(i, i + 1), one.view(), ws, {.isa = isa});
      ASSERT_EQ(std::memcmp(&y(i, 0), one.data(), sizeof(float) * 5), 0) << to_string(isa) << " row " << i;
    }
  }
}

// With threads, each thread runs a contiguous range of rows through all the layers, in row blocks in
// its own share of the workspace (one parallel region per call). Every row keeps the bits of a batch-1
// call on the calling thread whatever the batch (around one, two and four blocks, so that the thread
// ranges and their blocks end at every kind of boundary), its position, the thread count and the
// workspace: workspace_bytes(q, batch) (a full block per thread) or workspace_bytes(batch) (the threads
// share one thread's buffers, in smaller blocks).
template <class T, Backend B>
void check_threaded_rows(const layers::Mlp<T>& model, Queue<B>& q, const std::string& where) {
  const index_t block = model.block_rows();
  const index_t largest = 4 * block + 29;
  std::mt19937 rng(31);
  Tensor<T, 2> x({largest + 4, model.input_size()}), want({largest + 4, model.output_size()});
  fill_uniform(x, rng, -3, 3);
  const TensorView<const T, 2> xv(x.view());
  const std::size_t row_bytes = sizeof(T) * static_cast<std::size_t>(model.output_size());
  std::vector<std::byte> ws1(model.workspace_bytes(1));
  for (Isa isa : runnable_isas()) {
    Queue<backend::Serial> serial;
    for (index_t i = 0; i < x.extent(0); ++i) {
      model.forward(serial, xv.row_slice(i, i + 1), want.view().row_slice(i, i + 1), ws1, {.isa = isa});
    }
    for (const index_t batch : {index_t{1}, index_t{24}, index_t{25}, block - 1, block, block + 1, 2 * block - 1,
                                2 * block, 2 * block + 13, 4 * block + 29}) {
      for (const bool per_thread : {true, false}) {
        std::vector<std::byte> ws(per_thread ? model.workspace_bytes(q, batch) : model.workspace_bytes(batch));
        const index_t at = batch % 5;  // the rows' position in x
        Tensor<T, 2> y({batch, model.output_size()});
        model.forward(q, xv.row_slice(at, at + batch), y.view(), ws, {.isa = isa, .min_parallel_flops = 0.0});
        for (index_t i = 0; i < batch; ++i) {
          ASSERT_EQ(std::memcmp(&y(i, 0), &want(at + i, 0), row_bytes), 0)
              << where << " " << to_string(isa) << " batch " << batch << " row " << i
              << (per_thread ? " (per-thread workspace)" : " (one-thread workspace)");
        }
      }
    }
  }
}

TYPED_TEST(MlpLwtnn, ThreadedRowBlocksGiveBatchOneBits) {
  auto q = TypeParam::make_queue();
  check_threaded_rows(layers::Mlp<float>(io::load_lwtnn_json(fixture("l1_mlp.lwtnn.json"))), q,
                      std::string("l1_mlp ") + TypeParam::name);
  check_threaded_rows(layers::Mlp<double>(io::load_lwtnn_json(fixture("activations.lwtnn.json"))), q,
                      std::string("activations ") + TypeParam::name);
}

#if PORTML_ENABLE_OPENMP
// Three threads: ranges of unequal length (batch not divisible by 3) and blocks of a third of a share.
TEST(Mlp, ThreeThreadsGiveBatchOneBits) {
  Queue<backend::OpenMP> q(3);
  check_threaded_rows(layers::Mlp<float>(io::load_lwtnn_json(fixture("l1_mlp.lwtnn.json"))), q, "l1_mlp OpenMP(3)");
}

// The threaded path (one parallel region, a Serial queue per thread range) allocates nothing either.
TEST(Mlp, ThreadedForwardAllocatesNothing) {
  const layers::Mlp<float> model(io::load_lwtnn_json(fixture("l1_mlp.lwtnn.json")));
  const index_t batch = 3 * model.block_rows() + 5;
  Tensor<float, 2> x({batch, 16}), y({batch, 5});
  Queue<backend::OpenMP> q(2);
  for (const std::size_t bytes : {model.workspace_bytes(q, batch), model.workspace_bytes(batch)}) {
    std::vector<std::byte> ws(bytes);
    for (Isa isa : runnable_isas()) {
      model.forward(q, x.view(), y.view(), ws, {.isa = isa, .min_parallel_flops = 0.0});
      const long before = allocation_count();
      model.forward(q, x.view(), y.view(), ws, {.isa = isa, .min_parallel_flops = 0.0});
      EXPECT_EQ(allocation_count() - before, 0) << to_string(isa) << ", " << bytes << " bytes of workspace";
    }
  }
}
#endif

// A batch of one runs through stack buffers and the row kernels (kernels::gemm_one_row) when every step
// is at most Mlp's row buffer (64) wide: its bits are those of the same row in a batch, on every ISA,
// through every kind of step (input normalisation, LayerNorm, activations fused or standalone, a row
// softmax) and for widths on both sides of one row-kernel call (AVX-512: 64 floats / 32 doubles; AVX2:
// 32 / 16; a 64-wide layer of doubles or of floats on AVX2 takes several calls) and of the row buffer
// (65, and the mlp64 and DeepJet-head widths: the general path). Input rows with a column stride too,
// and a workspace of exactly workspace_bytes(1).
template <class T>
layers::MlpConfig small_net(const std::vector<index_t>& widths, std::mt19937& rng) {
  using layers::LayerConfig;
  layers::MlpConfig cfg;
  cfg.inputs = {{"x", widths.front()}};
  std::uniform_real_distribution<double> d(-0.5, 0.5);
  const auto values = [&](index_t n) {
    std::vector<double> v(static_cast<std::size_t>(n));
    for (auto& x : v) x = d(rng);
    return v;
  };
  LayerConfig norm;
  norm.kind = LayerConfig::Kind::Affine;
  norm.offset = values(widths.front());
  norm.scale = values(widths.front());
  cfg.layers.push_back(norm);
  const std::array<kernels::ActivationSpec, 4> acts{
      kernels::make_activation(Activation::Relu), kernels::ActivationSpec{Activation::LeakyRelu, 0.1, 0.0},
      kernels::make_activation(Activation::Tanh), kernels::ActivationSpec{}};
  for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
    LayerConfig dense;
    dense.inputs = widths[l];
    dense.outputs = widths[l + 1];
    dense.weights = values(widths[l] * widths[l + 1]);
    dense.bias = values(widths[l + 1]);
    dense.activation = acts[l % acts.size()];
    cfg.layers.push_back(dense);
    if (l == 1) {  // a LayerNorm with its own activation, after a linear Dense
      LayerConfig ln;
      ln.kind = LayerConfig::Kind::LayerNorm;
      ln.gamma = values(widths[l + 1]);
      ln.beta = values(widths[l + 1]);
      ln.activation = kernels::make_activation(Activation::Sigmoid);
      cfg.layers.push_back(ln);
    }
  }
  LayerConfig softmax;
  softmax.kind = LayerConfig::Kind::Activation;
  softmax.activation = kernels::make_activation(Activation::Softmax);
  cfg.layers.push_back(softmax);
  return cfg;
}

template <class T>
void check_batch_one_rows(const std::vector<index_t>& widths) {
  std::mt19937 rng(41);
  const layers::Mlp<T> model(small_net<T>(widths, rng));
  constexpr index_t batch = 7;
  const index_t in = model.input_size(), out = model.output_size();
  Tensor<T, 2> x({batch, in}), wide({batch, 2 * in}), y({batch, out}), one({1, out});
  fill_uniform(x, rng, -3, 3);
  for (index_t i = 0; i < batch; ++i)
    for (index_t j = 0; j < in; ++j) wide(i, 2 * j) = x(i, j);
  const TensorView<const T, 2> strided(wide.data(), {batch, in}, {2 * in, 2});
  std::vector<std::byte> ws(model.workspace_bytes(batch)), ws1(model.workspace_bytes(1));
  Queue<backend::Serial> q;
  std::string shape;
  for (const index_t w : widths) shape += std::to_string(w) + " ";
  for (Isa isa : runnable_isas()) {
    model.forward(q, x.view(), y.view(), ws, {.isa = isa});
    for (index_t i = 0; i < batch; ++i) {
      model.forward(q, TensorView<const T, 2>(x.view()).row_slice(i, i + 1), one.view(), ws1, {.isa = isa});
      ASSERT_EQ(std::memcmp(one.data(), &y(i, 0), sizeof(T) * static_cast<std::size_t>(out)), 0)
          << shape << to_string(isa) << " row " << i;
      model.forward(q, strided.row_slice(i, i + 1), one.view(), ws1, {.isa = isa});
      ASSERT_EQ(std::memcmp(one.data(), &y(i, 0), sizeof(T) * static_cast<std::size_t>(out)), 0)
          << shape << to_string(isa) << " strided row " << i;
    }
  }
}

TEST(Mlp, BatchOneThroughStackBuffersGivesBatchBits) {
  for (const std::vector<index_t>& widths : std::vector<std::vector<index_t>>{{16, 64, 32, 32, 5},
                                                                              {1, 1, 1, 1},
                                                                              {40, 17, 33, 16, 9},
                                                                              {70, 48, 49, 24, 25, 8},
                                                                              {3, 64, 65, 2},
                                                                              {65, 64, 3},
                                                                              {64, 256, 256, 128, 10},
                                                                              {130, 200, 100, 100, 6}}) {
    check_batch_one_rows<float>(widths);
    check_batch_one_rows<double>(widths);
  }
}

// workspace_bytes(batch, threads): the joined inputs, then two buffers of one row block per thread.
// One thread (and a Serial queue) is workspace_bytes(batch); t threads never need less, and t times the
// buffers once the batch fills a block on every thread.
TEST(Mlp, WorkspaceBytesPerThread) {
  const layers::Mlp<float> model(io::load_lwtnn_json(fixture("l1_mlp.lwtnn.json")));
  const index_t block = model.block_rows();
  Queue<backend::Serial> serial;
  for (const index_t batch : {index_t{1}, index_t{7}, block, 2 * block, 4 * block + 29, 100 * block}) {
    EXPECT_EQ(model.workspace_bytes(batch, 1), model.workspace_bytes(batch)) << batch;
    EXPECT_EQ(model.workspace_bytes(serial, batch), model.workspace_bytes(batch)) << batch;
    for (const int threads : {2, 3, 16}) EXPECT_GE(model.workspace_bytes(batch, threads), model.workspace_bytes(batch));
  }
  const std::size_t joined = 64 * ((sizeof(float) * 16 * 100 * static_cast<std::size_t>(block) + 63) / 64);
  EXPECT_EQ(model.workspace_bytes(100 * block, 2) - joined, 2 * (model.workspace_bytes(100 * block) - joined));
#if PORTML_ENABLE_OPENMP
  Queue<backend::OpenMP> omp(3);
  EXPECT_EQ(model.workspace_bytes(omp, 100 * block), model.workspace_bytes(100 * block, 3));
#endif
}

// Inputs with any strides (here every other column of a wider array) give the bits of contiguous input,
// through the input normalisation (a row op) and the GEMMs.
TEST(Mlp, StridedInputGivesContiguousBits) {
  const layers::Mlp<float> model(io::load_lwtnn_json(fixture("l1_mlp.lwtnn.json")));
  std::mt19937 rng(23);
  Tensor<float, 2> x({21, 16}), wide({21, 32}), want({21, 5}), got({21, 5});
  fill_uniform(x, rng, -3, 3);
  for (index_t i = 0; i < 21; ++i)
    for (index_t j = 0; j < 16; ++j) wide(i, 2 * j) = x(i, j);
  std::vector<std::byte> ws(model.workspace_bytes(21));
  Queue<backend::Serial> q;
  model.forward(q, x.view(), want.view(), ws);
  model.forward(q, TensorView<const float, 2>(wide.data(), {21, 16}, {32, 2}), got.view(), ws);
  EXPECT_EQ(std::memcmp(want.data(), got.data(), sizeof(float) * 21 * 5), 0);
}

TEST(Mlp, ForwardAllocatesNothing) {
  const layers::Mlp<float> model(io::load_lwtnn_json(fixture("l1_mlp.lwtnn.json")));
  const layers::Mlp<double> activations(io::load_lwtnn_json(fixture("activations.lwtnn.json")));
  Tensor<float, 2> x({20, 16}), y({20, 5});
  Tensor<double, 2> xd({20, 6}), yd({20, 4});
  std::vector<std::byte> ws(std::max(model.workspace_bytes(20), activations.workspace_bytes(20)));
  Queue<backend::Serial> q;
  for (Isa isa : runnable_isas()) {
    model.forward(q, x.view(), y.view(), ws, {.isa = isa});
    const long before = allocation_count();
    model.forward(q, x.view(), y.view(), ws, {.isa = isa});
    activations.forward(q, xd.view(), yd.view(), ws, {.isa = isa});
    // Batch 1: both models are at most 64 wide, so this is the row path (stack buffers, row kernels).
    model.forward(q, TensorView<const float, 2>(x.view()).row_slice(0, 1), y.view().row_slice(0, 1), ws, {.isa = isa});
    activations.forward(q, TensorView<const double, 2>(xd.view()).row_slice(0, 1), yd.view().row_slice(0, 1), ws,
                        {.isa = isa});
    EXPECT_EQ(allocation_count() - before, 0) << to_string(isa);
  }
}

TEST(Mlp, ShapeAndWorkspaceErrors) {
  const layers::Mlp<float> model(io::load_lwtnn_json(fixture("l1_mlp.lwtnn.json")));
  Tensor<float, 2> x({4, 15}), y({4, 5}), good_x({4, 16});
  std::vector<std::byte> ws(model.workspace_bytes(4));
  Queue<backend::Serial> q;
  EXPECT_THROW(model.forward(q, x.view(), y.view(), ws), ShapeError);
  std::vector<std::byte> small(8);
  EXPECT_THROW(model.forward(q, good_x.view(), y.view(), small), Error);
}

std::string error_of(const std::string& text) {
  try {
    io::parse_lwtnn_json(text, "model.json");
  } catch (const io::FormatError& e) {
    return e.what();
  }
  return "no error";
}

TEST(LwtnnLoader, MalformedFilesNameFileAndPosition) {
  EXPECT_NE(error_of("{\"inputs\": [").find("model.json: byte"), std::string::npos) << error_of("{\"inputs\": [");
  const std::string head = R"({"inputs": [{"name": "a", "offset": 0, "scale": 1}], "outputs": ["y"], "layers": [)";
  EXPECT_NE(error_of(head + R"({"architecture": "lstm", "weights": [], "bias": []}]})").find("layers[0]"),
            std::string::npos);
  EXPECT_NE(error_of(head + R"({"architecture": "dense", "activation": "linear", "weights": [1, 2], "bias": [0]}]})")
                .find("layers[0].weights"),
            std::string::npos);
  EXPECT_NE(error_of(head + R"({"architecture": "dense", "activation": "abs", "weights": [1], "bias": [0]}]})")
                .find("unsupported activation \"abs\""),
            std::string::npos);
  EXPECT_NE(error_of(head + R"({"architecture": "dense", "activation": "linear", "weights": ["x"], "bias": [0]}]})")
                .find("layers[0].weights[0]"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"layers": []})").find("missing \"inputs\""), std::string::npos);
  EXPECT_THROW(io::load_lwtnn_json(fixture("does-not-exist.json")), io::FormatError);
  // a valid one
  EXPECT_EQ(error_of(head + R"({"architecture": "dense", "activation": "linear", "weights": [2], "bias": [1]}]})"),
            "no error");
}

}  // namespace
}  // namespace portml::test
