// SPDX-License-Identifier: Apache-2.0
//! \file
//! Every backend compiled into this build of portml, and the type lists that name them. Including
//! this header needs the targets of those backends (portml::kokkos, portml::cuda, portml::hip);
//! code that wants host backends only includes <portml/portml.hpp>.
#pragma once

#include <portml/config.hpp>
#include <portml/portability/serial.hpp>
#if PORTML_ENABLE_OPENMP
#include <portml/portability/openmp.hpp>
#endif
#if PORTML_ENABLE_KOKKOS
#include <portml/portability/kokkos.hpp>
#endif
#if PORTML_ENABLE_CUDA
#include <portml/portability/cuda.hpp>
#endif
#if PORTML_ENABLE_HIP
#include <portml/portability/hip.hpp>
#endif

namespace portml {

//! Host backends of this build, in the order tools and tests report them.
using host_backends = TypeList<backend::Serial
#if PORTML_ENABLE_OPENMP
                               ,
                               backend::OpenMP
#endif
#if PORTML_ENABLE_KOKKOS
                               ,
                               backend::KokkosHost
#endif
                               >;

//! Device backends of this build (their kernels live in portml::cuda / portml::hip).
using device_backends = TypeList<
#if PORTML_ENABLE_CUDA
    backend::Cuda
#endif
#if PORTML_ENABLE_CUDA && PORTML_ENABLE_HIP
    ,
#endif
#if PORTML_ENABLE_HIP
    backend::Hip
#endif
    >;

using enabled_backends = concat_t<host_backends, device_backends>;

}  // namespace portml
