# Instruction-set levels the core can be compiled for, and the compiler flags of each:
#   baseline  x86-64 (SSE2), runs on every x86-64 CPU;
#   avx2      x86-64-v3 (AVX2, FMA, BMI2);
#   avx512    x86-64-v4 (AVX-512 F/BW/CD/DQ/VL);
#   native    -march=native (a build used only on the machine that compiles it).
# Other architectures have one level, baseline, compiled with the compiler's defaults.
# Included by the top-level build (which builds one Python module per level) and by cpp/ alone.
include_guard(GLOBAL)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64|x64)$")
  set(INTRINSIC_FLOW_X86_64 ON)
  set(INTRINSIC_FLOW_ALL_CPU_LEVELS baseline avx2 avx512)
else()
  set(INTRINSIC_FLOW_X86_64 OFF)
  set(INTRINSIC_FLOW_ALL_CPU_LEVELS baseline)
endif()

function(intrinsic_flow_variant_flags variant out)
  if(variant STREQUAL "native")
    set(${out} -march=native PARENT_SCOPE)
  elseif(NOT INTRINSIC_FLOW_X86_64)
    set(${out} "" PARENT_SCOPE)
  elseif(variant STREQUAL "baseline")
    set(${out} -march=x86-64 -mtune=generic PARENT_SCOPE)
  elseif(variant STREQUAL "avx2")
    set(${out} -march=x86-64-v3 -mtune=generic PARENT_SCOPE)
  elseif(variant STREQUAL "avx512")
    set(${out} -march=x86-64-v4 -mtune=generic PARENT_SCOPE)
  endif()
endfunction()

# The best level of the machine that compiles (cpp/cmake/host_level.cpp, run at configure time),
# in out; every level of this architecture when it cannot be run here (cross-compiling).
function(intrinsic_flow_host_level out)
  if(NOT INTRINSIC_FLOW_X86_64)
    set(${out} baseline PARENT_SCOPE)
    return()
  endif()
  if(NOT CMAKE_CROSSCOMPILING)
    try_run(_run_result _compile_result "${CMAKE_BINARY_DIR}/host_level"
            "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/host_level.cpp"
            CMAKE_FLAGS -DCMAKE_CXX_STANDARD=17
            RUN_OUTPUT_VARIABLE _level)
    string(STRIP "${_level}" _level)
    if(_compile_result AND _run_result EQUAL 0 AND _level IN_LIST INTRINSIC_FLOW_ALL_CPU_LEVELS)
      set(${out} ${_level} PARENT_SCOPE)
      return()
    endif()
  endif()
  message(STATUS "intrinsic-flow: the CPU level of this machine is unknown; building every level")
  set(${out} ${INTRINSIC_FLOW_ALL_CPU_LEVELS} PARENT_SCOPE)
endfunction()
