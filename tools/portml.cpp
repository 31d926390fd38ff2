// SPDX-License-Identifier: Apache-2.0
// The portml command-line tool. Subcommands:
//   portml info                 version, compiled backends, devices, CPU features, model formats
//   portml selfcheck [--backend NAME]
//                               runs the reference kernel on every compiled backend and checks it
//                               against a double-precision host computation
//   portml predict | validate | bench --model FILE ...   (tools/cli/commands.cpp)
// Exit status: 0 success, 1 a check failed, 2 usage or input error (a GPU backend without a device too).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <random>
#include <string>
#include <vector>

#include <portml/core/cpu_features.hpp>
#include <portml/kernels/reference/matmul.hpp>
#include <portml/portability/all.hpp>

#include "cli/commands.hpp"
#include "cli/model_runner.hpp"
#include "cli/options.hpp"

namespace {

using portml::index_t;

using portml::cli::UsageError;

void print_usage(std::FILE* out) {
  std::fprintf(out,
               "usage: portml <command> [options]\n"
               "commands:\n"
               "  info                      version, compiled backends, devices, CPU features, model formats\n"
               "  selfcheck [--backend B]   run the reference kernel on every compiled backend (or on B)\n"
               "  predict --model FILE --input FILE --output FILE [--backend B] [--threads N] [--margin]\n"
               "          [--gemm portml|openblas]\n"
               "  validate --model FILE --input FILE --reference FILE [--rtol R] [--atol A] [--backend B]\n"
               "           [--threads N] [--margin] [--gemm portml|openblas]\n"
               "  bench --model FILE [--input FILE] [--backend all|B] [--batch 1,16,1024] [--threads 1,2]\n"
               "        [--format table|json] [--min-time SECONDS] [--margin] [--gemm portml,openblas]\n"
               "tables: .csv (no header, comma-separated, nan or empty = missing) or .npy (2-D float32/float64)\n"
               "graph models (portml GNN JSON): --input is a .csv whose first column is an integer event id (the\n"
               "  rows of one event contiguous) or an .npz with x [nodes, inputs] and offsets [events + 1]; the\n"
               "  output has one row per event (ParticleNet-like) or per node (GravNet); bench's --batch counts\n"
               "  events (random events of 50 nodes without --input)\n"
               "backends: serial, openmp, kokkos, cuda, hip (as compiled into this build); cuda and hip run on\n"
               "  device 0 and copy each batch in and its outputs out (bench's GPU times include the copies);\n"
               "  bench --backend all skips a GPU backend without a device\n"
               "--gemm (MLPs): who computes the products on a host backend: portml's kernels (default) or OpenBLAS\n"
               "  (builds with PORTML_ENABLE_OPENBLAS; run with OPENBLAS_NUM_THREADS=1); bench takes a list\n");
}

std::string backend_list() {
  std::string s;
  portml::for_each_type(portml::enabled_backends{}, [&]<class B>() {
    if (!s.empty()) s += ", ";
    s += B::name;
  });
  return s;
}

int cmd_info() {
  std::printf("portml %s\n", PORTML_VERSION_STRING);
  std::printf("backends: %s\n", backend_list().c_str());
  std::printf("cpu features: %s\n", portml::detect_cpu_features().to_string().c_str());
#if PORTML_ENABLE_OPENMP
  std::printf("openmp: available; portml uses 1 thread unless the caller asks for more\n");
#endif
  std::printf("blas: %s\n", PORTML_ENABLE_OPENBLAS ? "openblas (MLPs: --gemm openblas; portml's kernels by default)"
                                                   : "none (native kernels)");
  std::string formats;
  for (const auto f : portml::cli::supported_formats())
    formats += (formats.empty() ? "" : ", ") + std::string(portml::io::to_string(f));
  std::printf("model formats: %s\n", formats.empty() ? "none yet" : formats.c_str());
  portml::for_each_type(portml::device_backends{}, [&]<class B>() {
    std::string reason;
    const int n = portml::device_count<B>(&reason);
    std::printf("%s devices: %d%s%s\n", B::name, n, n == 0 ? " — " : "", n == 0 ? reason.c_str() : "");
    for (int d = 0; d < n; ++d) {
      const auto info = portml::device_info<B>(d);
      std::printf("  [%d] %s, %.1f GiB\n", d, info.name.c_str(), static_cast<double>(info.memory_bytes) / (1 << 30));
    }
  });
  return 0;
}

template <class B>
portml::Queue<B> make_queue() {
  if constexpr (std::is_same_v<B, portml::backend::OpenMP>) {
    return portml::Queue<B>(2);
  } else {
    return portml::Queue<B>{};
  }
}

//! Runs C = A·B on backend B and checks every element against a double-precision product.
template <class B>
bool selfcheck_backend() {
  using S = portml::memory_space_t<B>;
  std::string reason;
  if (portml::device_count<B>(&reason) == 0) {
    std::printf("%-8s skipped  (%s)\n", B::name, reason.c_str());
    return true;
  }
  const index_t m = 64, k = 48, n = 32;
  portml::Tensor<float, 2> a({m, k}), b({k, n}), c({m, n});
  std::mt19937 rng(12345);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (index_t i = 0; i < a.size(); ++i) a.data()[i] = dist(rng);
  for (index_t i = 0; i < b.size(); ++i) b.data()[i] = dist(rng);

  auto q = make_queue<B>();
  portml::Tensor<float, 2, S> da({m, k}), db({k, n}), dc({m, n});
  portml::deep_copy(q, da.view(), a.view());
  portml::deep_copy(q, db.view(), b.view());
  const auto t0 = std::chrono::steady_clock::now();
  portml::kernels::reference::matmul<B, float>(q, da.view(), db.view(), dc.view());
  q.wait();
  const auto t1 = std::chrono::steady_clock::now();
  portml::deep_copy(q, c.view(), portml::TensorView<const float, 2, S>(dc.view()));
  q.wait();

  double worst = 0, checksum = 0;
  for (index_t i = 0; i < m; ++i) {
    for (index_t j = 0; j < n; ++j) {
      double want = 0, magnitude = 0;
      for (index_t p = 0; p < k; ++p) {
        want += static_cast<double>(a(i, p)) * b(p, j);
        magnitude += std::abs(static_cast<double>(a(i, p)) * b(p, j));
      }
      const double bound = 1e-7 + static_cast<double>(k) * 1.2e-7 * magnitude;
      worst = std::max(worst, std::abs(c(i, j) - want) / bound);
      checksum += c(i, j);
    }
  }
  const bool ok = worst <= 1.0;
  std::printf("%-8s %-8s error/bound %.3f  checksum %+.6f  %.1f us\n", B::name, ok ? "ok" : "FAILED", worst, checksum,
              std::chrono::duration<double, std::micro>(t1 - t0).count());
  return ok;
}

int cmd_selfcheck(const std::string& only) {
  std::printf(
      "portml %s self-check: C = A·B with the reference kernel, A 64x48, B 48x32, float,\n"
      "checked element-wise against a double-precision product on the host\n",
      PORTML_VERSION_STRING);
  bool all_ok = true, found = only.empty();
  portml::for_each_type(portml::enabled_backends{}, [&]<class B>() {
    if (!only.empty() && only != B::name) return;
    found = true;
    try {
      all_ok = selfcheck_backend<B>() && all_ok;
    } catch (const std::exception& e) {
      std::printf("%-8s FAILED   %s\n", B::name, e.what());
      all_ok = false;
    }
  });
  if (!found) throw UsageError("unknown or not compiled backend '" + only + "' (compiled: " + backend_list() + ")");
  return all_ok ? 0 : 1;
}

int run(int argc, char** argv) {
  if (argc < 2) {
    print_usage(stderr);
    return 2;
  }
  const std::string cmd = argv[1];
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    print_usage(stdout);
    return 0;
  }
  if (cmd == "info") {
    if (argc != 2) throw UsageError("info takes no options");
    return cmd_info();
  }
  if (cmd == "selfcheck") {
    std::string only;
    for (int i = 2; i < argc; ++i) {
      const std::string arg = argv[i];
      if (arg == "--backend" && i + 1 < argc) {
        only = argv[++i];
      } else {
        throw UsageError("selfcheck: unknown option '" + arg + "'");
      }
    }
    return cmd_selfcheck(only);
  }
  if (cmd == "predict") return portml::cli::cmd_predict(argc, argv);
  if (cmd == "validate") return portml::cli::cmd_validate(argc, argv);
  if (cmd == "bench") return portml::cli::cmd_bench(argc, argv);
  throw UsageError("unknown command '" + cmd + "'");
}

}  // namespace

int main(int argc, char** argv) {
#if PORTML_ENABLE_KOKKOS
  // Not from argv: Kokkos would take options such as --threads as its own.
  const Kokkos::InitArguments kokkos_args;
  Kokkos::ScopeGuard kokkos(kokkos_args);
#endif
  try {
    portml::cli::register_all_runners();
    return run(argc, argv);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "portml: %s\n", e.what());
    print_usage(stderr);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "portml: %s\n", e.what());
    return 2;
  }
}
