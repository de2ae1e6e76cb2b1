// Bindings of the deep linear training loops of parsimony.hpp: one call trains a whole run with
// the GIL released and returns the saved states, their steps and the losses.
#include <pybind11/eigen.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <utility>
#include <vector>

#include "parsimony.hpp"
#include "topics.hpp"

namespace py = pybind11;

namespace intrinsic_flow::bindings {

namespace {

py::tuple train_tuple(TrainResult&& result) {
  py::dict info;
  info["steps_done"] = result.steps_done;
  info["converged"] = result.converged;
  info["finite"] = result.finite;
  return py::make_tuple(std::move(result.states), std::move(result.saved_steps), std::move(result.losses), info);
}

}  // namespace

void define_parsimony(py::module_& m) {
  m.def(
      "deep_linear_descent",
      [](std::vector<int> dims, const Vector& theta0, RowMatrix inputs, RowMatrix targets, RowMatrix mask,
         double scale, bool relu, std::vector<double> learning_rates, double momentum, long n_steps,
         long save_every, double tol) {
        const DeepLinearLoss loss(std::move(dims), std::move(inputs), std::move(targets), std::move(mask), scale,
                                  relu);
        TrainResult result;
        {
          py::gil_scoped_release release;
          result = train_gradient_descent(loss, theta0, learning_rates, momentum, n_steps, save_every, tol);
        }
        return train_tuple(std::move(result));
      },
      py::arg("dims"), py::arg("theta0"), py::arg("inputs"), py::arg("targets"), py::arg("mask"), py::arg("scale"),
      py::arg("relu"), py::arg("learning_rates"), py::arg("momentum"), py::arg("n_steps"), py::arg("save_every"),
      py::arg("tol"),
      "Gradient descent (heavy-ball momentum optional) on a deep linear loss; returns (states, saved_steps, "
      "losses, info).");
  m.def(
      "deep_linear_rk4",
      [](std::vector<int> dims, const Vector& theta0, RowMatrix inputs, RowMatrix targets, RowMatrix mask,
         double scale, bool relu, double dt, long n_steps, long save_every) {
        const DeepLinearLoss loss(std::move(dims), std::move(inputs), std::move(targets), std::move(mask), scale,
                                  relu);
        TrainResult result;
        {
          py::gil_scoped_release release;
          result = train_rk4(loss, theta0, dt, n_steps, save_every);
        }
        return train_tuple(std::move(result));
      },
      py::arg("dims"), py::arg("theta0"), py::arg("inputs"), py::arg("targets"), py::arg("mask"), py::arg("scale"),
      py::arg("relu"), py::arg("dt"), py::arg("n_steps"), py::arg("save_every"),
      "Classic RK4 on the gradient flow of a deep linear loss; returns (states, saved_steps, losses, info).");
}

}  // namespace intrinsic_flow::bindings
