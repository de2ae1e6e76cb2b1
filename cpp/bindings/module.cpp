#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <Eigen/Core>

#include "parallel.hpp"
#include "topics.hpp"

namespace py = pybind11;
using namespace intrinsic_flow;

PYBIND11_MODULE(_core, m) {
  m.doc() = "intrinsic-flow core: Eigen + OpenMP kernels behind the public Python API";
  m.def("build_info", [] {
    py::dict info;
    info["eigen"] = EIGEN_VERSION_STRING;
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
  bindings::define_geometry(m);
  bindings::define_lie(m);
  bindings::define_criteria(m);
  bindings::define_flow(m);
}
