// SPDX-License-Identifier: Apache-2.0
// The event loop of event_loop.cpp on a GPU (CUDA or HIP, whichever portml was built with). The host
// models are loaded once; their device copies (DeviceMlp, DeviceForest, DeviceParticleNet) are made
// once and shared by every thread. Each thread owns a queue (a stream) and device buffers for the
// largest event, and per event copies the inputs in, launches the three models, copies the outputs
// out, all asynchronously, then waits once. The results of several threads are checked bit for bit
// against a single-threaded pass. With no device it says so and exits 0.
//
//   portml_example_event_loop_gpu [THREADS [EVENTS [TAGGER.onnx [BDT.json.gz [GNN.json]]]]]
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <portml/bdt/device_forest.hpp>
#include <portml/layers/device_mlp.hpp>
#include <portml/portml.hpp>
#if PORTML_ENABLE_CUDA
#include <portml/portability/cuda.hpp>
using Gpu = portml::backend::Cuda;
#else
#include <portml/portability/hip.hpp>
using Gpu = portml::backend::Hip;
#endif

#include "event_loop_common.hpp"

namespace {

using namespace event_loop;
using portml::TensorView;
using Space = portml::memory_space_t<Gpu>;
using Queue = portml::Queue<Gpu>;
template <class T, std::size_t Rank>
using DeviceTensor = portml::Tensor<T, Rank, Space>;

//! The device copies of the models, made once. DeviceParticleNet keeps a pointer to the host model,
//! which must outlive it.
struct DeviceModels {
  DeviceModels(Queue& q, const Models& m) : tagger(q, m.tagger), bdt(q, m.bdt), gnn(q, m.gnn) {}
  portml::layers::DeviceMlp<float, Gpu> tagger;
  portml::bdt::DeviceForest<float, Gpu> bdt;
  portml::layers::DeviceParticleNet<Gpu, float> gnn;
};

//! The first `rows` rows of a contiguous device buffer.
template <class T>
TensorView<T, 2, Space> rows(DeviceTensor<T, 2>& t, index_t n) {
  return {t.data(), {n, t.extent(1)}};
}
template <class T>
TensorView<T, 2> rows(std::vector<T>& v, index_t n, index_t width) {
  return {v.data(), {n, width}};
}

//! A thread's queue and device buffers, allocated once for the largest event.
struct Worker {
  const Models& m;
  const DeviceModels& d;
  Queue q{0};
  DeviceTensor<float, 2> jets{{max_jets, m.tagger.input_size()}}, tags{{max_jets, m.tagger.output_size()}};
  DeviceTensor<float, 2> candidates{{max_candidates, m.bdt.num_features()}},
      scores{{max_candidates, m.bdt.num_outputs()}};
  DeviceTensor<float, 2> points{{max_particles, m.gnn.point_size()}}, features{{max_particles, m.gnn.feature_size()}},
      gnn_scores{{1, m.gnn.output_size()}};
  DeviceTensor<std::int32_t, 1> offsets{{2}};
  DeviceTensor<std::byte, 1> tagger_ws{{static_cast<index_t>(d.tagger.workspace_bytes(max_jets))}};
  DeviceTensor<std::byte, 1> gnn_ws{
      {static_cast<index_t>(max_gnn_bytes([&](index_t n) { return d.gnn.workspace_bytes(n, 1); }))}};

  //! One event: copies in, three launches, copies out, all queued on q; then one wait.
  void operator()(Event& e) {
    using portml::deep_copy;
    const std::int32_t offs[2] = {0, static_cast<std::int32_t>(e.particles)};  // one graph: the event
    deep_copy(q, rows(jets, e.jets), rows(e.jet_features, e.jets, m.tagger.input_size()));
    deep_copy(q, rows(candidates, e.candidates), rows(e.candidate_features, e.candidates, m.bdt.num_features()));
    deep_copy(q, rows(points, e.particles), rows(e.points, e.particles, m.gnn.point_size()));
    deep_copy(q, rows(features, e.particles), rows(e.particle_features, e.particles, m.gnn.feature_size()));
    deep_copy(q, offsets.view(), TensorView<const std::int32_t, 1>(offs, {2}));
    d.tagger.forward(q, rows(jets, e.jets), rows(tags, e.jets), tagger_ws.view());
    portml::bdt::predict_margins(q, d.bdt, rows(candidates, e.candidates), rows(scores, e.candidates));
    d.gnn.forward(q, TensorView<const float, 2, Space>(rows(points, e.particles)),
                  TensorView<const float, 2, Space>(rows(features, e.particles)),
                  TensorView<const std::int32_t, 1, Space>(offsets.view()), gnn_scores.view(),
                  std::span<std::byte>(gnn_ws.data(), static_cast<std::size_t>(gnn_ws.extent(0))));
    deep_copy(q, rows(e.tags, e.jets, m.tagger.output_size()), rows(tags, e.jets));
    deep_copy(q, rows(e.scores, e.candidates, m.bdt.num_outputs()), rows(scores, e.candidates));
    deep_copy(q, rows(e.gnn_scores, 1, m.gnn.output_size()), gnn_scores.view());
    q.wait();  // the outputs are on the host, and offs may go
  }
};

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::max(1, std::stoi(argv[1])) : 4;
  const int num_events = argc > 2 ? std::max(1, std::stoi(argv[2])) : 2000;
  std::string reason;
  if (portml::device_count<Gpu>(&reason) == 0) {
    std::printf("portml_example_event_loop_gpu: no %s device here (%s): nothing to run\n", Gpu::name, reason.c_str());
    return 0;
  }
  try {
    const Models models = load_models(argc, argv, 3);  // outlives the device copies
    Queue setup(0);
    const DeviceModels device(setup, models);
    // The BDT gives margins on the device (the probabilities are a host transform of them).
    std::vector<Event> reference = make_events(models, num_events, models.bdt.num_outputs()), events = reference;
    const auto make_worker = [&] { return Worker{models, device}; };
    const double one = run_loop(reference, 1, make_worker);
    const double many = run_loop(events, threads, make_worker);

    const bool equal = events == reference;
    std::printf("%d events on %s (%s)\n", num_events, Gpu::name, portml::device_info<Gpu>(0).name.c_str());
    std::printf("1 thread:   %10.0f events/s\n%d threads: %10.0f events/s (%.2fx)\n", one, threads, many, many / one);
    std::printf("results of %d threads equal to 1 thread, bit for bit: %s\n", threads, equal ? "yes" : "NO");
    return equal ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "portml_example_event_loop_gpu: %s\n", e.what());
    return 2;
  }
}
