#include <cstdlib>
#include <cstring>
#include <iostream>

#include "calib/core/plugin_client.hpp"

int main(int argc, char** argv) {
    // Worker mode: the host re-executes itself to run foreign plugin code in a separate process.
    if (argc == 4 && std::strcmp(argv[1], "--worker") == 0)
        return calib::core::worker_main(std::atoi(argv[2]), std::atoi(argv[3]));
    std::cout << "calib-host " << CALIB_VERSION << "\n";
    return 0;
}
