// SPDX-License-Identifier: Apache-2.0
// A reconstruction-style event loop. Worker threads (std::thread here, standing in for a framework's
// streams, e.g. TBB tasks in CMSSW) share one jet-tagger MLP, one BDT and one ParticleNet-like GNN, each
// loaded once and immutable; every thread owns its queue and workspaces and processes whole events: the
// tagger on the event's jets, the BDT on its candidates, the GNN on its particles (one graph). The
// results are checked bit for bit against a single-threaded pass, and the throughput of both is printed.
// event_loop_gpu.cpp runs the same loop on a GPU.
//
//   portml_example_event_loop [THREADS [EVENTS [TAGGER.onnx [BDT.json.gz [GNN.json]]]]]
//
// The default models are the zoo's (models/mlp_tagger.onnx, xgb_a_trigger.json.gz, particlenet.json).
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include <portml/bdt/predict.hpp>
#include <portml/portml.hpp>

#include "event_loop_common.hpp"

namespace {

using namespace event_loop;
using portml::TensorView;
using Queue = portml::Queue<portml::backend::Serial>;

//! A thread's queue and scratch memory, allocated once, before the loop, for the largest event.
struct Worker {
  const Models& m;
  Queue q;
  HostBytes tagger_ws{m.tagger.workspace_bytes(max_jets)};
  HostBytes gnn_ws{max_gnn_bytes([&](index_t n) { return m.gnn.workspace_bytes(q, n, 1); })};

  //! Everything one event needs, on the calling thread. Allocates nothing.
  void operator()(Event& e) {
    m.tagger.forward(q, TensorView<const float, 2>(e.jet_features.data(), {e.jets, m.tagger.input_size()}),
                     TensorView<float, 2>(e.tags.data(), {e.jets, m.tagger.output_size()}), tagger_ws.span());
    portml::bdt::predict(m.bdt,
                         TensorView<const float, 2>(e.candidate_features.data(), {e.candidates, m.bdt.num_features()}),
                         TensorView<float, 2>(e.scores.data(), {e.candidates, m.bdt.prediction_width()}));
    const std::int32_t offsets[2] = {0, static_cast<std::int32_t>(e.particles)};  // one graph: the event
    m.gnn.forward(q, TensorView<const float, 2>(e.points.data(), {e.particles, m.gnn.point_size()}),
                  TensorView<const float, 2>(e.particle_features.data(), {e.particles, m.gnn.feature_size()}),
                  TensorView<const std::int32_t, 1>(offsets, {2}),
                  TensorView<float, 2>(e.gnn_scores.data(), {1, m.gnn.output_size()}), gnn_ws.span());
  }
};

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::max(1, std::stoi(argv[1])) : 4;
  const int num_events = argc > 2 ? std::max(1, std::stoi(argv[2])) : 2000;
  try {
    const Models models = load_models(argc, argv, 3);
    std::vector<Event> reference = make_events(models, num_events, models.bdt.prediction_width()), events = reference;
    const auto make_worker = [&] { return Worker{models, Queue{}}; };
    const double one = run_loop(reference, 1, make_worker);
    const double many = run_loop(events, threads, make_worker);

    const bool equal = events == reference;
    std::printf("%d events: tagger %lld -> %lld, BDT of %d trees, GNN of %zu EdgeConv blocks -> %lld\n", num_events,
                static_cast<long long>(models.tagger.input_size()), static_cast<long long>(models.tagger.output_size()),
                static_cast<int>(models.bdt.num_trees()), models.gnn.blocks().size(),
                static_cast<long long>(models.gnn.output_size()));
    std::printf("1 thread:   %10.0f events/s\n%d threads: %10.0f events/s (%.2fx; %u hardware threads here)\n", one,
                threads, many, many / one, std::thread::hardware_concurrency());
    std::printf("results of %d threads equal to 1 thread, bit for bit: %s\n", threads, equal ? "yes" : "NO");
    return equal ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "portml_example_event_loop: %s\n", e.what());
    return 2;
  }
}
