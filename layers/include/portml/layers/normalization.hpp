// SPDX-License-Identifier: Apache-2.0
//! \file
//! Row-wise layers that are not GEMMs: per-feature affine maps (input normalisation, unfolded
//! BatchNorm), LayerNorm and activations (Softmax included), and Concat; plus BatchNorm folding. At the
//! end, the same row operations as kernels on a backend's own memory (device_detail, used by DeviceMlp).
#pragma once

#include <cmath>
#include <span>
#include <string>
#include <vector>

#include <portml/config.hpp>
#include <portml/core/tensor_view.hpp>
#include <portml/kernels/activation.hpp>
#include <portml/layers/mlp_config.hpp>
#include <portml/portability/launch.hpp>

namespace portml::layers {

namespace row_detail {

//! Checks that x and y have one shape and that a softmax row of y is contiguous.
template <class T>
void check_row_op(const char* op, TensorView<const T, 2> x, TensorView<T, 2> y, const kernels::ActivationSpec& act) {
  check_same_shape(op, "input", x.extents(), "output", y.extents());
  if (!act.elementwise() && y.extent(1) > 1 && y.stride(1) != 1) {
    throw NotSupported(std::string(op) + ": softmax needs an output with unit column stride");
  }
}

//! The activation of row i of y, in place.
template <class T>
void activate_row(TensorView<T, 2> y, index_t i, const kernels::ActivationSpec& act) {
  if (!act.elementwise()) {
    if (y.extent(1) > 0) kernels::softmax_row(&y(i, 0), y.extent(1));
  } else if (act.kind != kernels::Activation::Linear) {
    for (index_t j = 0; j < y.extent(1); ++j) y(i, j) = kernels::apply_activation(act, y(i, j));
  }
}

}  // namespace row_detail

//! y = act((x + offset) ⊙ scale + shift) for each row; any of offset/scale/shift may be empty.
//! Any strides; in place when x and y are the same view.
template <class T>
void affine_rows(TensorView<const T, 2> x, TensorView<T, 2> y, std::span<const T> offset, std::span<const T> scale,
                 std::span<const T> shift, const kernels::ActivationSpec& act) {
  row_detail::check_row_op("portml::layers::affine_rows", x, y, act);
  for (index_t i = 0; i < x.extent(0); ++i) {
    for (index_t j = 0; j < x.extent(1); ++j) {
      const std::size_t u = static_cast<std::size_t>(j);
      T v = x(i, j);
      if (!offset.empty()) v = v + offset[u];
      if (!scale.empty()) v = v * scale[u];
      if (!shift.empty()) v = v + shift[u];
      y(i, j) = v;
    }
    row_detail::activate_row(y, i, act);
  }
}

//! y = act(x) for each row (Softmax over the row). Any strides; in place when x and y are the same view.
template <class T>
void activation_rows(TensorView<const T, 2> x, TensorView<T, 2> y, const kernels::ActivationSpec& act) {
  affine_rows<T>(x, y, {}, {}, {}, act);
}

//! LayerNorm over each row: y = act((x − μ) / √(σ² + eps) · gamma + beta) with the biased variance;
//! μ and σ² are accumulated in double. Any strides; in place when x and y are the same view.
template <class T>
void layer_norm_rows(TensorView<const T, 2> x, TensorView<T, 2> y, std::span<const T> gamma, std::span<const T> beta,
                     double epsilon, const kernels::ActivationSpec& act) {
  row_detail::check_row_op("portml::layers::layer_norm_rows", x, y, act);
  const index_t n = x.extent(1);
  for (index_t i = 0; i < x.extent(0); ++i) {
    double mean = 0;
    for (index_t j = 0; j < n; ++j) mean += static_cast<double>(x(i, j));
    mean /= static_cast<double>(n);
    double var = 0;
    for (index_t j = 0; j < n; ++j) {
      const double d = static_cast<double>(x(i, j)) - mean;
      var += d * d;
    }
    var /= static_cast<double>(n);
    const double inv = 1.0 / std::sqrt(var + epsilon);
    for (index_t j = 0; j < n; ++j) {
      const std::size_t u = static_cast<std::size_t>(j);
      const double v = (static_cast<double>(x(i, j)) - mean) * inv;
      y(i, j) = static_cast<T>(v * (gamma.empty() ? 1.0 : static_cast<double>(gamma[u])) +
                               (beta.empty() ? 0.0 : static_cast<double>(beta[u])));
    }
    row_detail::activate_row(y, i, act);
  }
}

//! Concat along columns: y = [x_0 | x_1 | ...] row by row (all inputs have y's row count).
template <class T>
void concat_columns(std::span<const TensorView<const T, 2>> xs, TensorView<T, 2> y) {
  index_t width = 0;
  for (const auto& x : xs) {
    if (x.extent(0) != y.extent(0)) {
      throw ShapeError("portml::layers::concat_columns: input with " + std::to_string(x.extent(0)) +
                       " rows, output with " + std::to_string(y.extent(0)));
    }
    width += x.extent(1);
  }
  if (width != y.extent(1)) {
    throw ShapeError("portml::layers::concat_columns: inputs have " + std::to_string(width) +
                     " columns in total, output " + std::to_string(y.extent(1)));
  }
  for (index_t i = 0; i < y.extent(0); ++i) {
    index_t j0 = 0;
    for (const auto& x : xs) {
      for (index_t j = 0; j < x.extent(1); ++j) y(i, j0 + j) = x(i, j);
      j0 += x.extent(1);
    }
  }
}

//! BatchNorm for inference as the per-feature affine map it is: offset = −mean, scale = gamma / √(var + eps),
//! shift = beta, i.e. y = (x − mean) · s + beta.
inline LayerConfig batch_norm_as_affine(const LayerConfig& bn) {
  const std::size_t n = bn.mean.size();
  if (bn.variance.size() != n || bn.gamma.size() != n || bn.beta.size() != n) {
    throw ShapeError("portml::layers: BatchNorm '" + bn.name + "' has parameters of different lengths");
  }
  LayerConfig a;
  a.kind = LayerConfig::Kind::Affine;
  a.name = bn.name;
  a.inputs = a.outputs = static_cast<index_t>(n);
  a.activation = bn.activation;
  a.offset.resize(n);
  a.scale.resize(n);
  a.shift = bn.beta;
  for (std::size_t o = 0; o < n; ++o) {
    a.offset[o] = -bn.mean[o];
    a.scale[o] = bn.gamma[o] / std::sqrt(bn.variance[o] + bn.epsilon);
  }
  return a;
}

//! Folds the per-feature affine map `affine` (e.g. a BatchNorm) into the linear Dense `dense` before
//! it, in double: W'[o][i] = W[o][i] · s_o and b'_o = (b_o + offset_o) · s_o + shift_o. The Dense takes
//! over the affine layer's activation.
inline void fold_affine_into_dense(LayerConfig& dense, const LayerConfig& affine) {
  if (dense.kind != LayerConfig::Kind::Dense || dense.activation.kind != kernels::Activation::Linear) {
    throw Error("portml::layers: cannot fold '" + affine.name + "' into a layer that is not a linear Dense");
  }
  const std::size_t n = static_cast<std::size_t>(dense.outputs);
  const auto at = [&](const std::vector<double>& v, std::size_t o, double fallback) {
    if (v.empty()) return fallback;
    if (v.size() != n) {
      throw ShapeError("portml::layers: '" + affine.name + "' has parameters of length " + std::to_string(v.size()) +
                       ", the Dense before it has " + std::to_string(n) + " outputs");
    }
    return v[o];
  };
  dense.bias.resize(n, 0.0);
  for (std::size_t o = 0; o < n; ++o) {
    const double s = at(affine.scale, o, 1.0);
    for (std::size_t i = 0; i < static_cast<std::size_t>(dense.inputs); ++i) {
      dense.weights[o * static_cast<std::size_t>(dense.inputs) + i] *= s;
    }
    dense.bias[o] = (dense.bias[o] + at(affine.offset, o, 0.0)) * s + at(affine.shift, o, 0.0);
  }
  dense.activation = affine.activation;
}

// ---- the row operations as device kernels (DeviceMlp, device_mlp.hpp) ----------------------------

namespace device_detail {

//! One row of a non-GEMM step: y(i, ·) = act(affine(x(i, ·))) or act(LayerNorm(x(i, ·))). Every
//! parameter pointer (in Space) may be null (offset 0, scale 1, shift 0, gamma 1, beta 0). x and y may
//! be the same view (in place: each thread reads its row before writing it).
template <class T, class Space>
struct RowStepBody {
  TensorView<const T, 2, Space> x;
  TensorView<T, 2, Space> y;
  const T* offset;
  const T* scale;
  const T* shift;
  const T* gamma;
  const T* beta;
  double epsilon;
  kernels::ActivationSpec activation;
  bool layer_norm;

  PORTML_HOST_DEVICE void operator()(index_t i) const {
    const index_t n = x.extent(1);
    if (layer_norm) {
      double mean = 0;
      for (index_t j = 0; j < n; ++j) mean += static_cast<double>(x(i, j));
      mean /= static_cast<double>(n);
      double var = 0;
      for (index_t j = 0; j < n; ++j) {
        const double d = static_cast<double>(x(i, j)) - mean;
        var += d * d;
      }
      var /= static_cast<double>(n);
      const double inv = 1.0 / std::sqrt(var + epsilon);
      for (index_t j = 0; j < n; ++j) {
        const double v = (static_cast<double>(x(i, j)) - mean) * inv;
        y(i, j) = static_cast<T>(v * (gamma == nullptr ? 1.0 : static_cast<double>(gamma[j])) +
                                 (beta == nullptr ? 0.0 : static_cast<double>(beta[j])));
      }
    } else {
      for (index_t j = 0; j < n; ++j) {
        T v = x(i, j);
        if (offset != nullptr) v = v + offset[j];
        if (scale != nullptr) v = v * scale[j];
        if (shift != nullptr) v = v + shift[j];
        y(i, j) = v;
      }
    }
    if (!activation.elementwise()) {
      softmax(i, n);
    } else if (activation.kind != kernels::Activation::Linear) {
      for (index_t j = 0; j < n; ++j) y(i, j) = kernels::apply_activation(activation, y(i, j));
    }
  }

  //! kernels::softmax_row's operations on row i of y (any column stride).
  PORTML_HOST_DEVICE void softmax(index_t i, index_t n) const {
    if (n <= 0) return;
    T m = y(i, 0);
    for (index_t j = 1; j < n; ++j) m = y(i, j) > m ? y(i, j) : m;
    T sum = T(0);
    for (index_t j = 0; j < n; ++j) {
      y(i, j) = std::exp(y(i, j) - m);
      sum += y(i, j);
    }
    const T inv = T(1) / sum;
    for (index_t j = 0; j < n; ++j) y(i, j) *= inv;
  }
};

//! y(i, j) = x(i, j) (Concat of one input into its columns of the joined buffer; identity models).
template <class T, class Space>
struct CopyBody {
  TensorView<const T, 2, Space> x;
  TensorView<T, 2, Space> y;
  PORTML_HOST_DEVICE void operator()(index_t i, index_t j) const { y(i, j) = x(i, j); }
};

//! Runs RowStepBody over the rows of x (device backends: instantiated in portml::cuda / portml::hip).
template <Backend B, class T>
void launch_row_step(Queue<B>& q, const RowStepBody<T, memory_space_t<B>>& body) {
  parallel_for(q, Range1D{body.x.extent(0)}, body);
}

//! y = x element by element (same extents, any strides).
template <Backend B, class T>
void launch_copy(Queue<B>& q, TensorView<const T, 2, memory_space_t<B>> x, TensorView<T, 2, memory_space_t<B>> y) {
  parallel_for(q, Range2D{x.extent(0), x.extent(1)}, CopyBody<T, memory_space_t<B>>{x, y});
}

//! The explicit instantiations of the row and copy kernels for a device backend.
#define PORTML_DEVICE_MLP_INSTANTIATE(PREFIX, BACKEND, T)                                                            \
  PREFIX template void launch_row_step<BACKEND, T>(Queue<BACKEND>&, const RowStepBody<T, memory_space_t<BACKEND>>&); \
  PREFIX template void launch_copy<BACKEND, T>(Queue<BACKEND>&, TensorView<const T, 2, memory_space_t<BACKEND>>,     \
                                               TensorView<T, 2, memory_space_t<BACKEND>>);

#if !defined(__CUDACC__) && !defined(__HIPCC__)
// Host code links the device instantiations from the kernel libraries.
#if PORTML_ENABLE_CUDA
PORTML_DEVICE_MLP_INSTANTIATE(extern, backend::Cuda, float)
PORTML_DEVICE_MLP_INSTANTIATE(extern, backend::Cuda, double)
#endif
#if PORTML_ENABLE_HIP
PORTML_DEVICE_MLP_INSTANTIATE(extern, backend::Hip, float)
PORTML_DEVICE_MLP_INSTANTIATE(extern, backend::Hip, double)
#endif
#endif

}  // namespace device_detail

}  // namespace portml::layers
