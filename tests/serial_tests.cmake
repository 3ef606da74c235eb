# Included by CTest after the discovered Catch2 tests (tests/CMakeLists.txt): tests that start real
# co-runners (spinning processes) run alone: beside them, the parallel tests that time things (history's
# planted regression) would read the spinners, and a spinner that must get half a CPU does not beside
# another test's build (sdk_install_example).
set(_calib_serial_tests
  "test_measure:co-runner monitor: a real busy process is a co-runner unless it is calib's own"
  "test_run:preflight: two real spinning processes fail the corunner check"
  "test_run:a real co-runner that never stops: every record is flagged disturbed"
  "test_cli:preflight: --strict with a co-runner: exit 4, the failed check named, the existing output untouched"
  "test_cli:preflight: without --strict a failed one is recorded (passed false, forced true) and validates")
# (CTest ignores a name it does not know, e.g. a suite not built.)
foreach(_t IN LISTS _calib_serial_tests)
  set_tests_properties("${_t}" PROPERTIES RUN_SERIAL TRUE)
endforeach()
