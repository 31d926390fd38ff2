// SPDX-License-Identifier: Apache-2.0
//! \file
//! PackedWeights: the right-hand matrix W [K, N] of a GEMM, repacked once (at model load) into the
//! panel layout every host microkernel reads.
#pragma once

#include <portml/core/tensor.hpp>

namespace portml::kernels {

//! W [K, N] stored as ⌈N / panel_width⌉ column panels. Panel p holds columns [p·NR, p·NR + NR) as K
//! consecutive lines of NR elements (one 128-byte line per k), zero-padded past column N; panel p starts
//! at p · K · NR. A narrow last panel (N mod NR in 1 … NR/2: at most half its columns are real) has lines
//! of NR / 2 elements (64 bytes) instead, so that its padding half is neither stored nor streamed (the
//! microkernels' HALF form computes only that half). Every ISA reads the same layout, so one packed
//! copy serves all of them.
//! Immutable after construction; share it between threads freely.
template <class T>
class PackedWeights {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "portml::kernels::PackedWeights: float or double only");

 public:
  //! Columns per panel (NR): one 128-byte line, 32 floats or 16 doubles.
  static constexpr index_t panel_width = static_cast<index_t>(128 / sizeof(T));

  PackedWeights() = default;

  //! Packs W [K, N] given with any strides: W(k, j) multiplies input feature k into output j.
  //! A PyTorch/ONNX Gemm weight [N, K] packs through its `transposed()` view.
  explicit PackedWeights(TensorView<const T, 2> w)
      : rows_(w.extent(0)),
        cols_(w.extent(1)),
        data_({panel_count(w.extent(1)) * w.extent(0) * panel_width -
               (narrow_last_panel(w.extent(1)) ? w.extent(0) * (panel_width / 2) : 0)}) {
    for (index_t p = 0; p < panels(); ++p) {
      const index_t width = line_width(p);
      for (index_t k = 0; k < rows_; ++k) {
        T* line = data_.data() + p * panel_stride() + k * width;
        for (index_t c = 0; c < width && p * panel_width + c < cols_; ++c) line[c] = w(k, p * panel_width + c);
      }
    }
  }

  //! Packs W as above and, with `keep_row_major`, also keeps it as one row-major [K, N] matrix
  //! (row_major()): the operand the OpenBLAS provider (GemmProvider::openblas, gemm/openblas.hpp) hands
  //! to cblas in one call per GEMM instead of one per panel. It doubles the memory of W, so a model
  //! keeps it only when it is built for that provider. portml's microkernels never read it.
  PackedWeights(TensorView<const T, 2> w, bool keep_row_major) : PackedWeights(w) {
    if (!keep_row_major) return;
    row_major_ = Tensor<T, 1>({rows_ * cols_});
    for (index_t k = 0; k < rows_; ++k)
      for (index_t j = 0; j < cols_; ++j) row_major_.data()[k * cols_ + j] = w(k, j);
  }

  //! K: the input features.
  index_t rows() const { return rows_; }
  //! N: the output features.
  index_t cols() const { return cols_; }
  index_t panels() const { return panel_count(cols_); }
  //! First element of panel p (K lines of line_width(p) elements follow).
  const T* panel(index_t p) const { return data_.data() + p * panel_stride(); }
  //! Elements between consecutive panels (K · NR).
  index_t panel_stride() const { return rows_ * panel_width; }
  //! Elements per line (per k) of panel p: NR, or NR / 2 for a narrow last panel.
  index_t line_width(index_t p) const {
    return p + 1 == panels() && narrow_last_panel() ? panel_width / 2 : panel_width;
  }
  //! Whether the last panel is narrow (packed NR / 2 wide).
  bool narrow_last_panel() const { return narrow_last_panel(cols_); }
  //! W(k, j), read back from the packed layout.
  T operator()(index_t k, index_t j) const {
    const index_t p = j / panel_width;
    return panel(p)[k * line_width(p) + j % panel_width];
  }

  //! W as a row-major [K, N] matrix (row k at row_major() + k · N), or nullptr when it was not kept.
  const T* row_major() const { return row_major_.size() > 0 ? row_major_.data() : nullptr; }

  static index_t panel_count(index_t n) { return (n + panel_width - 1) / panel_width; }
  //! Whether the last panel of N columns holds at most NR / 2 of them (N mod NR in 1 … NR/2): the
  //! narrow last panel, packed with lines of NR / 2 elements.
  static bool narrow_last_panel(index_t n) {
    const index_t rest = n % panel_width;
    return rest != 0 && rest <= panel_width / 2;
  }

 private:
  index_t rows_ = 0;
  index_t cols_ = 0;
  Tensor<T, 1> data_;
  Tensor<T, 1> row_major_;  //!< empty unless kept (the OpenBLAS provider's operand)
};

}  // namespace portml::kernels
