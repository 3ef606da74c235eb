# calib_add_plugin(NAME SOURCES src...): build a calib plugin module that exports exactly one dynamic
# symbol, calib_plugin_entry. Used in-tree and shipped with the installed SDK package (calib-sdk),
# so it may rely only on the calib::sdk target; in-tree extras (output folder, warnings) are optional.
include_guard(GLOBAL)

function(calib_add_plugin name)
  cmake_parse_arguments(ARG "" "" "SOURCES" ${ARGN})
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "calib_add_plugin(${name}): unexpected arguments: ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "calib_add_plugin(${name}): SOURCES is required")
  endif()
  if(NOT TARGET calib::sdk)
    message(FATAL_ERROR "calib_add_plugin(${name}): target calib::sdk is missing (find_package(calib-sdk))")
  endif()
  # MODULE: loaded with dlopen only, never linked against.
  add_library(${name} MODULE ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE calib::sdk)
  # Two locks on the export list: hidden visibility keeps the plugin's own symbols out, and the
  # version script also hides what static libraries (oneDNN helpers, libstdc++ bits) bring in.
  set(_vs ${CMAKE_CURRENT_BINARY_DIR}/${name}.exports.map)
  file(WRITE ${_vs} "{ global: calib_plugin_entry; local: *; };\n")
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LINK_DEPENDS ${_vs})
  # --no-undefined: a missing symbol fails the build, not the host's dlopen() on a user's machine.
  target_link_options(${name} PRIVATE "LINKER:--version-script=${_vs}" "LINKER:--no-undefined")
  if(DEFINED CALIB_PLUGIN_OUTPUT_DIR)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${CALIB_PLUGIN_OUTPUT_DIR})
  endif()
  if(COMMAND calib_warnings)
    calib_warnings(${name})
  endif()
endfunction()
