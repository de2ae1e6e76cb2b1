// Bindings of the parsimony kernels (filled by the parsimony topic).
#include "topics.hpp"

namespace intrinsic_flow::bindings {

void define_parsimony(pybind11::module_& m) { (void)m; }

}  // namespace intrinsic_flow::bindings
