# calib_add_plugin(NAME SOURCES src...): build a calib plugin module that exports exactly one dynamic
# symbol, calib_plugin_entry. Used in-tree and shipped with the installed SDK package.
set(_CALIB_PLUGIN_CMAKE_DIR ${CMAKE_CURRENT_LIST_DIR})

function(calib_add_plugin name)
  cmake_parse_arguments(ARG "" "" "SOURCES" ${ARGN})
  add_library(${name} MODULE ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE calib::sdk)
  set(_vs ${CMAKE_CURRENT_BINARY_DIR}/${name}.exports.map)
  file(WRITE ${_vs} "{ global: calib_plugin_entry; local: *; };\n")
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LINK_DEPENDS ${_vs})
  target_link_options(${name} PRIVATE "LINKER:--version-script=${_vs}" "LINKER:--no-undefined")
  if(DEFINED CALIB_PLUGIN_OUTPUT_DIR)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${CALIB_PLUGIN_OUTPUT_DIR})
  endif()
  if(COMMAND calib_warnings)
    calib_warnings(${name})
  endif()
endfunction()
