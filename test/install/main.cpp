// SPDX-License-Identifier: Apache-2.0
// Consumer of an installed portml: runs the reference kernel on every host backend it was built
// with and reads a model header through portml::io. Exit status 0 when every result is right.
#include <cstdio>
#include <string>

#include <portml/io/format.hpp>
#include <portml/kernels/reference/matmul.hpp>
#include <portml/portml.hpp>
#if PORTML_ENABLE_KOKKOS
#include <portml/portability/kokkos.hpp>
#endif

template <class B>
bool check(portml::Queue<B>& q) {
  portml::Tensor<double, 2> a({2, 2}), b({2, 2}), c({2, 2});
  a(0, 0) = 1, a(0, 1) = 2, a(1, 0) = 3, a(1, 1) = 4;
  b(0, 0) = 5, b(0, 1) = 6, b(1, 0) = 7, b(1, 1) = 8;
  portml::kernels::reference::matmul<B, double>(q, a.view(), b.view(), c.view());
  q.wait();
  const bool ok = c(0, 0) == 19 && c(0, 1) == 22 && c(1, 0) == 43 && c(1, 1) == 50;
  std::printf("%-8s %s\n", B::name, ok ? "ok" : "WRONG");
  return ok;
}

int main(int argc, char** argv) {
  (void)argc, (void)argv;
  bool ok = true;
  portml::Queue<portml::backend::Serial> serial;
  ok = check(serial) && ok;
#if PORTML_ENABLE_OPENMP
  portml::Queue<portml::backend::OpenMP> openmp(2);
  ok = check(openmp) && ok;
#endif
#if PORTML_ENABLE_KOKKOS
  Kokkos::ScopeGuard guard(argc, argv);
  portml::Queue<portml::backend::KokkosHost> kokkos;
  ok = check(kokkos) && ok;
#endif
  const std::string lgbm = "tree\nversion=v4\n";
  const auto format = portml::io::detect_format(std::as_bytes(std::span(lgbm.data(), lgbm.size())));
  std::printf("io       %s\n", portml::io::to_string(format));
  ok = ok && format == portml::io::ModelFormat::lightgbm_text;
  std::printf("portml %s consumer: %s\n", PORTML_VERSION_STRING, ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
