// SPDX-License-Identifier: Apache-2.0
//! \file
//! The instruction sets portml's host kernels have code paths for, and the run-time choice between
//! them from the CPU's feature bits (never from CPU model tables). Every kernel family (GEMM, forests,
//! ...) takes an `Isa`: `automatic` picks the widest available one, the others force a path (tests run
//! every compiled path on one machine this way).
#pragma once

#include <portml/core/cpu_features.hpp>

//! 1 where the x86 SIMD code paths are compiled: GCC or Clang on x86-64, host compilation only. They
//! are compiled through function target attributes, so no -m flag is needed anywhere.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__) && !defined(__HIPCC__)
#define PORTML_X86_SIMD 1
#else
#define PORTML_X86_SIMD 0
#endif

namespace portml {

enum class Isa {
  automatic,  //!< the widest path this CPU and build run
  scalar,     //!< portable C++ (whatever the compiler's baseline target vectorises it to)
  avx2,       //!< AVX2 + FMA, 256-bit
  avx512,     //!< AVX-512 F/BW/DQ/VL + FMA, 512-bit
};

inline const char* to_string(Isa isa) {
  switch (isa) {
    case Isa::automatic:
      return "automatic";
    case Isa::scalar:
      return "scalar";
    case Isa::avx2:
      return "avx2";
    case Isa::avx512:
      return "avx512";
  }
  return "?";
}

//! Whether `isa`'s code paths are compiled into this binary and this CPU runs them.
inline bool isa_available(Isa isa) {
  static const CpuFeatures features = detect_cpu_features();
  switch (isa) {
    case Isa::automatic:
    case Isa::scalar:
      return true;
    case Isa::avx2:
      return PORTML_X86_SIMD && features.avx2_fma();
    case Isa::avx512:
      return PORTML_X86_SIMD && features.avx512() && features.fma;
  }
  return false;
}

//! The widest available ISA: what `Isa::automatic` means on this CPU.
inline Isa widest_isa() {
  if (isa_available(Isa::avx512)) return Isa::avx512;
  if (isa_available(Isa::avx2)) return Isa::avx2;
  return Isa::scalar;
}

}  // namespace portml
