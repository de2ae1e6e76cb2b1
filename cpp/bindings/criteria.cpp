// Bindings of the intrinsic-dynamics criteria (cpp/criteria).
#include <pybind11/eigen.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "criteria.hpp"
#include "topics.hpp"

namespace py = pybind11;

namespace intrinsic_flow::bindings {

void define_criteria(py::module_& m) {
  py::class_<NeuronRescaling>(m, "NeuronRescaling")
      .def(py::init<std::vector<std::vector<int>>, std::vector<std::vector<int>>, int>(), py::arg("incoming"),
           py::arg("outgoing"), py::arg("n_params"))
      .def(
          "balance",
          [](const NeuronRescaling& self, const Eigen::Ref<const Vector>& theta) {
            if (theta.size() != self.n_params())
              throw std::invalid_argument("theta has length " + std::to_string(theta.size()) +
                                          ", expected n_params = " + std::to_string(self.n_params()));
            Vector point = theta;
            {
              py::gil_scoped_release release;
              self.balance(point.data());
            }
            return point;
          },
          py::arg("theta"));
  // rescaling: a NeuronRescaling or None. Returns (B, 8): rank_lift, rank_conserved, rank_joint,
  // kernel_dim, gap_lift, gap_conserved, gap_joint, inclusion_residual.
  m.def(
      "criteria_batch",
      [](const Lifting& model, const NeuronRescaling* rescaling, const RowMatrixRef& thetas, bool inclusion) {
        return criteria_batch(model, rescaling, thetas, inclusion);
      },
      py::arg("model"), py::arg("rescaling").none(true), py::arg("thetas"), py::arg("inclusion"),
      py::call_guard<py::gil_scoped_release>());
}

}  // namespace intrinsic_flow::bindings
