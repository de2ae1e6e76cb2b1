#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <Eigen/Core>

#include <string>

#include "interrupt.hpp"
#include "parallel.hpp"
#include "topics.hpp"

namespace py = pybind11;
using namespace intrinsic_flow;

// The build compiles this file once per instruction-set level, as the module _core_<level>
// (python/intrinsic_flow/_core.py imports one of them); a plain build without CMake's definitions
// gives the single module _core.
#ifndef INTRINSIC_FLOW_MODULE
#define INTRINSIC_FLOW_MODULE _core
#endif
#ifndef INTRINSIC_FLOW_CPU_LEVEL
#define INTRINSIC_FLOW_CPU_LEVEL "unknown"
#endif

namespace {

// The vector instruction sets Eigen compiles for in this module (Eigen's own summary string omits
// AVX2 and FMA when AVX-512 is off).
std::string simd_in_use() {
  std::string sets;
  auto add = [&sets](const char* name) { sets += sets.empty() ? name : std::string(", ") + name; };
#ifdef EIGEN_VECTORIZE_AVX512
  add("AVX512");
#endif
#ifdef EIGEN_VECTORIZE_FMA
  add("FMA");
#endif
#ifdef EIGEN_VECTORIZE_AVX2
  add("AVX2");
#endif
#ifdef EIGEN_VECTORIZE_AVX
  add("AVX");
#endif
#ifdef EIGEN_VECTORIZE_SSE4_2
  add("SSE4.2");
#endif
#ifdef EIGEN_VECTORIZE_SSE2
  add("SSE2");
#endif
#ifdef EIGEN_VECTORIZE_NEON
  add("NEON");
#endif
  return sets.empty() ? std::string("none") : sets;
}

// Ctrl-C: the core's long loops poll this between steps (cpp/interrupt.hpp). PyErr_CheckSignals
// runs Python's handler, which leaves KeyboardInterrupt (or the handler's own exception) set.
bool python_interrupted() {
  py::gil_scoped_acquire gil;
  return PyErr_CheckSignals() != 0;
}

}  // namespace

PYBIND11_MODULE(INTRINSIC_FLOW_MODULE, m) {
  m.doc() = "intrinsic-flow core: Eigen + OpenMP kernels behind the public Python API";
  set_interrupt_check(&python_interrupted);
  py::register_exception_translator([](std::exception_ptr error) {
    try {
      if (error) std::rethrow_exception(error);
    } catch (const Interrupted&) {
      if (!PyErr_Occurred()) PyErr_SetNone(PyExc_KeyboardInterrupt);
    }
  });
  m.def("build_info", [] {
    py::dict info;
    info["eigen"] = EIGEN_VERSION_STRING;
    info["cpu"] = INTRINSIC_FLOW_CPU_LEVEL;
    info["simd"] = simd_in_use();
    info["openmp"] = openmp_enabled();
    info["threads"] = max_threads();
    return info;
  });
  m.def("set_num_threads", [](const py::int_& n) {
    // any Python int: one beyond long long is refused with the same message, naming its value
    int overflow = 0;
    const long long value = PyLong_AsLongLongAndOverflow(n.ptr(), &overflow);
    if (overflow != 0) throw std::invalid_argument(thread_count_error(py::str(n)));
    set_max_threads(value);
  }, py::arg("n"));
  m.def("get_num_threads", &max_threads);
  // The count a parallel loop started now from the calling thread would use: n_threads when given
  // (validated as set_num_threads), else the process-wide setting. Lets a test ask from any thread.
  m.def("threads_for_call", [](long long n_threads) {
    ThreadCountScope scope(n_threads);
    return current_threads();
  }, py::arg("n_threads") = 0);
  // Calls fn() with n_threads as the per-call count of this thread (0: the process-wide count), so
  // every core call fn makes (GIL released or not) runs its parallel loops on n_threads.
  m.def("with_threads", [](long long n_threads, const py::function& fn) {
    ThreadCountScope scope(n_threads);
    return fn();
  }, py::arg("n_threads"), py::arg("fn"));
  bindings::define_geometry(m);
  bindings::define_lie(m);
  bindings::define_criteria(m);
  bindings::define_flow(m);
  bindings::define_parsimony(m);
  bindings::define_symmetries(m);
  bindings::define_parameterizations(m);
}
