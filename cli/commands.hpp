// calib-host subcommands. Each returns the process exit code (see docs/cli.md).
#pragma once

#include <string>
#include <vector>

namespace calib::cli {

// Exit codes (documented in docs/cli.md and --help).
inline constexpr int kExitOk = 0;
inline constexpr int kExitCaseFailures = 1;  // some cases failed / problems found / regression
inline constexpr int kExitUsage = 2;         // usage or input error; nothing written
inline constexpr int kExitInternal = 3;      // unexpected internal error
inline constexpr int kExitPreflight = 4;     // a preflight check failed under --strict; nothing written
inline constexpr int kExitInterrupted = 130; // SIGINT/SIGTERM: <output>.partial written
inline constexpr int kExitNotBuilt = 5;      // a mode this build left out (--fleet without MPI)

using Args = std::vector<std::string>;

int cmd_run(const Args& args);
int cmd_list(const Args& args);
int cmd_show(const Args& args);
int cmd_validate(const Args& args);
int cmd_compare(const Args& args);
int cmd_plot(const Args& args);
int cmd_query(const Args& args);
int cmd_check(const Args& args);  // plugin conformance (cmd_check.cpp)
int cmd_export(const Args& args);  // the origin's other shapes (cmd_export.cpp)
int cmd_history(const Args& args);  // the run history database (cmd_history.cpp)
int cmd_merge(const Args& args);    // the fleet view of separate profiles (cmd_merge.cpp)
// Why the file `out` cannot be written (a folder, a missing or read-only folder, a read-only file), or
// empty; checked before any work, it creates nothing (cmd_run.cpp). Run, merge and --fleet use it.
std::string check_output_path(const std::string& out);
int cmd_fleet(const Args& args);    // --fleet under mpirun (cmd_fleet.cpp, cli/mpi/)

// One-line error on stderr: "calib-host: error: <message>".
int usage_error(const std::string& message);

}  // namespace calib::cli
