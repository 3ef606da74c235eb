// calib-host: parses the subcommand and hands over to cli/cmd_*.cpp. No measurement logic here.
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <map>

#include "calib/abi.h"
#include "calib/core/plugin_client.hpp"
#include "commands.hpp"

namespace calib::cli {

int usage_error(const std::string& message) {
    std::cerr << "calib-host: error: " << message << "\n";
    return kExitUsage;
}

}  // namespace calib::cli

namespace {

const char* kTopHelp = R"(calib-host: measure what this machine really delivers and write a HardwareCalibration profile.

Usage: calib-host [run] [options]        calibrate with every discovered plugin (the default)
       calib-host list [--plugins DIR] [--json]   list plugins (alias: --list)
       calib-host show FILE             readable summary of a profile
       calib-host validate FILE         check a profile (structure, types, compatibility, consistency)
       calib-host compare A B           compare two profiles record by record
       calib-host plot FILE --output roofline.svg   roofline chart
       calib-host query FILE --operation matmul --size 1536 | --fusion PATTERN --shape AxBxC
                                        interpolated efficiency / fusion speedup and verdict
       calib-host export --format origin-2025 IN OUT | --format origin-curves IN DIR [--registry]
                                        the profile as the origin's 2025 loader or GPU mapper reads it
       calib-host history [list|show ID|export ID OUT|compare [ID]|prune ...]
                                        the runs kept in the history database (SQLite)
       calib-host check PLUGIN.so...    check a plugin against the ABI contract (for plugin authors)
       mpirun -n N calib-host --fleet --output fleet.json [run options]
                                        calibrate every node of a cluster, one fleet view (docs/fleet.md)
       calib-host merge A.json B.json ... --output fleet.json
                                        the fleet view of profiles made separately
       calib-host --version
Each subcommand has --help.

Exit codes: 0 success; 1 some cases failed (results kept), validation problems, or a regression;
            2 usage or input error (nothing written); 3 internal error;
            4 a preflight check failed under run --strict (nothing measured or written);
            5 --fleet in a calib-host built without MPI; 130 interrupted (what was measured is in <output>.partial).
)";

}  // namespace

int main(int argc, char** argv) {
    using namespace calib::cli;
    // Worker mode: the host re-executes itself to run foreign plugin code in a separate process.
    if (argc == 4 && std::strcmp(argv[1], "--worker") == 0)
        return calib::core::worker_main(std::atoi(argv[2]), std::atoi(argv[3]));

    Args args(argv + 1, argv + argc);
    try {
        if (!args.empty() && (args[0] == "--version" || args[0] == "version")) {
            std::cout << "calib-host " << CALIB_VERSION << " (plugin ABI " << CALIB_ABI_VERSION_MAJOR << "."
                      << CALIB_ABI_VERSION_MINOR << ")\n";
            return kExitOk;
        }
        if (!args.empty() && (args[0] == "--help" || args[0] == "-h" || args[0] == "help")) {
            std::cout << kTopHelp;
            return kExitOk;
        }
        static const std::map<std::string, int (*)(const Args&)> commands = {
            {"run", cmd_run},         {"list", cmd_list},       {"show", cmd_show}, {"validate", cmd_validate},
            {"compare", cmd_compare}, {"plot", cmd_plot},     {"check", cmd_check},
            {"query", cmd_query},     {"export", cmd_export}, {"history", cmd_history},
            {"merge", cmd_merge}};
        // --fleet: the run under mpirun, one calibration per node (`calib-host [run] --fleet ...`).
        if (args.empty() || args[0] == "run" || args[0].rfind("-", 0) == 0)
            for (std::size_t i = 0; i < args.size(); ++i)
                if (args[i] == "--fleet") {
                    Args rest = args;
                    rest.erase(rest.begin() + static_cast<long>(i));
                    if (!rest.empty() && rest[0] == "run") rest.erase(rest.begin());
                    return cmd_fleet(rest);
                }
        if (!args.empty() && args[0].rfind("-", 0) != 0) {
            auto it = commands.find(args[0]);
            if (it == commands.end())
                return usage_error("unknown command '" + args[0] +
                                   "' (commands: run, list, show, validate, compare, plot, check, query, export, history, merge)");
            return it->second(Args(args.begin() + 1, args.end()));
        }
        // --list stays an alias of `list`.
        for (std::size_t i = 0; i < args.size(); ++i)
            if (args[i] == "--list") {
                Args rest = args;
                rest.erase(rest.begin() + static_cast<long>(i));
                return cmd_list(rest);
            }
        return cmd_run(args);
    } catch (const std::exception& e) {
        std::cerr << "calib-host: internal error: " << e.what() << "\n";
        return kExitInternal;
    }
}
