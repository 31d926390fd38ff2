// SPDX-License-Identifier: Apache-2.0
//! \file
//! Which microkernel family a GEMM call runs (portml::Isa, chosen from the CPU's feature bits; a
//! forced one is checked).
#pragma once

#include <string>

#include <portml/core/error.hpp>
#include <portml/core/isa.hpp>

namespace portml::kernels {

//! The ISA a call runs: `requested` itself (NotSupported if this CPU or build lacks it) or, for
//! `automatic`, the widest available one.
inline Isa resolve_isa(Isa requested) {
  if (requested == Isa::automatic) return widest_isa();
  if (!isa_available(requested)) {
    throw NotSupported(std::string("portml::kernels::gemm: the ") + to_string(requested) +
                       " microkernels are not compiled in or this CPU lacks the instructions");
  }
  return requested;
}

}  // namespace portml::kernels
