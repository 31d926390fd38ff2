// SPDX-License-Identifier: Apache-2.0
// Helpers of the dense-layer tests: seeded random data, the host backends, the ISAs this CPU runs,
// and a double-precision oracle for C = epilogue(A·W) with an error bound per element.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include <portml/kernels/gemm.hpp>
#include <portml/kernels/reference/matmul.hpp>

#include "../common/backend_cases.hpp"

namespace portml::test {

using HostCases = ::testing::Types<SerialCase
#if PORTML_ENABLE_OPENMP
                                   ,
                                   OpenMPCase
#endif
#if PORTML_ENABLE_KOKKOS
                                   ,
                                   KokkosCase
#endif
                                   >;

//! Every microkernel family this binary and CPU can run (the ones CI checks on this machine).
inline std::vector<Isa> runnable_isas() {
  std::vector<Isa> out;
  for (auto isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if (isa_available(isa)) out.push_back(isa);
  }
  return out;
}

template <class T>
void fill_uniform(Tensor<T, 2>& t, std::mt19937& rng, double lo = -1.0, double hi = 1.0) {
  std::uniform_real_distribution<double> dist(lo, hi);
  for (index_t i = 0; i < t.size(); ++i) t.data()[i] = static_cast<T>(dist(rng));
}

template <class T>
std::vector<T> uniform_vector(index_t n, std::mt19937& rng, double lo = -1.0, double hi = 1.0) {
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<T> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = static_cast<T>(dist(rng));
  return v;
}

//! Unit roundoff of T.
template <class T>
constexpr double unit_roundoff() {
  return std::is_same_v<T, float> ? 5.97e-8 : 1.12e-16;
}

//! Oracle value and error bound of one element: z = s·Σ a·w + b in double, with the bound
//! γ_{k+2}·(|s|·Σ|a·w| + |b|) of a length-k float dot product (Higham, Thm 3.1) plus the residual.
struct OracleElement {
  double z = 0;      //!< before the activation
  double bound = 0;  //!< on z
};

template <class T>
OracleElement oracle_element(TensorView<const T, 2> a, index_t i, TensorView<const T, 2> w, index_t j, const T* scale,
                             const T* bias) {
  double sum = 0, mag = 0;
  for (index_t p = 0; p < a.extent(1); ++p) {
    const double prod = static_cast<double>(a(i, p)) * static_cast<double>(w(p, j));
    sum += prod;
    mag += std::abs(prod);
  }
  const double s = scale != nullptr ? static_cast<double>(scale[j]) : 1.0;
  const double b = bias != nullptr ? static_cast<double>(bias[j]) : 0.0;
  const double k = static_cast<double>(a.extent(1)) + 2.0;
  const double gamma = k * unit_roundoff<T>() / (1.0 - k * unit_roundoff<T>());
  return {s * sum + b, gamma * (std::abs(s) * mag + std::abs(b)) + 1e-300};
}

//! C(i, j) in the summation order of kernels/gemm/k_chunks.hpp, written out here independently of the
//! kernels: K in S = 4 (K ≥ 32), 2 (16 ≤ K < 32) or 1 contiguous chunks of q = 8·⌊K/(8S)⌋ terms, the
//! last one taking the rest; each chunk summed in k order from +0; the chunk sums added left to right;
//! then + bias. `fused`: each multiply-add is one rounding (std::fma; the SIMD kernels, and the GPU
//! compilers, which contract it), else a separate multiply and add (the scalar kernel, host backends).
template <class T>
T documented_gemm_element(const Tensor<T, 2>& a, index_t i, const Tensor<T, 2>& w, index_t j, T bias, bool fused) {
  const index_t k = a.extent(1);
  const index_t chunks = k >= 32 ? 4 : (k >= 16 ? 2 : 1);
  const index_t q = 8 * (k / (8 * chunks));
  T total = T(0);
  for (index_t c = 0; c < chunks; ++c) {
    const index_t end = c + 1 == chunks ? k : (c + 1) * q;
    T s = T(0);
    for (index_t p = c * q; p < end; ++p) {
      if (fused) {
        s = std::fma(a(i, p), w(p, j), s);
      } else {
        const T prod = a(i, p) * w(p, j);
        s = s + prod;
      }
    }
    total = c == 0 ? s : total + s;
  }
  return total + bias;
}

}  // namespace portml::test
