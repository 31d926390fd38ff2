// SPDX-License-Identifier: Apache-2.0
// main() of every portml benchmark executable: records the context a comparison needs (build,
// backends, CPU features, BLAS settings) in the benchmark output, then runs Google Benchmark.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include <portml/config.hpp>
#include <portml/core/cpu_features.hpp>
#if PORTML_ENABLE_KOKKOS
#include <Kokkos_Core.hpp>
#endif

#ifndef PORTML_GIT_SHA
#define PORTML_GIT_SHA "unknown"
#endif

namespace {

//! The CPU as Linux names it: "model name" of /proc/cpuinfo, with the x86 family and model numbers
//! (a virtual machine's name is often generic: "Intel(R) Xeon(R) Processor", "AMD EPYC"); "unknown"
//! elsewhere. Runs on different CPUs must not be compared by their absolute times.
std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, name, family, model;
  const auto value = [&line] {
    const auto colon = line.find(':');
    const auto begin = colon == std::string::npos ? colon : line.find_first_not_of(" \t", colon + 1);
    return begin == std::string::npos ? std::string() : line.substr(begin);
  };
  while (std::getline(in, line) && line.find_first_not_of(" \t") != std::string::npos) {  // the first CPU
    if (line.rfind("model name", 0) == 0) name = value();
    if (line.rfind("cpu family", 0) == 0) family = value();
    if (line.rfind("model\t", 0) == 0) model = value();
  }
  if (name.empty()) return "unknown";
  return family.empty() || model.empty() ? name : name + " (family " + family + ", model " + model + ")";
}

}  // namespace

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
  benchmark::AddCustomContext("cpu_model", cpu_model());
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
