// The instruction-set levels this CPU supports, lowest first: plain C++, shared by the _cpu module
// (which the loader asks at import) and by the build (cpp/cmake/host_level.cpp, which picks the
// level of the compiling machine).
//
// __builtin_cpu_supports reads CPUID and, for AVX and AVX-512, also checks (XGETBV) that the
// operating system saves the wide registers: a CPU with AVX-512 under an OS or hypervisor that
// disables it reports no AVX-512 here, which parsing /proc/cpuinfo could not see.
#pragma once

#include <string>
#include <vector>

namespace intrinsic_flow {

inline std::vector<std::string> supported_levels() {
  std::vector<std::string> levels{"baseline"};
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  // x86-64-v3 as defined by the x86-64 psABI (v2 features included).
  const bool v3 = __builtin_cpu_supports("sse3") && __builtin_cpu_supports("ssse3") &&
                  __builtin_cpu_supports("sse4.1") && __builtin_cpu_supports("sse4.2") &&
                  __builtin_cpu_supports("popcnt") && __builtin_cpu_supports("avx") &&
                  __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi") &&
                  __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("f16c") &&
                  __builtin_cpu_supports("fma") && __builtin_cpu_supports("lzcnt") &&
                  __builtin_cpu_supports("movbe");
  // x86-64-v4: v3 plus AVX-512 F, BW, CD, DQ and VL.
  const bool v4 = v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                  __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
                  __builtin_cpu_supports("avx512vl");
  if (v3) levels.emplace_back("avx2");
  if (v4) levels.emplace_back("avx512");
#endif
  return levels;
}

}  // namespace intrinsic_flow
