// The instruction-set levels this CPU supports, for python/intrinsic_flow/_core.py to choose a core
// module. Compiled for the x86-64 baseline, so it imports on any x86-64 CPU.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "supported_levels.hpp"

namespace py = pybind11;

PYBIND11_MODULE(_cpu, m) {
  m.doc() = "Instruction-set levels of this CPU, lowest first (used to pick a core module)";
  m.def("supported_levels", &intrinsic_flow::supported_levels,
        "Levels this CPU and OS support, lowest first: 'baseline', then 'avx2' (x86-64-v3), "
        "then 'avx512' (x86-64-v4).");
}
