// Bindings of the intrinsic-dynamics criteria (cpp/criteria).
#include <pybind11/eigen.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "criteria.hpp"
#include "lifting.hpp"
#include "topics.hpp"

namespace py = pybind11;

namespace intrinsic_flow::bindings {

void define_criteria(py::module_& m) {
  m.def(
      "balanced_representative",
      [](const PathGraph& graph, const Eigen::Ref<const Vector>& theta, bool normalise) {
        if (theta.size() != graph.n_params())
          throw std::invalid_argument("theta has length " + std::to_string(theta.size()) +
                                      ", expected n_params = " + std::to_string(graph.n_params()));
        Vector point(theta.size());
        {
          py::gil_scoped_release release;
          graph.balanced(theta.data(), point.data(), normalise);
        }
        return point;
      },
      py::arg("graph"), py::arg("theta"), py::arg("normalise") = false,
      "The balanced representative of theta (normalise: also over the geometric mean of its |entries|)");
  // Returns (B, 8): rank_lift, rank_conserved, rank_joint, kernel_dim, gap_lift, gap_conserved,
  // gap_joint, inclusion_residual, each row at the rank point of its theta.
  m.def(
      "criteria_batch",
      [](const Lifting& model, const RowMatrixRef& thetas, bool inclusion) {
        return criteria_batch(model, thetas, inclusion);
      },
      py::arg("model"), py::arg("thetas"), py::arg("inclusion"),
      py::call_guard<py::gil_scoped_release>());
}

}  // namespace intrinsic_flow::bindings
