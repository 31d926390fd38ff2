// SPDX-License-Identifier: Apache-2.0
// BDT evaluation against XGBoost's own C API predictor and a GBRForest-style walk, in one run, on the
// models (a)-(d) of docs/bdt.md (XGBoost 1.7 JSON made by bench/make_bdt_models.py; directory from
// $PORTML_BDT_MODELS, default <build>/bdt-models). Items are rows; time per row = 1 / items_per_second.
// Before timing, portml's margins are checked bit for bit against XGBoost's on the first 1000 rows.
// With CUDA or HIP compiled in, the device kernel (bdt/device_forest.hpp) runs at batch 1, 1024 and 65536
// three ways: portml_<gpu> (copy the rows in, evaluate, copy the margins out, wait), portml_<gpu>_kernel
// (rows and margins resident on the device: launch and wait) and portml_<gpu>_transfer (the two copies and
// the wait only), and with data resident each kernel forced: portml_<gpu>_kernel_rows (row-parallel) and
// portml_<gpu>_kernel_trees (tree-parallel); its margins are checked bit for bit against the host path first. Without a
// device those cases skip with the reason.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <portml/bdt/device_forest.hpp>
#include <portml/bdt/forest.hpp>
#include <portml/bdt/predict.hpp>
#include <portml/io/forest_loaders.hpp>
#include <portml/io/format.hpp>
#include <portml/portability/all.hpp>

#if PORTML_BENCH_HAVE_XGBOOST
#include <xgboost/c_api.h>
#endif

namespace {

using portml::index_t;

struct ModelSpec {
  const char* name;
  const char* file;
  index_t features;
  double nan_fraction;
};

constexpr ModelSpec model_specs[] = {{"a_trigger", "a_trigger.json.gz", 20, 0.0},
                                     {"b_large", "b_large.json.gz", 50, 0.0},
                                     {"c_multi", "c_multi.json.gz", 30, 0.0},
                                     {"d_nan", "d_nan.json.gz", 40, 0.05}};

constexpr index_t pool_rows = 100000;

//! CMSSW GBRForest-style reference walk: per-forest SoA nodes, child picked with a mask, leaves as
//! non-positive indices. XGBoost's "left iff x < t" becomes "right iff x > nextafter(t, -inf)";
//! like GBRForest it has no missing-value handling (a NaN goes left).
class GbrStyleWalk {
 public:
  explicit GbrStyleWalk(const portml::bdt::ForestConfig& c) : outputs_(c.num_outputs) {
    for (const double b : c.base_margin) base_.push_back(static_cast<float>(b));
    for (const auto& t : c.trees) {
      root_.push_back(static_cast<int>(cut_index_.size()));
      output_.push_back(t.output);
      if (t.left[0] < 0) {  // a lone leaf: one node whose children are both that leaf
        const int leaf = -static_cast<int>(response_.size());
        response_.push_back(static_cast<float>(t.value[0]));
        cut_index_.push_back(0);
        cut_.push_back(0);
        left_.push_back(leaf);
        right_.push_back(leaf);
        continue;
      }
      std::vector<int> id(t.left.size(), 0);
      std::vector<int> order, stack{0};
      while (!stack.empty()) {
        const int n = stack.back();
        stack.pop_back();
        if (t.left[n] < 0) continue;
        id[n] = static_cast<int>(cut_index_.size() + order.size());
        order.push_back(n);
        stack.push_back(t.right[n]);
        stack.push_back(t.left[n]);
      }
      const std::size_t base = cut_index_.size();
      for (const int n : order) {
        cut_index_.push_back(t.feature[n]);
        cut_.push_back(std::nextafter(static_cast<float>(t.threshold[n]), -INFINITY));
        left_.push_back(0);
        right_.push_back(0);
      }
      for (std::size_t k = 0; k < order.size(); ++k) {
        for (int side = 0; side < 2; ++side) {
          const int child = side != 0 ? t.right[order[k]] : t.left[order[k]];
          int v = id[child];
          if (t.left[child] < 0) {
            v = -static_cast<int>(response_.size());
            response_.push_back(static_cast<float>(t.value[child]));
          }
          (side != 0 ? right_ : left_)[base + k] = v;
        }
      }
    }
  }
  void predict(const float* x, index_t rows, index_t nf, float* out) const {
    for (index_t r = 0; r < rows; ++r) {
      const float* xr = x + r * nf;
      float* o = out + r * outputs_;
      for (int g = 0; g < outputs_; ++g) o[g] = base_[g];
      for (std::size_t t = 0; t < root_.size(); ++t) {
        int index = root_[t];
        do {
          const unsigned m = xr[cut_index_[index]] > cut_[index] ? ~0u : 0u;
          index =
              static_cast<int>((m & static_cast<unsigned>(right_[index])) | (~m & static_cast<unsigned>(left_[index])));
        } while (index > 0);
        o[output_[t]] += response_[-index];
      }
    }
  }

 private:
  int outputs_;
  std::vector<float> base_;
  std::vector<int> root_, output_, cut_index_, left_, right_;
  std::vector<float> cut_, response_;
};

struct Model {
  std::string error;  // non-empty: skip with this message
  std::unique_ptr<portml::bdt::Forest<float>> forest;
  std::unique_ptr<GbrStyleWalk> gbr;
  std::vector<float> x;  // pool_rows x features
  index_t features = 0;
#if PORTML_BENCH_HAVE_XGBOOST
  BoosterHandle xgb = nullptr;
#endif
};

std::string model_dir() {
  const char* env = std::getenv("PORTML_BDT_MODELS");
  return env != nullptr ? env : PORTML_BDT_DEFAULT_MODELS;
}

#if PORTML_BENCH_HAVE_XGBOOST
const char* const xgb_config =
    R"({"type": 1, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false,)"
    R"( "cache_id": 0, "missing": NaN})";

const float* xgb_predict(BoosterHandle h, const float* x, index_t rows, index_t nf) {
  char array[256];
  std::snprintf(array, sizeof array, R"({"data": [%lu, true], "shape": [%ld, %ld], "typestr": "<f4", "version": 3})",
                static_cast<unsigned long>(reinterpret_cast<std::uintptr_t>(x)), static_cast<long>(rows),
                static_cast<long>(nf));
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* result = nullptr;
  if (XGBoosterPredictFromDense(h, array, xgb_config, nullptr, &shape, &dim, &result) != 0) {
    throw std::runtime_error(XGBGetLastError());
  }
  return result;
}
#endif

Model& model(int which) {
  static std::map<int, Model> cache;
  auto it = cache.find(which);
  if (it != cache.end()) return it->second;
  Model& m = cache[which];
  const ModelSpec& spec = model_specs[which];
  m.features = spec.features;
  const std::string path = model_dir() + "/" + spec.file;
  try {
    const std::string text = portml::io::read_file(path);
    const portml::bdt::ForestConfig config = portml::io::parse_xgboost_json(text, path);
    m.forest = std::make_unique<portml::bdt::Forest<float>>(config);
    m.gbr = std::make_unique<GbrStyleWalk>(config);
    std::mt19937 rng(17);
    std::normal_distribution<float> normal(0, 1.5f);
    std::uniform_real_distribution<double> u(0, 1);
    m.x.resize(static_cast<std::size_t>(pool_rows * spec.features));
    for (float& v : m.x) v = u(rng) < spec.nan_fraction ? NAN : normal(rng);
#if PORTML_BENCH_HAVE_XGBOOST
    if (XGBoosterCreate(nullptr, 0, &m.xgb) != 0 ||
        XGBoosterLoadModelFromBuffer(m.xgb, text.data(), static_cast<bst_ulong>(text.size())) != 0 ||
        XGBoosterSetParam(m.xgb, "nthread", "1") != 0) {
      throw std::runtime_error(std::string("XGBoost: ") + XGBGetLastError());
    }
    const index_t check = 1000, k = m.forest->num_outputs();
    const float* want = xgb_predict(m.xgb, m.x.data(), check, spec.features);
    std::vector<float> got(static_cast<std::size_t>(check * k));
    portml::bdt::predict_margins(*m.forest, portml::TensorView<const float, 2>(m.x.data(), {check, spec.features}),
                                 portml::TensorView<float, 2>(got.data(), {check, k}));
    if (std::memcmp(got.data(), want, got.size() * sizeof(float)) != 0) {
      throw std::runtime_error("portml margins differ from XGBoost's");
    }
#endif
  } catch (const std::exception& e) {
    m.error = std::string(e.what()) + " (make the models with: /usr/bin/python3 bench/make_bdt_models.py " +
              model_dir() + ")";
  }
  return m;
}

enum class Impl { portml, portml_scalar, portml_openmp, gbr_walk, xgboost };

void BM_bdt(benchmark::State& state, int which, Impl impl) {
  Model& m = model(which);
  if (!m.error.empty()) {
    state.SkipWithError(m.error.c_str());
    return;
  }
  const index_t batch = state.range(0), nf = m.features, k = m.forest->num_outputs();
  const index_t slices = pool_rows / batch;
  std::vector<float> out(static_cast<std::size_t>(batch * k));
  const int threads = static_cast<int>(state.range(1));
  portml::Queue<portml::backend::OpenMP> q(threads);
#if PORTML_BENCH_HAVE_XGBOOST
  if (impl == Impl::xgboost) XGBoosterSetParam(m.xgb, "nthread", std::to_string(threads).c_str());
#endif
  index_t s = 0;
  for (auto _ : state) {
    const float* x = m.x.data() + (s % slices) * batch * nf;
    ++s;
    switch (impl) {
      case Impl::portml:
        if (batch == 1) {
          portml::bdt::predict_margins_row(*m.forest, std::span<const float>(x, nf), std::span<float>(out));
        } else {
          portml::bdt::predict_margins(*m.forest, portml::TensorView<const float, 2>(x, {batch, nf}),
                                       portml::TensorView<float, 2>(out.data(), {batch, k}));
        }
        break;
      case Impl::portml_scalar:
        portml::bdt::predict_margins(*m.forest, portml::TensorView<const float, 2>(x, {batch, nf}),
                                     portml::TensorView<float, 2>(out.data(), {batch, k}), portml::Isa::scalar);
        break;
      case Impl::portml_openmp:
        portml::bdt::predict_margins(q, *m.forest, portml::TensorView<const float, 2>(x, {batch, nf}),
                                     portml::TensorView<float, 2>(out.data(), {batch, k}));
        break;
      case Impl::gbr_walk:
        m.gbr->predict(x, batch, nf, out.data());
        break;
      case Impl::xgboost:
#if PORTML_BENCH_HAVE_XGBOOST
        benchmark::DoNotOptimize(xgb_predict(m.xgb, x, batch, nf));
#endif
        break;
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["ns_per_row"] = benchmark::Counter(static_cast<double>(state.iterations() * batch),
                                                    benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

#if PORTML_ENABLE_CUDA || PORTML_ENABLE_HIP
#if PORTML_ENABLE_CUDA
using Gpu = portml::backend::Cuda;
#else
using Gpu = portml::backend::Hip;
#endif

enum class DeviceTiming { end_to_end, kernel, transfer };

void BM_bdt_device(benchmark::State& state, int which, DeviceTiming timing, portml::bdt::DeviceKernel kernel) {
  Model& m = model(which);
  if (!m.error.empty()) {
    state.SkipWithError(m.error.c_str());
    return;
  }
  std::string reason;
  if (portml::device_count<Gpu>(&reason) == 0) {
    state.SkipWithError(("no " + std::string(Gpu::name) + " device: " + reason).c_str());
    return;
  }
  using S = portml::memory_space_t<Gpu>;
  portml::Queue<Gpu> q(0);
  const portml::bdt::DeviceForest<float, Gpu> forest(q, *m.forest);
  const index_t batch = state.range(0), nf = m.features, k = m.forest->num_outputs();
  const index_t slices = pool_rows / batch;
  portml::Tensor<float, 2, S> dx({batch, nf});
  portml::Tensor<float, 2, S> dout({batch, k});
  std::vector<float> out(static_cast<std::size_t>(batch * k)), want(out.size());
  {  // the device's margins are the host's, bit for bit
    const portml::TensorView<const float, 2> x(m.x.data(), {batch, nf});
    portml::deep_copy(q, dx.view(), x);
    portml::bdt::predict_margins(q, forest, dx.view(), dout.view(), portml::bdt::NodeStaging::automatic, kernel);
    portml::deep_copy(q, portml::TensorView<float, 2>(out.data(), {batch, k}),
                      portml::TensorView<const float, 2, S>(dout.view()));
    q.wait();
    portml::bdt::predict_margins(*m.forest, x, portml::TensorView<float, 2>(want.data(), {batch, k}));
    if (std::memcmp(out.data(), want.data(), out.size() * sizeof(float)) != 0) {
      state.SkipWithError("device margins differ from the host's");
      return;
    }
  }
  index_t s = 0;
  for (auto _ : state) {
    const float* x = m.x.data() + (s % slices) * batch * nf;
    ++s;
    if (timing != DeviceTiming::kernel) {
      portml::deep_copy(q, dx.view(), portml::TensorView<const float, 2>(x, {batch, nf}));
    }
    if (timing != DeviceTiming::transfer) {
      portml::bdt::predict_margins(q, forest, dx.view(), dout.view(), portml::bdt::NodeStaging::automatic, kernel);
    }
    if (timing != DeviceTiming::kernel) {
      portml::deep_copy(q, portml::TensorView<float, 2>(out.data(), {batch, k}),
                        portml::TensorView<const float, 2, S>(dout.view()));
    }
    q.wait();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["ns_per_row"] = benchmark::Counter(static_cast<double>(state.iterations() * batch),
                                                    benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["staged"] = forest.staged_bytes() <= portml::bdt::device_scratch_budget ? 1 : 0;
  state.counters["tree_parallel"] =
      kernel == portml::bdt::DeviceKernel::tree_parallel ||
              (kernel == portml::bdt::DeviceKernel::automatic && batch <= portml::bdt::device_tree_parallel_max_rows)
          ? 1
          : 0;
}

void register_device(int which) {
  const struct {
    DeviceTiming timing;
    const char* suffix;
  } timings[] = {
      {DeviceTiming::end_to_end, ""}, {DeviceTiming::kernel, "_kernel"}, {DeviceTiming::transfer, "_transfer"}};
  for (const auto& [timing, suffix] : timings) {
    const std::string label = std::string("BM_bdt/") + model_specs[which].name + "/portml_" + Gpu::name + suffix;
    auto* b =
        benchmark::RegisterBenchmark(label.c_str(), BM_bdt_device, which, timing, portml::bdt::DeviceKernel::automatic);
    b->ArgNames({"batch", "threads"})->Unit(benchmark::kMicrosecond)->UseRealTime();
    for (const index_t batch : {1, 1024, 65536}) b->Args({batch, 1});
  }
  // Each kernel forced (data resident on the device), for the automatic choice's rule (docs/bdt.md).
  const struct {
    portml::bdt::DeviceKernel kernel;
    const char* suffix;
  } kernels[] = {{portml::bdt::DeviceKernel::row_parallel, "_kernel_rows"},
                 {portml::bdt::DeviceKernel::tree_parallel, "_kernel_trees"}};
  for (const auto& [kernel, suffix] : kernels) {
    const std::string label = std::string("BM_bdt/") + model_specs[which].name + "/portml_" + Gpu::name + suffix;
    auto* b = benchmark::RegisterBenchmark(label.c_str(), BM_bdt_device, which, DeviceTiming::kernel, kernel);
    b->ArgNames({"batch", "threads"})->Unit(benchmark::kMicrosecond)->UseRealTime();
    for (const index_t batch : {1, 1024, 65536}) b->Args({batch, 1});
  }
}
#endif

bool register_all() {
#if PORTML_BENCH_HAVE_XGBOOST
  // The XGBoost actually loaded (LD_PRELOAD of another libxgboost.so, e.g. a 3.x wheel's, replaces it).
  int major = 0, minor = 0, patch = 0;
  XGBoostVersion(&major, &minor, &patch);
  benchmark::AddCustomContext("xgboost_version",
                              std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch));
#endif
  struct ImplName {
    Impl impl;
    const char* name;
  };
  std::vector<ImplName> impls{
      {Impl::portml, "portml"}, {Impl::portml_scalar, "portml_scalar"}, {Impl::gbr_walk, "gbr_walk"}};
#if PORTML_BENCH_HAVE_XGBOOST
  impls.push_back({Impl::xgboost, "xgboost_c_api"});
#endif
  for (int which = 0; which < 4; ++which) {
    for (const auto& [impl, name] : impls) {
      const std::string label = std::string("BM_bdt/") + model_specs[which].name + "/" + name;
      auto* b = benchmark::RegisterBenchmark(label.c_str(), BM_bdt, which, impl);
      b->ArgNames({"batch", "threads"})->Unit(benchmark::kMicrosecond);
      for (const index_t batch : {1, 32, 1024, 100000}) b->Args({batch, 1});
    }
    const std::string label = std::string("BM_bdt/") + model_specs[which].name + "/portml_openmp";
    auto* b = benchmark::RegisterBenchmark(label.c_str(), BM_bdt, which, Impl::portml_openmp);
    b->ArgNames({"batch", "threads"})->Unit(benchmark::kMicrosecond)->Args({100000, 2});
#if PORTML_ENABLE_CUDA || PORTML_ENABLE_HIP
    register_device(which);
#endif
#if PORTML_BENCH_HAVE_XGBOOST
    const std::string xlabel = std::string("BM_bdt/") + model_specs[which].name + "/xgboost_c_api";
    benchmark::RegisterBenchmark(xlabel.c_str(), BM_bdt, which, Impl::xgboost)
        ->ArgNames({"batch", "threads"})
        ->Unit(benchmark::kMicrosecond)
        ->Args({100000, 2});
#endif
  }
  return true;
}

const bool registered = register_all();

}  // namespace
