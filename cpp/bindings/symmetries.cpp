// Bindings of the symmetries kernels (filled by the symmetries topic).
#include "topics.hpp"

namespace intrinsic_flow::bindings {

void define_symmetries(pybind11::module_& m) { (void)m; }

}  // namespace intrinsic_flow::bindings
