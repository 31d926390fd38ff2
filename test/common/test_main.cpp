// SPDX-License-Identifier: Apache-2.0
// GoogleTest main of every portml test executable. The test, like any framework, owns the Kokkos
// lifetime: portml never initialises Kokkos itself.
#include <gtest/gtest.h>

#include <portml/config.hpp>
#if PORTML_ENABLE_KOKKOS
#include <Kokkos_Core.hpp>
#endif

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
#if PORTML_ENABLE_KOKKOS
  Kokkos::ScopeGuard kokkos(argc, argv);
#endif
  return RUN_ALL_TESTS();
}
