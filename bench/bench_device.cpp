// SPDX-License-Identifier: Apache-2.0
// The kernels of the uniform CUDA/HIP backend on the GPU, with data resident in device memory: the
// tiled GEMM with its fused epilogue at MLP and square shapes, and the graph primitives at the shapes
// of bench_gnn.cpp (gnn.md §5). Each iteration submits the call and waits for the queue, so a time is
// what a caller waiting for the result sees (launch + kernel + synchronisation). The PyTorch peer on
// the same GPU is `bench/peers/torch_gnn_ops.py --device cuda` (docs/gpu.md has both tables).
// The cuBLAS SGEMM peer (BM_device_cublas_sgemm) is built in when CUDA's cuBLAS is found, and the
// cuBLASLt peers (BM_device_cublaslt_*: the GEMM and each MLP as cuBLASLt matmuls with the fused
// bias + ReLU epilogue, FP32, no TF32) when cuBLASLt is.
// Without a device every case skips with the reason.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <portml/config.hpp>
#include <portml/kernels/gemm_tiled.hpp>
#include <portml/kernels/graph.hpp>
#include <portml/layers/device_mlp.hpp>
#include <portml/layers/gnn_models.hpp>
#include <portml/portability/all.hpp>

#include "dense_cases.hpp"
#include "gnn_cases.hpp"

#if PORTML_BENCH_HAVE_CUBLAS
#include <cublas_v2.h>
#endif
#if PORTML_BENCH_HAVE_CUBLASLT
#include <cublasLt.h>
#endif

namespace {

using portml::index_t;
using portml::Tensor;
namespace g = portml::kernels::graph;
using Index = std::int32_t;
#if PORTML_ENABLE_CUDA
using G = portml::backend::Cuda;
#else
using G = portml::backend::Hip;
#endif
using S = portml::memory_space_t<G>;

//! The device queue, or nullptr after skipping the case with the reason.
std::unique_ptr<portml::Queue<G>> device_queue(benchmark::State& state) {
  std::string reason;
  if (portml::device_count<G>(&reason) == 0) {
    state.SkipWithError(("no " + std::string(G::name) + " device: " + reason).c_str());
    return nullptr;
  }
  return std::make_unique<portml::Queue<G>>(0);
}

template <class T, std::size_t R>
Tensor<T, R, S> to_device(portml::Queue<G>& q, const Tensor<T, R>& h) {
  Tensor<T, R, S> d(h.extents());
  portml::deep_copy(q, d.view(), h.view());
  q.wait();
  return d;
}

Tensor<float, 2> random_matrix(index_t n, index_t d, unsigned seed, bool normal) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::normal_distribution<float> nd;
  Tensor<float, 2> x({n, d});
  for (index_t i = 0; i < x.size(); ++i) x.data()[i] = normal ? nd(rng) : u(rng);
  return x;
}

Tensor<Index, 1> even_offsets(index_t events, index_t per_event) {
  Tensor<Index, 1> off({events + 1});
  for (index_t b = 0; b <= events; ++b) off(b) = static_cast<Index>(b * per_event);
  return off;
}

//! The GEMM counters of every GEMM case: FLOP/s (2·M·K·N per call) and rows per second.
void set_gemm_counters(benchmark::State& state, index_t m, index_t k, index_t n) {
  state.counters["FLOPS"] =
      benchmark::Counter(2.0 * double(m) * double(k) * double(n), benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::kIs1000);
  state.SetItemsProcessed(state.iterations() * m);
}

//! The (M, K, N) shapes at which the peers (cuBLAS SGEMM, cuBLASLt) run: those of BM_device_gemm_tiled's
//! automatic cases and of its forced-shape cases with M = 8192 and 1024.
[[maybe_unused]] void gemm_peer_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"M", "K", "N"});
  for (const auto& [m, k, n] : {std::array<index_t, 3>{1, 64, 64},
                                {1024, 64, 64},
                                {65536, 64, 64},
                                {8192, 128, 128},
                                {65536, 128, 128},
                                {1024, 1024, 1024},
                                {2048, 2048, 2048}}) {
    b->Args({m, k, n});
  }
  b->UseRealTime()->Unit(benchmark::kMicrosecond);
}

//! The batch sizes of the MLP cases (DeviceMlp and its cuBLASLt peer): args (batch).
void mlp_batches(benchmark::internal::Benchmark* b) {
  b->ArgNames({"batch"})->Arg(1)->Arg(1024)->Arg(4096)->Arg(65536)->UseRealTime()->Unit(benchmark::kMicrosecond);
}

//! C [M, N] = relu(A [M, K] · W [K, N] + b): args (M, K, N, shape), shape = GemmTiledShape as an integer
//! (0 automatic, 1 tile16, 2 tile64, 3 tile128).
void BM_device_gemm_tiled(benchmark::State& state) {
  auto q = device_queue(state);
  if (!q) return;
  const index_t m = state.range(0), k = state.range(1), n = state.range(2);
  const auto shape = static_cast<portml::kernels::GemmTiledShape>(state.range(3));
  const auto a = to_device(*q, random_matrix(m, k, 1, true));
  const auto w = to_device(*q, random_matrix(k, n, 2, true));
  Tensor<float, 1> bias_h({n});
  const auto b = to_device(*q, bias_h);
  Tensor<float, 2, S> c({m, n});
  const auto act = portml::kernels::make_activation(portml::kernels::Activation::Relu);
  for (auto _ : state) {
    portml::kernels::gemm_tiled<G, float>(*q, a.view(), w.view(), c.view(), b.data(), act, shape);
    q->wait();
  }
  set_gemm_counters(state, m, k, n);
  const auto used =
      shape == portml::kernels::GemmTiledShape::automatic
          ? portml::kernels::gemm_tiled_shape(m, n, k, portml::kernels::gemm_tiled_largest_shape<G, float>())
          : shape;
  state.SetLabel(portml::kernels::gemm_tiled_shape_name(used));
}
// Automatic shape at the MLP and square shapes, then every shape forced at the shapes where the
// choice matters (the dispatch thresholds of gemm_tiled_shape come from these rows).
BENCHMARK(BM_device_gemm_tiled)
    ->ArgNames({"M", "K", "N", "shape"})
    ->Args({1, 64, 64, 0})
    ->Args({1024, 64, 64, 0})
    ->Args({65536, 64, 64, 0})
    ->Args({65536, 128, 128, 0})
    ->Args({2048, 2048, 2048, 0})
    ->ArgsProduct({{1024, 65536}, {64}, {64}, {1, 2, 3}})
    ->ArgsProduct({{8192, 65536}, {128}, {128}, {1, 2, 3}})
    ->ArgsProduct({{1024}, {1024}, {1024}, {1, 2, 3}})
    ->ArgsProduct({{2048}, {2048}, {2048}, {1, 2, 3}})
    ->ArgsProduct({{4096}, {64, 256}, {256}, {1, 2}})  // mlp64's layers at batch 4096
    ->ArgsProduct({{4096}, {256}, {128}, {1, 2}})
    ->ArgsProduct({{4096}, {64}, {64}, {1, 2}})  // the DeepJet-like head's
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

#if PORTML_BENCH_HAVE_CUBLAS
//! The peer in the same process: cublasSgemm (FP32, default math mode: no TF32), C = A·W without an
//! epilogue (gemm_tiled also adds the bias and applies ReLU): args (M, K, N). Row-major C = A·W is the
//! column-major Cᵀ = Wᵀ·Aᵀ.
void BM_device_cublas_sgemm(benchmark::State& state) {
  auto q = device_queue(state);
  if (!q) return;
  const index_t m = state.range(0), k = state.range(1), n = state.range(2);
  const auto a = to_device(*q, random_matrix(m, k, 1, true));
  const auto w = to_device(*q, random_matrix(k, n, 2, true));
  Tensor<float, 2, S> c({m, n});
  cublasHandle_t handle = nullptr;
  if (cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS) {
    state.SkipWithError("cublasCreate failed");
    return;
  }
  cublasSetStream(handle, q->stream());
  const float one = 1.0f, zero = 0.0f;
  const auto call = [&] {
    return cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(m), static_cast<int>(k),
                       &one, w.data(), static_cast<int>(n), a.data(), static_cast<int>(k), &zero, c.data(),
                       static_cast<int>(n));
  };
  if (call() != CUBLAS_STATUS_SUCCESS) state.SkipWithError("cublasSgemm failed");
  q->wait();
  for (auto _ : state) {
    call();
    q->wait();
  }
  cublasDestroy(handle);
  set_gemm_counters(state, m, k, n);
}
BENCHMARK(BM_device_cublas_sgemm)->Apply(gemm_peer_shapes);
#endif

//! knn_graph, k = 16, self excluded: args (events, points per event, D, normal, grid workspace).
void BM_device_knn_graph(benchmark::State& state) {
  auto q = device_queue(state);
  if (!q) return;
  const index_t events = state.range(0), per = state.range(1), d = state.range(2), k = 16;
  const index_t n = events * per;
  const auto x = to_device(*q, random_matrix(n, d, 1, state.range(3) != 0));
  const auto off = to_device(*q, even_offsets(events, per));
  Tensor<Index, 2, S> nbr({n, k});
  Tensor<float, 2, S> d2({n, k});
  const auto size = g::knn_graph_workspace_size(n, events);
  Tensor<Index, 1, S> wi({state.range(4) != 0 ? size.indices : 0});
  Tensor<float, 1, S> wr({state.range(4) != 0 ? size.reals : 0});
  for (auto _ : state) {
    if (state.range(4) != 0) {
      g::knn_graph<G, float, Index>(*q, x.view(), off.view(), nbr.view(), d2.view(), {}, {wi.view(), wr.view()});
    } else {
      g::knn_graph<G, float, Index>(*q, x.view(), off.view(), nbr.view(), d2.view());
    }
    q->wait();
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_device_knn_graph)
    ->ArgNames({"events", "points", "D", "normal", "grid"})
    ->Args({1, 10000, 3, 0, 0})
    ->Args({1, 10000, 3, 0, 1})
    ->Args({1, 10000, 16, 1, 0})
    ->Args({1000, 50, 16, 1, 0})
    ->Args({1000, 50, 3, 0, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

//! ell_reduce over [N = 10 000, k = 16, F = 64]; arg: Reduce.
void BM_device_ell_reduce(benchmark::State& state) {
  auto q = device_queue(state);
  if (!q) return;
  const index_t n = 10000, k = 16, f = 64;
  const auto op = static_cast<g::Reduce>(state.range(0));
  Tensor<float, 3> m_h({n, k, f});
  std::mt19937 rng(3);
  std::normal_distribution<float> nd;
  for (index_t i = 0; i < m_h.size(); ++i) m_h.data()[i] = nd(rng);
  Tensor<Index, 2> nbr_h({n, k});
  for (index_t i = 0; i < nbr_h.size(); ++i) nbr_h.data()[i] = static_cast<Index>(i % n);
  const auto m = to_device(*q, m_h);
  const auto nbr = to_device(*q, nbr_h);
  Tensor<float, 2, S> y({n, f});
  for (auto _ : state) {
    g::ell_reduce<G, float, Index>(*q, m.view(), nbr.view(), y.view(), op);
    q->wait();
  }
}
BENCHMARK(BM_device_ell_reduce)
    ->ArgName("op")
    ->Arg(static_cast<int>(g::Reduce::mean))
    ->Arg(static_cast<int>(g::Reduce::max))
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

//! CSR / COO data of gnn.md §5.5 (as bench_gnn.cpp): N = 10 000 nodes, degrees uniform in [1, 32), F = 64.
struct EdgeData {
  index_t n = 10000, e = 0, f = 64;
  Tensor<Index, 1> indptr, dst_shuffled, src_random;
  Tensor<float, 2> m;
  EdgeData() {
    std::mt19937 rng(4);
    std::uniform_int_distribution<int> deg(1, 31);
    indptr = Tensor<Index, 1>({n + 1});
    for (index_t i = 0; i < n; ++i) indptr(i + 1) = indptr(i) + deg(rng);
    e = indptr(n);
    dst_shuffled = Tensor<Index, 1>({e});
    for (index_t i = 0; i < n; ++i)
      for (index_t r = indptr(i); r < indptr(i + 1); ++r) dst_shuffled(r) = static_cast<Index>(i);
    std::shuffle(dst_shuffled.data(), dst_shuffled.data() + e, rng);
    src_random = Tensor<Index, 1>({e});
    std::uniform_int_distribution<Index> node(0, static_cast<Index>(n - 1));
    for (index_t r = 0; r < e; ++r) src_random(r) = node(rng);
    m = random_matrix(e, f, 5, true);
  }
};
const EdgeData& edge_data() {
  static const EdgeData data;
  return data;
}

void BM_device_segment_reduce(benchmark::State& state) {
  auto q = device_queue(state);
  if (!q) return;
  const auto& d = edge_data();
  const auto op = static_cast<g::Reduce>(state.range(0));
  const auto m = to_device(*q, d.m);
  const auto indptr = to_device(*q, d.indptr);
  Tensor<float, 2, S> y({d.n, d.f});
  for (auto _ : state) {
    g::segment_reduce<G, float, Index>(*q, m.view(), indptr.view(), y.view(), op);
    q->wait();
  }
  state.counters["E"] = static_cast<double>(d.e);
}
BENCHMARK(BM_device_segment_reduce)
    ->ArgName("op")
    ->Arg(static_cast<int>(g::Reduce::sum))
    ->Arg(static_cast<int>(g::Reduce::max))
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

//! Unsorted COO on every call: args (op, mode), mode 0 = ScatterMode::sorted (deterministic: the stable
//! LSD radix sort + segment fold), 1 = ScatterMode::atomic (opt-in: atomics, no sort).
void BM_device_scatter_reduce(benchmark::State& state) {
  auto q = device_queue(state);
  if (!q) return;
  const auto& d = edge_data();
  const auto op = static_cast<g::Reduce>(state.range(0));
  const auto mode = state.range(1) == 0 ? g::ScatterMode::sorted : g::ScatterMode::atomic;
  const auto m = to_device(*q, d.m);
  const auto dst = to_device(*q, d.dst_shuffled);
  Tensor<float, 2, S> y({d.n, d.f});
  Tensor<Index, 1, S> ws({g::scatter_reduce_workspace_size(d.n, d.e)});
  for (auto _ : state) {
    g::scatter_reduce<G, float, Index>(*q, m.view(), dst.view(), y.view(), op, ws.view(), mode);
    q->wait();
  }
  state.SetLabel(g::scatter_mode_name(mode));
}
BENCHMARK(BM_device_scatter_reduce)
    ->ArgNames({"op", "mode"})
    ->Args({static_cast<int>(g::Reduce::sum), 0})
    ->Args({static_cast<int>(g::Reduce::max), 0})
    ->Args({static_cast<int>(g::Reduce::sum), 1})
    ->Args({static_cast<int>(g::Reduce::max), 1})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

//! One feature instead of 64: the fold is then negligible, so the sorted mode's time is its index
//! check and its stable sort by destination (args: mode, 0 sorted, 1 atomic).
void BM_device_scatter_reduce_one_feature(benchmark::State& state) {
  auto q = device_queue(state);
  if (!q) return;
  const auto& d = edge_data();
  const auto mode = state.range(0) == 0 ? g::ScatterMode::sorted : g::ScatterMode::atomic;
  const auto m = to_device(*q, random_matrix(d.e, 1, 5, true));
  const auto dst = to_device(*q, d.dst_shuffled);
  Tensor<float, 2, S> y({d.n, 1});
  Tensor<Index, 1, S> ws({g::scatter_reduce_workspace_size(d.n, d.e)});
  for (auto _ : state) {
    g::scatter_reduce<G, float, Index>(*q, m.view(), dst.view(), y.view(), g::Reduce::sum, ws.view(), mode);
    q->wait();
  }
  state.SetLabel(g::scatter_mode_name(mode));
}
BENCHMARK(BM_device_scatter_reduce_one_feature)
    ->ArgName("mode")
    ->Arg(0)
    ->Arg(1)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void BM_device_gather_rows(benchmark::State& state) {
  auto q = device_queue(state);
  if (!q) return;
  const auto& d = edge_data();
  const auto m = to_device(*q, d.m);
  const auto src = to_device(*q, d.src_random);
  Tensor<float, 2, S> y({d.e, d.f});
  const auto x = portml::TensorView<const float, 2, S>(m.view()).row_slice(0, d.n);
  for (auto _ : state) {
    g::gather_rows<G, float, Index>(*q, x, src.view(), y.view());
    q->wait();
  }
}
BENCHMARK(BM_device_gather_rows)->UseRealTime()->Unit(benchmark::kMicrosecond);

//! Softmax over the 16 incoming edges of each of 10 000 nodes, 4 heads.
void BM_device_segment_softmax(benchmark::State& state) {
  auto q = device_queue(state);
  if (!q) return;
  const index_t n = 10000, k = 16, h = 4;
  const auto s = to_device(*q, random_matrix(n * k, h, 6, true));
  const auto indptr = to_device(*q, even_offsets(n, k));
  Tensor<float, 2, S> p({n * k, h});
  for (auto _ : state) {
    g::segment_softmax<G, float, Index>(*q, s.view(), indptr.view(), p.view());
    q->wait();
  }
}
BENCHMARK(BM_device_segment_softmax)->UseRealTime()->Unit(benchmark::kMicrosecond);

//! The MLPs of the device cases: 0 = a DeepJet-like head 16→64→64→64→6 (ReLU, softmax head; random
//! weights, the time does not depend on them), 1 = bench_dense's mlp64 64→256→256→128→10 (ReLU, last
//! layer linear; dense_cases.hpp's weights).
portml::layers::MlpConfig device_mlp_config(int net) {
  if (net == 1) return portml_bench::dense::mlp_config(portml_bench::dense::nets[0]);
  const index_t widths[] = {16, 64, 64, 64, 6};
  portml::layers::MlpConfig cfg;
  cfg.inputs = {{"x", widths[0]}};
  std::mt19937 rng(11);
  std::normal_distribution<double> nd(0.0, 0.25);
  for (int l = 0; l < 4; ++l) {
    portml::layers::LayerConfig d;
    d.kind = portml::layers::LayerConfig::Kind::Dense;
    d.inputs = widths[l];
    d.outputs = widths[l + 1];
    d.weights.resize(static_cast<std::size_t>(d.inputs * d.outputs));
    d.bias.resize(static_cast<std::size_t>(d.outputs));
    for (auto& w : d.weights) w = nd(rng);
    for (auto& b : d.bias) b = nd(rng);
    d.activation = portml::kernels::make_activation(l < 3 ? portml::kernels::Activation::Relu
                                                          : portml::kernels::Activation::Softmax);
    cfg.layers.push_back(std::move(d));
  }
  return cfg;
}

//! Multiply-adds × 2 of one row through the Dense layers of `cfg`.
double mlp_flops_per_row(const portml::layers::MlpConfig& cfg) {
  double flops = 0;
  for (const auto& l : cfg.layers) flops += 2.0 * double(l.inputs) * double(l.outputs);
  return flops;
}

void set_mlp_counters(benchmark::State& state, double flops_per_row, index_t batch) {
  state.counters["FLOPS"] = benchmark::Counter(
      flops_per_row * double(batch), benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
  state.SetItemsProcessed(state.iterations() * batch);
}

//! One MLP of device_mlp_config through layers::DeviceMlp, data and workspace resident on the device.
void run_device_mlp(benchmark::State& state, int net) {
  auto q = device_queue(state);
  if (!q) return;
  const index_t batch = state.range(0);
  const auto cfg = device_mlp_config(net);
  const portml::layers::Mlp<float> model(cfg);
  const portml::layers::DeviceMlp<float, G> dm(*q, model);
  const auto x = to_device(*q, random_matrix(batch, model.input_size(), 3, true));
  Tensor<float, 2, S> y({batch, model.output_size()});
  Tensor<std::byte, 1, S> ws({static_cast<index_t>(dm.workspace_bytes(batch))});
  for (auto _ : state) {
    dm.forward(*q, x.view(), y.view(), ws.view());
    q->wait();
  }
  set_mlp_counters(state, mlp_flops_per_row(cfg), batch);
}

//! The DeepJet-like head (device_mlp_config 0): args (batch).
void BM_device_mlp_deepjet(benchmark::State& state) { run_device_mlp(state, 0); }
BENCHMARK(BM_device_mlp_deepjet)->Apply(mlp_batches);

//! mlp64 (device_mlp_config 1): args (batch).
void BM_device_mlp_mlp64(benchmark::State& state) { run_device_mlp(state, 1); }
BENCHMARK(BM_device_mlp_mlp64)->Apply(mlp_batches);

#if PORTML_BENCH_HAVE_CUBLASLT
//! The text of a failed cuBLASLt call.
std::string lt_error(const char* what, cublasStatus_t st) {
  return std::string(what) + " failed: cuBLAS status " + std::to_string(static_cast<int>(st));
}

//! One dense layer as a cuBLASLt matmul: Y [M, N] = epilogue(X [M, K] · W + b), row-major X and Y, FP32
//! in and out with CUBLAS_COMPUTE_32F (no TF32), the epilogue fused (CUBLASLT_EPILOGUE_RELU_BIAS,
//! _BIAS or _DEFAULT). W is [K, N] row-major (portml's gemm_tiled layout) or, `w_out_by_in`, [N, K]
//! row-major (the Dense layer's layout). Row-major Y = X·W is the column-major Yᵀ = Wᵀ·Xᵀ, so cuBLASLt's
//! A is W and its B is X. Descriptors and the heuristic's first algorithm are made once.
class LtMatmul {
 public:
  LtMatmul(cublasLtHandle_t handle, index_t m, index_t k, index_t n, bool w_out_by_in, const float* bias,
           cublasLtEpilogue_t epilogue, std::size_t workspace_bytes)
      : handle_(handle) {
    const auto u = [](index_t v) { return static_cast<std::uint64_t>(v); };
    const cublasOperation_t ta = w_out_by_in ? CUBLAS_OP_T : CUBLAS_OP_N, tb = CUBLAS_OP_N;
    if (!check("cublasLtMatmulDescCreate", cublasLtMatmulDescCreate(&op_, CUBLAS_COMPUTE_32F, CUDA_R_32F)) ||
        !check("TRANSA", cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta))) ||
        !check("TRANSB", cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb))) ||
        !check("EPILOGUE",
               cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)))) {
      return;
    }
    if (bias != nullptr && !check("BIAS_POINTER", cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                                                 &bias, sizeof(bias)))) {
      return;
    }
    // A = W: column-major N × K (W [K, N] row-major) or K × N transposed (W [N, K] row-major).
    if (!check("layout W", w_out_by_in ? cublasLtMatrixLayoutCreate(&a_, CUDA_R_32F, u(k), u(n), k)
                                       : cublasLtMatrixLayoutCreate(&a_, CUDA_R_32F, u(n), u(k), n)) ||
        !check("layout X", cublasLtMatrixLayoutCreate(&b_, CUDA_R_32F, u(k), u(m), k)) ||
        !check("layout Y", cublasLtMatrixLayoutCreate(&c_, CUDA_R_32F, u(n), u(m), n))) {
      return;
    }
    cublasLtMatmulPreference_t pref = nullptr;
    if (!check("cublasLtMatmulPreferenceCreate", cublasLtMatmulPreferenceCreate(&pref))) return;
    cublasLtMatmulHeuristicResult_t result{};
    int count = 0;
    if (check("MAX_WORKSPACE_BYTES",
              cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes,
                                                   sizeof(workspace_bytes))) &&
        check("cublasLtMatmulAlgoGetHeuristic",
              cublasLtMatmulAlgoGetHeuristic(handle_, op_, a_, b_, c_, c_, pref, 1, &result, &count))) {
      if (count == 0) {
        error_ = "cuBLASLt has no algorithm for this matmul";
      } else {
        algo_ = result.algo;
      }
    }
    cublasLtMatmulPreferenceDestroy(pref);
  }
  LtMatmul(const LtMatmul&) = delete;
  LtMatmul& operator=(const LtMatmul&) = delete;
  ~LtMatmul() {
    if (c_ != nullptr) cublasLtMatrixLayoutDestroy(c_);
    if (b_ != nullptr) cublasLtMatrixLayoutDestroy(b_);
    if (a_ != nullptr) cublasLtMatrixLayoutDestroy(a_);
    if (op_ != nullptr) cublasLtMatmulDescDestroy(op_);
  }

  //! Empty when the matmul is ready, else what failed.
  const std::string& error() const { return error_; }

  cublasStatus_t run(const float* w, const float* x, float* y, void* workspace, std::size_t workspace_bytes,
                     cudaStream_t stream) const {
    const float one = 1.0f, zero = 0.0f;
    return cublasLtMatmul(handle_, op_, &one, w, a_, x, b_, &zero, y, c_, y, c_, &algo_, workspace, workspace_bytes,
                          stream);
  }

 private:
  bool check(const char* what, cublasStatus_t st) {
    if (st != CUBLAS_STATUS_SUCCESS && error_.empty()) error_ = lt_error(what, st);
    return st == CUBLAS_STATUS_SUCCESS;
  }
  cublasLtHandle_t handle_;
  cublasLtMatmulDesc_t op_ = nullptr;
  cublasLtMatrixLayout_t a_ = nullptr, b_ = nullptr, c_ = nullptr;
  cublasLtMatmulAlgo_t algo_{};
  std::string error_;
};

//! cuBLASLt's workspace: 32 MiB (NVIDIA's recommendation for Hopper).
constexpr std::size_t lt_workspace_bytes = std::size_t(32) << 20;

//! A cuBLASLt handle for one case, destroyed with it.
struct LtHandle {
  cublasLtHandle_t h = nullptr;
  cublasStatus_t status = cublasLtCreate(&h);
  ~LtHandle() {
    if (h != nullptr) cublasLtDestroy(h);
  }
};

//! The MLPs of device_mlp_config as a sequence of cuBLASLt matmuls, one per Dense layer, with the fused
//! RELU_BIAS epilogue (BIAS for the last, linear layer), activations ping-ponging between two device
//! buffers; timed like the portml case (the calls, then a wait). The DeepJet-like head's softmax is
//! *not* run (cuBLASLt has no row softmax epilogue): the peer does less work than DeviceMlp there.
//! Args (batch).
void run_cublaslt_mlp(benchmark::State& state, int net) {
  auto q = device_queue(state);
  if (!q) return;
  const index_t batch = state.range(0);
  const auto cfg = device_mlp_config(net);
  LtHandle handle;
  if (handle.status != CUBLAS_STATUS_SUCCESS) {
    state.SkipWithError(lt_error("cublasLtCreate", handle.status).c_str());
    return;
  }
  std::vector<Tensor<float, 1, S>> weights, biases;
  std::vector<std::unique_ptr<LtMatmul>> layers;
  index_t widest = 0;
  for (std::size_t l = 0; l < cfg.layers.size(); ++l) {
    const auto& lc = cfg.layers[l];
    Tensor<float, 1> w({lc.inputs * lc.outputs}), b({lc.outputs});
    for (index_t i = 0; i < w.size(); ++i) w(i) = static_cast<float>(lc.weights[static_cast<std::size_t>(i)]);
    for (index_t i = 0; i < b.size(); ++i) b(i) = static_cast<float>(lc.bias[static_cast<std::size_t>(i)]);
    weights.push_back(to_device(*q, w));
    biases.push_back(to_device(*q, b));
    const bool relu = lc.activation.kind == portml::kernels::Activation::Relu;
    layers.push_back(std::make_unique<LtMatmul>(handle.h, batch, lc.inputs, lc.outputs, true, biases.back().data(),
                                                relu ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS,
                                                lt_workspace_bytes));
    if (!layers.back()->error().empty()) {
      state.SkipWithError(("layer " + std::to_string(l) + ": " + layers.back()->error()).c_str());
      return;
    }
    widest = std::max(widest, lc.outputs);
  }
  const auto x = to_device(*q, random_matrix(batch, cfg.layers.front().inputs, 3, true));
  Tensor<float, 1, S> buf0({batch * widest}), buf1({batch * widest});
  Tensor<std::byte, 1, S> ws({static_cast<index_t>(lt_workspace_bytes)});
  const auto forward = [&] {
    const float* in = x.data();
    for (std::size_t l = 0; l < layers.size(); ++l) {
      float* out = l % 2 == 0 ? buf0.data() : buf1.data();
      const cublasStatus_t st = layers[l]->run(weights[l].data(), in, out, ws.data(), lt_workspace_bytes, q->stream());
      if (st != CUBLAS_STATUS_SUCCESS) return st;
      in = out;
    }
    return CUBLAS_STATUS_SUCCESS;
  };
  if (const auto st = forward(); st != CUBLAS_STATUS_SUCCESS) {
    state.SkipWithError(lt_error("cublasLtMatmul", st).c_str());
    return;
  }
  q->wait();
  for (auto _ : state) {
    forward();
    q->wait();
  }
  set_mlp_counters(state, mlp_flops_per_row(cfg), batch);
  if (net == 0) state.SetLabel("softmax not run");
}

void BM_device_cublaslt_mlp_deepjet(benchmark::State& state) { run_cublaslt_mlp(state, 0); }
BENCHMARK(BM_device_cublaslt_mlp_deepjet)->Apply(mlp_batches);

void BM_device_cublaslt_mlp_mlp64(benchmark::State& state) { run_cublaslt_mlp(state, 1); }
BENCHMARK(BM_device_cublaslt_mlp_mlp64)->Apply(mlp_batches);

//! The single GEMM of BM_device_gemm_tiled as one cuBLASLt matmul with the fused RELU_BIAS epilogue
//! (the same computation as gemm_tiled + bias + ReLU): args (M, K, N).
void BM_device_cublaslt_gemm(benchmark::State& state) {
  auto q = device_queue(state);
  if (!q) return;
  const index_t m = state.range(0), k = state.range(1), n = state.range(2);
  LtHandle handle;
  if (handle.status != CUBLAS_STATUS_SUCCESS) {
    state.SkipWithError(lt_error("cublasLtCreate", handle.status).c_str());
    return;
  }
  const auto a = to_device(*q, random_matrix(m, k, 1, true));
  const auto w = to_device(*q, random_matrix(k, n, 2, true));
  Tensor<float, 1> bias_h({n});
  const auto b = to_device(*q, bias_h);
  Tensor<float, 2, S> c({m, n});
  Tensor<std::byte, 1, S> ws({static_cast<index_t>(lt_workspace_bytes)});
  const LtMatmul mm(handle.h, m, k, n, false, b.data(), CUBLASLT_EPILOGUE_RELU_BIAS, lt_workspace_bytes);
  if (!mm.error().empty()) {
    state.SkipWithError(mm.error().c_str());
    return;
  }
  const auto call = [&] { return mm.run(w.data(), a.data(), c.data(), ws.data(), lt_workspace_bytes, q->stream()); };
  if (const auto st = call(); st != CUBLAS_STATUS_SUCCESS) {
    state.SkipWithError(lt_error("cublasLtMatmul", st).c_str());
    return;
  }
  q->wait();
  for (auto _ : state) {
    call();
    q->wait();
  }
  set_gemm_counters(state, m, k, n);
}
BENCHMARK(BM_device_cublaslt_gemm)->Apply(gemm_peer_shapes);
#endif

// ---- GNN blocks and models on the device (the configurations and inputs of bench_gnn.cpp, gnn_cases.hpp) ----
// The weights are uploaded once (DeviceResident); inputs, outputs and workspace live on the device. The
// PyTorch peer on the same GPU: bench/peers/torch_gnn_ops.py --device cuda (edgeconv_block, particlenet,
// gravnet_block, gravnet_model).

namespace gc = portml_bench::gnn;
namespace L = portml::layers;

Tensor<std::byte, 1, S> device_workspace(std::size_t bytes) {
  return Tensor<std::byte, 1, S>({static_cast<index_t>(std::max<std::size_t>(bytes, 1))});
}

//! EdgeConv block, F = 16 -> 64 -> 64, k = 16, kNN in the input features: args (events, points per event).
void BM_device_edgeconv_block(benchmark::State& state) {
  auto q = device_queue(state);
  if (!q) return;
  const index_t events = state.range(0), per = state.range(1), n = events * per;
  const L::EdgeConvBlock<float> host(gc::edgeconv_block_config(), 16);
  const L::DeviceEdgeConvBlock<G, float> block(*q, host);
  const auto x = to_device(*q, gc::normal_points(n, 16, gc::edgeconv_seed));
  const auto off = to_device(*q, gc::even_offsets(events, per));
  Tensor<float, 2, S> y({n, host.output_size()});
  auto ws = device_workspace(block.workspace_bytes(n, events));
  const std::span<std::byte> wspan(ws.data(), static_cast<std::size_t>(ws.extent(0)));
  for (auto _ : state) {
    L::edgeconv_block<G, float>(*q, block, x.view(), x.view(), off.view(), y.view(), wspan);
    q->wait();
  }
  state.SetItemsProcessed(state.iterations() * events);
}
BENCHMARK(BM_device_edgeconv_block)
    ->ArgNames({"events", "points"})
    ->Args({1000, 50})
    ->Args({1, 1000})
    ->Args({1, 10000})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

//! The ParticleNet-like model (2-D points, 16 features, 64/128/256 x 3, k = 16): args (events, points per event).
void BM_device_particlenet(benchmark::State& state) {
  auto q = device_queue(state);
  if (!q) return;
  const index_t events = state.range(0), per = state.range(1), n = events * per;
  const L::ParticleNet<float> host(gc::particlenet_config());
  const L::DeviceParticleNet<G, float> model(*q, host);
  const auto pts = to_device(*q, gc::normal_points(n, 2, gc::particlenet_points_seed));
  const auto x = to_device(*q, gc::normal_points(n, 16, gc::particlenet_features_seed));
  const auto off = to_device(*q, gc::even_offsets(events, per));
  Tensor<float, 2, S> y({events, host.output_size()});
  auto ws = device_workspace(model.workspace_bytes(n, events));
  const std::span<std::byte> wspan(ws.data(), static_cast<std::size_t>(ws.extent(0)));
  for (auto _ : state) {
    model.forward(*q, portml::TensorView<const float, 2, S>(pts.view()),
                  portml::TensorView<const float, 2, S>(x.view()), portml::TensorView<const Index, 1, S>(off.view()),
                  y.view(), wspan);
    q->wait();
  }
  state.SetItemsProcessed(state.iterations() * events);
}
BENCHMARK(BM_device_particlenet)
    ->ArgNames({"events", "points"})
    ->Args({200, 50})
    ->Args({1, 50})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

//! GravNet block, F = 64, S = 4, P = 32, k = 16, PyG convention: args (events, points per event).
void BM_device_gravnet_block(benchmark::State& state) {
  auto q = device_queue(state);
  if (!q) return;
  const index_t events = state.range(0), per = state.range(1), n = events * per;
  const L::GravNetBlock<float> host(gc::gravnet_block_config(), 64);
  const L::DeviceGravNetBlock<G, float> block(*q, host);
  const auto x = to_device(*q, gc::normal_points(n, 64, gc::gravnet_block_seed));
  const auto off = to_device(*q, gc::even_offsets(events, per));
  Tensor<float, 2, S> y({n, host.output_size()});
  auto ws = device_workspace(block.workspace_bytes(n, events));
  const std::span<std::byte> wspan(ws.data(), static_cast<std::size_t>(ws.extent(0)));
  for (auto _ : state) {
    L::gravnet_block<G, float>(*q, block, x.view(), off.view(), y.view(), wspan);
    q->wait();
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_device_gravnet_block)
    ->ArgNames({"events", "points"})
    ->Args({1, 10000})
    ->Args({1000, 50})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

//! The GravNet model (two blocks + head, 16 features): args (events, points per event).
void BM_device_gravnet_model(benchmark::State& state) {
  auto q = device_queue(state);
  if (!q) return;
  const index_t events = state.range(0), per = state.range(1), n = events * per;
  const L::GravNetModel<float> host(gc::gravnet_model_config());
  const L::DeviceGravNetModel<G, float> model(*q, host);
  const auto x = to_device(*q, gc::normal_points(n, 16, gc::gravnet_model_seed));
  const auto off = to_device(*q, gc::even_offsets(events, per));
  Tensor<float, 2, S> y({n, host.output_size()});
  auto ws = device_workspace(model.workspace_bytes(n, events));
  const std::span<std::byte> wspan(ws.data(), static_cast<std::size_t>(ws.extent(0)));
  for (auto _ : state) {
    model.forward(*q, portml::TensorView<const float, 2, S>(x.view()),
                  portml::TensorView<const Index, 1, S>(off.view()), y.view(), wspan);
    q->wait();
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_device_gravnet_model)
    ->ArgNames({"events", "points"})
    ->Args({1000, 50})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
