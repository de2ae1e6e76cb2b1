// Bindings of the parameterizations kernels (filled by the parameterizations topic).
#include "topics.hpp"

namespace intrinsic_flow::bindings {

void define_parameterizations(pybind11::module_& m) { (void)m; }

}  // namespace intrinsic_flow::bindings
