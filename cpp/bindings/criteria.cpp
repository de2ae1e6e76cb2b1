#include "topics.hpp"

namespace intrinsic_flow::bindings {

void define_criteria(pybind11::module_&) {}

}  // namespace intrinsic_flow::bindings
