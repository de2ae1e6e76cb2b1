// Bindings of the Lie-algebra trace in F_p (cpp/lie.hpp). Term tables arrive as NumPy arrays
// (python/intrinsic_flow/polynomial.py TermTable, coefficients reduced mod p by the caller).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "lie.hpp"
#include "topics.hpp"

namespace py = pybind11;

namespace intrinsic_flow::bindings {

namespace {

using Int64Array = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;
using UInt64Array = py::array_t<std::uint64_t, py::array::c_style | py::array::forcecast>;

TermTable term_table(int n_vars, int n_polys, const Int64Array& poly, const UInt64Array& coeff,
                     const Int64Array& monomials) {
  if (monomials.ndim() != 2) throw std::invalid_argument("monomials must be a 2-D array (terms, degree)");
  TermTable table;
  table.n_vars = n_vars;
  table.n_polys = n_polys;
  table.degree = static_cast<int>(monomials.shape(1));
  table.poly.assign(poly.data(), poly.data() + poly.size());
  table.coeff.assign(coeff.data(), coeff.data() + coeff.size());
  table.monomials.assign(monomials.data(), monomials.data() + monomials.size());
  return table;
}

}  // namespace

void define_lie(py::module_& m) {
  m.attr("LIE_MODULUS") = py::int_(kLieModulus);
  m.def(
      "lie_trace_modular",
      [](int n_vars, int n_lifted, const Int64Array& poly, const UInt64Array& coeff, const Int64Array& monomials,
         int n_laws, const Int64Array& law_poly, const UInt64Array& law_coeff, const Int64Array& law_monomials,
         const std::vector<std::uint64_t>& point, double max_bytes) {
        const TermTable lifted = term_table(n_vars, n_lifted, poly, coeff, monomials);
        const TermTable laws = term_table(n_vars, n_laws, law_poly, law_coeff, law_monomials);
        LieTraceResult result;
        {
          py::gil_scoped_release release;
          result = lie_trace_modular(lifted, laws, point, max_bytes);
        }
        return py::make_tuple(result.dims_by_depth, result.rank_known_laws, result.bound_reached);
      },
      py::arg("n_vars"), py::arg("n_lifted"), py::arg("poly"), py::arg("coeff"), py::arg("monomials"),
      py::arg("n_laws"), py::arg("law_poly"), py::arg("law_coeff"), py::arg("law_monomials"), py::arg("point"),
      py::arg("max_bytes"),
      "dim W_k(x) by level, rank of the known laws at x, and whether the bound D - rank was reached");
  m.def(
      "gradient_rank_modular",
      [](int n_vars, int n_polys, const Int64Array& poly, const UInt64Array& coeff, const Int64Array& monomials,
         const std::vector<std::uint64_t>& point) {
        const TermTable table = term_table(n_vars, n_polys, poly, coeff, monomials);
        py::gil_scoped_release release;
        return gradient_rank_modular(table, point);
      },
      py::arg("n_vars"), py::arg("n_polys"), py::arg("poly"), py::arg("coeff"), py::arg("monomials"), py::arg("point"));
  m.def("path_lift_rank_modular", &path_lift_rank_modular, py::arg("n_neurons"), py::arg("n_inputs"),
        py::arg("n_outputs"), py::arg("param_src"), py::arg("param_dst"), py::arg("point"),
        py::call_guard<py::gil_scoped_release>(), "rank over F_p of dphi(x) for a path-lifting, without paths");
}

}  // namespace intrinsic_flow::bindings
