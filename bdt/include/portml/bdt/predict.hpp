// SPDX-License-Identifier: Apache-2.0
//! \file
//! Evaluating a Forest: margins (sum of leaves plus base margin) or the trainer's prediction (margins
//! through the output transform) for one row or a batch of rows.
//!
//! Contract: the value computed for a row depends only on the forest and that row, never on the
//! batch size, the row's position, the code path (scalar, AVX2, AVX-512) or the thread count: every
//! path adds the row's leaves in tree order in the forest's Value type. For a Forest<float> from
//! XGBoost that is XGBoost's own float32 sum, so the margins are bit-identical to XGBoost's.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include <portml/bdt/detail/scalar_kernels.hpp>
#include <portml/bdt/detail/x86_kernels.hpp>
#include <portml/bdt/forest.hpp>
#include <portml/core/cpu_features.hpp>
#include <portml/core/isa.hpp>
#include <portml/core/tensor_view.hpp>
#include <portml/portability/launch.hpp>

namespace portml::bdt {

//! The ISA that `automatic` resolves to for this forest on this CPU.
template <class Value>
Isa resolve_isa(const Forest<Value>& forest, Isa requested) {
  if (requested != Isa::automatic && requested != Isa::scalar && forest.has_zero_missing()) {
    throw NotSupported("portml::bdt: zero-as-missing splits run on the scalar path only");
  }
  if (forest.has_zero_missing()) return Isa::scalar;
  if (requested != Isa::automatic) {
    if (!isa_available(requested)) {
      throw NotSupported(std::string("portml::bdt: ISA ") + to_string(requested) + " is not supported by this CPU");
    }
    if (requested != Isa::scalar && !std::is_same_v<Value, float>) {
      throw NotSupported(std::string("portml::bdt: ISA ") + to_string(requested) +
                         " runs float forests only; double forests use the scalar path");
    }
    return requested;
  }
  if (!std::is_same_v<Value, float>) return Isa::scalar;
  return widest_isa();
}

namespace detail {

inline int block_rows(Isa isa) {
  switch (isa) {
    case Isa::avx2:
      return avx2_block_rows;
    case Isa::avx512:
      return avx512_block_rows;
    default:
      return scalar_block_rows;
  }
}

template <class Value>
void check_margin_shapes(const Forest<Value>& forest, const TensorView<const float, 2>& x,
                         const TensorView<Value, 2>& out, std::int32_t out_width, const char* op) {
  if (x.extent(1) != forest.num_features()) {
    throw ShapeError(std::string(op) + ": input has " + std::to_string(x.extent(1)) + " features, the forest " +
                     std::to_string(forest.num_features()));
  }
  check_same_shape(op, "output", out.extents(), "expected", Extents<2>{x.extent(0), out_width});
}

//! Margins of rows [0, n) of x into out, one block of rows at a time, on the calling thread.
template <class Value>
void margins_serial(const Forest<Value>& forest, const TensorView<const float, 2>& x, const TensorView<Value, 2>& out,
                    Isa isa) {
  const ForestData<Value> f = forest.data();
  const index_t n = x.extent(0);
  const std::int32_t num_outputs = f.num_outputs;
  const int B = block_rows(isa);
  const index_t nf = f.num_features;
  std::vector<Value> acc(std::size_t(B) * num_outputs);
  // The SIMD kernels read rows with unit feature stride and 32-bit offsets; other layouts are packed.
  const bool direct = x.stride(1) == 1 && x.stride(0) >= nf &&
                      x.stride(0) * (B - 1) + nf <= index_t(std::numeric_limits<std::int32_t>::max());
  // The register-resident AVX-512 kernel reads a transposed tile: feature j of row r at tile[j * B + r].
  const bool tiled = isa == Isa::avx512 && nf <= index_t(std::numeric_limits<std::int32_t>::max() / B) &&
                     (f.layout == Layout::sparse || (f.depth >= 1 && f.depth <= avx512_resident_max_depth));
  std::vector<float> packed;
  if (tiled || (isa != Isa::scalar && !direct)) packed.resize(std::size_t(B) * nf);
  for (index_t r0 = 0; r0 < n; r0 += B) {
    const int rows = static_cast<int>(std::min<index_t>(B, n - r0));
    for (std::int32_t g = 0; g < num_outputs; ++g) std::fill_n(acc.data() + std::size_t(g) * B, B, f.base_margin[g]);
    const float* xb = x.data() + r0 * x.stride(0);
    if (tiled) {
#if PORTML_X86_SIMD
      if constexpr (std::is_same_v<Value, float>) {
        for (int r = 0; r < rows; ++r) {
          const float* row = &x(r0 + r, 0);
          for (index_t j = 0; j < nf; ++j) packed[j * B + r] = row[j * x.stride(1)];
        }
        for (index_t j = 0; j < nf; ++j) std::fill(packed.begin() + j * B + rows, packed.begin() + (j + 1) * B, 0.0f);
        if (f.layout == Layout::sparse) {
          accumulate_block_avx512_sparse_tiled(f, packed.data(), acc.data());
        } else {
          accumulate_block_avx512_resident_any(f, packed.data(), acc.data());
        }
      }
#endif
    } else if (isa == Isa::scalar) {
      accumulate_block_scalar(f, xb, x.stride(0), x.stride(1), rows, acc.data());
    } else {
      index_t row_stride = x.stride(0);
      if (!direct) {
        for (int r = 0; r < rows; ++r)
          for (index_t j = 0; j < nf; ++j) packed[r * nf + j] = x(r0 + r, j);
        xb = packed.data();
        row_stride = nf;
      }
#if PORTML_X86_SIMD
      if constexpr (std::is_same_v<Value, float>) {
        const auto rs = static_cast<std::int32_t>(row_stride);
        if (isa == Isa::avx512 && f.layout == Layout::perfect) {  // deeper than the resident kernel takes
          accumulate_block_avx512<Layout::perfect>(f, xb, rs, rows, acc.data());
        } else if (isa == Isa::avx512) {  // only for a tile too large for 32-bit offsets
          accumulate_block_avx512<Layout::sparse>(f, xb, rs, rows, acc.data());
        } else if (f.layout == Layout::perfect) {
          accumulate_block_avx2<Layout::perfect>(f, xb, rs, rows, acc.data());
        } else {
          accumulate_block_avx2<Layout::sparse>(f, xb, rs, rows, acc.data());
        }
      }
#endif
    }
    for (int r = 0; r < rows; ++r)
      for (std::int32_t g = 0; g < num_outputs; ++g) out(r0 + r, g) = acc[std::size_t(g) * B + r];
  }
}

//! Rows handed to one parallel task: a multiple of every block size, so blocks never straddle tasks.
inline constexpr index_t rows_per_task = 256;

}  // namespace detail

//! Margins of one row (the batch-1 path: scalar, trees interleaved, no allocation, no threads).
//! \param x    num_features() values, feature j at x[j]
//! \param out  num_outputs() margins
template <class Value>
void predict_margins_row(const Forest<Value>& forest, std::span<const float> x, std::span<Value> out) {
  if (x.size() != static_cast<std::size_t>(forest.num_features()) ||
      out.size() != static_cast<std::size_t>(forest.num_outputs())) {
    throw ShapeError("portml::bdt::predict_margins_row: " + std::to_string(x.size()) + " inputs and " +
                     std::to_string(out.size()) + " outputs, the forest has " + std::to_string(forest.num_features()) +
                     " features and " + std::to_string(forest.num_outputs()) + " outputs");
  }
  detail::margins_one_row(forest.data(), x.data(), 1, out.data());
}

//! Margins of a batch on the calling thread. x: [n, num_features()] (any strides: row-major,
//! column-major...); out: [n, num_outputs()].
template <class Value>
void predict_margins(const Forest<Value>& forest, TensorView<const float, 2> x, TensorView<Value, 2> out,
                     Isa isa = Isa::automatic) {
  detail::check_margin_shapes(forest, x, out, forest.num_outputs(), "portml::bdt::predict_margins");
  const Isa resolved = resolve_isa(forest, isa);
  if (isa == Isa::automatic && x.extent(0) < 4) {
    // Too few rows to fill a block: the one-row kernel (same sums, less work).
    std::vector<Value> row(static_cast<std::size_t>(forest.num_outputs()));
    for (index_t r = 0; r < x.extent(0); ++r) {
      detail::margins_one_row(forest.data(), &x(r, 0), x.stride(1), row.data());
      for (std::int32_t g = 0; g < forest.num_outputs(); ++g) out(r, g) = row[g];
    }
    return;
  }
  detail::margins_serial(forest, x, out, resolved);
}

//! Margins of a batch, blocks of rows shared out by the caller's host queue (Serial, OpenMP with
//! the caller's thread count, Kokkos host). Outputs equal the serial call's bit for bit.
template <Backend B, class Value>
requires(B::is_host) void predict_margins(Queue<B>& q, const Forest<Value>& forest, TensorView<const float, 2> x,
                                          TensorView<Value, 2> out, Isa isa = Isa::automatic) {
  detail::check_margin_shapes(forest, x, out, forest.num_outputs(), "portml::bdt::predict_margins");
  const Isa resolved = resolve_isa(forest, isa);
  const index_t n = x.extent(0);
  const index_t tasks = (n + detail::rows_per_task - 1) / detail::rows_per_task;
  parallel_for(q, Range1D{tasks}, [&](index_t task) {
    const index_t begin = task * detail::rows_per_task;
    const index_t end = std::min(n, begin + detail::rows_per_task);
    detail::margins_serial(forest, x.row_slice(begin, end), out.row_slice(begin, end), resolved);
  });
}

//! Turns one row's margins into the trainer's prediction (prediction_width() values), computed as
//! the trainer does: XGBoost in float, LightGBM and TMVA in double.
template <class Value>
void apply_transform(const Forest<Value>& forest, std::span<const Value> margins, std::span<Value> prediction) {
  const std::size_t k = margins.size();
  switch (forest.transform()) {
    case OutputTransform::identity:
      std::copy(margins.begin(), margins.end(), prediction.begin());
      return;
    case OutputTransform::logistic: {
      const auto scale = static_cast<Value>(forest.transform_scale());
      for (std::size_t i = 0; i < k; ++i) prediction[i] = Value(1) / (Value(1) + std::exp(-scale * margins[i]));
      return;
    }
    case OutputTransform::tmva_tanh:
      for (std::size_t i = 0; i < k; ++i) prediction[i] = Value(2) / (Value(1) + std::exp(Value(-2) * margins[i])) - 1;
      return;
    case OutputTransform::divide: {
      const auto scale = static_cast<Value>(forest.transform_scale());
      for (std::size_t i = 0; i < k; ++i) prediction[i] = margins[i] / scale;
      return;
    }
    case OutputTransform::exponential:
      for (std::size_t i = 0; i < k; ++i) prediction[i] = std::exp(margins[i]);
      return;
    case OutputTransform::softmax: {
      const Value top = *std::max_element(margins.begin(), margins.end());
      double sum = 0;  // XGBoost and LightGBM both sum the exponentials in double
      for (std::size_t i = 0; i < k; ++i) {
        prediction[i] = std::exp(margins[i] - top);
        sum += prediction[i];
      }
      for (std::size_t i = 0; i < k; ++i) prediction[i] /= static_cast<Value>(sum);
      return;
    }
    case OutputTransform::argmax:
      prediction[0] = static_cast<Value>(std::max_element(margins.begin(), margins.end()) - margins.begin());
      return;
  }
}

//! The trainer's predictions for a batch: x [n, num_features()], out [n, prediction_width()].
template <class Value>
void predict(const Forest<Value>& forest, TensorView<const float, 2> x, TensorView<Value, 2> out,
             Isa isa = Isa::automatic) {
  detail::check_margin_shapes(forest, x, out, forest.prediction_width(), "portml::bdt::predict");
  const auto k = static_cast<std::size_t>(forest.num_outputs());
  std::vector<Value> margins(static_cast<std::size_t>(x.extent(0)) * k);
  predict_margins(forest, x, TensorView<Value, 2>(margins.data(), {x.extent(0), forest.num_outputs()}), isa);
  std::vector<Value> row(static_cast<std::size_t>(forest.prediction_width()));
  for (index_t r = 0; r < x.extent(0); ++r) {
    apply_transform(forest, std::span<const Value>(margins.data() + r * k, k), std::span<Value>(row));
    for (std::size_t i = 0; i < row.size(); ++i) out(r, static_cast<index_t>(i)) = row[i];
  }
}

//! For each name the caller will supply, in the caller's order, the forest's feature index: binds
//! inputs by name. Throws Error naming every name the forest lacks, every forest feature the caller
//! does not supply, and duplicates. The forest must carry feature names.
template <class Value>
std::vector<std::int32_t> bind_features(const Forest<Value>& forest, std::span<const std::string> names) {
  const auto& model = forest.feature_names();
  if (model.empty()) throw Error("portml::bdt::bind_features: the forest has no feature names");
  std::vector<std::int32_t> index(names.size(), -1);
  std::vector<int> seen(model.size(), 0);
  std::string unknown, duplicate, missing;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const auto it = std::find(model.begin(), model.end(), names[i]);
    if (it == model.end()) {
      unknown += (unknown.empty() ? "" : ", ") + names[i];
      continue;
    }
    const auto j = static_cast<std::size_t>(it - model.begin());
    if (seen[j]++ != 0) duplicate += (duplicate.empty() ? "" : ", ") + names[i];
    index[i] = static_cast<std::int32_t>(j);
  }
  for (std::size_t j = 0; j < model.size(); ++j)
    if (seen[j] == 0) missing += (missing.empty() ? "" : ", ") + model[j];
  if (!unknown.empty() || !duplicate.empty() || !missing.empty()) {
    std::string msg = "portml::bdt::bind_features:";
    if (!unknown.empty()) msg += " not features of the model: " + unknown + ";";
    if (!duplicate.empty()) msg += " given twice: " + duplicate + ";";
    if (!missing.empty()) msg += " model features not given: " + missing + ";";
    msg.pop_back();
    throw Error(msg);
  }
  return index;
}

//! Copies rows given in the caller's column order into the forest's order, using bind_features().
//! in: [n, names.size()], out: [n, num_features()].
inline void reorder_features(std::span<const std::int32_t> binding, TensorView<const float, 2> in,
                             TensorView<float, 2> out) {
  if (static_cast<std::size_t>(in.extent(1)) != binding.size() || out.extent(0) != in.extent(0) ||
      static_cast<std::size_t>(out.extent(1)) != binding.size()) {
    throw ShapeError("portml::bdt::reorder_features: input " + portml::detail::format_shape(in.extents()) +
                     ", output " + portml::detail::format_shape(out.extents()) + ", " + std::to_string(binding.size()) +
                     " bound names");
  }
  for (index_t r = 0; r < in.extent(0); ++r)
    for (std::size_t i = 0; i < binding.size(); ++i) out(r, binding[i]) = in(r, static_cast<index_t>(i));
}

}  // namespace portml::bdt
