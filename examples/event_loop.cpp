// SPDX-License-Identifier: Apache-2.0
// A reconstruction-style event loop. Worker threads (std::thread here, standing in for a framework's
// streams, e.g. TBB tasks in CMSSW) share one jet-tagger MLP and one BDT, each loaded once and
// immutable; every thread owns its queue and workspace and processes whole events: the tagger on the
// event's jets, the BDT on its candidates. The results are checked bit for bit against a
// single-threaded pass, and the throughput of both is printed.
//
//   portml_example_event_loop [THREADS [EVENTS [TAGGER.onnx [BDT.json.gz]]]]
//
// The default models are the zoo's (models/mlp_tagger.onnx, models/xgb_a_trigger.json.gz).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <portml/bdt/forest.hpp>
#include <portml/bdt/predict.hpp>
#include <portml/io/forest_loaders.hpp>
#include <portml/io/onnx.hpp>
#include <portml/layers/mlp.hpp>
#include <portml/portml.hpp>

namespace {

using portml::index_t;

//! The models every event runs, loaded once and shared read-only by all threads. A graph network on
//! the event's particles joins the same way: one more const member here, its scratch in Workspace, and
//! one more step in process_event().
struct Models {
  portml::layers::Mlp<float> tagger;
  portml::bdt::Forest<float> bdt;
};

//! One event's inputs (as the framework would hand them over) and the space for its outputs.
struct Event {
  index_t jets = 0, candidates = 0;
  std::vector<float> jet_features, candidate_features;  // [jets, 16], [candidates, 20]
  std::vector<float> tags, scores;                      // [jets, 6], [candidates, 1]
};

//! A thread's private scratch memory: allocated once, before the loop, for the largest event.
class Workspace {
 public:
  Workspace(const Models& m, index_t max_jets)
      : bytes_(m.tagger.workspace_bytes(max_jets)),
        data_(static_cast<std::byte*>(::operator new (bytes_, std::align_val_t{64}))) {}
  ~Workspace() { ::operator delete (data_, std::align_val_t{64}); }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  std::span<std::byte> tagger() const { return {data_, bytes_}; }

 private:
  std::size_t bytes_;
  std::byte* data_;
};

constexpr index_t max_jets = 8, max_candidates = 24;

std::vector<Event> make_events(const Models& m, int n) {
  std::vector<Event> events(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    std::mt19937 rng(static_cast<unsigned>(i));  // event i is the same whichever thread makes it
    std::normal_distribution<float> feature(0.0f, 1.0f);
    Event& e = events[static_cast<std::size_t>(i)];
    e.jets = std::uniform_int_distribution<index_t>(1, max_jets)(rng);
    e.candidates = std::uniform_int_distribution<index_t>(1, max_candidates)(rng);
    e.jet_features.resize(static_cast<std::size_t>(e.jets * m.tagger.input_size()));
    e.candidate_features.resize(static_cast<std::size_t>(e.candidates * m.bdt.num_features()));
    for (float& v : e.jet_features) v = feature(rng);
    for (float& v : e.candidate_features) v = feature(rng);
    e.tags.resize(static_cast<std::size_t>(e.jets * m.tagger.output_size()));
    e.scores.resize(static_cast<std::size_t>(e.candidates * m.bdt.prediction_width()));
  }
  return events;
}

//! Everything one event needs, on the calling thread, with its own queue and workspace. Allocates nothing.
void process_event(const Models& m, Event& e, portml::Queue<portml::backend::Serial>& q, const Workspace& ws) {
  using portml::TensorView;
  m.tagger.forward(q, TensorView<const float, 2>(e.jet_features.data(), {e.jets, m.tagger.input_size()}),
                   TensorView<float, 2>(e.tags.data(), {e.jets, m.tagger.output_size()}), ws.tagger());
  portml::bdt::predict(m.bdt,
                       TensorView<const float, 2>(e.candidate_features.data(), {e.candidates, m.bdt.num_features()}),
                       TensorView<float, 2>(e.scores.data(), {e.candidates, m.bdt.prediction_width()}));
}

//! Runs the whole loop on `threads` workers taking events in turn; returns events per second.
double run_loop(const Models& m, std::vector<Event>& events, int threads) {
  std::atomic<std::size_t> next{0};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      portml::Queue<portml::backend::Serial> q;  // one queue and one workspace per thread, as per stream
      const Workspace ws(m, max_jets);
      for (std::size_t i = next++; i < events.size(); i = next++) process_event(m, events[i], q, ws);
    });
  }
  for (auto& w : workers) w.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return static_cast<double>(events.size()) / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::max(1, std::stoi(argv[1])) : 4;
  const int num_events = argc > 2 ? std::max(1, std::stoi(argv[2])) : 2000;
  const std::string tagger_file = argc > 3 ? argv[3] : PORTML_MODELS_DIR "/mlp_tagger.onnx";
  const std::string bdt_file = argc > 4 ? argv[4] : PORTML_MODELS_DIR "/xgb_a_trigger.json.gz";
  try {
    const Models models{portml::layers::Mlp<float>(portml::io::load_onnx(tagger_file)),
                        portml::bdt::Forest<float>(portml::io::load_xgboost_json(bdt_file))};

    std::vector<Event> reference = make_events(models, num_events), events = reference;
    const double one = run_loop(models, reference, 1);
    const double many = run_loop(models, events, threads);

    bool equal = true;
    for (std::size_t i = 0; i < events.size(); ++i) {
      equal = equal && events[i].tags == reference[i].tags && events[i].scores == reference[i].scores;
    }
    std::printf("%d events: tagger %s (%lld -> %lld), BDT %s (%d trees)\n", num_events, tagger_file.c_str(),
                static_cast<long long>(models.tagger.input_size()), static_cast<long long>(models.tagger.output_size()),
                bdt_file.c_str(), static_cast<int>(models.bdt.num_trees()));
    std::printf("1 thread:   %10.0f events/s\n%d threads: %10.0f events/s (%.2fx; %u hardware threads here)\n", one,
                threads, many, many / one, std::thread::hardware_concurrency());
    std::printf("results of %d threads equal to 1 thread, bit for bit: %s\n", threads, equal ? "yes" : "NO");
    return equal ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "portml_example_event_loop: %s\n", e.what());
    return 2;
  }
}
