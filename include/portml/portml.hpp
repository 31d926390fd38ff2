// SPDX-License-Identifier: Apache-2.0
//! \file
//! Umbrella header: tensors, the host backends (Serial, and OpenMP when enabled) and the launch API.
//! Kokkos, CUDA and HIP have their own headers (portml/portability/kokkos.hpp, cuda.hpp, hip.hpp).
#pragma once

#include <portml/config.hpp>
#include <portml/core/tensor.hpp>
#include <portml/portability/launch.hpp>
#include <portml/portability/serial.hpp>
#if PORTML_ENABLE_OPENMP
#include <portml/portability/openmp.hpp>
#endif
