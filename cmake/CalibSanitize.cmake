# Sanitizer and fuzzing builds (docs/testing.md).
#
# CALIB_SANITIZE: ASan + UBSan on the whole tree (host, core, plugins, fixtures, tests). Any UB is fatal
#   (-fno-sanitize-recover) so a test cannot pass over it. Included before any target is defined, so the
#   directory-wide flags reach every target. The CMake preset "asan" only sets this option.
# CALIB_FUZZ: the libFuzzer targets in tests/fuzz/ (clang only). They carry their own
#   -fsanitize=fuzzer,address,undefined flags; the rest of the tree is left as configured.
option(CALIB_SANITIZE "Build everything with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
option(CALIB_FUZZ "Build the libFuzzer targets in tests/fuzz (requires clang)" OFF)
# The fuzz build needs no plugin; switching them off keeps its configure independent of plugins/.
option(CALIB_BUILD_PLUGINS "Build the built-in plugins (plugins/)" ON)

if(CALIB_SANITIZE)
  set(CALIB_SANITIZE_FLAGS -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_compile_options(${CALIB_SANITIZE_FLAGS})
  add_link_options(${CALIB_SANITIZE_FLAGS})
  # GCC 12's ASan instrumentation makes -Wmaybe-uninitialized fire falsely inside libstdc++ (std::regex,
  # std::function); GCC's manual warns of this. Silenced here only, so -Werror stays usable.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    add_compile_options(-Wno-maybe-uninitialized)
  endif()
endif()

if(CALIB_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR
      "CALIB_FUZZ=ON needs clang (libFuzzer, -fsanitize=fuzzer); this build uses "
      "${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER}. Configure a fresh build folder with "
      "-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ (or `cmake --preset fuzz`).")
  endif()
  # The fuzzers compile the sources they need themselves, so they depend on no other target.
  add_subdirectory(${PROJECT_SOURCE_DIR}/tests/fuzz ${PROJECT_BINARY_DIR}/tests/fuzz)
endif()
