# pip builds each install in a fresh isolated environment, so the header folders of pybind11 and
# Eigen (installed there from the build requirements) have a new path every time; compile lines
# that name them change, and the persistent build directory (build-dir in pyproject.toml) would
# recompile everything. Staged into the build directory (a file is rewritten only when its
# contents change), the headers keep one path and their
# timestamps, so a repeated install rebuilds only what changed.
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
    if(CMAKE_VERSION VERSION_LESS 3.21)  # no COPY_FILE ... ONLY_IF_DIFFERENT: copy (and rebuild) each time
      file(COPY "${_dir}/" DESTINATION "${_copy}")
      list(APPEND _staged "${_copy}")
      math(EXPR _k "${_k} + 1")
      continue()
    endif()
    # pip writes the build requirements with fresh timestamps, so copies are made only where the
    # contents differ: an unchanged header keeps its old timestamp and nothing is recompiled
    file(GLOB_RECURSE _files RELATIVE "${_dir}" "${_dir}/*")
    foreach(_file IN LISTS _files)
      get_filename_component(_parent "${_copy}/${_file}" DIRECTORY)
      file(MAKE_DIRECTORY "${_parent}")
      file(COPY_FILE "${_dir}/${_file}" "${_copy}/${_file}" ONLY_IF_DIFFERENT)
    endforeach()
    list(APPEND _staged "${_copy}")
    math(EXPR _k "${_k} + 1")
  endforeach()
  set_target_properties(${target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_staged}")
endfunction()
