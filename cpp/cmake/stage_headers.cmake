# pip builds each install in a fresh isolated environment, so the header folders of pybind11 and
# Eigen (installed there from the build requirements) have a new path every time; compile lines
# that name them change, and the persistent build directory (build-dir in pyproject.toml) would
# recompile everything. Staged once into the build directory (file(COPY) keeps timestamps and
# skips files already there), the headers keep one path, so a repeated install rebuilds only what
# changed.
include_guard(GLOBAL)

function(intrinsic_flow_stage_headers target name)
  get_target_property(_dirs ${target} INTERFACE_INCLUDE_DIRECTORIES)
  if(NOT _dirs)
    return()
  endif()
  set(_staged "")
  set(_k 0)
  foreach(_dir IN LISTS _dirs)
    if(_dir MATCHES "^\\$<" OR NOT IS_DIRECTORY "${_dir}")
      list(APPEND _staged "${_dir}")  # a generator expression: left as it is
      continue()
    endif()
    set(_copy "${CMAKE_BINARY_DIR}/_headers/${name}-${_k}")
    file(COPY "${_dir}/" DESTINATION "${_copy}")
    list(APPEND _staged "${_copy}")
    math(EXPR _k "${_k} + 1")
  endforeach()
  set_target_properties(${target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_staged}")
endfunction()
