// SPDX-License-Identifier: Apache-2.0
//! \file
//! One row of A through a layer: C[0, N) = epilogue(a · W), for a caller that runs a single row through
//! a chain of layers (layers::Mlp at batch 1). On AVX-512 and AVX2 the ISA's row kernels run over W's
//! panels in calls of at most four SIMD vectors (AVX-512: two panels, 64 floats or 32 doubles; AVX2: one
//! panel, 32 floats or 16 doubles): the arguments stay in registers, with none of the tile set-up of
//! gemm_rows (the MicroTile, the panel calls, the C prefetch), and they keep the K order of
//! gemm/k_chunks.hpp and the microkernels' epilogue, so the bits are those of kernels::gemm for that row
//! on the same ISA (a column's sum does not depend on the columns computed beside it). Which kernel
//! each call runs (its vector count and K chunks at once) depends only on W's shape, so it is chosen once,
//! when the layer is loaded (OneRowPlan), and a call pays no dispatch. The scalar ISA runs a one-row
//! gemm_rows: the same bits again. Nothing is checked at a call; nothing allocates there.
#pragma once

#include <cassert>

#include <portml/kernels/gemm/blocking.hpp>

namespace portml::kernels {

//! The most SIMD vectors of one row that one row-kernel call takes; a wider layer takes several calls.
inline constexpr int one_row_max_vectors = 4;

namespace gemm_detail {

//! Vectors of `width` elements that one row of W's panels [p0, p0 + count) takes in the packed layout:
//! NR / width per whole panel, then the narrow last panel's columns (if among them) rounded up to whole
//! vectors.
template <class T>
index_t one_row_vectors(const PackedWeights<T>& w, index_t width, index_t p0, index_t count) {
  constexpr index_t nr = PackedWeights<T>::panel_width;
  const bool narrow = w.narrow_last_panel() && p0 + count == w.panels();
  const index_t whole = narrow ? count - 1 : count;
  return whole * (nr / width) + (narrow ? (w.cols() - (p0 + whole) * nr + width - 1) / width : 0);
}

//! The row kernel of `Kernels` (IsaAvx512, IsaAvx2) for NV = 1 … one_row_max_vectors vectors and K = k.
template <class Kernels, class T, int NV = 1>
auto row_kernel(index_t nv, index_t k) {
  if constexpr (NV < one_row_max_vectors) {
    if (nv != NV) return row_kernel<Kernels, T, NV + 1>(nv, k);
  }
  return Kernels::template row<T, NV>(k);
}

}  // namespace gemm_detail

//! How one row goes through W on one ISA (gemm_one_row): the row kernel of a whole group of panels
//! (one_row_max_vectors vectors), how many such groups W begins with, and the kernel of the group that
//! ends W (fewer or narrower panels, or a whole group), each chosen from W's shape when the layer is
//! loaded. Immutable and small (held by value in the layer, so a call reads it without a pointer chase);
//! holds no pointer into W, so it stays valid when the layer that holds both is copied or moved.
template <class T>
class OneRowPlan {
 public:
  //! c[j] = epilogue(a · W)[j] for the columns of NV vectors from panel p0 (gemm_avx512_row, gemm_avx2_row).
  using Kernel = void (*)(const T* a, index_t cs, const PackedWeights<T>& w, index_t p0, const EpilogueParams<T>& ep,
                          T* c);

  OneRowPlan() = default;
  //! The row kernels for W on `isa` (resolved: never automatic): W's panels in groups of at most
  //! one_row_max_vectors vectors on AVX-512 and AVX2; none on the scalar ISA (or for N = 0), which
  //! gemm_one_row runs as a one-row gemm_rows.
  OneRowPlan(Isa isa, const PackedWeights<T>& w) : isa_(isa) {
    assert(isa != Isa::automatic);
#if PORTML_X86_SIMD
    if (isa == Isa::avx512) choose<gemm_detail::IsaAvx512, gemm_detail::Avx512<T>::width>(w);
    if (isa == Isa::avx2) choose<gemm_detail::IsaAvx2, gemm_detail::Avx2<T>::width>(w);
#else
    (void)w;
#endif
  }

  Isa isa() const { return isa_; }
  //! The kernel of the whole groups before the last one (nullptr when there are none).
  Kernel whole() const { return whole_; }
  //! How many whole groups come before the last group, and how many panels a group has.
  index_t whole_calls() const { return whole_calls_; }
  index_t group_panels() const { return group_panels_; }
  //! The kernel of the last group (nullptr: no row kernels, a one-row gemm_rows), and its first panel.
  Kernel last() const { return last_; }
  index_t last_p0() const { return whole_calls_ * group_panels_; }

 private:
  Isa isa_ = Isa::scalar;
  Kernel whole_ = nullptr;
  index_t whole_calls_ = 0;
  index_t group_panels_ = 0;
  Kernel last_ = nullptr;

  template <class Kernels, index_t width>
  void choose(const PackedWeights<T>& w) {
    constexpr index_t group = one_row_max_vectors / (PackedWeights<T>::panel_width / width);
    static_assert(group >= 1, "a panel is more vectors than a row kernel takes");
    const index_t panels = w.panels();
    if (panels == 0) return;
    group_panels_ = group;
    whole_calls_ = (panels - 1) / group;  // the last group has 1 … group panels
    const index_t p0 = whole_calls_ * group;
    if (whole_calls_ > 0)
      whole_ = gemm_detail::row_kernel<Kernels, T>(gemm_detail::one_row_vectors(w, width, 0, group), w.rows());
    last_ = gemm_detail::row_kernel<Kernels, T>(gemm_detail::one_row_vectors(w, width, p0, panels - p0), w.rows());
  }
};

//! c[0, N) = epilogue(a · W) for one row a (A(0, k) = a[k · a_col_stride]), N = w.cols(), on the plan's
//! ISA: the bits of kernels::gemm on that row with that ISA. Preconditions (asserted in debug builds):
//! `plan` was made for `w`, `ep` has no residual, c[0, N) does not overlap the row.
template <class T>
void gemm_one_row(const OneRowPlan<T>& plan, const T* a, index_t a_col_stride, const PackedWeights<T>& w, T* c,
                  const EpilogueParams<T>& ep) {
  assert(!ep.has_residual());
  const index_t n = w.cols();
  if (n == 0) return;
  if (plan.last() != nullptr) {
    for (index_t i = 0; i < plan.whole_calls(); ++i) plan.whole()(a, a_col_stride, w, i * plan.group_panels(), ep, c);
    plan.last()(a, a_col_stride, w, plan.last_p0(), ep, c);
    if (ep.post.kind != Activation::Linear) post_store_row(ep, c, 0, 0, n);
    return;
  }
  const gemm_detail::Problem<T> p{
      .a = a, .a_row_stride = 0, .a_col_stride = a_col_stride, .m = 1, .w = &w, .c = c, .c_row_stride = n, .ep = ep};
  gemm_detail::gemm_rows(plan.isa(), p, 0, 1);
}

}  // namespace portml::kernels
