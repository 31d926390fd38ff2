# SPDX-License-Identifier: Apache-2.0
# The optional backends. Each adds one target that carries its own usage requirements:
#   portml::kokkos  INTERFACE  portml + Kokkos::kokkos
#   portml::cuda    STATIC     the nvcc-compiled kernel instantiations + CUDA::cudart
#   portml::hip     STATIC     the same kernel sources compiled by hip-clang + the HIP runtime
# Only kernel-instantiation files go through a device compiler; everything else is host C++.

# Kernel sources compiled once per device backend (the same files for CUDA and HIP).
set(PORTML_DEVICE_KERNEL_SOURCES ${PROJECT_SOURCE_DIR}/kernels/src/cuda_hip/reference.cu
                                  ${PROJECT_SOURCE_DIR}/kernels/src/cuda_hip/graph.cu)
list(APPEND PORTML_DEVICE_KERNEL_SOURCES ${PROJECT_SOURCE_DIR}/kernels/src/cuda_hip/gemm.cu)  # dense (issue 3)
list(APPEND PORTML_DEVICE_KERNEL_SOURCES ${PROJECT_SOURCE_DIR}/kernels/src/cuda_hip/bdt.cu)  # forests (issue 4)
list(APPEND PORTML_DEVICE_KERNEL_SOURCES ${PROJECT_SOURCE_DIR}/kernels/src/cuda_hip/gnn.cu)  # GNN blocks (issue 5)
list(APPEND PORTML_DEVICE_KERNEL_SOURCES ${PROJECT_SOURCE_DIR}/kernels/src/cuda_hip/mlp.cu)  # device MLP (issue 3)

if(PORTML_ENABLE_KOKKOS)
  include(portmlKokkosFix)
  if(NOT DEFINED CMAKE_CXX_EXTENSIONS)
    # Kokkos' config otherwise warns and forces CMAKE_CXX_EXTENSIONS OFF into the cache.
    set(CMAKE_CXX_EXTENSIONS OFF)
  endif()
  find_package(Kokkos REQUIRED)
  portml_fix_debian_kokkos()
  add_library(portml_kokkos INTERFACE)
  add_library(portml::kokkos ALIAS portml_kokkos)
  set_target_properties(portml_kokkos PROPERTIES EXPORT_NAME kokkos)
  target_link_libraries(portml_kokkos INTERFACE portml Kokkos::kokkos)
  list(APPEND PORTML_EXPORTED_TARGETS portml_kokkos)
  message(STATUS "portml: Kokkos ${Kokkos_VERSION}, devices: ${Kokkos_DEVICES}")
endif()

if(PORTML_ENABLE_CUDA)
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
  add_library(portml_cuda STATIC ${PORTML_DEVICE_KERNEL_SOURCES})
  add_library(portml::cuda ALIAS portml_cuda)
  set_target_properties(portml_cuda PROPERTIES EXPORT_NAME cuda POSITION_INDEPENDENT_CODE ON)
  target_link_libraries(portml_cuda PUBLIC portml CUDA::cudart)
  # CMake 3.25 has no C++20 flag for nvcc (CUDA_STANDARD 20 is dropped silently), so say it here.
  # --extended-lambda / --expt-relaxed-constexpr: device lambdas and constexpr std:: helpers.
  target_compile_options(portml_cuda PUBLIC
    $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20 --extended-lambda --expt-relaxed-constexpr>)
  list(APPEND PORTML_EXPORTED_TARGETS portml_cuda)
endif()

if(PORTML_ENABLE_HIP)
  include(portmlHip)
  set_source_files_properties(${PORTML_DEVICE_KERNEL_SOURCES} PROPERTIES LANGUAGE HIP)
  add_library(portml_hip STATIC ${PORTML_DEVICE_KERNEL_SOURCES})
  add_library(portml::hip ALIAS portml_hip)
  set_target_properties(portml_hip PROPERTIES EXPORT_NAME hip POSITION_INDEPENDENT_CODE ON)
  target_link_libraries(portml_hip PUBLIC portml ${PORTML_HIP_HOST_TARGET})
  target_compile_features(portml_hip PUBLIC hip_std_20)
  list(APPEND PORTML_EXPORTED_TARGETS portml_hip)
  set(PORTML_HIP_FIND_DEPENDENCY "find_dependency(hip CONFIG)")
endif()
