// SPDX-License-Identifier: Apache-2.0
//! \file
//! Definitions of the test kernels: one body per kernel for every backend.
#pragma once

#include "test_kernels.hpp"

namespace portml::test {

template <class Space>
struct FillAffine {
  TensorView<float, 1, Space> out;
  float a, b;
  PORTML_HOST_DEVICE void operator()(index_t i) const { out(i) = a * static_cast<float>(i) + b; }
};

template <Backend B>
void fill_affine(Queue<B>& q, View1<B> out, float a, float b) {
  parallel_for(q, Range1D{out.extent(0)}, FillAffine<memory_space_t<B>>{out, a, b});
}

template <class Space>
struct OuterSum {
  TensorView<const float, 1, Space> x, y;
  TensorView<float, 2, Space> out;
  PORTML_HOST_DEVICE void operator()(index_t i, index_t j) const { out(i, j) = 100.0f * x(i) + y(j); }
};

template <Backend B>
void outer_sum(Queue<B>& q, CView1<B> x, CView1<B> y, TensorView<float, 2, memory_space_t<B>> out) {
  parallel_for(q, Range2D{out.extent(0), out.extent(1)}, OuterSum<memory_space_t<B>>{x, y, out});
}

template <class Space>
struct ScaleAdd {
  TensorView<float, 1, Space> x;
  float mul, add;
  PORTML_HOST_DEVICE void operator()(index_t i) const { x(i) = x(i) * mul + add; }
};

template <Backend B>
void scale_add(Queue<B>& q, View1<B> x, float mul, float add) {
  parallel_for(q, Range1D{x.extent(0)}, ScaleAdd<memory_space_t<B>>{x, mul, add});
}

template <class Space>
struct ReverseTiles {
  TensorView<const float, 1, Space> in;
  TensorView<float, 1, Space> out;
  index_t tile;
  template <class T>
  PORTML_HOST_DEVICE void operator()(const T& team) const {
    float* s = team_scratch<float>(team);
    const index_t base = team.league_rank() * tile;
    const index_t len = in.extent(0) - base < tile ? in.extent(0) - base : tile;
    for (index_t i : team_elements(team, len)) s[i] = in(base + i);
    team.barrier();
    for (index_t i : team_elements(team, len)) out(base + i) = s[len - 1 - i];
  }
};

template <Backend B>
void reverse_tiles(Queue<B>& q, CView1<B> in, View1<B> out, int tile, int team_size) {
  const index_t n = in.extent(0);
  const LaunchConfig cfg{(n + tile - 1) / tile, team_size, sizeof(float) * static_cast<std::size_t>(tile)};
  launch(q, cfg, ReverseTiles<memory_space_t<B>>{in, out, tile});
}

template <class Space>
struct TileSums {
  TensorView<const double, 1, Space> in;
  TensorView<double, 1, Space> out;
  index_t tile;
  template <class T>
  PORTML_HOST_DEVICE void operator()(const T& team) const {
    double* s = team_scratch<double>(team);
    const index_t base = team.league_rank() * tile;
    const index_t len = in.extent(0) - base < tile ? in.extent(0) - base : tile;
    double acc = 0;
    for (index_t i : team_elements(team, len)) acc += in(base + i);
    s[team.team_rank()] = acc;
    team.barrier();
    for (int stride = team.team_size() / 2; stride > 0; stride /= 2) {
      if (team.team_rank() < stride) s[team.team_rank()] += s[team.team_rank() + stride];
      team.barrier();
    }
    if (team.team_rank() == 0) out(team.league_rank()) = s[0];
  }
};

template <Backend B>
void tile_sums(Queue<B>& q, TensorView<const double, 1, memory_space_t<B>> in,
               TensorView<double, 1, memory_space_t<B>> out, int tile, int team_size) {
  const LaunchConfig cfg{out.extent(0), team_size, sizeof(double) * static_cast<std::size_t>(team_size)};
  launch(q, cfg, TileSums<memory_space_t<B>>{in, out, tile});
}

template <class T, class Space>
struct SumBody {
  TensorView<const T, 1, Space> x;
  PORTML_HOST_DEVICE void operator()(index_t i, T& acc) const { acc += x(i); }
};
template <class T, class Space>
struct MaxBody {
  TensorView<const T, 1, Space> x;
  PORTML_HOST_DEVICE void operator()(index_t i, T& acc) const { Max<T>::join(acc, x(i)); }
};
template <class T, class Space>
struct MinBody {
  TensorView<const T, 1, Space> x;
  PORTML_HOST_DEVICE void operator()(index_t i, T& acc) const { Min<T>::join(acc, x(i)); }
};

template <Backend B>
double reduce_sum(Queue<B>& q, TensorView<const double, 1, memory_space_t<B>> x) {
  return parallel_reduce(q, Range1D{x.extent(0)}, SumBody<double, memory_space_t<B>>{x}, Sum<double>{});
}
template <Backend B>
float reduce_max(Queue<B>& q, CView1<B> x) {
  return parallel_reduce(q, Range1D{x.extent(0)}, MaxBody<float, memory_space_t<B>>{x}, Max<float>{});
}
template <Backend B>
float reduce_min(Queue<B>& q, CView1<B> x) {
  return parallel_reduce(q, Range1D{x.extent(0)}, MinBody<float, memory_space_t<B>>{x}, Min<float>{});
}

struct DivergentBarrier {
  template <class T>
  PORTML_HOST_DEVICE void operator()(const T& team) const {
    if (team.team_rank() == 0) return;
    team.barrier();
  }
};

template <Backend B>
void divergent_barrier(Queue<B>& q, int team_size) {
  launch(q, LaunchConfig{1, team_size, 0}, DivergentBarrier{});
}

}  // namespace portml::test
