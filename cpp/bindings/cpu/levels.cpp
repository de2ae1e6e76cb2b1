// The instruction-set levels this CPU supports, for python/intrinsic_flow/_core.py to choose a core
// module. Compiled for the x86-64 baseline, so it imports on any x86-64 CPU.
//
// __builtin_cpu_supports reads CPUID and, for AVX and AVX-512, also checks (XGETBV) that the
// operating system saves the wide registers: a CPU with AVX-512 under an OS or hypervisor that
// disables it reports no AVX-512 here, which parsing /proc/cpuinfo could not see.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

namespace py = pybind11;

namespace {

std::vector<std::string> supported_levels() {
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

}  // namespace

PYBIND11_MODULE(_cpu, m) {
  m.doc() = "Instruction-set levels of this CPU, lowest first (used to pick a core module)";
  m.def("supported_levels", &supported_levels,
        "Levels this CPU and OS support, lowest first: 'baseline', then 'avx2' (x86-64-v3), "
        "then 'avx512' (x86-64-v4).");
}
