// SPDX-License-Identifier: Apache-2.0
//! \file
//! Small kernels that exercise the portability layer, declared for every backend. Host backends
//! instantiate them in test_kernels_host.cpp, device backends in test_kernels_gpu.cu (compiled by
//! nvcc or hip-clang); test bodies only see these declarations.
#pragma once

#include <portml/config.hpp>
#include <portml/portability/launch.hpp>

namespace portml::test {

template <Backend B>
using View1 = TensorView<float, 1, memory_space_t<B>>;
template <Backend B>
using CView1 = TensorView<const float, 1, memory_space_t<B>>;

//! out[i] = a * i + b (1-D launch).
template <Backend B>
void fill_affine(Queue<B>& q, View1<B> out, float a, float b);

//! out(i, j) = 100 * x[i] + y[j] (2-D launch; `out` may have any strides).
template <Backend B>
void outer_sum(Queue<B>& q, CView1<B> x, CView1<B> y, TensorView<float, 2, memory_space_t<B>> out);

//! x[i] = x[i] * mul + add (used to check that work on one queue runs in order).
template <Backend B>
void scale_add(Queue<B>& q, View1<B> x, float mul, float add);

//! Reverses each tile of `tile` elements through team scratch: wrong unless the barrier holds.
template <Backend B>
void reverse_tiles(Queue<B>& q, CView1<B> in, View1<B> out, int tile, int team_size);

//! out[t] = sum of tile t, by a tree reduction in team scratch with one barrier per level.
//! `team_size` must be a power of two.
template <Backend B>
void tile_sums(Queue<B>& q, TensorView<const double, 1, memory_space_t<B>> in,
               TensorView<double, 1, memory_space_t<B>> out, int tile, int team_size);

//! Sum, max and min of x with parallel_reduce.
template <Backend B>
double reduce_sum(Queue<B>& q, TensorView<const double, 1, memory_space_t<B>> x);
template <Backend B>
float reduce_max(Queue<B>& q, CView1<B> x);
template <Backend B>
float reduce_min(Queue<B>& q, CView1<B> x);

//! A team where thread 0 skips the barrier the others wait at (invalid on a GPU).
template <Backend B>
void divergent_barrier(Queue<B>& q, int team_size);

// clang-format off
#define PORTML_TEST_KERNELS_INSTANTIATE(PREFIX, B)                                                                  \
  PREFIX template void fill_affine<B>(Queue<B>&, View1<B>, float, float);                                           \
  PREFIX template void outer_sum<B>(Queue<B>&, CView1<B>, CView1<B>, TensorView<float, 2, memory_space_t<B>>);      \
  PREFIX template void scale_add<B>(Queue<B>&, View1<B>, float, float);                                             \
  PREFIX template void reverse_tiles<B>(Queue<B>&, CView1<B>, View1<B>, int, int);                                  \
  PREFIX template void tile_sums<B>(Queue<B>&, TensorView<const double, 1, memory_space_t<B>>,                      \
                                    TensorView<double, 1, memory_space_t<B>>, int, int);                            \
  PREFIX template double reduce_sum<B>(Queue<B>&, TensorView<const double, 1, memory_space_t<B>>);                  \
  PREFIX template float reduce_max<B>(Queue<B>&, CView1<B>);                                                        \
  PREFIX template float reduce_min<B>(Queue<B>&, CView1<B>);                                                        \
  PREFIX template void divergent_barrier<B>(Queue<B>&, int);
// clang-format on

}  // namespace portml::test
