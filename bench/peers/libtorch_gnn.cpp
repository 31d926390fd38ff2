// SPDX-License-Identifier: Apache-2.0
// libtorch C++ peers of bench_gnn.cpp's kNN, EdgeConv, ParticleNet-like and GravNet cases: the same
// configurations and inputs (gnn_cases.hpp), written as a C++ user of libtorch writes them: modules of
// the C++ frontend, torch::InferenceMode, torch::set_num_threads, inputs made once outside the timed
// loop, and the plain-torch formulation of bench/peers/torch_gnn_ops.py and docs/gnn.md (equal-size
// events as [B, P, F], kNN by ‖x‖² − 2x·y + ‖y‖² with bmm and topk, or cdist and topk; BatchNorm folded;
// no first-layer factorisation). Each case is named BM_libtorch_<portml case> with the same arguments;
// before timing it runs portml's implementation once on the same data and puts the agreement in its label.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <limits>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include <portml/kernels/graph.hpp>
#include <portml/layers/gnn_models.hpp>

#include "../gnn_cases.hpp"
#include "libtorch_common.hpp"

namespace {

using namespace portml_bench::gnn;
namespace lt = portml_bench::libtorch;
namespace g = portml::kernels::graph;

//! A copy of x [rows, cols] as a torch tensor of the given shape.
torch::Tensor to_torch(const Tensor<float, 2>& x, torch::IntArrayRef shape) {
  return torch::from_blob(const_cast<float*>(x.data()), shape, torch::kFloat32).clone();
}

//! The k nearest by squared L2 per event of x [B, P, D]: ‖x_i‖² − 2 x_i·x_j + ‖x_j‖² (bmm), topk; with
//! drop_self the nearest (the point itself) is left out. Returns (d², index within the event) [B, P, k].
std::tuple<torch::Tensor, torch::Tensor> knn_batched(const torch::Tensor& x, int64_t k, bool drop_self) {
  const auto xx = (x * x).sum(-1);
  const auto d2 = xx.unsqueeze(2) - 2.0 * torch::bmm(x, x.transpose(1, 2)) + xx.unsqueeze(1);
  auto [val, idx] = d2.topk(k + (drop_self ? 1 : 0), -1, /*largest=*/false, /*sorted=*/true);
  if (!drop_self) return {val, idx};
  return {val.narrow(-1, 1, k), idx.narrow(-1, 1, k)};
}

//! Rows x [B, P, F] at the per-event indices idx [B, P, k]: [B, P, k, F].
torch::Tensor gather_neighbours(const torch::Tensor& x, const torch::Tensor& idx) {
  const int64_t b = x.size(0), p = x.size(1), f = x.size(2), k = idx.size(2);
  const auto base = (torch::arange(b, torch::kLong) * p).view({b, 1, 1});
  return x.reshape({b * p, f}).index_select(0, (idx + base).reshape(-1)).view({b, p, k, f});
}

//! ParticleNet's EdgeConv: kNN (self excluded), MLP on [x_i, x_j − x_i], mean over k, + shortcut, ReLU.
struct EdgeConvImpl : torch::nn::Module {
  int64_t k;
  torch::nn::Sequential mlp;
  torch::nn::Linear shortcut{nullptr};
  explicit EdgeConvImpl(const L::EdgeConvConfig& c)
      : k(c.k),
        mlp(register_module("mlp", lt::sequential(c.mlp))),
        shortcut(register_module("shortcut", lt::linear(c.shortcut.at(0)))) {}
  torch::Tensor forward(const torch::Tensor& coords, const torch::Tensor& x) {
    const auto idx = std::get<1>(knn_batched(coords, k, true));
    const auto xj = gather_neighbours(x, idx);
    const auto xi = x.unsqueeze(2).expand_as(xj);
    const auto e = mlp->forward(torch::cat({xi, xj - xi}, -1)).mean(2);
    return torch::relu(e + shortcut->forward(x));
  }
};
TORCH_MODULE(EdgeConv);

struct ParticleNetImpl : torch::nn::Module {
  std::vector<EdgeConv> blocks;
  torch::nn::Sequential head;
  explicit ParticleNetImpl(const L::ParticleNetConfig& c) : head(register_module("head", lt::sequential(c.head))) {
    for (std::size_t i = 0; i < c.blocks.size(); ++i)
      blocks.push_back(register_module(std::string("block").append(std::to_string(i)), EdgeConv(c.blocks[i])));
  }
  torch::Tensor forward(const torch::Tensor& points, torch::Tensor x) {
    for (std::size_t i = 0; i < blocks.size(); ++i) x = blocks[i]->forward(i == 0 ? points : x, x);
    return head->forward(x.mean(1));
  }
};
TORCH_MODULE(ParticleNet);

//! PyG GravNetConv: s = lin_s(x), h = lin_h(x), the k nearest in s (self included), w = exp(−10 d²),
//! mean and max of w·h_j, then lin_out1(x) + lin_out2([mean, max]) and ReLU. portml's output Dense on
//! [x, mean, max] is split into lin_out1 (its first F columns, no bias) and lin_out2 (the rest, bias).
struct GravNetImpl : torch::nn::Module {
  int64_t k;
  torch::nn::Linear lin_s{nullptr}, lin_h{nullptr}, lin_out1{nullptr}, lin_out2{nullptr};
  explicit GravNetImpl(const L::GravNetConfig& c) : k(c.k) {
    const auto& out = c.output.at(0);
    const auto in = c.space.inputs;
    lin_s = register_module("lin_s", lt::linear(c.space));
    lin_h = register_module("lin_h", lt::linear(c.propagate));
    lin_out1 = register_module("lin_out1", lt::linear(out, 0, in, false));
    lin_out2 = register_module("lin_out2", lt::linear(out, in));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    const auto s = lin_s->forward(x), h = lin_h->forward(x);
    const auto [d2, idx] = knn_batched(s, k, false);
    const auto msg = gather_neighbours(h, idx) * torch::exp(-10.0 * d2.clamp_min(0)).unsqueeze(-1);
    const auto agg = torch::cat({msg.mean(2), msg.amax(2)}, -1);
    return torch::relu(lin_out1->forward(x) + lin_out2->forward(agg));
  }
};
TORCH_MODULE(GravNet);

struct GravNetModelImpl : torch::nn::Module {
  std::vector<GravNet> blocks;
  torch::nn::Sequential head;
  explicit GravNetModelImpl(const L::GravNetModelConfig& c) : head(register_module("head", lt::sequential(c.head))) {
    for (std::size_t i = 0; i < c.blocks.size(); ++i)
      blocks.push_back(register_module(std::string("block").append(std::to_string(i)), GravNet(c.blocks[i])));
  }
  torch::Tensor forward(torch::Tensor x) {
    for (auto& b : blocks) x = b->forward(x);
    return head->forward(x);
  }
};
TORCH_MODULE(GravNetModel);

//! The agreement check of a case, computed once per case (repetitions call the function again); the
//! key is the case's name and arguments.
template <class F>
const std::string& checked_once(const char* name, const benchmark::State& state, int args, const F& compute) {
  static std::map<std::string, std::string> done;
  std::string key = name;
  for (int i = 0; i < args; ++i) key.append("/").append(std::to_string(state.range(i)));
  auto it = done.find(key);
  if (it == done.end()) it = done.emplace(key, compute()).first;
  return it->second;
}

//! Runs portml's forward once on a Serial queue with a workspace of the given size.
template <class F>
void portml_once(std::size_t workspace_bytes, const F& f) {
  portml::Queue<portml::backend::Serial> q;
  std::vector<std::byte> ws(workspace_bytes);
  f(q, ws);
}

//! kNN, k = 16, self excluded, cdist + topk(k + 1) on one event: args as BM_knn_graph (events = 1).
//! The check compares the neighbour sets with portml's knn_graph.
void knn_case(benchmark::State& state, int threads) {
  const index_t n = state.range(1), d = state.range(2), k = 16;
  const auto blas_threads = lt::set_threads(threads);
  const auto xs = state.range(3) == 0 ? uniform_points(n, d, knn_seed) : normal_points(n, d, knn_seed);
  const torch::InferenceMode guard;
  const auto x = to_torch(xs, {n, d});
  const auto& ok = checked_once(threads == 1 ? "knn_graph" : "knn_graph_2threads", state, 4, [&] {
    const auto off = even_offsets(1, n);
    Tensor<Index, 2> nbr({n, k});
    Tensor<float, 2> d2({n, k});
    portml::Queue<portml::backend::Serial> q;
    g::knn_graph<portml::backend::Serial, float, Index>(q, xs.view(), off.view(), nbr.view(), d2.view());
    const auto idx = std::get<1>(torch::cdist(x, x).topk(k + 1, -1, false, true)).narrow(1, 1, k).contiguous();
    const auto* ti = idx.data_ptr<int64_t>();
    // A row whose sets differ is a tie when the two sets' squared distances, computed exactly in double
    // and sorted, agree within the float rounding of the GEMM form ‖x_i‖² − 2 x_i·x_j + ‖x_j‖² that
    // cdist uses (8 ε (‖x_i‖² + ‖x_j‖²)): a swap at the k-th neighbour that float cannot resolve.
    const auto norm2 = [&](int64_t i) {
      double s2 = 0;
      for (index_t c = 0; c < d; ++c) s2 += double(xs.data()[i * d + c]) * double(xs.data()[i * d + c]);
      return s2;
    };
    const auto sorted_d2 = [&](index_t i, const std::vector<int64_t>& js) {
      std::vector<double> out;
      for (const int64_t j : js) {
        double s2 = 0;
        for (index_t c = 0; c < d; ++c) {
          const double t = double(xs.data()[i * d + c]) - double(xs.data()[j * d + c]);
          s2 += t * t;
        }
        out.push_back(s2);
      }
      std::sort(out.begin(), out.end());
      return out;
    };
    index_t differ = 0, ties = 0, portml_nearer = 0;
    for (index_t i = 0; i < n; ++i) {
      std::vector<int64_t> a(ti + i * k, ti + (i + 1) * k), b(nbr.data() + i * k, nbr.data() + (i + 1) * k);
      std::sort(a.begin(), a.end());
      std::sort(b.begin(), b.end());
      if (a == b) continue;
      ++differ;
      const auto da = sorted_d2(i, a), db = sorted_d2(i, b);
      double largest = 0;
      for (const int64_t j : a) largest = std::max(largest, norm2(j));
      for (const int64_t j : b) largest = std::max(largest, norm2(j));
      const double tol = 8.0 * std::numeric_limits<float>::epsilon() * (norm2(i) + largest);
      bool tie = true;
      for (std::size_t j = 0; j < da.size(); ++j) tie = tie && std::abs(da[j] - db[j]) <= tol;
      ties += tie ? 1 : 0;
      portml_nearer += db.back() <= da.back() ? 1 : 0;  // b: portml's set; exact k-th distance
    }
    std::string text = differ == ties ? "check=ok(" : "check=MISMATCH(";
    text.append(std::to_string(differ)).append("/").append(std::to_string(n));
    text.append(" neighbour sets differ from portml, ").append(std::to_string(ties));
    text.append(" of them ties within float rounding; portml's k-th neighbour the exact nearer in ");
    return text.append(std::to_string(portml_nearer)).append(")");
  });
  for (auto _ : state) {
    auto [val, idx] = torch::cdist(x, x).topk(k + 1, -1, /*largest=*/false, /*sorted=*/true);
    auto nbr = idx.narrow(1, 1, k);
    benchmark::DoNotOptimize(nbr.data_ptr<int64_t>());
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.SetLabel(std::string("cdist+topk ").append(lt::label(threads, blas_threads)).append(" ").append(ok));
}
void BM_libtorch_knn_graph(benchmark::State& state) { knn_case(state, 1); }
BENCHMARK(BM_libtorch_knn_graph)
    ->ArgNames({"events", "points", "D", "normal"})
    ->Args({1, 10000, 3, 0})
    ->Args({1, 10000, 16, 1})
    ->Unit(benchmark::kMillisecond);

void BM_libtorch_knn_graph_2threads(benchmark::State& state) { knn_case(state, 2); }
BENCHMARK(BM_libtorch_knn_graph_2threads)
    ->ArgNames({"events", "points", "D", "normal"})
    ->Args({1, 10000, 3, 0})
    ->Args({1, 10000, 16, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

//! EdgeConv block: args (events, points per event, threads) as BM_edgeconv_block.
void BM_libtorch_edgeconv_block(benchmark::State& state) {
  const index_t events = state.range(0), per = state.range(1), n = events * per;
  const int threads = static_cast<int>(state.range(2));
  const auto blas_threads = lt::set_threads(threads);
  const auto cfg = edgeconv_block_config();
  EdgeConv block(cfg);
  block->eval();
  const auto xs = normal_points(n, 16, edgeconv_seed);
  const torch::InferenceMode guard;
  const auto x = to_torch(xs, {events, per, 16});
  const auto& ok = checked_once("edgeconv_block", state, 3, [&] {
    const L::EdgeConvBlock<float> ref(cfg, 16);
    const auto off = even_offsets(events, per);
    Tensor<float, 2> y({n, ref.output_size()});
    portml_once(ref.workspace_bytes(n, events, 1), [&](auto& q, auto& ws) {
      ref.forward<portml::backend::Serial>(q, xs.view(), xs.view(), off.view(), y.view(), ws);
    });
    return lt::check(block->forward(x, x), y.data(), n, ref.output_size());
  });
  for (auto _ : state) {
    auto y = block->forward(x, x);
    benchmark::DoNotOptimize(y.data_ptr<float>());
  }
  state.SetItemsProcessed(state.iterations() * events);
  state.SetLabel(lt::label(threads, blas_threads) + " " + ok);
}
BENCHMARK(BM_libtorch_edgeconv_block)
    ->ArgNames({"events", "points", "threads"})
    ->Args({1000, 50, 1})
    ->Args({1000, 50, 2})
    ->Args({1, 1000, 1})
    ->Args({1, 1000, 2})
    ->Args({1, 10000, 1})
    ->Args({1, 10000, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

//! The ParticleNet-like model: args (events, points per event, threads) as BM_particlenet.
void BM_libtorch_particlenet(benchmark::State& state) {
  const index_t events = state.range(0), per = state.range(1), n = events * per;
  const int threads = static_cast<int>(state.range(2));
  const auto blas_threads = lt::set_threads(threads);
  const auto cfg = particlenet_config();
  ParticleNet model(cfg);
  model->eval();
  const auto ps = normal_points(n, 2, particlenet_points_seed);
  const auto xs = normal_points(n, 16, particlenet_features_seed);
  const torch::InferenceMode guard;
  const auto pts = to_torch(ps, {events, per, 2});
  const auto x = to_torch(xs, {events, per, 16});
  const auto& ok = checked_once("particlenet", state, 3, [&] {
    const L::ParticleNet<float> ref(cfg);
    const auto off = even_offsets(events, per);
    Tensor<float, 2> y({events, ref.output_size()});
    portml_once(ref.workspace_bytes(n, events, 1), [&](auto& q, auto& ws) {
      ref.forward<portml::backend::Serial>(q, ps.view(), xs.view(), off.view(), y.view(), ws);
    });
    return lt::check(model->forward(pts, x), y.data(), events, ref.output_size());
  });
  for (auto _ : state) {
    auto y = model->forward(pts, x);
    benchmark::DoNotOptimize(y.data_ptr<float>());
  }
  state.SetItemsProcessed(state.iterations() * events);
  state.SetLabel(lt::label(threads, blas_threads) + " " + ok);
}
BENCHMARK(BM_libtorch_particlenet)
    ->ArgNames({"events", "points", "threads"})
    ->Args({200, 50, 1})
    ->Args({200, 50, 2})
    ->Args({1, 50, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

//! GravNet block (PyG convention): args (events, points per event, threads) as BM_gravnet_block.
void BM_libtorch_gravnet_block(benchmark::State& state) {
  const index_t events = state.range(0), per = state.range(1), n = events * per;
  const int threads = static_cast<int>(state.range(2));
  const auto blas_threads = lt::set_threads(threads);
  const auto cfg = gravnet_block_config();
  GravNet block(cfg);
  block->eval();
  const auto xs = normal_points(n, 64, gravnet_block_seed);
  const torch::InferenceMode guard;
  const auto x = to_torch(xs, {events, per, 64});
  const auto& ok = checked_once("gravnet_block", state, 3, [&] {
    const L::GravNetBlock<float> ref(cfg, 64);
    const auto off = even_offsets(events, per);
    Tensor<float, 2> y({n, ref.output_size()});
    portml_once(ref.workspace_bytes(n, events, 1), [&](auto& q, auto& ws) {
      ref.forward<portml::backend::Serial>(q, xs.view(), off.view(), y.view(), ws);
    });
    return lt::check(block->forward(x), y.data(), n, ref.output_size());
  });
  for (auto _ : state) {
    auto y = block->forward(x);
    benchmark::DoNotOptimize(y.data_ptr<float>());
  }
  state.SetItemsProcessed(state.iterations() * events);
  state.SetLabel(lt::label(threads, blas_threads) + " " + ok);
}
BENCHMARK(BM_libtorch_gravnet_block)
    ->ArgNames({"events", "points", "threads"})
    ->Args({1, 10000, 1})
    ->Args({1, 10000, 2})
    ->Args({1000, 50, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

//! The GravNet model (two blocks + head): args (events, points per event, threads) as BM_gravnet_model.
void BM_libtorch_gravnet_model(benchmark::State& state) {
  const index_t events = state.range(0), per = state.range(1), n = events * per;
  const int threads = static_cast<int>(state.range(2));
  const auto blas_threads = lt::set_threads(threads);
  const auto cfg = gravnet_model_config();
  GravNetModel model(cfg);
  model->eval();
  const auto xs = normal_points(n, 16, gravnet_model_seed);
  const torch::InferenceMode guard;
  const auto x = to_torch(xs, {events, per, 16});
  const auto& ok = checked_once("gravnet_model", state, 3, [&] {
    const L::GravNetModel<float> ref(cfg);
    const auto off = even_offsets(events, per);
    Tensor<float, 2> y({n, ref.output_size()});
    portml_once(ref.workspace_bytes(n, events, 1), [&](auto& q, auto& ws) {
      ref.forward<portml::backend::Serial>(q, xs.view(), off.view(), y.view(), ws);
    });
    return lt::check(model->forward(x), y.data(), n, ref.output_size());
  });
  for (auto _ : state) {
    auto y = model->forward(x);
    benchmark::DoNotOptimize(y.data_ptr<float>());
  }
  state.SetItemsProcessed(state.iterations() * events);
  state.SetLabel(lt::label(threads, blas_threads) + " " + ok);
}
BENCHMARK(BM_libtorch_gravnet_model)
    ->ArgNames({"events", "points", "threads"})
    ->Args({1000, 50, 1})
    ->Args({1000, 50, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
