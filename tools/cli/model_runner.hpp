// SPDX-License-Identifier: Apache-2.0
//! \file
//! What the command-line tool needs of a loaded model, whatever its kind: its input and output
//! widths, and sessions that evaluate batches of rows on one backend with preallocated workspace.
//! Each model kind (forest, MLP, GNN) implements it in tools/runners/ and registers a loader for the
//! file formats it reads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <portml/core/tensor_view.hpp>
#include <portml/io/format.hpp>
#include <portml/io/table.hpp>

namespace portml::cli {

//! Evaluates batches on one backend and thread count; owns its workspace, so run() allocates nothing
//! once the session exists (what `bench` times).
class Session {
 public:
  virtual ~Session() = default;
  //! x: [rows, input_width], out: [rows, output_width]; rows <= the session's max_rows.
  virtual void run(TensorView<const float, 2> x, TensorView<double, 2> out) = 0;
};

//! Evaluates batches of events of a graph model on one backend and thread count; owns its workspace, so
//! run() allocates nothing once the session exists.
class GraphSession {
 public:
  virtual ~GraphSession() = default;
  //! x: [nodes, input_width], the rows of event e in [offsets[e], offsets[e + 1]) (offsets[0] = 0, the
  //! last = nodes); out: [events, output_width] (per-event models) or [nodes, output_width]. At most the
  //! session's max_nodes nodes and max_events events.
  virtual void run(TensorView<const float, 2> x, std::span<const std::int32_t> offsets, TensorView<double, 2> out) = 0;
};

class ModelRunner {
 public:
  virtual ~ModelRunner() = default;
  //! One line: kind, size, objective...
  virtual std::string describe() const = 0;
  virtual index_t input_width() const = 0;
  virtual index_t output_width(bool margin) const = 0;
  //! Whether raw scores exist (forests); `--margin` is an error otherwise.
  virtual bool has_margin() const { return false; }
  //! Graph models take node rows grouped by event and give one output row per node or per event.
  virtual bool is_graph() const { return false; }
  //! Graph models: one output row per event (ParticleNet-like) rather than per node (GravNet).
  virtual bool per_event() const { return false; }
  //! Precision of the model's outputs: float32 outputs are written with 9 significant digits (exact
  //! round trip), float64 with 17.
  virtual io::DType output_dtype() const { return io::DType::float32; }
  //! Backends of this build that this model runs on.
  virtual std::vector<std::string> backends() const = 0;
  //! The GEMM providers (`--gemm`) this model can run its products on, on the host backends: for MLPs
  //! "portml", and "openblas" in builds with PORTML_ENABLE_OPENBLAS; empty for the other models (forests
  //! have no GEMM, and the graph models run portml's).
  virtual std::vector<std::string> gemm_providers() const { return {}; }
  //! A session for `backend` with `threads` host threads, for batches of up to `max_rows` rows, its
  //! products on GEMM provider `gemm` ("portml", or one of gemm_providers(); checked by the caller).
  virtual std::unique_ptr<Session> session(const std::string& backend, int threads, index_t max_rows, bool margin,
                                           const std::string& gemm) const = 0;
  //! Graph models: a session for `backend` with `threads` host threads, for batches of up to `max_nodes`
  //! nodes in `max_events` events. Throws UsageError for the other models.
  virtual std::unique_ptr<GraphSession> graph_session(const std::string& backend, int threads, index_t max_nodes,
                                                      index_t max_events) const;
};

//! Loads `path` (already identified as `format`) into a runner; registered per format.
using Loader = std::function<std::unique_ptr<ModelRunner>(const std::string& path)>;

//! Registers the loader of a format (each model kind's register_*_runners() calls it).
void register_loader(io::ModelFormat format, Loader loader);

//! Registers every model kind compiled into the tool (tools/runners/).
void register_all_runners();

//! Loads any supported model file, the format told from its content. Throws io::FormatError.
std::unique_ptr<ModelRunner> load_model(const std::string& path);

//! The formats a loader is registered for in this build.
std::vector<io::ModelFormat> supported_formats();

}  // namespace portml::cli
