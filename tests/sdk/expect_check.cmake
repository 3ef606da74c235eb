# cmake -DHOST=calib-host -DEXPECT_RC=N -DEXPECT_REGEX=re -DARGS=a;b -P expect_check.cmake
# Runs `HOST check ARGS`, asserts the exit code and that stdout+stderr match EXPECT_REGEX.
execute_process(COMMAND ${HOST} check ${ARGS}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 280)
message("${out}")
if(NOT rc STREQUAL "${EXPECT_RC}")
  message(FATAL_ERROR "calib-host check ${ARGS}: exit ${rc}, expected ${EXPECT_RC}\n${err}")
endif()
if(NOT "${out}${err}" MATCHES "${EXPECT_REGEX}")
  message(FATAL_ERROR "calib-host check ${ARGS}: output does not match '${EXPECT_REGEX}'\n${err}")
endif()
