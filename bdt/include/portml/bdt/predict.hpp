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
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <portml/bdt/detail/scalar_kernels.hpp>
#include <portml/bdt/detail/x86_kernels.hpp>
#include <portml/bdt/forest.hpp>
#include <portml/bdt/input_transform.hpp>
#include <portml/core/cpu_features.hpp>
#include <portml/core/isa.hpp>
#include <portml/core/tensor_view.hpp>
#include <portml/portability/launch.hpp>

namespace portml::bdt {

//! The ISA that `automatic` resolves to for this forest on this CPU: the widest the CPU has, except the
//! scalar path for forests with zero-as-missing nodes, and for double forests on CPUs without AVX-512.
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
    return requested;
  }
  const Isa widest = widest_isa();
  // Double forests on CPUs without AVX-512: the AVX2 descent (two double vectors of sums per 8 rows) took
  // 0.96-1.41x the scalar one-row kernel's time, mostly more (docs/bdt.md, SIMD path for double forests);
  // Isa::avx2 still runs it when asked.
  if (std::is_same_v<Value, double> && widest == Isa::avx2) return Isa::scalar;
  return widest;
}

//! Outputs (classes) whose row-block accumulators predict_margins and predict keep on the stack.
inline constexpr std::int32_t max_stack_outputs = 16;
//! Features of a packed row block (SIMD paths with strided inputs, the AVX-512 tile) kept on the stack.
inline constexpr index_t max_stack_features = 128;

namespace detail {

//! N elements on the stack, or, for a larger request, one heap array: evaluation allocates nothing
//! for forests within max_stack_outputs and max_stack_features (the documented bounds), and one
//! buffer per call beyond them.
template <class T, std::size_t N>
class StackBuffer {
 public:
  explicit StackBuffer(std::size_t n) {
    if (n > N) {
      heap_ = std::make_unique<T[]>(n);
      data_ = heap_.get();
    }
  }
  StackBuffer(const StackBuffer&) = delete;
  StackBuffer& operator=(const StackBuffer&) = delete;
  T* data() { return data_; }

 private:
  alignas(64) T stack_[N];
  std::unique_ptr<T[]> heap_;
  T* data_ = stack_;
};

//! Rows of the widest block kernel (the stack buffers are sized for it).
inline constexpr int max_block_rows = avx512_block_rows > avx2_block_rows ? avx512_block_rows : avx2_block_rows;

//! Rows of a block of the SIMD kernels (the scalar path runs a row at a time: margins_raw).
inline int block_rows(Isa isa) { return isa == Isa::avx512 ? avx512_block_rows : avx2_block_rows; }

template <class Value>
void check_margin_shapes(const Forest<Value>& forest, const TensorView<const float, 2>& x,
                         const TensorView<Value, 2>& out, std::int32_t out_width, const char* op) {
  if (x.extent(1) != forest.num_features()) {
    throw ShapeError(std::string(op) + ": input has " + std::to_string(x.extent(1)) + " features, the forest " +
                     std::to_string(forest.num_features()));
  }
  check_same_shape(op, "output", out.extents(), "expected", Extents<2>{x.extent(0), out_width});
}

//! Margins of rows [0, n) of x into out, one block of rows at a time, on the calling thread, with the
//! SIMD kernel `isa` (AVX2 or AVX-512; the scalar path is the one-row kernel, see margins_raw). Float
//! and double forests run the same kernels (decisions on float lanes, leaves and sums in Value).
template <class Value>
void margins_serial(const Forest<Value>& forest, const TensorView<const float, 2>& x, const TensorView<Value, 2>& out,
                    Isa isa) {
  const ForestData<Value> f = forest.data();
  const index_t n = x.extent(0);
  const std::int32_t num_outputs = f.num_outputs;
  const int B = block_rows(isa);
  const index_t nf = f.num_features;
  StackBuffer<Value, std::size_t(max_block_rows) * max_stack_outputs> acc_buffer(std::size_t(B) * num_outputs);
  Value* const acc = acc_buffer.data();
  // The SIMD kernels read rows with unit feature stride and 32-bit offsets; other layouts are packed.
  const bool direct = x.stride(1) == 1 && x.stride(0) >= nf &&
                      x.stride(0) * (B - 1) + nf <= index_t(std::numeric_limits<std::int32_t>::max());
  // The register-resident AVX-512 kernel reads a transposed tile: feature j of row r at tile[j * B + r].
  const bool tiled = isa == Isa::avx512 && nf <= index_t(std::numeric_limits<std::int32_t>::max() / B) &&
                     (f.layout == Layout::sparse || (f.depth >= 1 && f.depth <= avx512_resident_max_depth));
  const bool pack = tiled || (isa != Isa::scalar && !direct);
  StackBuffer<float, std::size_t(max_block_rows) * max_stack_features> packed_buffer(pack ? std::size_t(B) * nf : 0);
  float* const packed = packed_buffer.data();
  // The kernels also read the rows of a last, partial block that the batch lacks: give them zeros.
  if (pack && n % B != 0) std::fill_n(packed, std::size_t(B) * nf, 0.0f);
  for (index_t r0 = 0; r0 < n; r0 += B) {
    const int rows = static_cast<int>(std::min<index_t>(B, n - r0));
    for (std::int32_t g = 0; g < num_outputs; ++g) std::fill_n(acc + std::size_t(g) * B, B, f.base_margin[g]);
    const float* xb = x.data() + r0 * x.stride(0);
    if (tiled) {
#if PORTML_X86_SIMD
      for (int r = 0; r < rows; ++r) {
        const float* row = &x(r0 + r, 0);
        for (index_t j = 0; j < nf; ++j) packed[j * B + r] = row[j * x.stride(1)];
      }
      for (index_t j = 0; j < nf; ++j) std::fill(packed + j * B + rows, packed + (j + 1) * B, 0.0f);
      if (f.layout == Layout::sparse) {
        accumulate_block_avx512_sparse_tiled(f, packed, acc);
      } else {
        accumulate_block_avx512_resident_any(f, packed, acc);
      }
#endif
    } else {
      index_t row_stride = x.stride(0);
      if (!direct) {
        for (int r = 0; r < rows; ++r)
          for (index_t j = 0; j < nf; ++j) packed[r * nf + j] = x(r0 + r, j);
        xb = packed;
        row_stride = nf;
      }
#if PORTML_X86_SIMD
      const auto rs = static_cast<std::int32_t>(row_stride);
      if (isa == Isa::avx512 && f.layout == Layout::perfect) {  // deeper than the resident kernel takes
        accumulate_block_avx512<Layout::perfect>(f, xb, rs, rows, acc);
      } else if (isa == Isa::avx512) {  // only for a tile too large for 32-bit offsets
        accumulate_block_avx512<Layout::sparse>(f, xb, rs, rows, acc);
      } else if (f.layout == Layout::perfect) {
        accumulate_block_avx2<Layout::perfect>(f, xb, rs, rows, acc);
      } else {
        accumulate_block_avx2<Layout::sparse>(f, xb, rs, rows, acc);
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
//! \param x    num_features() raw input values, feature j at x[j] (a forest with input
//!             transformations applies them first, on the stack)
//! \param out  num_outputs() margins
template <class Value>
void predict_margins_row(const Forest<Value>& forest, std::span<const float> x, std::span<Value> out) {
  if (x.size() != static_cast<std::size_t>(forest.num_features()) ||
      out.size() != static_cast<std::size_t>(forest.num_outputs())) {
    throw ShapeError("portml::bdt::predict_margins_row: " + std::to_string(x.size()) + " inputs and " +
                     std::to_string(out.size()) + " outputs, the forest has " + std::to_string(forest.num_features()) +
                     " features and " + std::to_string(forest.num_outputs()) + " outputs");
  }
  const InputTransform& t = forest.input_transform();
  if (t.empty()) {
    detail::margins_one_row(forest.data(), x.data(), 1, out.data());
    return;
  }
  detail::StackBuffer<float, max_stack_features> row(x.size());
  detail::StackBuffer<float, 2 * max_stack_features> work(t.workspace_size());
  transform_row(t, x, std::span<float>(row.data(), x.size()), std::span<float>(work.data(), t.workspace_size()));
  detail::margins_one_row(forest.data(), row.data(), 1, out.data());
}

namespace detail {

//! Margins of rows that are already the trees' inputs, on the calling thread (`isa` as requested, for
//! the small-batch choice; `resolved` what it resolved to).
template <class Value>
void margins_raw(const Forest<Value>& forest, const TensorView<const float, 2>& x, const TensorView<Value, 2>& out,
                 Isa isa, Isa resolved) {
  if (resolved == Isa::scalar || (isa == Isa::automatic && x.extent(0) < 4)) {
    // The scalar path, and too few rows to fill a SIMD block: the one-row kernel (same sums).
    const std::int32_t k = forest.num_outputs();
    StackBuffer<Value, max_stack_outputs> row(out.stride(1) == 1 ? 0 : static_cast<std::size_t>(k));
    for (index_t r = 0; r < x.extent(0); ++r) {
      if (out.stride(1) == 1) {  // the kernel writes the row's margins in place
        margins_one_row(forest.data(), &x(r, 0), x.stride(1), &out(r, 0));
        continue;
      }
      margins_one_row(forest.data(), &x(r, 0), x.stride(1), row.data());
      for (std::int32_t g = 0; g < k; ++g) out(r, g) = row.data()[g];
    }
    return;
  }
  if (resolved == Isa::avx2 && forest.quickscorer() != nullptr) {
    // AVX2, float forests of depth <= 5: V-QuickScorer, 1.6-2.5x the AVX2 descent (docs/bdt.md, same sums).
    forest.quickscorer()->margins(x, out, Isa::avx2);
    return;
  }
  margins_serial(forest, x, out, resolved);
}

//! Rows transformed at a time (on the stack) for a forest with input transformations.
inline constexpr index_t transform_chunk_rows = 32;

//! Margins of raw rows: through the forest's input transformation (TMVA <Transformations>) when it
//! has one, a chunk of rows at a time into a stack buffer (a row's margins do not depend on the chunk).
template <class Value>
void margins_of_inputs(const Forest<Value>& forest, const TensorView<const float, 2>& x,
                       const TensorView<Value, 2>& out, Isa isa, Isa resolved) {
  const InputTransform& t = forest.input_transform();
  if (t.empty()) {
    margins_raw(forest, x, out, isa, resolved);
    return;
  }
  const index_t n = x.extent(0), nf = forest.num_features();
  StackBuffer<float, std::size_t(transform_chunk_rows) * max_stack_features> rows(std::size_t(transform_chunk_rows) *
                                                                                  std::size_t(nf));
  StackBuffer<float, 2 * max_stack_features> work(t.workspace_size());
  for (index_t r0 = 0; r0 < n; r0 += transform_chunk_rows) {
    const index_t m = std::min(transform_chunk_rows, n - r0);
    const TensorView<float, 2> xt(rows.data(), {m, nf});
    transform_inputs(t, x.row_slice(r0, r0 + m), xt, std::span<float>(work.data(), t.workspace_size()));
    margins_raw(forest, TensorView<const float, 2>(xt), out.row_slice(r0, r0 + m), isa, resolved);
  }
}

}  // namespace detail

//! Margins of a batch on the calling thread. x: [n, num_features()] (any strides: row-major,
//! column-major...), the raw inputs: a forest with input transformations (TMVA) applies them first;
//! out: [n, num_outputs()].
template <class Value>
void predict_margins(const Forest<Value>& forest, TensorView<const float, 2> x, TensorView<Value, 2> out,
                     Isa isa = Isa::automatic) {
  detail::check_margin_shapes(forest, x, out, forest.num_outputs(), "portml::bdt::predict_margins");
  detail::margins_of_inputs(forest, x, out, isa, resolve_isa(forest, isa));
}

//! Margins of a batch, blocks of rows shared out by the caller's host queue (Serial, OpenMP with
//! the caller's thread count, Kokkos host). Outputs equal the serial call's bit for bit.
template <Backend B, class Value>
requires(B::is_host) void predict_margins(Queue<B>& q, const Forest<Value>& forest, TensorView<const float, 2> x,
                                          TensorView<Value, 2> out, Isa isa = Isa::automatic) {
  detail::check_margin_shapes(forest, x, out, forest.num_outputs(), "portml::bdt::predict_margins");
  const Isa resolved = resolve_isa(forest, isa);
  const index_t n = x.extent(0);
  if (n <= detail::rows_per_task) {  // one task: on the calling thread, without the launch
    detail::margins_of_inputs(forest, x, out, isa, resolved);
    return;
  }
  const index_t tasks = (n + detail::rows_per_task - 1) / detail::rows_per_task;
  parallel_for(q, Range1D{tasks}, [&](index_t task) {
    const index_t begin = task * detail::rows_per_task;
    const index_t end = std::min(n, begin + detail::rows_per_task);
    detail::margins_of_inputs(forest, x.row_slice(begin, end), out.row_slice(begin, end), isa, resolved);
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
  (void)resolve_isa(forest, isa);  // an unavailable ISA is an error even for an empty batch
  const index_t n = x.extent(0);
  const auto k = static_cast<std::size_t>(forest.num_outputs());
  const auto width = static_cast<std::size_t>(forest.prediction_width());
  // Margins of a chunk of rows at a time, on the stack: a multiple of every block size when the
  // outputs allow it (the rows' margins do not depend on the chunking).
  constexpr std::size_t chunk_values = 1024;
  index_t chunk = static_cast<index_t>(chunk_values / k);
  if (chunk >= detail::max_block_rows) chunk -= chunk % detail::max_block_rows;
  chunk = std::clamp<index_t>(chunk, 1, std::max<index_t>(n, 1));
  detail::StackBuffer<Value, chunk_values> margins(static_cast<std::size_t>(chunk) * k);
  detail::StackBuffer<Value, max_stack_outputs> row(width);
  for (index_t r0 = 0; r0 < n; r0 += chunk) {
    const index_t rows = std::min(chunk, n - r0);
    predict_margins(forest, x.row_slice(r0, r0 + rows), TensorView<Value, 2>(margins.data(), {rows, index_t(k)}), isa);
    for (index_t r = 0; r < rows; ++r) {
      apply_transform(forest, std::span<const Value>(margins.data() + r * index_t(k), k),
                      std::span<Value>(row.data(), width));
      for (std::size_t i = 0; i < width; ++i) out(r0 + r, static_cast<index_t>(i)) = row.data()[i];
    }
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
