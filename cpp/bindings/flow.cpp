// Bindings of flows: gradient fields (losses composed with a model), the integrators, and the
// linear neural ODE model (a Lifting like the models of geometry.cpp).
#include <pybind11/eigen.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>

#include "flow.hpp"
#include "neural_ode.hpp"
#include "topics.hpp"

namespace py = pybind11;

namespace intrinsic_flow::bindings {

namespace {

using VecRef = Eigen::Ref<const Vector>;

py::tuple result_tuple(FlowResult&& result, int n_params) {
  RowMatrix states(static_cast<Eigen::Index>(result.states.size()), n_params);
  for (size_t k = 0; k < result.states.size(); ++k) states.row(static_cast<Eigen::Index>(k)) = result.states[k].transpose();
  py::dict info;
  info["completed"] = result.completed;
  info["time_reached"] = result.time_reached;
  info["reason"] = result.reason;
  info["n_evaluations"] = result.n_evaluations;
  info["n_rejected"] = result.n_rejected;
  return py::make_tuple(Eigen::Map<const Vector>(result.times.data(), static_cast<Eigen::Index>(result.times.size())).eval(),
                        states,
                        Eigen::Map<const Vector>(result.values.data(), static_cast<Eigen::Index>(result.values.size())).eval(),
                        info);
}

void check_theta(const GradientField& field, const VecRef& theta) {
  if (theta.size() != field.n_params())
    throw std::invalid_argument("theta0 has length " + std::to_string(theta.size()) + ", expected n_params = " +
                                std::to_string(field.n_params()));
}

// The core model behind a LiftedLoss, taken as a plain object and checked here: a wrong type is a
// TypeError naming it. (Declared as `const Lifting&` with keep_alive, a failed conversion crashed
// the interpreter instead of raising.)
const Lifting& core_lifting(const py::object& model) {
  if (!py::isinstance<Lifting>(model))
    throw py::type_error("lifting must be a core model (intrinsic_flow._core.Lifting: PathGraph, LinearChain or "
                         "LinearNeuralODE), got " + std::string(py::str(py::type::of(model).attr("__name__"))));
  return model.cast<const Lifting&>();
}

void check_grid(const std::vector<double>& times, const std::vector<bool>& save) {
  if (times.empty() || times.size() != save.size())
    throw std::invalid_argument("the time grid and the save mask must be non-empty and of equal length");
}

}  // namespace

void define_flow(py::module_& m) {
  py::class_<LinearNeuralODE, Lifting>(m, "LinearNeuralODE")
      .def(py::init<int, int>(), py::arg("n"), py::arg("n_steps"));

  py::class_<GradientField>(m, "GradientField")
      .def_property_readonly("n_params", &GradientField::n_params)
      .def("value_and_gradient", [](const GradientField& field, const VecRef& theta) {
        check_theta(field, theta);
        Vector gradient(field.n_params());
        double value;
        {
          py::gil_scoped_release release;
          value = field.value_and_gradient(theta.data(), gradient.data());
        }
        return py::make_tuple(value, gradient);
      }, py::arg("theta"));

  py::class_<LiftedLoss, GradientField>(m, "LiftedLoss")
      .def_static("quadratic", [](const py::object& model, Vector target, Vector weights_squared) {
        const Lifting& lifting = core_lifting(model);
        if (target.size() != lifting.n_lifted()) throw std::invalid_argument("target must have length n_lifted");
        lifting.check_ready();
        return std::make_unique<LiftedLoss>(lifting, std::make_shared<QuadraticObjective>(std::move(target), std::move(weights_squared)));
      }, py::arg("lifting"), py::arg("target"), py::arg("weights_squared"), py::keep_alive<0, 1>())
      .def_static("matrix_regression", [](const py::object& model, RowMatrix inputs, RowMatrix targets) {
        const Lifting& lifting = core_lifting(model);
        if (inputs.cols() * targets.cols() != lifting.n_lifted())
          throw std::invalid_argument("X and Y do not match the shape of z = Z.ravel()");
        return std::make_unique<LiftedLoss>(lifting, std::make_shared<MatrixRegressionObjective>(std::move(inputs), std::move(targets)));
      }, py::arg("lifting"), py::arg("X"), py::arg("Y"), py::keep_alive<0, 1>());

  py::class_<ChainLiftedLoss, GradientField>(m, "ChainLiftedLoss")
      .def_static("quadratic", [](std::vector<int> widths, Vector target, Vector weights_squared, double offset_scale) {
        if (widths.size() < 2 || target.size() != static_cast<Eigen::Index>(widths.front()) * widths.back())
          throw std::invalid_argument("target must have length d_in * d_out");
        return std::make_unique<ChainLiftedLoss>(
            std::move(widths), std::make_shared<QuadraticObjective>(std::move(target), std::move(weights_squared)), offset_scale);
      }, py::arg("widths"), py::arg("target"), py::arg("weights_squared"), py::arg("offset_scale"))
      .def_static("matrix_regression", [](std::vector<int> widths, RowMatrix inputs, RowMatrix targets, double offset_scale) {
        if (widths.size() < 2 || inputs.cols() != widths.front() || targets.cols() != widths.back())
          throw std::invalid_argument("X must be (n, d_in) and Y (n, d_out)");
        return std::make_unique<ChainLiftedLoss>(
            std::move(widths), std::make_shared<MatrixRegressionObjective>(std::move(inputs), std::move(targets)), offset_scale);
      }, py::arg("widths"), py::arg("X"), py::arg("Y"), py::arg("offset_scale"));

  py::class_<NetworkRegression, GradientField>(m, "NetworkRegression")
      .def(py::init<std::vector<int>, std::vector<bool>, bool, RowMatrix, RowMatrix>(), py::arg("widths"),
           py::arg("has_bias"), py::arg("relu"), py::arg("X"), py::arg("Y"));

  m.def("integrate_rk4", [](const GradientField& field, const VecRef& theta0, const std::vector<double>& times,
                            const std::vector<bool>& save) {
    check_theta(field, theta0);
    check_grid(times, save);
    FlowResult result;
    {
      py::gil_scoped_release release;
      result = integrate_rk4(field, theta0, times, save);
    }
    return result_tuple(std::move(result), field.n_params());
  }, py::arg("field"), py::arg("theta0"), py::arg("times"), py::arg("save"));

  m.def("integrate_rk45", [](const GradientField& field, const VecRef& theta0, const std::vector<double>& stops,
                             const std::vector<bool>& save, bool save_all_steps, double rtol, long max_steps) {
    check_theta(field, theta0);
    check_grid(stops, save);
    FlowResult result;
    {
      py::gil_scoped_release release;
      result = integrate_rk45(field, theta0, stops, save, save_all_steps, rtol, max_steps);
    }
    return result_tuple(std::move(result), field.n_params());
  }, py::arg("field"), py::arg("theta0"), py::arg("stops"), py::arg("save"), py::arg("save_all_steps"),
     py::arg("rtol"), py::arg("max_steps"));

  m.def("gradient_descent", [](const GradientField& field, const VecRef& theta0, double lr, int n_steps) {
    check_theta(field, theta0);
    FlowResult result;
    {
      py::gil_scoped_release release;
      result = gradient_descent(field, theta0, lr, n_steps);
    }
    return result_tuple(std::move(result), field.n_params());
  }, py::arg("field"), py::arg("theta0"), py::arg("lr"), py::arg("n_steps"));
}

}  // namespace intrinsic_flow::bindings
