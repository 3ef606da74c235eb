# cmake -DBUILD_DIR=.. -DSOURCE_DIR=.. -DWORK_DIR=.. -DGENERATOR=Ninja -DPLUGIN_SUBDIR=lib/calib/plugins
#       -P install_example.cmake
# What a vendor does: install calib to a prefix, build sdk/examples/add_relu (C) and scale_add_cpp (C++)
# out of tree against the installed package, drop the modules into a folder and run the INSTALLED host on it.
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "failed (${rc}): ${cmd}\n${out}\n${err}")
  endif()
  set(OUT "${out}${err}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)

# 1. Install. The layout is the contract the issue names.
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
foreach(f include/calib/abi.h include/calib/host.h include/calib/plugin.h include/calib/plugin.hpp bin/calib-host)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()
file(GLOB_RECURSE _cfg ${prefix}/*/calib-sdk-config.cmake)
file(GLOB_RECURSE _ver ${prefix}/*/calib-sdk-config-version.cmake)
if(NOT _cfg OR NOT _ver)
  message(FATAL_ERROR "calib-sdk package config not installed")
endif()
file(GLOB _builtin ${prefix}/${PLUGIN_SUBDIR}/*.so)
if(NOT _builtin)
  message(FATAL_ERROR "no built-in plugins installed in ${PLUGIN_SUBDIR}")
endif()

# 2. The installed host finds the installed built-in plugins by default.
run(${prefix}/bin/calib-host list)
if(NOT OUT MATCHES "org\\.calib\\.")
  message(FATAL_ERROR "installed calib-host list does not see the installed plugins:\n${OUT}")
endif()

# 3. Out-of-tree build of the example against the installed package.
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/sdk/examples/add_relu -B ${WORK_DIR}/example -G ${GENERATOR}
  -DCMAKE_PREFIX_PATH=${prefix})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/example)
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/sdk/examples/scale_add_cpp -B ${WORK_DIR}/example_cpp -G ${GENERATOR}
  -DCMAKE_PREFIX_PATH=${prefix})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/example_cpp)
file(MAKE_DIRECTORY ${WORK_DIR}/plugins)
file(COPY ${WORK_DIR}/example/add_relu.so ${WORK_DIR}/example_cpp/scale_add.so DESTINATION ${WORK_DIR}/plugins)

# 4. The package refuses another ABI major.
file(WRITE ${WORK_DIR}/major2/CMakeLists.txt
  "cmake_minimum_required(VERSION 3.20)\nproject(m2 LANGUAGES NONE)\nfind_package(calib-sdk 2.0 REQUIRED)\n")
execute_process(COMMAND ${CMAKE_COMMAND} -S ${WORK_DIR}/major2 -B ${WORK_DIR}/major2/build -G ${GENERATOR}
  -DCMAKE_PREFIX_PATH=${prefix} RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "calib-sdk")
  message(FATAL_ERROR "find_package(calib-sdk 2.0) should fail against an ABI 1 SDK (rc ${rc})\n${err}")
endif()

# 5. The installed host checks and runs the example.
run(${prefix}/bin/calib-host check ${WORK_DIR}/plugins/add_relu.so ${WORK_DIR}/plugins/scale_add.so)
run(${prefix}/bin/calib-host --plugins ${WORK_DIR}/plugins --no-default-plugins --quick --time-budget 0.1 --no-history
  --output ${WORK_DIR}/p.json)
file(READ ${WORK_DIR}/p.json profile)
if(NOT profile MATCHES "\"fusion_profiles\"" OR NOT profile MATCHES "\"fusion_pattern\" *: *\"Add_ReLU\"")
  message(FATAL_ERROR "the profile has no Add_ReLU fusion record:\n${profile}")
endif()
if(NOT profile MATCHES "\"fusion_pattern\" *: *\"Scale_Add\"")
  message(FATAL_ERROR "the profile has no Scale_Add fusion record (the C++ example):\n${profile}")
endif()
if(profile MATCHES "org\\.calib\\.")
  message(FATAL_ERROR "--no-default-plugins still ran built-in plugins")
endif()
message(STATUS "installed SDK builds and runs the C and C++ examples: ok")
