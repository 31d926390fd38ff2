// SPDX-License-Identifier: Apache-2.0
//! \file
//! GEMM epilogues: what happens to the accumulator of each output element before it is stored. Each
//! epilogue is a small type stating its math in one line; all of them reduce to EpilogueParams, the
//! one description the microkernels and the blocking layer understand.
#pragma once

#include <concepts>

#include <portml/core/tensor_view.hpp>
#include <portml/kernels/activation.hpp>

namespace portml::kernels {

//! The part of an activation applied in registers by the microkernels; everything else runs as a
//! per-tile pass right after the microkernel has stored the tile (still in L1).
enum class RegisterClamp {
  None,       //!< v
  Relu,       //!< max(0, v)
  LeakyRelu,  //!< max(slope·v, v), 0 < slope < 1
};

//! The general epilogue every epilogue type reduces to:
//!   D(i, j) = post(clamp(scale_j · acc(i, j) + bias_j)) + residual(i, j)
//! where scale, bias and residual are optional (nullptr / empty view) and at most one of clamp and
//! post is not the identity. Products and sums are separate IEEE operations (no contraction), in
//! this order, on every ISA, so the same inputs give the same bits whatever the tile shape.
template <class T>
struct EpilogueParams {
  const T* scale = nullptr;  //!< per column, length N, or nullptr
  const T* bias = nullptr;   //!< per column, length N, or nullptr
  RegisterClamp clamp = RegisterClamp::None;
  T slope = T(0);                     //!< LeakyRelu slope when clamp is LeakyRelu
  ActivationSpec post{};              //!< element-wise activation applied after the tile is stored
  TensorView<const T, 2> residual{};  //!< [M, N] with C's row numbering, or an empty view

  bool has_residual() const { return residual.data() != nullptr; }
};

//! c[j] = apply_activation(a, c[j]) for j < n, with a.kind the compile-time `Kind`: the switch in
//! apply_activation folds away and the loop vectorises (ReLU, LeakyReLU).
template <Activation Kind, class T>
void activation_pass(const ActivationSpec& a, T* c, index_t n) {
  const ActivationSpec known{Kind, a.alpha, a.beta};
  for (index_t j = 0; j < n; ++j) c[j] = apply_activation(known, c[j]);
}

//! c[j] = apply_activation(a, c[j]) for j < n.
template <class T>
void activation_pass(const ActivationSpec& a, T* c, index_t n) {
  switch (a.kind) {
    case Activation::Linear:
      return;
    case Activation::Relu:
      activation_pass<Activation::Relu>(a, c, n);
      return;
    case Activation::LeakyRelu:
      activation_pass<Activation::LeakyRelu>(a, c, n);
      return;
    default:  // the others call into libm per element: the switch costs nothing next to them
      for (index_t j = 0; j < n; ++j) c[j] = apply_activation(a, c[j]);
      return;
  }
}

//! The post-store steps of the epilogue on C(i, j0 .. j0 + n), stored at c[0, n) with acc, scale, bias
//! and the register clamp already applied: c = post(c), then c = c + residual(i, j0 + j), each a separate
//! IEEE operation. The one definition the blocking layer (per tile, while the tile is in L1) and the
//! BLAS provider (per row) both run.
template <class T>
void post_store_row(const EpilogueParams<T>& ep, T* c, index_t i, index_t j0, index_t n) {
  activation_pass(ep.post, c, n);
  if (ep.has_residual()) {
    const T* const r = &ep.residual(i, j0);
    const index_t rs = ep.residual.stride(1);
    for (index_t j = 0; j < n; ++j) c[j] = c[j] + r[j * rs];
  }
}

//! Splits an element-wise activation into the register clamp or the post-store pass.
template <class T>
EpilogueParams<T> make_epilogue_params(const T* scale, const T* bias, const ActivationSpec& act,
                                       TensorView<const T, 2> residual = {}) {
  if (!act.elementwise()) {
    throw NotSupported(std::string("portml::kernels::gemm: ") + activation_name(act.kind) +
                       " is a row operation and cannot be a GEMM epilogue");
  }
  EpilogueParams<T> p;
  p.scale = scale;
  p.bias = bias;
  p.residual = residual;
  if (act.kind == Activation::Relu || (act.kind == Activation::LeakyRelu && act.alpha == 0.0)) {
    p.clamp = RegisterClamp::Relu;
  } else if (act.kind == Activation::LeakyRelu && act.alpha > 0.0 && act.alpha < 1.0) {
    p.clamp = RegisterClamp::LeakyRelu;
    p.slope = static_cast<T>(act.alpha);
  } else if (act.kind != Activation::Linear) {
    p.post = act;
  }
  return p;
}

//! A type the GEMM accepts as its epilogue: it yields EpilogueParams<T>.
template <class E, class T>
concept GemmEpilogue = requires(const E& e) {
  { e.template params<T>() } -> std::same_as<EpilogueParams<T>>;
};

namespace epilogue {

//! D = acc
struct Identity {
  template <class T>
  EpilogueParams<T> params() const {
    return {};
  }
};

//! D = act(acc + bias_j)
template <class T>
struct BiasActivation {
  const T* bias = nullptr;
  ActivationSpec activation{};

  template <class U>
  requires std::same_as<U, T> EpilogueParams<T> params()
  const { return make_epilogue_params<T>(nullptr, bias, activation); }
};

//! D = act(scale_j · acc + bias_j) + residual(i, j)   (scale, bias, residual optional)
template <class T>
struct ScaleBiasActivationResidual {
  const T* scale = nullptr;
  const T* bias = nullptr;
  ActivationSpec activation{};
  TensorView<const T, 2> residual{};

  template <class U>
  requires std::same_as<U, T> EpilogueParams<T> params()
  const { return make_epilogue_params<T>(scale, bias, activation, residual); }
};

//! The EpilogueParams a caller made once (a layer, at construction), by reference: no per-call split
//! of the activation. `params` must outlive the GEMM call.
template <class T>
struct Precomputed {
  const EpilogueParams<T>* source = nullptr;

  template <class U>
  requires std::same_as<U, T> EpilogueParams<T> params()
  const { return *source; }
};

}  // namespace epilogue
}  // namespace portml::kernels
