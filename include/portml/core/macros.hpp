// SPDX-License-Identifier: Apache-2.0
//! \file
//! Annotations shared by every portml header: host/device qualifiers, restrict, bounds checking.
#pragma once

#include <portml/config.hpp>

//! Marks a function callable from host and device code. Empty for host-only compilers.
#if defined(__CUDACC__) || defined(__HIPCC__)
#define PORTML_HOST_DEVICE __host__ __device__
#define PORTML_DEVICE __device__
#else
#define PORTML_HOST_DEVICE
#define PORTML_DEVICE
#endif

//! 1 while a device compiler generates device code (the device pass of nvcc or hip-clang), else 0.
#if defined(__CUDA_ARCH__) || (defined(__HIP_DEVICE_COMPILE__) && __HIP_DEVICE_COMPILE__)
#define PORTML_DEVICE_PASS 1
#else
#define PORTML_DEVICE_PASS 0
#endif

//! Ends the kernel after a device-side check has printed what failed (device code has no exceptions).
//! Only for the device pass: host code throws instead.
#if PORTML_DEVICE_PASS
#if defined(__HIPCC__)
#define PORTML_DEVICE_TRAP() __builtin_trap()
#else
#define PORTML_DEVICE_TRAP() __trap()
#endif
#endif

#define PORTML_RESTRICT __restrict__

//! Element access of TensorView checks bounds when 1. Defaults to on in builds without NDEBUG.
#ifndef PORTML_BOUNDS_CHECK
#ifdef NDEBUG
#define PORTML_BOUNDS_CHECK 0
#else
#define PORTML_BOUNDS_CHECK 1
#endif
#endif
