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
