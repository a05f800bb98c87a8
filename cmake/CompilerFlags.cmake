# Warnings, CPU tuning and sanitizers, applied to our own targets through ghm_compile_options.
add_library(ghm_compile_options INTERFACE)
target_compile_options(ghm_compile_options INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter>)
# We never enable floating-point traps; without this GCC treats every float comparison as a
# possible trap and refuses to if-convert (and so to vectorise) branch-free selects. IEEE results,
# NaN and infinity handling are unchanged (unlike -ffast-math).
target_compile_options(ghm_compile_options INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-fno-trapping-math>)
# GCC 12 reports false -Wrestrict overlaps inside std::string's operator+ when inlined
# (GCC bug 105651); the warning is about the standard library, not our code.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(ghm_compile_options INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-Wno-restrict>)
endif()
if(GHM_WERROR)
  target_compile_options(ghm_compile_options INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-Werror>
                         $<$<COMPILE_LANGUAGE:CUDA>:-Werror=all-warnings>)
endif()

set(GHM_CPU_FLAGS "")
if(GHM_NATIVE)
  include(CheckCXXCompilerFlag)
  check_cxx_compiler_flag(-march=native GHM_HAS_MARCH_NATIVE)
  if(GHM_HAS_MARCH_NATIVE)
    set(GHM_CPU_FLAGS "-march=native")
    target_compile_options(ghm_compile_options INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-march=native>
                           $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-march=native>)
  endif()
endif()

if(GHM_SANITIZE)
  string(REPLACE "," ";" _ghm_sanitizers "${GHM_SANITIZE}")
  foreach(_s IN LISTS _ghm_sanitizers)
    if(NOT _s MATCHES "^(address|undefined|leak|thread)$")
      message(FATAL_ERROR "GHM_SANITIZE: unknown sanitizer '${_s}' (use address, undefined, leak, thread)")
    endif()
  endforeach()
  set(_flags -fsanitize=${GHM_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_compile_options(ghm_compile_options INTERFACE $<$<COMPILE_LANGUAGE:CXX>:${_flags}>)
  foreach(_s IN LISTS _ghm_sanitizers)  # nvcc splits -Xcompiler values at commas: one flag each
    target_compile_options(ghm_compile_options INTERFACE $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-fsanitize=${_s}>)
  endforeach()
  target_link_options(ghm_compile_options INTERFACE ${_flags})
endif()
