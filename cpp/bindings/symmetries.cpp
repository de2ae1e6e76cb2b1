// Bindings of the symmetries kernels: mean-field particle training of two-layer ReLU networks,
// their predictor, the seeded input generator and the reduced angle dynamics. Validation happens
// in the Python layer (intrinsic_flow._symmetries); the core re-checks shapes.
#include <pybind11/eigen.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <vector>

#include "symmetries.hpp"
#include "topics.hpp"

namespace py = pybind11;

namespace intrinsic_flow::bindings {

void define_symmetries(py::module_& m) {
  m.def(
      "sym_particle_train",
      [](const VectorRef& a0, const RowMatrixRef& B0, const RowMatrixRef& X, const VectorRef& y, int method,
         double lr, long n_steps, const std::vector<long>& save_steps, int input_kind, double input_scale,
         int target_kind, const Vector& coef, int d_H, long batch, std::uint64_t seed, bool symmetric) {
        ParticleOptions options;
        options.method = method;
        options.lr = lr;
        options.n_steps = n_steps;
        options.save_steps = save_steps;
        options.input_kind = input_kind;
        options.input_scale = input_scale;
        options.target_kind = target_kind;
        options.coef = coef;
        options.d_H = d_H;
        options.batch = batch;
        options.seed = seed;
        options.symmetric = symmetric;
        ParticleResult result;
        {
          py::gil_scoped_release release;
          result = particle_train(a0, B0, X, y, options);
        }
        return py::make_tuple(result.a, result.B, result.loss);
      },
      py::arg("a0"), py::arg("B0"), py::arg("X"), py::arg("y"), py::arg("method"), py::arg("lr"), py::arg("n_steps"),
      py::arg("save_steps"), py::arg("input_kind"), py::arg("input_scale"), py::arg("target_kind"), py::arg("coef"),
      py::arg("d_H"), py::arg("batch"), py::arg("seed"), py::arg("symmetric"));
  m.def(
      "sym_predict",
      [](const VectorRef& a, const RowMatrixRef& B, const RowMatrixRef& X) { return particle_predict(a, B, X); },
      py::arg("a"), py::arg("B"), py::arg("X"), py::call_guard<py::gil_scoped_release>());
  m.def("sym_draw_inputs", &sym_draw_inputs, py::arg("kind"), py::arg("scale"), py::arg("d"), py::arg("seed"),
        py::arg("start"), py::arg("count"), py::call_guard<py::gil_scoped_release>());
  m.def("sym_target", &sym_target, py::arg("kind"), py::arg("coef"), py::arg("d_H"), py::arg("X"),
        py::call_guard<py::gil_scoped_release>());
  m.def("sym_reduced_samples", &reduced_samples, py::arg("d"), py::arg("d_H"), py::arg("seed"), py::arg("step"),
        py::arg("n_samples"), py::call_guard<py::gil_scoped_release>());
  m.def(
      "sym_reduced_train",
      [](const VectorRef& c0, const VectorRef& theta0, int d, int d_H, double lr, long n_steps, long n_samples,
         std::uint64_t seed, const std::vector<long>& save_steps) {
        ReducedOptions options;
        options.d = d;
        options.d_H = d_H;
        options.lr = lr;
        options.n_steps = n_steps;
        options.n_samples = n_samples;
        options.seed = seed;
        options.save_steps = save_steps;
        ReducedResult result;
        {
          py::gil_scoped_release release;
          result = reduced_train(c0, theta0, options);
        }
        return py::make_tuple(result.c, result.theta, result.loss);
      },
      py::arg("c0"), py::arg("theta0"), py::arg("d"), py::arg("d_H"), py::arg("lr"), py::arg("n_steps"),
      py::arg("n_samples"), py::arg("seed"), py::arg("save_steps"));
}

}  // namespace intrinsic_flow::bindings
