# SPDX-License-Identifier: Apache-2.0
# portml_cli: the portml tool's subcommands (predict, validate, bench) and model runners as a library, so
# that the tests can call them in-process (test/tools, also in sanitizer builds where the tool itself is
# not built). Included by tools/ and test/tools/; whichever comes first defines it.
if(NOT TARGET portml_cli)
  set(portml_cli_dir ${CMAKE_CURRENT_LIST_DIR})
  add_library(portml_cli STATIC ${portml_cli_dir}/cli/options.cpp ${portml_cli_dir}/cli/model_runner.cpp
                                ${portml_cli_dir}/cli/commands.cpp ${portml_cli_dir}/runners/runners.cpp
                                ${portml_cli_dir}/runners/forest_runner.cpp ${portml_cli_dir}/runners/mlp_runner.cpp
                                ${portml_cli_dir}/runners/gnn_runner.cpp)
  target_include_directories(portml_cli PUBLIC ${portml_cli_dir})
  target_link_libraries(portml_cli PUBLIC portml portml_io)
  set_target_properties(portml_cli PROPERTIES LINKER_LANGUAGE CXX)
  portml_target_warnings(portml_cli)
  foreach(opt KOKKOS CUDA HIP)
    if(PORTML_ENABLE_${opt})
      string(TOLOWER ${opt} lopt)
      target_link_libraries(portml_cli PUBLIC portml_${lopt})
    endif()
  endforeach()
endif()
