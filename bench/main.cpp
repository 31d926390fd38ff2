// SPDX-License-Identifier: Apache-2.0
// main() of every portml benchmark executable: records the context a comparison needs (build,
// backends, CPU features, BLAS settings) in the benchmark output, then runs Google Benchmark.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

#include <portml/config.hpp>
#include <portml/core/cpu_features.hpp>
#if PORTML_ENABLE_KOKKOS
#include <Kokkos_Core.hpp>
#endif

#ifndef PORTML_GIT_SHA
#define PORTML_GIT_SHA "unknown"
#endif

int main(int argc, char** argv) {
#if PORTML_ENABLE_KOKKOS
  // Not from argv: Kokkos would take options such as --threads as its own.
  const Kokkos::InitArguments kokkos_args;
  Kokkos::ScopeGuard kokkos(kokkos_args);
#endif
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  benchmark::AddCustomContext("portml_version", PORTML_VERSION_STRING);
  benchmark::AddCustomContext("portml_git", PORTML_GIT_SHA);
  benchmark::AddCustomContext("cpu_features", portml::detect_cpu_features().to_string());
  benchmark::AddCustomContext("OPENBLAS_CORETYPE", coretype != nullptr ? coretype : "(unset)");
  // oneDNN 2.x reads DNNL_MAX_CPU_ISA (3.x ONEDNN_MAX_CPU_ISA): AVX2 makes it the peer of the *_avx2_* cases.
  const char* dnnl_isa = std::getenv("DNNL_MAX_CPU_ISA");
  if (dnnl_isa == nullptr) dnnl_isa = std::getenv("ONEDNN_MAX_CPU_ISA");
  benchmark::AddCustomContext("DNNL_MAX_CPU_ISA", dnnl_isa != nullptr ? dnnl_isa : "(unset)");
#if defined(__clang__)
  benchmark::AddCustomContext("compiler", "clang " __clang_version__);
#elif defined(__GNUC__)
  benchmark::AddCustomContext("compiler", "gcc " __VERSION__);
#endif
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
