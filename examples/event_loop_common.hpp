// SPDX-License-Identifier: Apache-2.0
// What event_loop.cpp and event_loop_gpu.cpp share: the three zoo models (loaded once, immutable), the
// events (inputs as a framework would hand them over, and space for the outputs), and the loop that
// hands whole events to worker threads.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <new>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <portml/bdt/forest.hpp>
#include <portml/io/forest_loaders.hpp>
#include <portml/io/gnn_json.hpp>
#include <portml/io/onnx.hpp>
#include <portml/layers/gnn_models.hpp>
#include <portml/layers/mlp.hpp>

namespace event_loop {

using portml::index_t;

//! The models every event runs, loaded once and shared read-only by all threads.
struct Models {
  portml::layers::Mlp<float> tagger;       // on the event's jets
  portml::bdt::Forest<float> bdt;          // on its candidates
  portml::layers::ParticleNet<float> gnn;  // on its particles, one graph per event
};

//! [TAGGER.onnx [BDT.json.gz [GNN.json]]] from argv[first...], the zoo's models by default.
inline Models load_models(int argc, char** argv, int first) {
  const auto arg = [&](int i, const char* zoo) { return argc > first + i ? std::string(argv[first + i]) : zoo; };
  const portml::layers::GnnModelConfig gnn = portml::io::load_gnn_json(arg(2, PORTML_MODELS_DIR "/particlenet.json"));
  if (gnn.kind != portml::layers::GnnModelConfig::Kind::particlenet) {
    throw portml::NotSupported("event loop: the GNN must be a ParticleNet-like model");
  }
  return {portml::layers::Mlp<float>(portml::io::load_onnx(arg(0, PORTML_MODELS_DIR "/mlp_tagger.onnx"))),
          portml::bdt::Forest<float>(portml::io::load_xgboost_json(arg(1, PORTML_MODELS_DIR "/xgb_a_trigger.json.gz"))),
          portml::layers::ParticleNet<float>(gnn.particlenet)};
}

constexpr index_t max_jets = 8, max_candidates = 24, max_particles = 40;

//! One event's inputs and the space for its outputs (row-major).
struct Event {
  index_t jets = 0, candidates = 0, particles = 0;
  std::vector<float> jet_features, candidate_features;  // [jets, 16], [candidates, 20]
  std::vector<float> points, particle_features;         // [particles, 2], [particles, 5]
  std::vector<float> tags, scores, gnn_scores;          // [jets, 6], [candidates, 1], [1, 4]
  bool operator==(const Event&) const = default;        // bit for bit (no NaN comes out of these models)
};

inline std::vector<Event> make_events(const Models& m, int n, index_t bdt_width) {
  std::vector<Event> events(static_cast<std::size_t>(n));
  const auto fill = [](std::vector<float>& v, index_t size, auto& rng) {
    std::normal_distribution<float> feature(0.0f, 1.0f);
    v.resize(static_cast<std::size_t>(size));
    for (float& x : v) x = feature(rng);
  };
  for (int i = 0; i < n; ++i) {
    std::mt19937 rng(static_cast<unsigned>(i));  // event i is the same whichever thread makes it
    Event& e = events[static_cast<std::size_t>(i)];
    e.jets = std::uniform_int_distribution<index_t>(1, max_jets)(rng);
    e.candidates = std::uniform_int_distribution<index_t>(1, max_candidates)(rng);
    e.particles = std::uniform_int_distribution<index_t>(1, max_particles)(rng);
    fill(e.jet_features, e.jets * m.tagger.input_size(), rng);
    fill(e.candidate_features, e.candidates * m.bdt.num_features(), rng);
    fill(e.points, e.particles * m.gnn.point_size(), rng);
    fill(e.particle_features, e.particles * m.gnn.feature_size(), rng);
    e.tags.resize(static_cast<std::size_t>(e.jets * m.tagger.output_size()));
    e.scores.resize(static_cast<std::size_t>(e.candidates * bdt_width));
    e.gnn_scores.resize(static_cast<std::size_t>(m.gnn.output_size()));
  }
  return events;
}

//! Runs `threads` workers taking events in turn; each first makes its private state (queue, workspaces)
//! with make_worker(), a callable `worker(event)`. Returns events per second.
template <class MakeWorker>
double run_loop(std::vector<Event>& events, int threads, const MakeWorker& make_worker) {
  std::atomic<std::size_t> next{0};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      auto worker = make_worker();  // one queue and one workspace per thread, as per framework stream
      for (std::size_t i = next++; i < events.size(); i = next++) worker(events[i]);
    });
  }
  for (auto& w : workers) w.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return static_cast<double>(events.size()) / seconds;
}

//! Host scratch memory, 64-byte aligned, allocated once before the loop.
class HostBytes {
 public:
  explicit HostBytes(std::size_t bytes)
      : bytes_(bytes), data_(static_cast<std::byte*>(::operator new (bytes_, std::align_val_t{64}))) {}
  ~HostBytes() { ::operator delete (data_, std::align_val_t{64}); }
  HostBytes(const HostBytes&) = delete;
  HostBytes& operator=(const HostBytes&) = delete;
  std::span<std::byte> span() const { return {data_, bytes_}; }

 private:
  std::size_t bytes_;
  std::byte* data_;
};

//! The GNN's workspace for one event of up to max_particles particles; `bytes(n)` is its need for n.
template <class Bytes>
std::size_t max_gnn_bytes(const Bytes& bytes) {
  std::size_t most = 0;
  for (index_t n = 1; n <= max_particles; ++n) most = std::max(most, bytes(n));
  return most;
}

}  // namespace event_loop
