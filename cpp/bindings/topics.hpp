// One binding file per topic; module.cpp calls each define_xxx once.
#pragma once

#include <pybind11/pybind11.h>

namespace intrinsic_flow::bindings {

void define_geometry(pybind11::module_& m);
void define_lie(pybind11::module_& m);
void define_criteria(pybind11::module_& m);
void define_flow(pybind11::module_& m);
void define_parsimony(pybind11::module_& m);
void define_symmetries(pybind11::module_& m);
void define_parameterizations(pybind11::module_& m);

}  // namespace intrinsic_flow::bindings
