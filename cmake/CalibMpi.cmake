# CALIB_WITH_MPI = AUTO | ON | OFF: whether calib-host has its fleet mode (`calib-host --fleet` under
# mpirun, docs/fleet.md).
#   AUTO: built when an MPI library (C bindings) is found, left out cleanly otherwise.
#   ON:   required; configuration fails without it.  OFF: never looked for.
# Sets CALIB_MPI_ENABLED for cli/CMakeLists.txt and tests/. Without it, `--fleet` says it is not built
# in; `calib-host merge` and the fleet view (core/src/fleet) are always built.
set(CALIB_WITH_MPI AUTO CACHE STRING "Build calib-host's fleet mode over MPI (AUTO, ON, OFF)")
set_property(CACHE CALIB_WITH_MPI PROPERTY STRINGS AUTO ON OFF)
string(TOUPPER "${CALIB_WITH_MPI}" _calib_mpi_mode)
set(CALIB_MPI_ENABLED OFF)

if(_calib_mpi_mode STREQUAL "OFF")
  message(STATUS "calib: fleet mode over MPI disabled (CALIB_WITH_MPI=OFF)")
elseif(_calib_mpi_mode STREQUAL "ON" OR _calib_mpi_mode STREQUAL "AUTO")
  find_package(MPI COMPONENTS C QUIET)
  if(MPI_C_FOUND)
    set(CALIB_MPI_ENABLED ON)
    message(STATUS "calib: fleet mode over MPI enabled (MPI ${MPI_C_VERSION}, ${MPIEXEC_EXECUTABLE})")
  elseif(_calib_mpi_mode STREQUAL "ON")
    message(FATAL_ERROR "calib: CALIB_WITH_MPI=ON but no MPI library was found (Debian: openmpi-bin libopenmpi-dev)")
  else()
    message(STATUS "calib: MPI not found; calib-host is built without --fleet")
  endif()
else()
  message(FATAL_ERROR "calib: CALIB_WITH_MPI must be AUTO, ON or OFF (got '${CALIB_WITH_MPI}')")
endif()
