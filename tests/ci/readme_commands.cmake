# README's two set-up commands are what .ci/run runs: .ci/run reads them from README through
# .ci/readme-command, which fails when README's set-up section no longer holds exactly two one-line
# commands. This test fails with a clear message when either side drifts.
# Run as: cmake -DSRC=<source dir> -P readme_commands.cmake
foreach(n 1 2)
  execute_process(COMMAND sh ${SRC}/.ci/readme-command ${n} ${SRC}/README.md
                  OUTPUT_VARIABLE cmd${n} ERROR_VARIABLE err RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "README set-up command ${n} cannot be read: ${err}")
  endif()
  if(NOT cmd${n} MATCHES "^sh cmake/install-deps.sh && ")
    message(FATAL_ERROR "README set-up command ${n} no longer starts with the install step: ${cmd${n}}")
  endif()
endforeach()
if(NOT cmd1 MATCHES "build/bin/calib-host --output profile.json$")
  message(FATAL_ERROR "README command 1 no longer ends in a calibration (.ci/run appends --quick): ${cmd1}")
endif()
if(NOT cmd2 MATCHES "-DCALIB_WARNINGS_AS_ERRORS=ON" OR NOT cmd2 MATCHES "ctest --test-dir build")
  message(FATAL_ERROR "README command 2 no longer builds with warnings as errors and runs ctest: ${cmd2}")
endif()
file(READ ${SRC}/.ci/run ci)
foreach(n 1 2)
  if(NOT ci MATCHES "readme-command ${n}")
    message(FATAL_ERROR ".ci/run no longer takes README command ${n} from README (.ci/readme-command ${n})")
  endif()
endforeach()
if(NOT ci MATCHES "fresh-root \"")
  message(FATAL_ERROR ".ci/run no longer runs README's commands in a fresh Debian 12 root (.ci/fresh-root)")
endif()
# A README whose set-up section lost a command must make readme-command fail, not print something else.
file(READ ${SRC}/README.md readme)
string(REGEX REPLACE "```sh\n[^`]*ctest[^`]*```" "" broken "${readme}")
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/README.broken.md "${broken}")
execute_process(COMMAND sh ${SRC}/.ci/readme-command 2 ${CMAKE_CURRENT_BINARY_DIR}/README.broken.md
                OUTPUT_QUIET ERROR_VARIABLE err RESULT_VARIABLE rc)
if(rc EQUAL 0 OR NOT err MATCHES "drifted")
  message(FATAL_ERROR "readme-command accepted a README with one set-up command (rc ${rc}): ${err}")
endif()
message(STATUS "README commands and .ci/run agree:\n  1: ${cmd1}\n  2: ${cmd2}")
