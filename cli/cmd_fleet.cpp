// `calib-host --fleet`: the fleet mode under mpirun (docs/fleet.md). Its MPI code is cli/mpi/, compiled
// only where CMake found MPI (CALIB_WITH_MPI); without it the option says so and does nothing else.
#include <iostream>

#include "commands.hpp"

namespace calib::cli {

#ifdef CALIB_HAVE_MPI
int fleet_mpi_main(const Args& args);  // cli/mpi/fleet_mpi.cpp
#endif

int cmd_fleet(const Args& args) {
#ifdef CALIB_HAVE_MPI
    return fleet_mpi_main(args);
#else
    (void)args;
    std::cerr << "calib-host: error: --fleet is not built in (this calib-host was built without MPI: "
                 "CALIB_WITH_MPI, docs/fleet.md); calib-host merge builds the fleet view from separate profiles\n";
    return kExitNotBuilt;
#endif
}

}  // namespace calib::cli
