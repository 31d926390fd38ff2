// SPDX-License-Identifier: Apache-2.0
#include "commands.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <portml/io/error.hpp>
#include <portml/io/table.hpp>

#include "model_runner.hpp"
#include "options.hpp"

namespace portml::cli {

namespace {

//! `s` as the body of a JSON string.
std::string json_escape(const std::string& s) {
  std::string out;
  for (const char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(ch)));
      out += buf;
    } else {
      out += ch;
    }
  }
  return out;
}

std::string join(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : ", ") + i;
  return s;
}

//! The backend named on the command line, checked against what this model runs on here.
std::string checked_backend(const ModelRunner& model, const std::string& name) {
  const auto backends = model.backends();
  if (std::find(backends.begin(), backends.end(), name) == backends.end()) {
    throw UsageError("unknown or unavailable backend '" + name + "' (this build and model: " + join(backends) + ")");
  }
  return name;
}

//! The input rows as float32, checked against the model's width.
std::vector<float> input_rows(const io::Table& in, const ModelRunner& model, const std::string& file) {
  if (in.cols != model.input_width()) {
    throw io::FormatError(
        file, "line 1",
        std::to_string(in.cols) + " columns, the model expects " + std::to_string(model.input_width()) + " inputs");
  }
  std::vector<float> x(in.values.size());
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(in.values[i]);
  return x;
}

//! Evaluates every row of `in` on one backend, in batches of at most `batch` rows.
io::Table evaluate(const ModelRunner& model, const io::Table& in, const std::string& file, const std::string& backend,
                   int threads, bool margin) {
  const std::vector<float> x = input_rows(in, model, file);
  io::Table out;
  out.rows = in.rows;
  out.cols = model.output_width(margin);
  out.values.assign(static_cast<std::size_t>(out.rows * out.cols), 0.0);
  constexpr index_t batch = 1 << 16;
  const auto session = model.session(backend, threads, std::min<index_t>(batch, std::max<index_t>(in.rows, 1)), margin);
  for (index_t begin = 0; begin < in.rows; begin += batch) {
    const index_t rows = std::min(batch, in.rows - begin);
    session->run(TensorView<const float, 2>(x.data() + begin * in.cols, {rows, in.cols}),
                 TensorView<double, 2>(out.values.data() + begin * out.cols, {rows, out.cols}));
  }
  return out;
}

struct Common {
  std::unique_ptr<ModelRunner> model;
  std::string backend;
  int threads;
  bool margin;
};

Common common(const Options& opts) {
  Common c;
  c.model = load_model(opts.required("model"));
  c.backend = checked_backend(*c.model, opts.get("backend", "serial"));
  c.threads = opts.integer("threads", 1, 1);
  c.margin = opts.has("margin");
  if (c.margin && !c.model->has_margin()) throw UsageError("--margin is only for forest models (raw tree scores)");
  if (c.model->is_graph()) throw UsageError("graph models are not supported by this subcommand yet");
  return c;
}

}  // namespace

int cmd_predict(int argc, char** argv) {
  const Options opts(argc, argv, 2, {"model", "input", "output", "backend", "threads"}, {"margin"}, "predict");
  const Common c = common(opts);
  const std::string& input = opts.required("input");
  const std::string& output = opts.required("output");
  const io::Table out = evaluate(*c.model, io::read_table(input), input, c.backend, c.threads, c.margin);
  const io::DType dtype = c.model->output_dtype();
  io::write_table(output, out, dtype == io::DType::float32 ? 9 : 17, dtype);
  return 0;
}

int cmd_validate(int argc, char** argv) {
  const Options opts(argc, argv, 2, {"model", "input", "reference", "backend", "threads", "rtol", "atol"}, {"margin"},
                     "validate");
  const Common c = common(opts);
  const std::string& input = opts.required("input");
  const std::string& reference = opts.required("reference");
  const double rtol = opts.number("rtol", 1e-5), atol = opts.number("atol", 1e-6);
  const io::Table got = evaluate(*c.model, io::read_table(input), input, c.backend, c.threads, c.margin);
  const io::Table want = io::read_table(reference);
  if (want.rows != got.rows || want.cols != got.cols) {
    throw io::FormatError(reference, "",
                          std::to_string(want.rows) + " rows of " + std::to_string(want.cols) +
                              " values, the model gives " + std::to_string(got.rows) + " rows of " +
                              std::to_string(got.cols));
  }
  double max_abs = 0, max_rel = 0, worst_ratio = -1;
  index_t worst_row = -1, failures = 0;
  for (index_t r = 0; r < got.rows; ++r) {
    bool row_failed = false;
    for (index_t col = 0; col < got.cols; ++col) {
      const double g = got(r, col), w = want(r, col);
      double ratio = 0;
      if (std::isnan(g) || std::isnan(w)) {
        ratio = std::isnan(g) && std::isnan(w) ? 0 : INFINITY;  // NaN equals only NaN
      } else if (g != w) {                                      // equal infinities pass
        const double err = std::abs(g - w);
        max_abs = std::max(max_abs, err);
        if (w != 0) max_rel = std::max(max_rel, err / std::abs(w));
        ratio = err / (atol + rtol * std::abs(w));
      }
      row_failed = row_failed || ratio > 1;
      if (ratio > worst_ratio) worst_ratio = ratio, worst_row = r;
    }
    failures += row_failed ? 1 : 0;
  }
  std::printf("rows: %lld\nmax abs error: %.3g\nmax rel error: %.3g\nworst row: %lld (error / tolerance %.3g)\n",
              static_cast<long long>(got.rows), max_abs, max_rel, static_cast<long long>(worst_row), worst_ratio);
  std::printf("%s: %lld of %lld rows outside |got - want| <= %g + %g |want|\n", failures == 0 ? "ok" : "FAILED",
              static_cast<long long>(failures), static_cast<long long>(got.rows), atol, rtol);
  return failures == 0 ? 0 : 1;
}

int cmd_bench(int argc, char** argv) {
  const Options opts(argc, argv, 2, {"model", "input", "backend", "batch", "threads", "format", "min-time"}, {"margin"},
                     "bench");
  const std::string model_path = opts.required("model");
  const auto model = load_model(model_path);
  if (model->is_graph()) throw UsageError("bench: graph models are not supported yet");
  const bool margin = opts.has("margin");
  if (margin && !model->has_margin()) throw UsageError("--margin is only for forest models (raw tree scores)");
  const std::string format = opts.get("format", "table");
  if (format != "table" && format != "json") throw UsageError("bench: --format is table or json, got '" + format + "'");
  std::vector<std::string> backends;
  const std::string backend_opt = opts.get("backend", "all");
  if (backend_opt == "all") {
    backends = model->backends();
  } else {
    backends = {checked_backend(*model, backend_opt)};
  }
  const auto batches = opts.int_list("batch", "1,16,1024");
  const auto thread_counts = opts.int_list("threads", "1");
  const double min_time = opts.number("min-time", 0.2);

  // Input rows: the file's (cycled) or seeded random ones of the right width.
  const index_t width = model->input_width();
  std::vector<float> pool;
  index_t pool_rows = 0;
  if (opts.has("input")) {
    const io::Table in = io::read_table(opts.required("input"));
    pool = input_rows(in, *model, opts.required("input"));
    pool_rows = in.rows;
  } else {
    pool_rows = 4096;
    pool.resize(static_cast<std::size_t>(pool_rows * width));
    std::mt19937 rng(42);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (float& v : pool) v = dist(rng);
  }

  struct Record {
    std::string backend;
    int threads;
    long batch;
    double ns_per_row, rows_per_second;
  };
  std::vector<Record> records;
  const auto start = std::chrono::steady_clock::now();
  const std::size_t total = backends.size() * batches.size() * thread_counts.size();
  std::size_t done = 0;
  for (const auto& backend : backends) {
    for (const long threads : thread_counts) {
      if (threads > 1 && backend != "openmp") {
        done += batches.size();
        continue;  // only the OpenMP backend has a thread count
      }
      for (const long batch : batches) {
        std::vector<float> x(static_cast<std::size_t>(batch * width));
        for (long r = 0; r < batch; ++r) {
          std::copy_n(pool.begin() + (r % pool_rows) * width, width, x.begin() + r * width);
        }
        std::vector<double> out(static_cast<std::size_t>(batch * model->output_width(margin)));
        const auto session = model->session(backend, static_cast<int>(threads), batch, margin);
        const TensorView<const float, 2> xv(x.data(), {batch, width});
        const TensorView<double, 2> ov(out.data(), {batch, model->output_width(margin)});
        for (int w = 0; w < 3; ++w) session->run(xv, ov);  // warm-up
        // Calls per repetition so that one repetition lasts about min_time / 10.
        const auto t0 = std::chrono::steady_clock::now();
        session->run(xv, ov);
        const double once = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const long calls = std::max(1L, static_cast<long>(min_time / 10 / std::max(once, 1e-9)));
        std::vector<double> per_call;
        for (int rep = 0; rep < 11; ++rep) {
          const auto r0 = std::chrono::steady_clock::now();
          for (long k = 0; k < calls; ++k) session->run(xv, ov);
          per_call.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - r0).count() / calls);
        }
        std::nth_element(per_call.begin(), per_call.begin() + 5, per_call.end());
        const double seconds = per_call[5];  // median of 11 repetitions
        records.push_back({backend, static_cast<int>(threads), batch, seconds * 1e9 / batch, batch / seconds});
        ++done;
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (elapsed > 3) std::fprintf(stderr, "bench: %zu/%zu done (%.0f s)\n", done, total, elapsed);
      }
    }
  }
  if (format == "json") {
    std::printf("[\n");
    for (std::size_t i = 0; i < records.size(); ++i) {
      const Record& r = records[i];
      std::printf(
          "  {\"model\": \"%s\", \"backend\": \"%s\", \"threads\": %d, \"batch\": %ld, \"ns_per_row\": %.6g, "
          "\"rows_per_second\": %.6g}%s\n",
          json_escape(model_path).c_str(), r.backend.c_str(), r.threads, r.batch, r.ns_per_row, r.rows_per_second,
          i + 1 < records.size() ? "," : "");
    }
    std::printf("]\n");
  } else {
    std::printf("model: %s (%s)\n", model_path.c_str(), model->describe().c_str());
    std::printf("%-8s %7s %7s %14s %16s %14s\n", "backend", "threads", "batch", "ns/row", "rows/s", "us/batch");
    for (const Record& r : records) {
      std::printf("%-8s %7d %7ld %14.1f %16.4g %14.2f\n", r.backend.c_str(), r.threads, r.batch, r.ns_per_row,
                  r.rows_per_second, r.ns_per_row * r.batch / 1e3);
    }
  }
  return 0;
}

}  // namespace portml::cli
