// SPDX-License-Identifier: Apache-2.0
// Dense layers / MLPs, one thread, against the peers installed here (each compiled in only when CMake
// found it): Eigen per row as lwtnn does it (float, double) and Eigen batch GEMM, OpenBLAS sgemm plus a
// bias/ReLU pass, oneDNN matmul with prepacked weights and fused bias+ReLU. An FMA-throughput kernel in
// the same executable measures this machine's FP32 peak. Counters: s_per_row (inverted rate), FLOP/s.
// The libtorch peer (libtorch_f32/<net>/<batch>, bench/peers/libtorch_dense.cpp) is compiled in when
// CMake finds libtorch; nets, weights and inputs are shared through dense_cases.hpp. In a build with
// PORTML_ENABLE_OPENBLAS, portml_openblas_f32/<net>/<batch> runs the same Mlp through the OpenBLAS provider
// (GemmProvider::openblas; run with OPENBLAS_NUM_THREADS=1, else it is refused and the rows report that error),
// and portml_openblas_panels_f32 the same without the row-major weight copy (one cblas call per panel).
// Run and summarise: bench/dense_report.sh (see docs/dense.md).
#include <benchmark/benchmark.h>

#include <cstring>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <portml/kernels/gemm.hpp>
#include <portml/layers/mlp.hpp>
#include <portml/portability/serial.hpp>
#if PORTML_ENABLE_OPENMP
#include <portml/portability/openmp.hpp>
#endif

#if PORTML_BENCH_HAVE_EIGEN
#include <Eigen/Dense>
#endif
#if PORTML_BENCH_HAVE_OPENBLAS
#include <cblas.h>
extern "C" void openblas_set_num_threads(int);
extern "C" char* openblas_get_corename(void);
#endif
#if PORTML_BENCH_HAVE_DNNL
#include <oneapi/dnnl/dnnl.hpp>
#endif

#include "dense_cases.hpp"

namespace {

using namespace portml_bench::dense;

//! False, with the case skipped, when this CPU or build cannot run the microkernels of `isa`.
bool runs_isa(benchmark::State& state, portml::Isa isa) {
  if (portml::isa_available(isa)) return true;
  state.SkipWithError((std::string("no ") + portml::to_string(isa)).c_str());
  return false;
}

// ---- portml ----------------------------------------------------------------------------------------
//! `I`: the microkernel family (Automatic: the widest this CPU runs; Avx2: what a CPU without AVX-512 runs).
template <class T, int Threads = 1, portml::Isa I = portml::Isa::automatic>
void BM_portml(benchmark::State& state, const Net& net) {
  if (!runs_isa(state, I)) return;
  const portml::kernels::GemmConfig cfg{.isa = I};
  const index_t batch = state.range(0);
  const portml::layers::Mlp<T> model(mlp_config(net));
  auto x = input<T>(batch, net.widths.front());
  std::vector<T> y(std::size_t(batch * net.widths.back()));
  std::vector<std::byte> ws(model.workspace_bytes(batch, Threads) + 64);  // a row block per thread
  const portml::TensorView<const T, 2> xv(x.data(), {batch, net.widths.front()});
  const portml::TensorView<T, 2> yv(y.data(), {batch, net.widths.back()});
  const auto run = [&](auto& q) {
    for (auto _ : state) {
      model.forward(q, xv, yv, ws, cfg);
      benchmark::DoNotOptimize(y.data());
      benchmark::ClobberMemory();
    }
  };
  if constexpr (Threads == 1) {
    portml::Queue<portml::backend::Serial> q;
    run(q);
  } else {
#if PORTML_ENABLE_OPENMP
    portml::Queue<portml::backend::OpenMP> q(Threads);
    run(q);
#endif
  }
  state.SetLabel(std::string("isa=") + portml::to_string(portml::kernels::resolve_isa(I)) +
                 " threads=" + std::to_string(Threads));
  set_counters(state, net, batch);
}

#if PORTML_ENABLE_OPENBLAS
// ---- portml's Mlp with the OpenBLAS provider: cblas_sgemm (cblas_sgemv at batch 1), then portml's epilogue ----
// `built_for`: GemmProvider::openblas keeps each layer's W row-major (one cblas call per layer, what a model built
// for OpenBLAS does); GemmProvider::portml leaves only the packed panels (one cblas call per 32-column panel).
void BM_portml_openblas(benchmark::State& state, const Net& net, portml::kernels::GemmProvider built_for) {
  const index_t batch = state.range(0);
  const portml::layers::Mlp<float> model(mlp_config(net), built_for);
  auto x = input<float>(batch, net.widths.front());
  std::vector<float> y(std::size_t(batch * net.widths.back()));
  std::vector<std::byte> ws(model.workspace_bytes(batch) + 64);
  const portml::TensorView<const float, 2> xv(x.data(), {batch, net.widths.front()});
  const portml::TensorView<float, 2> yv(y.data(), {batch, net.widths.back()});
  portml::Queue<portml::backend::Serial> q;
  const portml::kernels::GemmConfig cfg{.provider = portml::kernels::GemmProvider::openblas};
  try {
    model.forward(q, xv, yv, ws, cfg);
  } catch (const portml::NotSupported& e) {
    state.SkipWithError(e.what());
    return;
  }
  for (auto _ : state) {
    model.forward(q, xv, yv, ws, cfg);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetLabel(std::string("openblas 0.3.21 core=") + openblas_get_corename() +
                 " threads=" + std::to_string(openblas_get_num_threads()) +
                 (built_for == portml::kernels::GemmProvider::openblas ? " W row-major" : " W panels"));
  set_counters(state, net, batch);
}
#endif

#if PORTML_BENCH_HAVE_EIGEN
// ---- Eigen, per row, as lwtnn (a GEMV, then a bias layer, then an activation layer; new vectors) ----
template <class T>
void BM_eigen_rowwise(benchmark::State& state, const Net& net) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
  using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;
  Eigen::setNbThreads(1);
  const index_t batch = state.range(0);
  const Params p(net);
  std::vector<Mat> w;
  std::vector<Vec> b;
  for (std::size_t l = 0; l + 1 < net.widths.size(); ++l) {
    Mat m(net.widths[l + 1], net.widths[l]);
    for (index_t o = 0; o < m.rows(); ++o)
      for (index_t i = 0; i < m.cols(); ++i) m(o, i) = T(p.w[l][std::size_t(o * m.cols() + i)]);
    w.push_back(m);
    Vec v(net.widths[l + 1]);
    for (index_t o = 0; o < v.size(); ++o) v(o) = T(p.b[l][std::size_t(o)]);
    b.push_back(v);
  }
  const auto x = input<T>(batch, net.widths.front());
  std::vector<T> y(std::size_t(batch * net.widths.back()));
  for (auto _ : state) {
    for (index_t r = 0; r < batch; ++r) {
      Vec v = Eigen::Map<const Vec>(x.data() + r * net.widths.front(), net.widths.front());
      for (std::size_t l = 0; l < w.size(); ++l) {
        Vec z = w[l] * v;
        Vec zb = z + b[l];
        v = l + 1 < w.size() ? Vec(zb.cwiseMax(T(0))) : zb;
      }
      std::memcpy(y.data() + r * net.widths.back(), v.data(), sizeof(T) * std::size_t(v.size()));
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetLabel("eigen " + std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) + "." +
                 std::to_string(EIGEN_MINOR_VERSION) + " threads=1");
  set_counters(state, net, batch);
}

// ---- Eigen batch GEMM, then bias and ReLU ------------------------------------------------------------
void BM_eigen_gemm(benchmark::State& state, const Net& net) {
  using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::setNbThreads(1);
  const index_t batch = state.range(0);
  const Params p(net);
  std::vector<Mat> wt, act;
  std::vector<Eigen::RowVectorXf> b;
  for (std::size_t l = 0; l + 1 < net.widths.size(); ++l) {
    Mat m(net.widths[l], net.widths[l + 1]);
    for (index_t o = 0; o < m.cols(); ++o)
      for (index_t i = 0; i < m.rows(); ++i) m(i, o) = float(p.w[l][std::size_t(o * m.rows() + i)]);
    wt.push_back(m);
    Eigen::RowVectorXf v(net.widths[l + 1]);
    for (index_t o = 0; o < v.size(); ++o) v(o) = float(p.b[l][std::size_t(o)]);
    b.push_back(v);
    act.emplace_back(batch, net.widths[l + 1]);
  }
  const auto xs = input<float>(batch, net.widths.front());
  const Eigen::Map<const Mat> x(xs.data(), batch, net.widths.front());
  for (auto _ : state) {
    for (std::size_t l = 0; l < wt.size(); ++l) {
      if (l == 0) {
        act[l].noalias() = x * wt[l];
      } else {
        act[l].noalias() = act[l - 1] * wt[l];
      }
      act[l].rowwise() += b[l];
      if (l + 1 < wt.size()) act[l] = act[l].cwiseMax(0.0f);
    }
    benchmark::DoNotOptimize(act.back().data());
    benchmark::ClobberMemory();
  }
  state.SetLabel("eigen threads=1");
  set_counters(state, net, batch);
}
#endif

#if PORTML_BENCH_HAVE_OPENBLAS
// ---- OpenBLAS sgemm, then a bias + ReLU pass ---------------------------------------------------------
void BM_openblas(benchmark::State& state, const Net& net) {
  openblas_set_num_threads(1);
  const index_t batch = state.range(0);
  const Params p(net);
  std::vector<std::vector<float>> w, b, act;
  for (std::size_t l = 0; l + 1 < net.widths.size(); ++l) {
    w.emplace_back(p.w[l].begin(), p.w[l].end());  // out × in row-major = Wᵀ for C = X · Wᵀ
    b.emplace_back(p.b[l].begin(), p.b[l].end());
    act.emplace_back(std::size_t(batch * net.widths[l + 1]));
  }
  const auto x = input<float>(batch, net.widths.front());
  for (auto _ : state) {
    const float* in = x.data();
    for (std::size_t l = 0; l < w.size(); ++l) {
      const int k = int(net.widths[l]), n = int(net.widths[l + 1]);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(batch), n, k, 1.0f, in, k, w[l].data(), k, 0.0f,
                  act[l].data(), n);
      float* c = act[l].data();
      const bool relu = l + 1 < w.size();
      for (index_t r = 0; r < batch; ++r)
        for (int j = 0; j < n; ++j) {
          const float v = c[r * n + j] + b[l][std::size_t(j)];
          c[r * n + j] = relu && v < 0.0f ? 0.0f : v;
        }
      in = c;
    }
    benchmark::DoNotOptimize(act.back().data());
    benchmark::ClobberMemory();
  }
  state.SetLabel(std::string("openblas 0.3.21 core=") + openblas_get_corename() + " threads=1");
  set_counters(state, net, batch);
}
#endif

#if PORTML_BENCH_HAVE_DNNL
// ---- oneDNN matmul: weights reordered once to the primitive's layout, bias and ReLU fused ------------
void BM_onednn(benchmark::State& state, const Net& net) {
  using namespace dnnl;
  const index_t batch = state.range(0);
  const Params p(net);
  engine eng(engine::kind::cpu, 0);
  stream s(eng);
  struct Layer {
    matmul prim;
    memory w, b, dst;
  };
  std::vector<Layer> layers;
  const auto x = input<float>(batch, net.widths.front());
  memory src({{batch, net.widths.front()}, memory::data_type::f32, memory::format_tag::ab}, eng,
             const_cast<float*>(x.data()));
  memory cur = src;
  for (std::size_t l = 0; l + 1 < net.widths.size(); ++l) {
    const index_t k = net.widths[l], n = net.widths[l + 1];
    memory::desc src_md({batch, k}, memory::data_type::f32, memory::format_tag::ab);
    memory::desc w_any({k, n}, memory::data_type::f32, memory::format_tag::any);
    memory::desc w_plain({k, n}, memory::data_type::f32, memory::format_tag::ba);  // out × in row-major = Wᵀ
    memory::desc b_md({1, n}, memory::data_type::f32, memory::format_tag::ab);
    memory::desc dst_md({batch, n}, memory::data_type::f32, memory::format_tag::ab);
    post_ops ops;
    if (l + 2 < net.widths.size()) ops.append_eltwise(1.0f, algorithm::eltwise_relu, 0.0f, 0.0f);
    primitive_attr attr;
    attr.set_post_ops(ops);
    matmul::primitive_desc pd(matmul::desc(src_md, w_any, b_md, dst_md), attr, eng);
    std::vector<float> wf(p.w[l].begin(), p.w[l].end());
    memory w_user(w_plain, eng, wf.data());
    memory w_packed(pd.weights_desc(), eng);
    reorder(w_user, w_packed).execute(s, w_user, w_packed);
    memory b_mem(b_md, eng);
    float* bp = static_cast<float*>(b_mem.get_data_handle());
    for (index_t j = 0; j < n; ++j) bp[j] = float(p.b[l][std::size_t(j)]);
    memory dst(dst_md, eng);
    layers.push_back({matmul(pd), w_packed, b_mem, dst});
  }
  s.wait();
  for (auto _ : state) {
    memory in = src;
    for (auto& L : layers) {
      L.prim.execute(s, {{DNNL_ARG_SRC, in}, {DNNL_ARG_WEIGHTS, L.w}, {DNNL_ARG_BIAS, L.b}, {DNNL_ARG_DST, L.dst}});
      in = L.dst;
    }
    s.wait();
    benchmark::ClobberMemory();
  }
  const auto* v = dnnl_version();
  state.SetLabel("onednn " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
                 std::to_string(v->patch) + " threads=1 (OMP_NUM_THREADS)");
  set_counters(state, net, batch);
}
#endif

// ---- square GEMM -------------------------------------------------------------------------------------
void set_gemm_counters(benchmark::State& state, index_t n) {
  state.counters["FLOPs"] =
      benchmark::Counter(2.0 * double(n) * double(n) * double(n), benchmark::Counter::kIsIterationInvariantRate);
}

template <portml::Isa I = portml::Isa::automatic>
void BM_square_portml(benchmark::State& state) {
  if (!runs_isa(state, I)) return;
  const portml::kernels::GemmConfig cfg{.isa = I};
  const index_t n = state.range(0);
  const auto a = input<float>(n, n), w = input<float>(n, n);
  std::vector<float> c(std::size_t(n * n));
  const portml::kernels::PackedWeights<float> packed(portml::TensorView<const float, 2>(w.data(), {n, n}));
  portml::Queue<portml::backend::Serial> q;
  for (auto _ : state) {
    portml::kernels::gemm(q, portml::TensorView<const float, 2>(a.data(), {n, n}), packed,
                          portml::TensorView<float, 2>(c.data(), {n, n}), portml::kernels::epilogue::Identity{}, cfg);
    benchmark::DoNotOptimize(c.data());
  }
  state.SetLabel(std::string("isa=") + portml::to_string(portml::kernels::resolve_isa(I)));
  set_gemm_counters(state, n);
}

#if PORTML_BENCH_HAVE_OPENBLAS
void BM_square_openblas(benchmark::State& state) {
  openblas_set_num_threads(1);
  const index_t n = state.range(0);
  const auto a = input<float>(n, n), w = input<float>(n, n);
  std::vector<float> c(std::size_t(n * n));
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(n), int(n), int(n), 1.0f, a.data(), int(n), w.data(),
                int(n), 0.0f, c.data(), int(n));
    benchmark::DoNotOptimize(c.data());
  }
  state.SetLabel(std::string("core=") + openblas_get_corename());
  set_gemm_counters(state, n);
}
#endif

#if PORTML_BENCH_HAVE_DNNL
void BM_square_onednn(benchmark::State& state) {
  const index_t n = state.range(0);
  const auto a = input<float>(n, n), w = input<float>(n, n);
  std::vector<float> c(std::size_t(n * n));
  for (auto _ : state) {
    dnnl_sgemm('N', 'N', n, n, n, 1.0f, a.data(), n, w.data(), n, 0.0f, c.data(), n);
    benchmark::DoNotOptimize(c.data());
  }
  set_gemm_counters(state, n);
}
#endif

// ---- FP32 peak: 24 independent 512-bit FMA chains ------------------------------------------------------
#if PORTML_X86_SIMD
__attribute__((target("avx512f,fma"))) float fma_chains_avx512(long iters) {
  __m512 acc[24];
  PORTML_UNROLL for (int i = 0; i < 24; ++i) acc[i] = _mm512_set1_ps(float(i) * 1e-3f);
  const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
  for (long it = 0; it < iters; ++it) {
    PORTML_UNROLL for (int i = 0; i < 24; ++i) acc[i] = _mm512_fmadd_ps(acc[i], m, a);
  }
  __m512 s = acc[0];
  PORTML_UNROLL for (int i = 1; i < 24; ++i) s = _mm512_add_ps(s, acc[i]);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, s);
  float total = 0;
  for (float v : lanes) total += v;
  return total;
}

// The AVX2 peak (12 independent 256-bit FMA chains in 16 ymm registers): the ceiling of the *_avx2_* cases,
// what a CPU without AVX-512 reaches.
__attribute__((target("avx2,fma"))) float fma_chains_avx2(long iters) {
  __m256 acc[12];
  PORTML_UNROLL for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(float(i) * 1e-3f);
  const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
  for (long it = 0; it < iters; ++it) {
    PORTML_UNROLL for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, a);
  }
  __m256 s = acc[0];
  PORTML_UNROLL for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, acc[i]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, s);
  float total = 0;
  for (float v : lanes) total += v;
  return total;
}

//! The FP32 peak of `isa`: `chains(iters)` runs `flops` floating-point operations per iteration.
void BM_fp32_peak(benchmark::State& state, portml::Isa isa, float (*chains)(long), double flops) {
  if (!runs_isa(state, isa)) return;
  constexpr long iters = 1 << 16;
  volatile long count = iters;  // read each time: the call cannot be hoisted out of the loop
  for (auto _ : state) benchmark::DoNotOptimize(chains(count));
  state.counters["FLOPs"] = benchmark::Counter(double(iters) * flops, benchmark::Counter::kIsIterationInvariantRate);
}
#endif

//! `impl/<net name>/<batch>` for each batch: fn(state, net).
template <class Fn>
void register_net(const std::string& impl, Fn fn, const Net& net, const std::vector<int64_t>& batches) {
  auto* b = benchmark::RegisterBenchmark((impl + "/" + net.name).c_str(), fn, net);
  for (int64_t batch : batches) b->Arg(batch);
}

int register_all() {
#if PORTML_X86_SIMD
  benchmark::RegisterBenchmark("BM_fp32_peak_fma512", BM_fp32_peak, portml::Isa::avx512, fma_chains_avx512,
                               24 * 16 * 2);
  benchmark::RegisterBenchmark("BM_fp32_peak_fma256", BM_fp32_peak, portml::Isa::avx2, fma_chains_avx2, 12 * 8 * 2);
#endif
  for (const Net& net : nets) {
    const auto reg = [&](const std::string& impl, auto fn) { register_net(impl, fn, net, batches_of(net)); };
    reg("portml_f32", BM_portml<float>);
    reg("portml_f64", BM_portml<double>);
    reg("portml_avx2_f32", BM_portml<float, 1, portml::Isa::avx2>);
#if PORTML_ENABLE_OPENBLAS
    reg("portml_openblas_f32",
        [](benchmark::State& s, const Net& n) { BM_portml_openblas(s, n, portml::kernels::GemmProvider::openblas); });
    if (std::string(net.name) == "mlp64" || std::string(net.name) == "deepjet_head") {
      auto* b = benchmark::RegisterBenchmark((std::string("portml_openblas_panels_f32/") + net.name).c_str(),
                                             BM_portml_openblas, net, portml::kernels::GemmProvider::portml);
      for (int64_t batch : {1, 64, 4096}) b->Arg(batch);
    }
#endif
#if PORTML_BENCH_HAVE_EIGEN
    reg("eigen_rowwise_f32", BM_eigen_rowwise<float>);
    reg("eigen_rowwise_f64", BM_eigen_rowwise<double>);
    reg("eigen_gemm_f32", BM_eigen_gemm);
#endif
#if PORTML_BENCH_HAVE_OPENBLAS
    reg("openblas_f32", BM_openblas);
#endif
#if PORTML_BENCH_HAVE_DNNL
    reg("onednn_f32", BM_onednn);
#endif
  }
  // Each layer of the three nets alone, as a one-layer net (the GEMM with its bias fused; no activation,
  // as a net's last layer): portml against oneDNN, to see which layer of a net loses the time.
  // layer_<impl>/<net>.L<l>.<K>x<N>/<batch>.
  static std::deque<std::string> layer_names;  // a Net keeps a pointer to its name
  for (const Net& net : nets) {
    if (std::string(net.name) == "fixed_cost_5x1") continue;
    for (std::size_t l = 0; l + 1 < net.widths.size(); ++l) {
      const std::string& name =
          layer_names.emplace_back(std::string(net.name) + ".L" + std::to_string(l) + "." +
                                   std::to_string(net.widths[l]) + "x" + std::to_string(net.widths[l + 1]));
      const Net layer{name.c_str(), {net.widths[l], net.widths[l + 1]}};  // copied into each registration
      register_net("layer_portml_f32", BM_portml<float>, layer, {8, 256, 4096});
      register_net("layer_portml_avx2_f32", BM_portml<float, 1, portml::Isa::avx2>, layer, {8, 256, 4096});
#if PORTML_BENCH_HAVE_DNNL
      register_net("layer_onednn_f32", BM_onednn, layer, {8, 256, 4096});
#endif
    }
  }
#if PORTML_ENABLE_OPENMP
  // Two threads (Queue<OpenMP>(2)), wall-clock time: compare with onednn_f32 run under OMP_NUM_THREADS=2.
  for (const Net& net : nets) {
    if (!has_two_thread_cases(net)) continue;
    auto* b =
        benchmark::RegisterBenchmark((std::string("portml_f32_2t/") + net.name).c_str(), BM_portml<float, 2>, net);
    for (int64_t batch : two_thread_batches) b->Arg(batch);
    b->UseRealTime();
  }
#endif
  for (auto* b : {
         benchmark::RegisterBenchmark("square_portml_f32", BM_square_portml<>),
             benchmark::RegisterBenchmark("square_portml_avx2_f32", BM_square_portml<portml::Isa::avx2>),
#if PORTML_BENCH_HAVE_OPENBLAS
             benchmark::RegisterBenchmark("square_openblas_f32", BM_square_openblas),
#endif
#if PORTML_BENCH_HAVE_DNNL
             benchmark::RegisterBenchmark("square_onednn_f32", BM_square_onednn),
#endif
       }) {
    b->Arg(256)->Arg(512)->Arg(1024)->Arg(2048)->Unit(benchmark::kMillisecond);
  }
  return 0;
}
const int registered = register_all();

}  // namespace
