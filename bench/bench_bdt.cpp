// SPDX-License-Identifier: Apache-2.0
// BDT evaluation against the trainers' own predictors and compiled peers, in one run, on the models of
// docs/bdt.md made by bench/make_bdt_models.py (directory from $PORTML_BDT_MODELS, default <build>/bdt-models):
// (a)-(d) as XGBoost 1.7 JSON, and lgb_(a)-(c), the same shapes as LightGBM text. Items are rows; time per
// row = 1 / items_per_second. Peers, each on one thread:
//  * xgboost_c_api: XGBoosterPredictFromDense (libxgboost-dev, linked when found at configure time);
//  * lightgbm_c_api: LightGBM's C API from the library named by $PORTML_BENCH_LIGHTGBM_LIB (e.g. the PyPI
//    wheel's lib_lightgbm.so), loaded with dlopen: LGBM_BoosterPredictForMatSingleRowFast at batch 1,
//    LGBM_BoosterPredictForMat otherwise, raw scores, "num_threads=1";
//  * tl2cgen: the libraries bench/peers/make_tl2cgen_libs.py compiles from (a)-(d), loaded with dlopen from
//    $PORTML_BENCH_TL2CGEN_DIR (default <models>/tl2cgen), called per row as tl2cgen's runtime does;
//  * gbr_walk: a CMSSW GBRForest-style walk written here.
// A peer that is not found skips its cases with the reason (and says so in the context). Before timing,
// on the first 1000 rows: portml's margins equal XGBoost's and LightGBM's bit for bit, tl2cgen's are
// compared with portml's (within rounding, see tl2cgen_tolerance).
// portml_qs: QuickScorer (bdt/detail/quickscorer.hpp; forests of depth <= 6): margins_row at batch 1, the
// widest SIMD path (V-QuickScorer) otherwise; portml_qs_scalar: its scalar path at every batch;
// portml_avx2_descent: the AVX2 descent kernel (detail::margins_serial, below the dispatch, which runs
// QuickScorer on AVX2 for depth <= 5); portml_qs_avx2: QuickScorer's AVX2 path (float forests, every batch). Checked
// bit for bit against portml's margins first; a forest it does not take skips with the reason. With CUDA or HIP
// compiled in, the device kernel (bdt/device_forest.hpp) runs at batch 1, 1024, 65536, 10^5 and 10^6 three ways:
// portml_<gpu> (copy the rows in, evaluate, copy the margins out, wait), portml_<gpu>_kernel (rows and margins resident
// on the device: launch and wait) and portml_<gpu>_transfer (the two copies and the wait only), and with data resident
// each kernel forced: portml_<gpu>_kernel_rows (row-parallel) and portml_<gpu>_kernel_trees (tree-parallel), at the
// same batches, and each kernel with its input rows read directly instead of staged in team scratch (the path before
// the staging, InputStaging::direct): portml_<gpu>_kernel_rows_direct_input and portml_<gpu>_kernel_trees_direct_input
// at 65536, 10^5 and 10^6 rows; its margins are checked bit for bit against the host path first. Without a device
// those cases skip with the reason.
#include <benchmark/benchmark.h>

#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <portml/bdt/detail/quickscorer.hpp>
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

enum class Trainer { xgboost, lightgbm };

struct ModelSpec {
  const char* name;
  const char* file;
  index_t features;
  double nan_fraction;
  Trainer trainer;
};

constexpr ModelSpec model_specs[] = {{"a_trigger", "a_trigger.json.gz", 20, 0.0, Trainer::xgboost},
                                     {"b_large", "b_large.json.gz", 50, 0.0, Trainer::xgboost},
                                     {"c_multi", "c_multi.json.gz", 30, 0.0, Trainer::xgboost},
                                     {"d_nan", "d_nan.json.gz", 40, 0.05, Trainer::xgboost},
                                     {"lgb_a_trigger", "lgb_a_trigger.txt.gz", 20, 0.0, Trainer::lightgbm},
                                     {"lgb_b_large", "lgb_b_large.txt.gz", 50, 0.0, Trainer::lightgbm},
                                     {"lgb_c_multi", "lgb_c_multi.txt.gz", 30, 0.0, Trainer::lightgbm}};
constexpr int num_models = static_cast<int>(std::size(model_specs));

constexpr index_t pool_rows = 100000;

//! CMSSW GBRForest-style reference walk: per-forest SoA nodes, child picked with a mask, leaves as
//! non-positive indices. XGBoost's "left iff x < t" becomes "right iff x > nextafter(t, -inf)", LightGBM's
//! "left iff x <= t" "right iff x > (largest float <= t)"; leaves and sums are float; like GBRForest it has no
//! missing-value handling (a NaN goes left).
class GbrStyleWalk {
 public:
  explicit GbrStyleWalk(const portml::bdt::ForestConfig& c) : outputs_(c.num_outputs) {
    const bool less_equal = c.split_rule == portml::bdt::SplitRule::left_if_less_equal;
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
        float cut = static_cast<float>(t.threshold[n]);
        if (!less_equal || static_cast<double>(cut) > t.threshold[n]) {
          cut = std::nextafter(cut, -INFINITY);  // x >= t (XGBoost) or x > t (LightGBM) iff x > cut
        }
        cut_.push_back(cut);
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

std::string model_dir() {
  const char* env = std::getenv("PORTML_BDT_MODELS");
  return env != nullptr ? env : PORTML_BDT_DEFAULT_MODELS;
}

//! A function of a library opened with dlopen, or an error naming the library and the symbol.
template <class F>
F symbol(void* library, const char* name, const std::string& path) {
  void* f = dlsym(library, name);
  if (f == nullptr) throw std::runtime_error(path + ": no symbol " + name);
  return reinterpret_cast<F>(f);
}

//! The few functions of LightGBM's C API (c_api.h of LightGBM 4) the peer calls, from the library named by
//! $PORTML_BENCH_LIGHTGBM_LIB. `error` is non-empty when it is not available.
struct LightGbmApi {
  using Handle = void*;
  static constexpr int dtype_float32 = 0;      // C_API_DTYPE_FLOAT32
  static constexpr int predict_raw_score = 1;  // C_API_PREDICT_RAW_SCORE
  const char* (*last_error)() = nullptr;
  int (*load_from_string)(const char* model, int* out_iterations, Handle* out) = nullptr;
  int (*predict_for_mat)(Handle booster, const void* data, int data_type, std::int32_t rows, std::int32_t cols,
                         int row_major, int predict_type, int start_iteration, int num_iteration, const char* parameter,
                         std::int64_t* out_len, double* out) = nullptr;
  int (*single_row_fast_init)(Handle booster, int predict_type, int start_iteration, int num_iteration, int data_type,
                              std::int32_t cols, const char* parameter, Handle* out_config) = nullptr;
  int (*single_row_fast)(Handle config, const void* row, std::int64_t* out_len, double* out) = nullptr;
  std::string path, error;

  LightGbmApi() {
    const char* env = std::getenv("PORTML_BENCH_LIGHTGBM_LIB");
    if (env == nullptr || *env == '\0') {
      error = "LightGBM peer not run: set PORTML_BENCH_LIGHTGBM_LIB to LightGBM's lib_lightgbm.so";
      return;
    }
    path = env;
    void* library = dlopen(env, RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
      error = "LightGBM peer not run: dlopen(" + path + "): " + dlerror();
      return;
    }
    try {
      last_error = symbol<decltype(last_error)>(library, "LGBM_GetLastError", path);
      load_from_string = symbol<decltype(load_from_string)>(library, "LGBM_BoosterLoadModelFromString", path);
      predict_for_mat = symbol<decltype(predict_for_mat)>(library, "LGBM_BoosterPredictForMat", path);
      single_row_fast_init =
          symbol<decltype(single_row_fast_init)>(library, "LGBM_BoosterPredictForMatSingleRowFastInit", path);
      single_row_fast = symbol<decltype(single_row_fast)>(library, "LGBM_BoosterPredictForMatSingleRowFast", path);
    } catch (const std::exception& e) {
      error = std::string("LightGBM peer not run: ") + e.what();
    }
  }
  void check(int status, const char* call) const {
    if (status != 0) throw std::runtime_error(std::string("LightGBM ") + call + ": " + last_error());
  }
};

const LightGbmApi& lightgbm_api() {
  static const LightGbmApi api;
  return api;
}

//! LightGBM's predictor on one model: one thread, raw scores (margins) in double.
struct LightGbmModel {
  LightGbmApi::Handle booster = nullptr;
  LightGbmApi::Handle single_row = nullptr;  // FastConfig for LGBM_BoosterPredictForMatSingleRowFast
  index_t features = 0, outputs = 0;

  LightGbmModel(const std::string& text, index_t nf, index_t k) : features(nf), outputs(k) {
    const LightGbmApi& api = lightgbm_api();
    int iterations = 0;
    api.check(api.load_from_string(text.c_str(), &iterations, &booster), "LGBM_BoosterLoadModelFromString");
    api.check(api.single_row_fast_init(booster, LightGbmApi::predict_raw_score, 0, -1, LightGbmApi::dtype_float32,
                                       static_cast<std::int32_t>(nf), "num_threads=1", &single_row),
              "LGBM_BoosterPredictForMatSingleRowFastInit");
  }
  //! x: rows x features, row-major float32; out: rows x outputs.
  void predict(const float* x, index_t rows, double* out) const {
    const LightGbmApi& api = lightgbm_api();
    std::int64_t len = 0;
    if (rows == 1) {
      api.check(api.single_row_fast(single_row, x, &len, out), "LGBM_BoosterPredictForMatSingleRowFast");
    } else {
      api.check(api.predict_for_mat(booster, x, LightGbmApi::dtype_float32, static_cast<std::int32_t>(rows),
                                    static_cast<std::int32_t>(features), 1, LightGbmApi::predict_raw_score, 0, -1,
                                    "num_threads=1", &len, out),
                "LGBM_BoosterPredictForMat");
    }
    if (len != rows * outputs) throw std::runtime_error("LightGBM returned an unexpected number of outputs");
  }
};

std::string tl2cgen_dir() {
  const char* env = std::getenv("PORTML_BENCH_TL2CGEN_DIR");
  return env != nullptr ? env : model_dir() + "/tl2cgen";
}

//! A library tl2cgen compiled from one model (bench/peers/make_tl2cgen_libs.py). The generated code's entry
//! point (tl2cgen 1.0 header.h): void predict(union Entry* data, int pred_margin, float* result), one row,
//! leaves added to result (zeroed by the caller), base margin added last; a missing feature is
//! Entry::missing == -1. Called per row, as tl2cgen's runtime does.
class Tl2cgenModel {
 public:
  union Entry {
    int missing;
    float fvalue;
    int qvalue;
  };
  Tl2cgenModel(const std::string& path, index_t nf, index_t k) : features_(nf), outputs_(k), row_(nf) {
    void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) throw std::runtime_error(std::string("dlopen: ") + dlerror());
    predict_ = symbol<decltype(predict_)>(library, "predict", path);
    const auto num_feature = symbol<std::int32_t (*)()>(library, "get_num_feature", path);
    if (num_feature() != nf) throw std::runtime_error(path + ": compiled for another number of features");
  }
  //! x: rows x features, row-major; out: rows x outputs (margins).
  void predict(const float* x, index_t rows, float* out) {
    for (index_t r = 0; r < rows; ++r) {
      const float* xr = x + r * features_;
      for (index_t f = 0; f < features_; ++f) {
        if (std::isnan(xr[f])) {
          row_[static_cast<std::size_t>(f)].missing = -1;
        } else {
          row_[static_cast<std::size_t>(f)].fvalue = xr[f];
        }
      }
      float* o = out + r * outputs_;
      std::fill(o, o + outputs_, 0.0f);
      predict_(row_.data(), 1, o);
    }
  }

 private:
  void (*predict_)(Entry* data, int pred_margin, float* result) = nullptr;
  index_t features_, outputs_;
  std::vector<Entry> row_;
};

struct Model {
  std::string error;                                      // non-empty: skip with this message
  std::unique_ptr<portml::bdt::Forest<float>> forest;     // XGBoost models
  std::unique_ptr<portml::bdt::Forest<double>> forest64;  // LightGBM models
  std::unique_ptr<GbrStyleWalk> gbr;
  std::vector<float> x;  // pool_rows x features
  index_t features = 0, outputs = 0;
  std::string lightgbm_error, tl2cgen_error;  // non-empty: that peer's cases skip with this message
  std::unique_ptr<LightGbmModel> lightgbm;
  std::unique_ptr<Tl2cgenModel> tl2cgen;
  float tl2cgen_max_diff = 0;  // largest |tl2cgen - portml| margin on the checked rows
  std::string qs_error;        // non-empty: the portml_qs cases skip with this message
  std::unique_ptr<portml::bdt::detail::QuickScorer<float>> qs;
  std::unique_ptr<portml::bdt::detail::QuickScorer<double>> qs64;
#if PORTML_BENCH_HAVE_XGBOOST
  BoosterHandle xgb = nullptr;
#endif
};

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

constexpr index_t check_rows = 1000;

template <class V>
std::vector<V> portml_margins(const portml::bdt::Forest<V>& forest, const float* x, index_t rows, index_t nf) {
  std::vector<V> out(static_cast<std::size_t>(rows * forest.num_outputs()));
  portml::bdt::predict_margins(forest, portml::TensorView<const float, 2>(x, {rows, nf}),
                               portml::TensorView<V, 2>(out.data(), {rows, forest.num_outputs()}));
  return out;
}

//! tl2cgen's margins are not XGBoost's bit for bit: its generated code adds each leaf as a double literal (the
//! float leaf's shortest decimal) to the float sum, so every add is done in double and rounded to float, and it
//! adds the base margin after the trees where XGBoost and portml start from it. The check that it evaluates the
//! same model allows 1e-5 of max(1, |margin|) (about 80 float ulps; the largest difference measured on (a)-(d)
//! is 2.7e-6): a branch taken the other way changes a margin by the difference of two leaves of one tree.
constexpr float tl2cgen_tolerance = 1e-5f;

//! QuickScorer's tables, checked against portml's margins (batch and one row) on the first check_rows rows.
template <class V>
void load_quickscorer(const portml::bdt::Forest<V>& forest, std::unique_ptr<portml::bdt::detail::QuickScorer<V>>& qs,
                      Model& m) {
  m.qs_error = portml::bdt::detail::QuickScorer<V>::unsupported_reason(forest);
  if (!m.qs_error.empty()) return;
  qs = std::make_unique<portml::bdt::detail::QuickScorer<V>>(forest);
  const index_t nf = forest.num_features(), k = forest.num_outputs();
  const std::vector<V> want = portml_margins(forest, m.x.data(), check_rows, nf);
  std::vector<V> got(want.size()), one(want.size());
  qs->margins(portml::TensorView<const float, 2>(m.x.data(), {check_rows, nf}),
              portml::TensorView<V, 2>(got.data(), {check_rows, k}));
  for (index_t r = 0; r < check_rows; ++r) qs->margins_row(m.x.data() + r * nf, 1, one.data() + r * k);
  if (std::is_same_v<V, float> && portml::isa_available(portml::Isa::avx2)) {  // the forced AVX2 path too
    std::vector<V> avx2(want.size());
    qs->margins(portml::TensorView<const float, 2>(m.x.data(), {check_rows, nf}),
                portml::TensorView<V, 2>(avx2.data(), {check_rows, k}), portml::Isa::avx2);
    if (std::memcmp(avx2.data(), want.data(), avx2.size() * sizeof(V)) != 0) one = avx2;
  }
  if (std::memcmp(got.data(), want.data(), got.size() * sizeof(V)) != 0 ||
      std::memcmp(one.data(), want.data(), one.size() * sizeof(V)) != 0) {
    qs.reset();
    m.qs_error = "QuickScorer's margins differ from portml's";
  }
}

void load_peers(Model& m, const ModelSpec& spec, const std::string& text) {
  const index_t nf = spec.features, k = m.outputs;
  if (spec.trainer == Trainer::lightgbm) {
    m.tl2cgen_error = "tl2cgen peer run on the XGBoost models only";
    m.lightgbm_error = lightgbm_api().error;
    if (!m.lightgbm_error.empty()) return;
    try {
      m.lightgbm = std::make_unique<LightGbmModel>(text, nf, k);
      const std::vector<double> want = portml_margins(*m.forest64, m.x.data(), check_rows, nf);
      std::vector<double> got(want.size());
      m.lightgbm->predict(m.x.data(), check_rows, got.data());
      if (std::memcmp(got.data(), want.data(), got.size() * sizeof(double)) != 0) {
        throw std::runtime_error("LGBM_BoosterPredictForMat's raw scores differ from portml's margins");
      }
      for (index_t r = 0; r < check_rows; ++r) {
        m.lightgbm->predict(m.x.data() + r * nf, 1, got.data() + r * k);
      }
      if (std::memcmp(got.data(), want.data(), got.size() * sizeof(double)) != 0) {
        throw std::runtime_error("LGBM_BoosterPredictForMatSingleRowFast's raw scores differ from portml's margins");
      }
    } catch (const std::exception& e) {
      m.lightgbm.reset();
      m.lightgbm_error = lightgbm_api().path + ", " + spec.name + ": " + e.what();
    }
    return;
  }
  m.lightgbm_error = "LightGBM peer run on the LightGBM models only";
  const std::string path = tl2cgen_dir() + "/" + spec.name + ".so";
  try {
    m.tl2cgen = std::make_unique<Tl2cgenModel>(path, nf, k);
    const std::vector<float> want = portml_margins(*m.forest, m.x.data(), check_rows, nf);
    std::vector<float> got(want.size());
    m.tl2cgen->predict(m.x.data(), check_rows, got.data());
    for (std::size_t i = 0; i < got.size(); ++i) {
      const float diff = std::fabs(got[i] - want[i]);
      m.tl2cgen_max_diff = std::max(m.tl2cgen_max_diff, diff);
      if (!(diff <= tl2cgen_tolerance * std::max(1.0f, std::fabs(want[i])))) {
        throw std::runtime_error("margin of row " + std::to_string(i / static_cast<std::size_t>(k)) + " is " +
                                 std::to_string(got[i]) + ", portml's " + std::to_string(want[i]));
      }
    }
  } catch (const std::exception& e) {
    m.tl2cgen.reset();
    m.tl2cgen_error = "tl2cgen peer not run: " + path + ": " + e.what() +
                      " (build the libraries with: python3 bench/peers/make_tl2cgen_libs.py " + model_dir() + ")";
  }
}

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
    const portml::bdt::ForestConfig config = spec.trainer == Trainer::lightgbm
                                                 ? portml::io::parse_lightgbm_text(text, path)
                                                 : portml::io::parse_xgboost_json(text, path);
    if (spec.trainer == Trainer::lightgbm) {
      m.forest64 = std::make_unique<portml::bdt::Forest<double>>(config);
    } else {
      m.forest = std::make_unique<portml::bdt::Forest<float>>(config);
    }
    m.outputs = config.num_outputs;
    m.gbr = std::make_unique<GbrStyleWalk>(config);
    std::mt19937 rng(17);
    std::normal_distribution<float> normal(0, 1.5f);
    std::uniform_real_distribution<double> u(0, 1);
    m.x.resize(static_cast<std::size_t>(pool_rows * spec.features));
    for (float& v : m.x) v = u(rng) < spec.nan_fraction ? NAN : normal(rng);
#if PORTML_BENCH_HAVE_XGBOOST
    if (spec.trainer == Trainer::xgboost) {
      if (XGBoosterCreate(nullptr, 0, &m.xgb) != 0 ||
          XGBoosterLoadModelFromBuffer(m.xgb, text.data(), static_cast<bst_ulong>(text.size())) != 0 ||
          XGBoosterSetParam(m.xgb, "nthread", "1") != 0) {
        throw std::runtime_error(std::string("XGBoost: ") + XGBGetLastError());
      }
      const float* want = xgb_predict(m.xgb, m.x.data(), check_rows, spec.features);
      const std::vector<float> got = portml_margins(*m.forest, m.x.data(), check_rows, spec.features);
      if (std::memcmp(got.data(), want, got.size() * sizeof(float)) != 0) {
        throw std::runtime_error("portml margins differ from XGBoost's");
      }
    }
#endif
    if (m.forest64) {
      load_quickscorer(*m.forest64, m.qs64, m);
    } else {
      load_quickscorer(*m.forest, m.qs, m);
    }
    load_peers(m, spec, text);
  } catch (const std::exception& e) {
    m.error = std::string(e.what()) + " (make the models with: " +
              (spec.trainer == Trainer::lightgbm ? "python3 bench/make_bdt_models.py " + model_dir() + " lightgbm"
                                                 : "/usr/bin/python3 bench/make_bdt_models.py " + model_dir()) +
              ")";
  }
  return m;
}

enum class Impl {
  portml,
  portml_scalar,
  portml_openmp,
  portml_qs,
  portml_qs_scalar,
  portml_avx2,
  portml_qs_avx2,
  gbr_walk,
  xgboost,
  lightgbm,
  tl2cgen
};

template <class V>
void run_bdt(benchmark::State& state, Model& m, const portml::bdt::Forest<V>& forest, Impl impl) {
  const index_t batch = state.range(0), nf = m.features, k = m.outputs;
  const index_t slices = pool_rows / batch;
  std::vector<V> out(static_cast<std::size_t>(batch * k));
  std::vector<float> out_float(static_cast<std::size_t>(batch * k));    // tl2cgen's
  std::vector<double> out_double(static_cast<std::size_t>(batch * k));  // LightGBM's
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
          portml::bdt::predict_margins_row(forest, std::span<const float>(x, nf), std::span<V>(out));
        } else {
          portml::bdt::predict_margins(forest, portml::TensorView<const float, 2>(x, {batch, nf}),
                                       portml::TensorView<V, 2>(out.data(), {batch, k}));
        }
        break;
      case Impl::portml_scalar:
        portml::bdt::predict_margins(forest, portml::TensorView<const float, 2>(x, {batch, nf}),
                                     portml::TensorView<V, 2>(out.data(), {batch, k}), portml::Isa::scalar);
        break;
      case Impl::portml_avx2:  // the AVX2 descent kernel itself, below the dispatch (which runs QuickScorer
                               // there for depth <= 5)
        portml::bdt::detail::margins_serial(forest, portml::TensorView<const float, 2>(x, {batch, nf}),
                                            portml::TensorView<V, 2>(out.data(), {batch, k}), portml::Isa::avx2);
        break;
      case Impl::portml_qs:
      case Impl::portml_qs_scalar:
      case Impl::portml_qs_avx2: {
        const portml::bdt::detail::QuickScorer<V>* qs = nullptr;
        if constexpr (std::is_same_v<V, float>) {
          qs = m.qs.get();
        } else {
          qs = m.qs64.get();
        }
        if (batch == 1) {
          qs->margins_row(x, 1, out.data());
        } else {
          qs->margins(portml::TensorView<const float, 2>(x, {batch, nf}),
                      portml::TensorView<V, 2>(out.data(), {batch, k}),
                      impl == Impl::portml_qs        ? portml::Isa::automatic
                      : impl == Impl::portml_qs_avx2 ? portml::Isa::avx2
                                                     : portml::Isa::scalar);
        }
        break;
      }
      case Impl::portml_openmp:
        portml::bdt::predict_margins(q, forest, portml::TensorView<const float, 2>(x, {batch, nf}),
                                     portml::TensorView<V, 2>(out.data(), {batch, k}));
        break;
      case Impl::gbr_walk:
        m.gbr->predict(x, batch, nf, out_float.data());
        break;
      case Impl::xgboost:
#if PORTML_BENCH_HAVE_XGBOOST
        benchmark::DoNotOptimize(xgb_predict(m.xgb, x, batch, nf));
#endif
        break;
      case Impl::lightgbm:
        m.lightgbm->predict(x, batch, out_double.data());
        break;
      case Impl::tl2cgen:
        m.tl2cgen->predict(x, batch, out_float.data());
        break;
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::DoNotOptimize(out_float.data());
    benchmark::DoNotOptimize(out_double.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["ns_per_row"] = benchmark::Counter(static_cast<double>(state.iterations() * batch),
                                                    benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  if (impl == Impl::tl2cgen) state.counters["max_abs_diff_vs_portml"] = m.tl2cgen_max_diff;
}

void BM_bdt(benchmark::State& state, int which, Impl impl) {
  Model& m = model(which);
  const std::string& error = !m.error.empty()         ? m.error
                             : impl == Impl::lightgbm ? m.lightgbm_error
                             : impl == Impl::tl2cgen  ? m.tl2cgen_error
                             : impl == Impl::portml_qs || impl == Impl::portml_qs_scalar || impl == Impl::portml_qs_avx2
                                 ? m.qs_error
                                 : m.error;
  const bool avx2 = impl == Impl::portml_avx2 || impl == Impl::portml_qs_avx2;
  if (avx2 && (!portml::isa_available(portml::Isa::avx2) || (impl == Impl::portml_qs_avx2 && m.forest64))) {
    state.SkipWithError("the AVX2 paths need an AVX2 CPU (and QuickScorer's a float forest)");
    return;
  }
  if (!error.empty()) {
    state.SkipWithError(error.c_str());
    return;
  }
  if (m.forest64) {
    run_bdt(state, m, *m.forest64, impl);
  } else {
    run_bdt(state, m, *m.forest, impl);
  }
}

#if PORTML_ENABLE_CUDA || PORTML_ENABLE_HIP
#if PORTML_ENABLE_CUDA
using Gpu = portml::backend::Cuda;
#else
using Gpu = portml::backend::Hip;
#endif

enum class DeviceTiming { end_to_end, kernel, transfer };

void BM_bdt_device(benchmark::State& state, int which, DeviceTiming timing, portml::bdt::DeviceKernel kernel,
                   portml::bdt::InputStaging input) {
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
  // Batches up to the pool's size take consecutive slices of it; larger ones (10^6 rows) the pool repeated.
  std::vector<float> repeated;
  if (batch > pool_rows) {
    repeated.resize(static_cast<std::size_t>(batch * nf));
    for (index_t r = 0; r < batch; ++r)
      std::memcpy(repeated.data() + r * nf, m.x.data() + (r % pool_rows) * nf,
                  static_cast<std::size_t>(nf) * sizeof(float));
  }
  const float* pool = batch > pool_rows ? repeated.data() : m.x.data();
  const index_t slices = batch > pool_rows ? 1 : pool_rows / batch;
  portml::Tensor<float, 2, S> dx({batch, nf});
  portml::Tensor<float, 2, S> dout({batch, k});
  std::vector<float> out(static_cast<std::size_t>(batch * k)), want(out.size());
  {  // the device's margins are the host's, bit for bit (on the first pool-size rows: the rest repeat them)
    const portml::TensorView<const float, 2> x(pool, {batch, nf});
    portml::deep_copy(q, dx.view(), x);
    portml::bdt::predict_margins(q, forest, dx.view(), dout.view(), portml::bdt::NodeStaging::automatic, kernel, input);
    portml::deep_copy(q, portml::TensorView<float, 2>(out.data(), {batch, k}),
                      portml::TensorView<const float, 2, S>(dout.view()));
    q.wait();
    const index_t checked = std::min(batch, pool_rows);
    portml::bdt::predict_margins(*m.forest, portml::TensorView<const float, 2>(pool, {checked, nf}),
                                 portml::TensorView<float, 2>(want.data(), {checked, k}));
    if (std::memcmp(out.data(), want.data(), static_cast<std::size_t>(checked * k) * sizeof(float)) != 0) {
      state.SkipWithError("device margins differ from the host's");
      return;
    }
  }
  index_t s = 0;
  for (auto _ : state) {
    const float* x = pool + (s % slices) * batch * nf;
    ++s;
    if (timing != DeviceTiming::kernel) {
      portml::deep_copy(q, dx.view(), portml::TensorView<const float, 2>(x, {batch, nf}));
    }
    if (timing != DeviceTiming::transfer) {
      portml::bdt::predict_margins(q, forest, dx.view(), dout.view(), portml::bdt::NodeStaging::automatic, kernel,
                                   input);
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
  const bool by_tree = kernel == portml::bdt::DeviceKernel::tree_parallel ||
                       (kernel == portml::bdt::DeviceKernel::automatic &&
                        (batch <= portml::bdt::device_tree_parallel_max_rows ||
                         forest.num_trees() >= portml::bdt::device_tree_parallel_min_trees));
  state.counters["tree_parallel"] = by_tree ? 1 : 0;
  // Input rows staged in team scratch: when they fit next to the kernel's other scratch (predict_margins' rule).
  const portml::TensorView<const float, 2, S> xv(dx.view());
  const auto shape =
      portml::bdt::detail::tree_parallel_shape(batch, forest.num_trees(), forest.num_outputs(), sizeof(float));
  const bool nodes_staged = !by_tree && forest.staged_bytes() <= portml::bdt::device_scratch_budget;
  const portml::bdt::detail::InputRowsPlan rows =
      by_tree ? portml::bdt::detail::plan_input_rows(xv, shape.scratch_bytes, index_t(1) << shape.rows_shift,
                                                     index_t(1) << shape.rows_shift)
              : portml::bdt::detail::plan_input_rows(xv, nodes_staged ? forest.staged_bytes() : 0,
                                                     portml::bdt::device_rows_per_team,
                                                     portml::bdt::device_min_staged_rows_per_team);
  state.counters["input_staged"] = input != portml::bdt::InputStaging::direct && rows.fits ? 1 : 0;
  state.counters["rows_per_team"] = static_cast<double>(by_tree ? index_t(1) << shape.rows_shift
                                                        : rows.fits && input != portml::bdt::InputStaging::direct
                                                            ? rows.rows_per_team
                                                            : portml::bdt::device_rows_per_team);
}

void register_device(int which) {
  const struct {
    DeviceTiming timing;
    const char* suffix;
  } timings[] = {
      {DeviceTiming::end_to_end, ""}, {DeviceTiming::kernel, "_kernel"}, {DeviceTiming::transfer, "_transfer"}};
  for (const auto& [timing, suffix] : timings) {
    const std::string label = std::string("BM_bdt/") + model_specs[which].name + "/portml_" + Gpu::name + suffix;
    auto* b = benchmark::RegisterBenchmark(label.c_str(), BM_bdt_device, which, timing,
                                           portml::bdt::DeviceKernel::automatic, portml::bdt::InputStaging::automatic);
    b->ArgNames({"batch", "threads"})->Unit(benchmark::kMicrosecond)->UseRealTime();
    for (const index_t batch : {1, 1024, 65536, 100000, 1000000}) b->Args({batch, 1});
  }
  // Each kernel forced (data resident on the device), for the automatic choice's rule (docs/bdt.md), with the
  // input rows staged in team scratch (automatic) and, at the large batches, read directly (the path before).
  const struct {
    portml::bdt::DeviceKernel kernel;
    portml::bdt::InputStaging input;
    const char* suffix;
  } kernels[] = {
      {portml::bdt::DeviceKernel::row_parallel, portml::bdt::InputStaging::automatic, "_kernel_rows"},
      {portml::bdt::DeviceKernel::tree_parallel, portml::bdt::InputStaging::automatic, "_kernel_trees"},
      {portml::bdt::DeviceKernel::row_parallel, portml::bdt::InputStaging::direct, "_kernel_rows_direct_input"},
      {portml::bdt::DeviceKernel::tree_parallel, portml::bdt::InputStaging::direct, "_kernel_trees_direct_input"}};
  for (const auto& [kernel, input, suffix] : kernels) {
    const std::string label = std::string("BM_bdt/") + model_specs[which].name + "/portml_" + Gpu::name + suffix;
    auto* b = benchmark::RegisterBenchmark(label.c_str(), BM_bdt_device, which, DeviceTiming::kernel, kernel, input);
    b->ArgNames({"batch", "threads"})->Unit(benchmark::kMicrosecond)->UseRealTime();
    if (input == portml::bdt::InputStaging::automatic) {
      for (const index_t batch : {1, 1024}) b->Args({batch, 1});
    }
    for (const index_t batch : {65536, 100000, 1000000}) b->Args({batch, 1});
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
  const LightGbmApi& lgb = lightgbm_api();
  benchmark::AddCustomContext("lightgbm", lgb.error.empty() ? lgb.path : lgb.error);
  {
    std::ifstream file(tl2cgen_dir() + "/versions.txt");
    std::string versions;
    std::getline(file, versions);
    benchmark::AddCustomContext("tl2cgen", versions.empty() ? "tl2cgen peer not run: no " + tl2cgen_dir() +
                                                                  "/versions.txt (bench/peers/make_tl2cgen_libs.py)"
                                                            : tl2cgen_dir() + ": " + versions);
  }
  struct ImplName {
    Impl impl;
    const char* name;
  };
  for (int which = 0; which < num_models; ++which) {
    const bool xgboost = model_specs[which].trainer == Trainer::xgboost;
    std::vector<ImplName> impls{{Impl::portml, "portml"},
                                {Impl::portml_scalar, "portml_scalar"},
                                {Impl::portml_qs, "portml_qs"},
                                {Impl::portml_qs_scalar, "portml_qs_scalar"},
                                {Impl::portml_avx2, "portml_avx2_descent"},
                                {Impl::portml_qs_avx2, "portml_qs_avx2"},
                                {Impl::gbr_walk, "gbr_walk"}};
    if (xgboost) {
#if PORTML_BENCH_HAVE_XGBOOST
      impls.push_back({Impl::xgboost, "xgboost_c_api"});
#endif
      impls.push_back({Impl::tl2cgen, "tl2cgen"});
    } else {
      impls.push_back({Impl::lightgbm, "lightgbm_c_api"});
    }
    for (const auto& [impl, name] : impls) {
      const std::string label = std::string("BM_bdt/") + model_specs[which].name + "/" + name;
      auto* b = benchmark::RegisterBenchmark(label.c_str(), BM_bdt, which, impl);
      b->ArgNames({"batch", "threads"})->Unit(benchmark::kMicrosecond);
      for (const index_t batch : {1, 32, 1024, 100000}) b->Args({batch, 1});
    }
    const std::string label = std::string("BM_bdt/") + model_specs[which].name + "/portml_openmp";
    auto* b = benchmark::RegisterBenchmark(label.c_str(), BM_bdt, which, Impl::portml_openmp);
    b->ArgNames({"batch", "threads"})->Unit(benchmark::kMicrosecond)->Args({100000, 2});
    if (!xgboost) continue;
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
