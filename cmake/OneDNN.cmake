# GHM_ONEDNN = AUTO | ON | OFF: the oneDNN fast path for CPU convolutions (core/cpu/conv_onednn.cpp).
# AUTO uses oneDNN when it is found, ON fails with a clear message when it is not, OFF never uses it
# (the im2col + Eigen kernels then serve every convolution). Sets GHM_WITH_ONEDNN and, when on, the
# target ghm::onednn to link.
#
# Found as either Debian's package config (libdnnl-dev: /usr/lib/<triplet>/cmake/dnnl, target
# DNNL::dnnl) or, failing that, a plain libdnnl plus <oneapi/dnnl/dnnl.hpp>. Debian's config file
# calls find_package(OpenCL REQUIRED) for oneDNN's GPU runtime, which would abort the configure when
# the OpenCL headers are absent, so the config route is only tried when OpenCL is found; the plain
# route needs no OpenCL at build time (libdnnl.so carries its own runtime dependency on it).
set(GHM_ONEDNN "AUTO" CACHE STRING "Use oneDNN for CPU convolutions: AUTO (when found), ON, OFF")
set_property(CACHE GHM_ONEDNN PROPERTY STRINGS AUTO ON OFF)
string(TOUPPER "${GHM_ONEDNN}" GHM_ONEDNN)
if(NOT GHM_ONEDNN MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "GHM_ONEDNN must be AUTO, ON or OFF (got '${GHM_ONEDNN}')")
endif()

set(GHM_WITH_ONEDNN OFF)
if(NOT GHM_ONEDNN STREQUAL "OFF")
  find_package(OpenCL QUIET)
  if(OpenCL_FOUND)
    find_package(dnnl CONFIG QUIET)
  endif()
  if(TARGET DNNL::dnnl)
    add_library(ghm::onednn ALIAS DNNL::dnnl)
    set(GHM_WITH_ONEDNN ON)
    message(STATUS "oneDNN on: ${dnnl_DIR} (version ${dnnl_VERSION})")
  else()
    find_path(GHM_DNNL_INCLUDE_DIR oneapi/dnnl/dnnl.hpp)
    find_library(GHM_DNNL_LIBRARY dnnl)
    if(GHM_DNNL_INCLUDE_DIR AND GHM_DNNL_LIBRARY)
      add_library(ghm_onednn_library UNKNOWN IMPORTED)
      set_target_properties(ghm_onednn_library PROPERTIES IMPORTED_LOCATION "${GHM_DNNL_LIBRARY}"
                                                          INTERFACE_INCLUDE_DIRECTORIES "${GHM_DNNL_INCLUDE_DIR}")
      add_library(ghm::onednn ALIAS ghm_onednn_library)
      set(GHM_WITH_ONEDNN ON)
      message(STATUS "oneDNN on: ${GHM_DNNL_LIBRARY}, headers in ${GHM_DNNL_INCLUDE_DIR}")
    elseif(GHM_ONEDNN STREQUAL "ON")
      message(FATAL_ERROR "GHM_ONEDNN=ON but oneDNN was not found (neither the dnnl CMake package nor libdnnl "
                          "with oneapi/dnnl/dnnl.hpp). Install libdnnl-dev (scripts/setup.sh), set dnnl_DIR or "
                          "CMAKE_PREFIX_PATH to a oneDNN install, or configure with -DGHM_ONEDNN=OFF.")
    else()
      message(STATUS "oneDNN off (GHM_ONEDNN=AUTO): neither the dnnl CMake package nor libdnnl with "
                     "oneapi/dnnl/dnnl.hpp was found; convolutions use im2col + Eigen")
    endif()
  endif()
endif()
