// SPDX-License-Identifier: Apache-2.0
//! \file
//! Naive matrix product, the reference kernel of portml: obviously correct, one output element per
//! work item with the K terms accumulated in index order. It is a test oracle and the self-check of
//! every backend, not a fast path.
#pragma once

#include <portml/config.hpp>
#include <portml/portability/launch.hpp>

namespace portml::kernels::reference {

//! Work item (i, j) of C = A · B.
template <class T, class Space>
struct MatmulBody {
  TensorView<const T, 2, Space> a;
  TensorView<const T, 2, Space> b;
  TensorView<T, 2, Space> c;

  PORTML_HOST_DEVICE void operator()(index_t i, index_t j) const {
    T acc = T(0);
    for (index_t k = 0; k < a.extent(1); ++k) acc += a(i, k) * b(k, j);
    c(i, j) = acc;
  }
};

//! C = A · B for A [m, k], B [k, n], C [m, n] in the memory of backend `B` (any strides).
//! Throws ShapeError naming both shapes when they do not fit.
template <Backend B, class T>
void matmul(Queue<B>& q, TensorView<const T, 2, memory_space_t<B>> a, TensorView<const T, 2, memory_space_t<B>> b,
            TensorView<T, 2, memory_space_t<B>> c) {
  if (a.extent(1) != b.extent(0) || c.extent(0) != a.extent(0) || c.extent(1) != b.extent(1)) {
    throw ShapeError("portml::kernels::reference::matmul: shapes do not fit C = A·B: A " +
                     detail::format_shape(a.extents()) + ", B " + detail::format_shape(b.extents()) + ", C " +
                     detail::format_shape(c.extents()));
  }
  parallel_for(q, Range2D{c.extent(0), c.extent(1)}, MatmulBody<T, memory_space_t<B>>{a, b, c});
}

//! The explicit instantiations of matmul for a device backend (portml::cuda, portml::hip).
#define PORTML_REFERENCE_MATMUL_INSTANTIATE(PREFIX, BACKEND, T)                                             \
  PREFIX template void matmul<BACKEND, T>(Queue<BACKEND>&, TensorView<const T, 2, memory_space_t<BACKEND>>, \
                                          TensorView<const T, 2, memory_space_t<BACKEND>>,                  \
                                          TensorView<T, 2, memory_space_t<BACKEND>>);

#if !defined(__CUDACC__) && !defined(__HIPCC__)
// Host code links the device instantiations from the kernel libraries.
#if PORTML_ENABLE_CUDA
PORTML_REFERENCE_MATMUL_INSTANTIATE(extern, backend::Cuda, float)
PORTML_REFERENCE_MATMUL_INSTANTIATE(extern, backend::Cuda, double)
#endif
#if PORTML_ENABLE_HIP
PORTML_REFERENCE_MATMUL_INSTANTIATE(extern, backend::Hip, float)
PORTML_REFERENCE_MATMUL_INSTANTIATE(extern, backend::Hip, double)
#endif
#endif

}  // namespace portml::kernels::reference
