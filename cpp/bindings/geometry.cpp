// Bindings of the geometry of phi: models (PathGraph, LinearChain) and what Lifting derives.
#include <pybind11/eigen.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <new>
#include <stdexcept>
#include <string>

#include "geometry.hpp"
#include "lifting.hpp"
#include "linear.hpp"
#include "parallel.hpp"
#include "topics.hpp"

namespace py = pybind11;

namespace intrinsic_flow::bindings {

namespace {

using ThetaRef = Eigen::Ref<const Vector>;
using Release = py::call_guard<py::gil_scoped_release>;

void check_length(const Lifting& model, const ThetaRef& theta, const char* name) {
  if (theta.size() != model.n_params())
    throw std::invalid_argument(std::string(name) + " has length " + std::to_string(theta.size()) +
                                ", expected n_params = " + std::to_string(model.n_params()));
}

// Wraps a per-theta method; methods that walk the paths need them enumerated first.
template <typename Method>
auto unbatched(Method method, bool needs_paths = false) {
  return [method, needs_paths](const Lifting& model, const ThetaRef& theta) {
    check_length(model, theta, "theta");
    if (needs_paths) model.check_ready();
    return method(model, theta.data());
  };
}

template <typename Call>
Vector vector_of(const Lifting& model, std::int64_t size, const double* theta, Call call) {
  Vector out(size);
  call(model, theta, out.data());
  return out;
}

// (rank, eigenvalues) of a rank function, computed without the GIL.
template <typename RankFunction>
auto ranked(RankFunction rank_function) {
  return [rank_function](const Lifting& s, const ThetaRef& theta, double rtol) {
    check_length(s, theta, "theta");
    RankResult result;
    {
      py::gil_scoped_release release;
      result = rank_function(s, theta.data(), rtol);
    }
    return py::make_tuple(result.rank, result.eigenvalues);
  };
}

}  // namespace

void define_geometry(py::module_& m) {
  // Test-only: a parallel loop of n iterations whose iteration `at` throws (std::bad_alloc when
  // kind == "bad_alloc", std::invalid_argument otherwise); the exception must reach Python.
  m.def("_throw_in_parallel_loop", [](long n, long at, const std::string& kind) {
    parallel_for_dynamic<long>(n, true, 1, [&](long i) {
      if (i != at) return;
      if (kind == "bad_alloc") throw std::bad_alloc();
      throw std::invalid_argument("iteration " + std::to_string(i) + " failed on purpose");
    });
  }, py::arg("n"), py::arg("at"), py::arg("kind"), Release());

  py::class_<Lifting>(m, "Lifting")
      .def_property_readonly("n_params", &Lifting::n_params)
      .def_property_readonly("n_lifted", &Lifting::n_lifted)
      .def_property_readonly("n_laws", &Lifting::n_laws)
      .def("lift", unbatched([](const Lifting& s, const double* t) {
             return vector_of(s, s.n_lifted(), t, [](const Lifting& s, const double* t, double* o) { s.lift(t, o); });
           }, true), py::arg("theta"), Release())
      .def("jacobian", unbatched([](const Lifting& s, const double* t) { return lift_jacobian(s, t); }, true),
           py::arg("theta"), Release())
      .def("metric", unbatched([](const Lifting& s, const double* t) { return metric(s, t); }, true), py::arg("theta"),
           Release())
      .def("metric_derivative",
           [](const Lifting& s, const ThetaRef& theta, const ThetaRef& direction) {
             check_length(s, theta, "theta");
             check_length(s, direction, "v");
             s.check_ready();
             return metric_derivative(s, theta.data(), direction.data());
           },
           py::arg("theta"), py::arg("v"), Release())
      .def("vjp",
           [](const Lifting& s, const ThetaRef& theta, const ThetaRef& w) {
             check_length(s, theta, "theta");
             if (w.size() != s.n_lifted())
               throw std::invalid_argument("w has length " + std::to_string(w.size()) + ", expected n_lifted = " +
                                           std::to_string(s.n_lifted()));
             s.check_ready();
             Vector out(s.n_params());
             s.vjp(theta.data(), w.data(), out.data());
             return out;
           },
           py::arg("theta"), py::arg("w"), Release())
      .def("jvp",
           [](const Lifting& s, const ThetaRef& theta, const ThetaRef& v) {
             check_length(s, theta, "theta");
             check_length(s, v, "v");
             s.check_ready();
             Vector out(s.n_lifted());
             s.jvp(theta.data(), v.data(), out.data());
             return out;
           },
           py::arg("theta"), py::arg("v"), Release())
      .def("conserved", unbatched([](const Lifting& s, const double* t) {
             return vector_of(s, s.n_laws(), t, [](const Lifting& s, const double* t, double* o) { s.conserved(t, o); });
           }), py::arg("theta"), Release())
      .def("conserved_jacobian", unbatched([](const Lifting& s, const double* t) {
             RowMatrix out(s.n_laws(), s.n_params());
             s.conserved_jacobian(t, out.data());
             return out;
           }), py::arg("theta"), Release())
      .def("gram", unbatched([](const Lifting& s, const double* t) { return lift_gram(s, t); }), py::arg("theta"),
           Release())
      .def("joint_gram", unbatched([](const Lifting& s, const double* t) { return joint_gram(s, t); }),
           py::arg("theta"), Release())
      .def("rank_lift", ranked(rank_lift), py::arg("theta"), py::arg("rtol"))
      .def("rank_joint", ranked(rank_joint), py::arg("theta"), py::arg("rtol"))
      .def("lift_batch", &lift_batch, py::arg("thetas"), Release())
      .def("jacobian_batch", &jacobian_batch, py::arg("thetas"), Release())
      .def("jacobian_batch_into",
           [](const Lifting& s, const RowMatrixRef& thetas, Eigen::Ref<RowMatrix> out) {
             // out: the caller's (B, d*D) buffer, bound without a copy (row-major, writeable).
             if (out.rows() != thetas.rows() || out.cols() != s.n_lifted() * s.n_params())
               throw std::invalid_argument("out has shape (" + std::to_string(out.rows()) + ", " +
                                           std::to_string(out.cols()) + "), expected (B, d*D) = (" +
                                           std::to_string(thetas.rows()) + ", " +
                                           std::to_string(s.n_lifted() * s.n_params()) + ")");
             if (out.outerStride() != out.cols())
               throw std::invalid_argument("out must be C-contiguous");
             jacobian_batch_into(s, thetas, out.data());
           },
           py::arg("thetas"), py::arg("out").noconvert(), Release())
      .def("vjp_batch", &vjp_batch, py::arg("thetas"), py::arg("ws"), Release())
      .def("jvp_batch", &jvp_batch, py::arg("thetas"), py::arg("vs"), Release())
      .def("metric_batch", &metric_batch, py::arg("thetas"), Release())
      .def("conserved_batch", &conserved_batch, py::arg("thetas"), Release())
      .def("conserved_jacobian_batch", &conserved_jacobian_batch, py::arg("thetas"), Release())
      .def("gram_batch", &gram_batch, py::arg("thetas"), Release())
      .def("rank_lift_batch", &rank_lift_batch, py::arg("thetas"), py::arg("rtol"), Release())
      .def("rank_joint_batch", &rank_joint_batch, py::arg("thetas"), py::arg("rtol"), Release());

  py::class_<PathGraph, Lifting>(m, "PathGraph")
      .def(py::init<int, int, int, std::vector<int>, std::vector<int>>(), py::arg("n_neurons"), py::arg("n_inputs"),
           py::arg("n_outputs"), py::arg("param_src"), py::arg("param_dst"))
      .def_property_readonly("n_paths_total", &PathGraph::n_paths)
      .def_property_readonly("paths_ready", &PathGraph::paths_ready)
      .def("exact_rank",
           [](const PathGraph& g, const ThetaRef& theta) {
             check_length(g, theta, "theta");
             return g.exact_rank(theta.data());
           },
           py::arg("theta"))
      .def("exact_rank_batch",
           [](const PathGraph& g, const RowMatrixRef& thetas) {
             if (thetas.cols() != g.n_params()) throw std::invalid_argument("thetas has the wrong number of columns");
             return g.exact_rank_batch(thetas);
           },
           py::arg("thetas"), Release())
      .def("path_sums",
           [](const PathGraph& g, const ThetaRef& a) {
             check_length(g, a, "a");
             Vector forward(g.n_neurons()), backward(g.n_neurons());
             {
               py::gil_scoped_release release;
               g.path_sums(a.data(), forward.data(), backward.data());
             }
             return py::make_tuple(forward, backward);
           },
           py::arg("a"))
      .def("forward_sums",
           [](const PathGraph& g, const ThetaRef& a) {
             check_length(g, a, "a");
             Vector forward(g.n_neurons());
             {
               py::gil_scoped_release release;
               g.path_sums(a.data(), forward.data(), nullptr);  // no backward sweep
             }
             return forward;
           },
           py::arg("a"))
      .def("log_path_sums",
           [](const PathGraph& g, const ThetaRef& log_w, double q, bool backward) -> py::tuple {
             check_length(g, log_w, "log_w");
             if (!(q > 0.0) || !std::isfinite(q)) throw std::invalid_argument("q must be a positive finite number");
             Vector forward_sums(g.n_neurons()), backward_sums(backward ? g.n_neurons() : 0);
             {
               py::gil_scoped_release release;
               g.log_path_sums(log_w.data(), q, forward_sums.data(), backward ? backward_sums.data() : nullptr);
             }
             if (!backward) return py::make_tuple(forward_sums, py::none());
             return py::make_tuple(forward_sums, backward_sums);
           },
           py::arg("log_w"), py::arg("q"), py::arg("backward") = true)
      .def("jacobian_derivative",
           [](const PathGraph& g, const ThetaRef& theta, const ThetaRef& direction) {
             check_length(g, theta, "theta");
             check_length(g, direction, "direction");
             g.check_ready();
             RowMatrix out(g.n_lifted(), g.n_params());
             {
               py::gil_scoped_release release;
               g.jacobian_derivative(theta.data(), direction.data(), out.data());
             }
             return out;
           },
           py::arg("theta"), py::arg("direction"))
      .def("enumerate_paths", &PathGraph::enumerate_paths, py::arg("max_paths"), Release());

  py::class_<LinearChain, Lifting>(m, "LinearChain").def(py::init<std::vector<int>>(), py::arg("widths"));
}

}  // namespace intrinsic_flow::bindings
