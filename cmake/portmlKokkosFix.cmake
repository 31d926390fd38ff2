# SPDX-License-Identifier: Apache-2.0
# Debian bookworm's Kokkos 3.4 (libtrilinos-kokkos-dev, Trilinos 13.2) exports Kokkos::kokkos with
# INTERFACE_INCLUDE_DIRECTORIES=/usr/lib/include, a folder that does not exist: CMake then refuses
# to generate and <Kokkos_Core.hpp> is not found. Kokkos_INCLUDE_DIRS is right. This repairs the
# target only in exactly that case, so a correct Kokkos install is left alone.
function(portml_fix_debian_kokkos)
  if(NOT TARGET Kokkos::kokkos)
    return()
  endif()
  get_target_property(_inc Kokkos::kokkos INTERFACE_INCLUDE_DIRECTORIES)
  if(_inc STREQUAL "/usr/lib/include" AND NOT EXISTS "/usr/lib/include" AND Kokkos_INCLUDE_DIRS)
    list(GET Kokkos_INCLUDE_DIRS 0 _first)
    get_filename_component(_real "${_first}" REALPATH)
    set_target_properties(Kokkos::kokkos PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_real}")
    message(STATUS "portml: repaired Debian Kokkos::kokkos include directory -> ${_real}")
  endif()
endfunction()
