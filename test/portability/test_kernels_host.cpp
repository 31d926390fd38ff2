// SPDX-License-Identifier: Apache-2.0
// Host-backend instantiations of the test kernels.
#include <portml/portability/all.hpp>

#include "test_kernels_impl.hpp"

namespace portml::test {
PORTML_TEST_KERNELS_INSTANTIATE(, backend::Serial)
#if PORTML_ENABLE_OPENMP
PORTML_TEST_KERNELS_INSTANTIATE(, backend::OpenMP)
#endif
#if PORTML_ENABLE_KOKKOS
PORTML_TEST_KERNELS_INSTANTIATE(, backend::KokkosHost)
#endif
}  // namespace portml::test
