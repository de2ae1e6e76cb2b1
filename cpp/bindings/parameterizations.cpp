// Bindings of the abc-parameterised network (parameterizations.hpp). Batches come as C-order
// (batch x features) float64 arrays, which are the core's column-major (features x batch) matrices
// without a copy; the GIL is released while the core computes.
#include <pybind11/eigen.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <string>
#include <vector>

#include "parameterizations.hpp"
#include "topics.hpp"

namespace py = pybind11;

namespace intrinsic_flow::bindings {

namespace {

using Batch = py::array_t<double, py::array::c_style | py::array::forcecast>;
using ColMap = Eigen::Map<const Eigen::MatrixXd>;

ColMap as_columns(const Batch& array, const char* name) {
  if (array.ndim() != 2)
    throw std::invalid_argument(std::string(name) + " must be a 2-d array (batch, features), got " +
                                std::to_string(array.ndim()) + " dimensions");
  return ColMap(array.data(), array.shape(1), array.shape(0));
}

py::array_t<double> to_rows(const Eigen::MatrixXd& columns) {
  py::array_t<double> result({columns.cols(), columns.rows()});
  std::memcpy(result.mutable_data(), columns.data(), sizeof(double) * static_cast<size_t>(columns.size()));
  return result;
}

}  // namespace

void define_parameterizations(py::module_& m) {
  py::class_<AbcNetwork>(m, "AbcNetwork")
      .def(py::init<std::vector<RowMatrix>, Vector, std::vector<double>, const std::string&, const std::string&,
                    std::vector<Vector>>(),
           py::arg("weights"), py::arg("bias0"), py::arg("scales"), py::arg("activation"), py::arg("loss"),
           py::arg("biases") = std::vector<Vector>{})
      .def_property_readonly("n_matrices", &AbcNetwork::n_matrices)
      .def_property_readonly("weights", [](const AbcNetwork& net) { return net.weights(); })
      .def_property_readonly("bias0", [](const AbcNetwork& net) { return net.bias0(); })
      .def_property_readonly("biases", [](const AbcNetwork& net) { return net.biases(); },
                             "beta_1 .. beta_L (unscaled biases of the later layers), empty if none")
      .def_property_readonly("last_output", [](const AbcNetwork& net) { return to_rows(net.output()); },
                             "f (batch, n_out) of the last forward pass (that of the last sgd_step: before its update)")
      .def("forward", [](AbcNetwork& net, const Batch& x) {
        const ColMap columns = as_columns(x, "x");
        {
          py::gil_scoped_release release;
          net.forward(columns);
        }
        py::list hidden;
        for (int l = 1; l < net.n_matrices(); ++l) hidden.append(to_rows(net.hidden(l)));
        return py::make_tuple(hidden, to_rows(net.output()));
      }, py::arg("x"))
      .def("loss_and_gradients", [](AbcNetwork& net, const Batch& x, const Batch& targets) {
        const ColMap columns = as_columns(x, "x");
        const ColMap target_columns = as_columns(targets, "targets");
        std::vector<RowMatrix> grads;
        Vector grad_bias;
        std::vector<Vector> grad_biases;
        double value;
        {
          py::gil_scoped_release release;
          value = net.loss_and_gradients(columns, target_columns, grads, grad_bias, grad_biases);
        }
        return py::make_tuple(value, grads, grad_bias, grad_biases);
      }, py::arg("x"), py::arg("targets"))
      .def("sgd_step", [](AbcNetwork& net, const Batch& x, const Batch& targets, const std::vector<double>& lrs,
                          const std::vector<double>& bias_lrs) {
        const ColMap columns = as_columns(x, "x");
        const ColMap target_columns = as_columns(targets, "targets");
        py::gil_scoped_release release;
        return net.sgd_step(columns, target_columns, lrs, bias_lrs);
      }, py::arg("x"), py::arg("targets"), py::arg("lrs"), py::arg("bias_lrs") = std::vector<double>{});
}

}  // namespace intrinsic_flow::bindings
