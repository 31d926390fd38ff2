# SPDX-License-Identifier: Apache-2.0
# Finding OpenBLAS, in one place for the PORTML_ENABLE_OPENBLAS option (CMakeLists.txt), the dense
# benchmark's OpenBLAS peer (bench/CMakeLists.txt) and the installed package (portmlConfig.cmake).
#
# portml_find_openblas([REQUIRED]) looks for OpenBLAS's cblas.h (Debian's libopenblas-dev puts the
# pthreads build's header in <include>/openblas-pthread/) and libopenblas, caches them in
# PORTML_OPENBLAS_INCLUDE and PORTML_OPENBLAS_LIBRARY (set these to choose another OpenBLAS), and makes the
# imported target portml::openblas (headers + library; not a portml library). Sets PORTML_OPENBLAS_FOUND
# in the caller's scope. With REQUIRED, a missing OpenBLAS stops the configuration with what to install.
include_guard(GLOBAL)

function(portml_find_openblas)
  cmake_parse_arguments(ARG "REQUIRED" "" "" ${ARGN})
  find_path(PORTML_OPENBLAS_INCLUDE cblas.h PATH_SUFFIXES openblas-pthread openblas openblas-openmp openblas-serial
            DOC "folder of OpenBLAS's cblas.h")
  find_library(PORTML_OPENBLAS_LIBRARY openblas DOC "OpenBLAS library (libopenblas)")
  if(PORTML_OPENBLAS_INCLUDE AND PORTML_OPENBLAS_LIBRARY)
    if(NOT TARGET portml::openblas)
      add_library(portml::openblas INTERFACE IMPORTED GLOBAL)
      set_target_properties(portml::openblas PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${PORTML_OPENBLAS_INCLUDE}"
                                                        INTERFACE_LINK_LIBRARIES "${PORTML_OPENBLAS_LIBRARY}")
    endif()
    set(PORTML_OPENBLAS_FOUND TRUE PARENT_SCOPE)
  else()
    set(PORTML_OPENBLAS_FOUND FALSE PARENT_SCOPE)
    if(ARG_REQUIRED)
      message(FATAL_ERROR "portml with PORTML_ENABLE_OPENBLAS=ON: OpenBLAS was not found (cblas.h: "
                          "${PORTML_OPENBLAS_INCLUDE}; libopenblas: ${PORTML_OPENBLAS_LIBRARY}). Install it "
                          "(Debian: apt-get install libopenblas-dev), or set PORTML_OPENBLAS_INCLUDE to the folder "
                          "of OpenBLAS's cblas.h and PORTML_OPENBLAS_LIBRARY to libopenblas, or configure with "
                          "-DPORTML_ENABLE_OPENBLAS=OFF.")
    endif()
  endif()
endfunction()
