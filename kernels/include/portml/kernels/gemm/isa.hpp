// SPDX-License-Identifier: Apache-2.0
//! \file
//! The instruction sets the host GEMM has microkernels for, and the run-time choice between them
//! (from the CPU's feature bits, never from CPU model tables), with an override for tests.
#pragma once

#include <string>

#include <portml/core/cpu_features.hpp>
#include <portml/core/error.hpp>

//! 1 where the x86 SIMD microkernels are compiled (GCC/Clang on x86-64, host compilation only).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__) && !defined(__HIPCC__)
#define PORTML_GEMM_X86 1
#else
#define PORTML_GEMM_X86 0
#endif

namespace portml::kernels {

//! A microkernel family. `Automatic` picks the widest one this CPU runs.
enum class Isa {
  Automatic,
  Scalar,  //!< portable C++ (whatever the compiler's baseline target vectorises it to)
  Avx2,    //!< AVX2 + FMA, 256-bit
  Avx512,  //!< AVX-512 F/BW/DQ/VL + FMA, 512-bit
};

inline const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Automatic:
      return "automatic";
    case Isa::Scalar:
      return "scalar";
    case Isa::Avx2:
      return "avx2";
    case Isa::Avx512:
      return "avx512";
  }
  return "?";
}

//! True when `isa`'s microkernels are compiled into this binary and this CPU can run them.
inline bool isa_available(Isa isa) {
  static const CpuFeatures features = detect_cpu_features();
  switch (isa) {
    case Isa::Automatic:
    case Isa::Scalar:
      return true;
    case Isa::Avx2:
      return PORTML_GEMM_X86 && features.avx2_fma();
    case Isa::Avx512:
      return PORTML_GEMM_X86 && features.avx512() && features.fma;
  }
  return false;
}

//! The ISA a call runs: `requested` itself (NotSupported if this CPU or build lacks it) or, for
//! Automatic, the widest available one.
inline Isa resolve_isa(Isa requested) {
  if (requested == Isa::Automatic) {
    if (isa_available(Isa::Avx512)) return Isa::Avx512;
    if (isa_available(Isa::Avx2)) return Isa::Avx2;
    return Isa::Scalar;
  }
  if (!isa_available(requested)) {
    throw NotSupported(std::string("portml::kernels::gemm: the ") + isa_name(requested) +
                       " microkernels are not compiled in or this CPU lacks the instructions");
  }
  return requested;
}

}  // namespace portml::kernels
