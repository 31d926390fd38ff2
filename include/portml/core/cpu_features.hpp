// SPDX-License-Identifier: Apache-2.0
//! \file
//! CPU features read at run time from the CPU's feature bits (and the OS's register-state support),
//! never from CPU model tables: the basis for choosing SIMD code paths.
#pragma once

#include <string>

namespace portml {

struct CpuFeatures {
  bool sse42 = false;
  bool avx2 = false;
  bool fma = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512dq = false;
  bool avx512vl = false;
  bool neon = false;

  //! AVX-512 foundation plus the BW/DQ/VL subsets portml's kernels use.
  bool avx512() const { return avx512f && avx512bw && avx512dq && avx512vl; }
  bool avx2_fma() const { return avx2 && fma; }

  //! Space-separated list of the features present, e.g. "sse4.2 avx2 fma avx512f ...".
  std::string to_string() const {
    std::string s;
    const auto add = [&s](bool on, const char* name) {
      if (!on) return;
      if (!s.empty()) s += ' ';
      s += name;
    };
    add(sse42, "sse4.2");
    add(avx2, "avx2");
    add(fma, "fma");
    add(avx512f, "avx512f");
    add(avx512bw, "avx512bw");
    add(avx512dq, "avx512dq");
    add(avx512vl, "avx512vl");
    add(neon, "neon");
    return s.empty() ? "none" : s;
  }
};

//! Features of the CPU this process runs on (GCC/Clang: __builtin_cpu_supports also checks that the
//! OS saves the wider registers).
inline CpuFeatures detect_cpu_features() {
  CpuFeatures f;
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  f.sse42 = __builtin_cpu_supports("sse4.2");
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512dq = __builtin_cpu_supports("avx512dq");
  f.avx512vl = __builtin_cpu_supports("avx512vl");
#elif defined(__aarch64__)
  f.neon = true;  // Advanced SIMD is mandatory on AArch64
#endif
  return f;
}

}  // namespace portml
