// SPDX-License-Identifier: Apache-2.0
#include "commands.hpp"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <portml/config.hpp>
#include <portml/io/error.hpp>
#include <portml/io/table.hpp>

#include "device_backends.hpp"
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

//! Whether `name` is a GPU backend of this build (cuda, hip).
bool is_device_backend(const std::string& name) {
  const auto gpus = device_backend_names();
  return std::find(gpus.begin(), gpus.end(), name) != gpus.end();
}

//! The GEMM providers named by --gemm (default "portml"; a comma-separated list where `list`, for bench),
//! checked in this order, each a UsageError naming the option: a known name, given once; "openblas" only
//! for a model that has it among its providers (MLPs), only with a host backend (`backend` when it names
//! one, else `backend` = "all" and the GPU backends are left out for it), and only in a build with
//! OpenBLAS. What cannot be fixed by rebuilding is said first. "portml" is accepted for every model: it
//! is what every model runs on.
std::vector<std::string> checked_gemm(const Options& opts, const ModelRunner& model, const std::string& backend,
                                      bool list) {
  const std::string value = opts.get("gemm", "portml");
  std::vector<std::string> names;
  for (const std::string& name : opts.list("gemm", "portml")) {
    if (name != "portml" && name != "openblas") {
      throw UsageError("--gemm: unknown GEMM provider '" + name + "' (portml or openblas" +
                       (list ? ", or both: portml,openblas)" : ")"));
    }
    if (std::find(names.begin(), names.end(), name) != names.end())
      throw UsageError("--gemm: '" + name + "' given twice");
    names.push_back(name);
  }
  if (names.size() > 1 && !list)
    throw UsageError("--gemm: one provider here (portml or openblas), got '" + value + "'");
  if (std::find(names.begin(), names.end(), "openblas") == names.end()) return names;
  if (model.gemm_providers().empty()) {
    const std::string what = model.describe();
    throw UsageError("--gemm openblas: the OpenBLAS provider is for MLP models (ONNX, lwtnn) only, not for this " +
                     what.substr(0, what.find(':')));
  }
  if (is_device_backend(backend)) {
    throw UsageError("--gemm openblas: the OpenBLAS provider runs on the host backends only, not on --backend " +
                     backend);
  }
  if (!PORTML_ENABLE_OPENBLAS) {
    throw UsageError(
        "--gemm openblas: this build has no OpenBLAS provider: configure with -DPORTML_ENABLE_OPENBLAS=ON");
  }
  return names;
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
                   int threads, bool margin, const std::string& gemm) {
  const std::vector<float> x = input_rows(in, model, file);
  io::Table out;
  out.rows = in.rows;
  out.cols = model.output_width(margin);
  out.values.assign(static_cast<std::size_t>(out.rows * out.cols), 0.0);
  constexpr index_t batch = 1 << 16;
  const auto session =
      model.session(backend, threads, std::min<index_t>(batch, std::max<index_t>(in.rows, 1)), margin, gemm);
  for (index_t begin = 0; begin < in.rows; begin += batch) {
    const index_t rows = std::min(batch, in.rows - begin);
    session->run(TensorView<const float, 2>(x.data() + begin * in.cols, {rows, in.cols}),
                 TensorView<double, 2>(out.values.data() + begin * out.cols, {rows, out.cols}));
  }
  return out;
}

//! Node rows of a graph input in float32 with int32 offsets, checked against the model's width.
struct GraphRows {
  std::vector<float> x;
  std::vector<std::int32_t> offsets;  //!< events + 1
  index_t nodes = 0;
  index_t events() const { return static_cast<index_t>(offsets.size()) - 1; }
};

GraphRows graph_rows(const std::string& file, const ModelRunner& model) {
  const io::GraphInput g = io::read_graph_input(file);
  const bool npz = file.size() >= 4 && file.compare(file.size() - 4, 4, ".npz") == 0;
  if (g.x.cols != model.input_width()) {
    throw io::FormatError(file, npz ? "array 'x'" : "line 1",
                          std::to_string(g.x.cols) + (npz ? " columns" : " columns after the event id") +
                              ", the model expects " + std::to_string(model.input_width()) + " inputs per node");
  }
  if (g.x.rows > INT32_MAX) throw io::FormatError(file, "", "more than 2^31 - 1 nodes");
  GraphRows r;
  r.nodes = g.x.rows;
  r.x.assign(g.x.values.begin(), g.x.values.end());
  r.offsets.assign(g.offsets.begin(), g.offsets.end());
  return r;
}

//! The events of a graph batch in chunks of at most this many nodes (or one larger event) and events,
//! so that the workspace stays bounded for any input.
constexpr index_t chunk_nodes = 1 << 16, chunk_events = 1 << 12;

//! Evaluates every event of `g`: one output row per event or per node, as the model gives them.
io::Table evaluate_graph(const ModelRunner& model, const GraphRows& g, const std::string& backend, int threads) {
  const index_t width = model.input_width(), events = g.events();
  io::Table out;
  out.rows = model.per_event() ? events : g.nodes;
  out.cols = model.output_width(false);
  out.values.assign(static_cast<std::size_t>(out.rows * out.cols), 0.0);
  // Chunks [ends[i-1], ends[i]) of events.
  std::vector<index_t> ends;
  index_t max_nodes = 1, max_events = 1;
  for (index_t begin = 0; begin < events;) {
    index_t end = begin + 1;
    while (end < events && end - begin < chunk_events && g.offsets[end + 1] - g.offsets[begin] <= chunk_nodes) ++end;
    ends.push_back(end);
    max_nodes = std::max<index_t>(max_nodes, g.offsets[end] - g.offsets[begin]);
    max_events = std::max(max_events, end - begin);
    begin = end;
  }
  if (events == 0) return out;
  const auto session = model.graph_session(backend, threads, max_nodes, max_events);
  std::vector<std::int32_t> offsets(static_cast<std::size_t>(max_events + 1));
  index_t begin = 0;
  for (const index_t end : ends) {
    const std::int32_t first = g.offsets[begin];
    const index_t nodes = g.offsets[end] - first;
    for (index_t e = begin; e <= end; ++e) offsets[static_cast<std::size_t>(e - begin)] = g.offsets[e] - first;
    const index_t out_first = model.per_event() ? begin : first, out_rows = model.per_event() ? end - begin : nodes;
    session->run(TensorView<const float, 2>(g.x.data() + first * width, {nodes, width}),
                 std::span<const std::int32_t>(offsets.data(), static_cast<std::size_t>(end - begin + 1)),
                 TensorView<double, 2>(out.values.data() + out_first * out.cols, {out_rows, out.cols}));
    begin = end;
  }
  return out;
}

struct Common {
  std::unique_ptr<ModelRunner> model;
  std::string backend;
  std::string gemm;
  int threads;
  bool margin;
};

Common common(const Options& opts) {
  Common c;
  c.model = load_model(opts.required("model"));
  c.backend = checked_backend(*c.model, opts.get("backend", "serial"));
  c.gemm = checked_gemm(opts, *c.model, c.backend, false).front();
  require_device(c.backend);  // before any input is read or output written
  c.threads = opts.integer("threads", 1, 1);
  c.margin = opts.has("margin");
  if (c.margin && !c.model->has_margin()) throw UsageError("--margin is only for forest models (raw tree scores)");
  return c;
}

//! The model's outputs for the input file: rows, or events (graph models).
io::Table evaluate_file(const Common& c, const std::string& input) {
  if (c.model->is_graph()) return evaluate_graph(*c.model, graph_rows(input, *c.model), c.backend, c.threads);
  return evaluate(*c.model, io::read_table(input), input, c.backend, c.threads, c.margin, c.gemm);
}

}  // namespace

int cmd_predict(int argc, char** argv) {
  const Options opts(argc, argv, 2, {"model", "input", "output", "backend", "threads", "gemm"}, {"margin"}, "predict");
  const Common c = common(opts);
  const std::string& input = opts.required("input");
  const std::string& output = opts.required("output");
  const io::Table out = evaluate_file(c, input);
  const io::DType dtype = c.model->output_dtype();
  io::write_table(output, out, dtype == io::DType::float32 ? 9 : 17, dtype);
  return 0;
}

int cmd_validate(int argc, char** argv) {
  const Options opts(argc, argv, 2, {"model", "input", "reference", "backend", "threads", "rtol", "atol", "gemm"},
                     {"margin"}, "validate");
  const Common c = common(opts);
  const std::string& input = opts.required("input");
  const std::string& reference = opts.required("reference");
  const double rtol = opts.number("rtol", 1e-5), atol = opts.number("atol", 1e-6);
  const io::Table got = evaluate_file(c, input);
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

namespace {

//! Median seconds of one call of `run` over 11 repetitions (after a warm-up), each repetition about
//! min_time / 10 long.
double time_call(const std::function<void()>& run, double min_time) {
  for (int w = 0; w < 3; ++w) run();  // warm-up
  const auto t0 = std::chrono::steady_clock::now();
  run();
  const double once = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const long calls = std::max(1L, static_cast<long>(min_time / 10 / std::max(once, 1e-9)));
  std::vector<double> per_call;
  for (int rep = 0; rep < 11; ++rep) {
    const auto r0 = std::chrono::steady_clock::now();
    for (long k = 0; k < calls; ++k) run();
    per_call.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - r0).count() / calls);
  }
  std::nth_element(per_call.begin(), per_call.begin() + 5, per_call.end());
  return per_call[5];
}

//! Nodes of each random event `bench` makes for a graph model without --input (a jet of 50 particles).
constexpr index_t bench_event_nodes = 50;
constexpr index_t bench_random_events = 64;

//! A batch of `events` events: the pool's events in turn (cycled).
GraphRows cycle_events(const GraphRows& pool, index_t events, index_t width) {
  GraphRows b;
  b.offsets.push_back(0);
  for (index_t e = 0; e < events; ++e) {
    const index_t p = e % pool.events();
    const std::int32_t lo = pool.offsets[static_cast<std::size_t>(p)],
                       hi = pool.offsets[static_cast<std::size_t>(p + 1)];
    b.x.insert(b.x.end(), pool.x.begin() + lo * width, pool.x.begin() + hi * width);
    if (static_cast<index_t>(b.offsets.back()) + (hi - lo) > INT32_MAX)
      throw UsageError("bench: a batch of " + std::to_string(events) + " events has more than 2^31 - 1 nodes");
    b.offsets.push_back(b.offsets.back() + (hi - lo));
  }
  b.nodes = b.offsets.back();
  return b;
}

}  // namespace

int cmd_bench(int argc, char** argv) {
  const Options opts(argc, argv, 2, {"model", "input", "backend", "batch", "threads", "format", "min-time", "gemm"},
                     {"margin"}, "bench");
  const std::string model_path = opts.required("model");
  const auto model = load_model(model_path);
  const bool graph = model->is_graph();
  const bool margin = opts.has("margin");
  if (margin && !model->has_margin()) throw UsageError("--margin is only for forest models (raw tree scores)");
  const std::string format = opts.get("format", "table");
  if (format != "table" && format != "json") throw UsageError("bench: --format is table or json, got '" + format + "'");
  std::vector<std::string> backends;
  const std::string backend_opt = opts.get("backend", "all");
  if (backend_opt != "all") checked_backend(*model, backend_opt);
  const std::vector<std::string> gemms = checked_gemm(opts, *model, backend_opt, true);
  // MLPs: each record names the provider that computed its products.
  const bool show_gemm = !model->gemm_providers().empty();
  if (backend_opt == "all") {  // every backend of the build that can run here
    for (const auto& b : model->backends()) {
      const std::string why = missing_device(b);
      if (why.empty()) {
        backends.push_back(b);
      } else {
        std::fprintf(stderr, "bench: skipping %s: %s\n", b.c_str(), why.c_str());
      }
    }
  } else {
    backends = {backend_opt};  // checked above
    require_device(backend_opt);
  }
  if (std::find(gemms.begin(), gemms.end(), "openblas") != gemms.end()) {
    for (const auto& b : backends) {
      if (is_device_backend(b)) std::fprintf(stderr, "bench: --gemm openblas: host backends only, not %s\n", b.c_str());
    }
  }
  const auto batches = opts.int_list("batch", "1,16,1024");
  const auto thread_counts = opts.int_list("threads", "1");
  const double min_time = opts.number("min-time", 0.2);

  // Input rows (events for graph models): the file's (cycled) or seeded random ones of the right width.
  const index_t width = model->input_width();
  std::vector<float> pool;
  index_t pool_rows = 0;
  GraphRows graph_pool;
  if (graph && opts.has("input")) {
    graph_pool = graph_rows(opts.required("input"), *model);
    if (graph_pool.events() < 1) throw io::FormatError(opts.required("input"), "", "no events to benchmark with");
  } else if (graph) {
    graph_pool.nodes = bench_random_events * bench_event_nodes;
    for (index_t e = 0; e <= bench_random_events; ++e)
      graph_pool.offsets.push_back(static_cast<std::int32_t>(e * bench_event_nodes));
    graph_pool.x.resize(static_cast<std::size_t>(graph_pool.nodes * width));
    std::mt19937 rng(42);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (float& v : graph_pool.x) v = dist(rng);
  } else if (opts.has("input")) {
    const io::Table in = io::read_table(opts.required("input"));
    pool = input_rows(in, *model, opts.required("input"));
    pool_rows = in.rows;
    if (pool_rows < 1) throw io::FormatError(opts.required("input"), "", "no rows to benchmark with");
  } else {
    pool_rows = 4096;
    pool.resize(static_cast<std::size_t>(pool_rows * width));
    std::mt19937 rng(42);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (float& v : pool) v = dist(rng);
  }

  struct Record {
    std::string backend, gemm;
    int threads;
    long batch;
    double ns_per_row, rows_per_second;
    index_t nodes;  // graph models: nodes in the batch
  };
  std::vector<Record> records;
  const auto start = std::chrono::steady_clock::now();
  const std::size_t total = backends.size() * batches.size() * thread_counts.size() * gemms.size();
  std::size_t done = 0;
  const index_t out_width = model->output_width(margin);
  for (const auto& backend : backends) {
    for (const long threads : thread_counts) {
      if (threads > 1 && backend != "openmp") {
        done += batches.size() * gemms.size();
        continue;  // only the OpenMP backend has a thread count
      }
      for (const long batch : batches) {
        for (const auto& gemm : gemms) {  // side by side: the providers one after the other at each batch
          if (gemm == "openblas" && is_device_backend(backend)) {
            ++done;
            continue;  // --backend all: the OpenBLAS provider is host only (said once, above)
          }
          double seconds = 0;
          index_t nodes = 0;
          if (graph) {  // batch = events
            const GraphRows b = cycle_events(graph_pool, batch, width);
            nodes = b.nodes;
            std::vector<double> out(static_cast<std::size_t>((model->per_event() ? batch : b.nodes) * out_width));
            const auto session = model->graph_session(backend, static_cast<int>(threads), b.nodes, batch);
            const TensorView<const float, 2> xv(b.x.data(), {b.nodes, width});
            const TensorView<double, 2> ov(out.data(), {model->per_event() ? batch : b.nodes, out_width});
            seconds = time_call([&] { session->run(xv, b.offsets, ov); }, min_time);
          } else {
            std::vector<float> x(static_cast<std::size_t>(batch * width));
            for (long r = 0; r < batch; ++r) {
              std::copy_n(pool.begin() + (r % pool_rows) * width, width, x.begin() + r * width);
            }
            std::vector<double> out(static_cast<std::size_t>(batch * out_width));
            const auto session = model->session(backend, static_cast<int>(threads), batch, margin, gemm);
            const TensorView<const float, 2> xv(x.data(), {batch, width});
            const TensorView<double, 2> ov(out.data(), {batch, out_width});
            seconds = time_call([&] { session->run(xv, ov); }, min_time);
          }
          records.push_back(
              {backend, gemm, static_cast<int>(threads), batch, seconds * 1e9 / batch, batch / seconds, nodes});
          ++done;
          const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          if (elapsed > 3) std::fprintf(stderr, "bench: %zu/%zu done (%.0f s)\n", done, total, elapsed);
        }
      }
    }
  }
  // For graph models a row is an event: batch = events, ns_per_row = ns per event.
  if (format == "json") {
    std::printf("[\n");
    for (std::size_t i = 0; i < records.size(); ++i) {
      const Record& r = records[i];
      std::string gemm_field, graph_fields;
      if (show_gemm) gemm_field = ", \"gemm\": \"" + r.gemm + "\"";
      if (graph) graph_fields = ", \"unit\": \"event\", \"nodes\": " + std::to_string(r.nodes);
      std::printf(
          "  {\"model\": \"%s\", \"backend\": \"%s\"%s, \"threads\": %d, \"batch\": %ld, \"ns_per_row\": %.6g, "
          "\"rows_per_second\": %.6g%s}%s\n",
          json_escape(model_path).c_str(), r.backend.c_str(), gemm_field.c_str(), r.threads, r.batch, r.ns_per_row,
          r.rows_per_second, graph_fields.c_str(), i + 1 < records.size() ? "," : "");
    }
    std::printf("]\n");
  } else {
    std::printf("model: %s (%s)\n", model_path.c_str(), model->describe().c_str());
    if (graph) {
      if (opts.has("input")) {
        std::printf("batch = events (the input's events, cycled)\n");
      } else {
        std::printf("batch = events (random events of %lld nodes, inputs from N(0, 1))\n",
                    static_cast<long long>(bench_event_nodes));
      }
    }
    const auto gpus = device_backend_names();
    for (const auto& b : backends) {
      if (std::find(gpus.begin(), gpus.end(), b) != gpus.end()) {
        std::printf("%s: each batch timed from the host: inputs copied in, kernels, outputs copied out, wait\n",
                    b.c_str());
      }
    }
    // MLPs: the GEMM provider of each row; with several, each row's time over portml's in the same run.
    const bool ratio = show_gemm && gemms.size() > 1;
    std::printf("%-8s %s%7s %7s %14s %16s %14s%s\n", "backend", show_gemm ? "gemm     " : "", "threads",
                graph ? "events" : "batch", graph ? "ns/event" : "ns/row", graph ? "events/s" : "rows/s", "us/batch",
                ratio ? "   / portml" : "");
    for (const Record& r : records) {
      std::string gemm_column, ratio_column;
      if (show_gemm) gemm_column = r.gemm + std::string(r.gemm.size() < 9 ? 9 - r.gemm.size() : 1, ' ');
      if (ratio) {
        const auto base = std::find_if(records.begin(), records.end(), [&](const Record& p) {
          return p.gemm == "portml" && p.backend == r.backend && p.threads == r.threads && p.batch == r.batch;
        });
        char buf[32];
        std::snprintf(buf, sizeof buf, " %11.2f", base == records.end() ? NAN : r.ns_per_row / base->ns_per_row);
        ratio_column = buf;
      }
      std::printf("%-8s %s%7d %7ld %14.1f %16.4g %14.2f%s\n", r.backend.c_str(), gemm_column.c_str(), r.threads,
                  r.batch, r.ns_per_row, r.rows_per_second, r.ns_per_row * r.batch / 1e3, ratio_column.c_str());
    }
  }
  return 0;
}

}  // namespace portml::cli
