// Preflight: the conditions checked before a run measures anything (docs/measurement.md, "Conditions
// and preflight"). Each check passes, warns, fails or is skipped (with the reason); the result goes
// into metadata.preflight in the origin's 2026 shape (Preflight in profile.hpp). The CLI prints warnings
// and failures, and with --strict refuses to run when a check failed (exit 4, nothing written).
//
// Checks and thresholds (PreflightConfig):
//   governor     pass when every CPU calib uses runs "performance"; warn otherwise; skip when unreadable
//   cpu_clock    lowest current clock / max clock of calib's CPUs: warn below 0.9; skip without a max
//   system_load  1-min load average per online CPU: warn above 0.5, fail above 1.0
//   corunner     foreign CPUs on calib's CPUs over 0.5 s (CoRunnerMonitor): fail above 0.1 (the run's
//                co-runner threshold)
//   rapl         pass when the RAPL counters read; skip with the reason when not (never a failure)
//   + extra      checks the caller adds (GPU clocks and power state from the plugins' devices)
//
// Adding checks (GPU): build PreflightCheck values (name "gpu<i>_clock", status, message, value,
// threshold, unit) and pass them in PreflightOptions::extra, or append to Preflight::checks with
// add_check() (it keeps `passed` right). Their statuses count like the host's.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "calib/core/corunner.hpp"
#include "calib/core/cpu_conditions.hpp"
#include "calib/core/profile.hpp"

namespace calib::core {

struct PreflightConfig {
    double min_clock_ratio = 0.9;          // cpu_clock: warn when current/max of a CPU is below this
    double load_warn_per_cpu = 0.5;        // system_load: warn above (1-min load average / online CPUs)
    double load_fail_per_cpu = 1.0;        // ... fail above
    CoRunnerConfig corunner;               // corunner: fail above corunner.max_foreign_cpus
    double corunner_window_seconds = 0.5;  // how long the co-runner check watches
};

struct PreflightOptions {
    PreflightConfig config;
    ConditionsPaths paths;                     // sysfs/procfs (a fake tree in tests)
    std::string loadavg = "/proc/loadavg";
    bool corunner = true;                      // false: the corunner check is skipped (no wait)
    // Replace the readings (tests): /proc/stat for the co-runner monitor; calib's CPUs (default: this
    // process's affinity set); calib's other processes (default: live workers).
    std::function<CpuTimes()> cpu_times;
    std::function<std::vector<int>()> cpus;
    std::function<std::vector<pid_t>()> own_pids;
    std::vector<PreflightCheck> extra;         // appended after the host's checks (GPU checks)
};

// Runs every check (about corunner_window_seconds, spent waiting). forced stays false: the caller sets
// it when it goes on despite a failure.
Preflight run_preflight(const PreflightOptions& options = {});

// Appends a check and updates `passed`.
void add_check(Preflight& p, PreflightCheck check);

// The checks one at a time (run_preflight calls these).
PreflightCheck governor_check(const CpuConditions& c, const std::vector<int>& cpus);
PreflightCheck cpu_clock_check(const CpuConditions& c, const std::vector<int>& cpus, const PreflightConfig& cfg);
PreflightCheck system_load_check(double load1, int online_cpus, const PreflightConfig& cfg);
PreflightCheck rapl_check(const CpuConditions& c);
// foreign: CPUs other processes used over the window; < 0: the monitor was unavailable (skip).
PreflightCheck corunner_check(double foreign, std::size_t cpus, const PreflightConfig& cfg);

// "FAIL corunner: ..." / "warn governor: ..." (what the CLI prints, one line per check).
std::string describe(const PreflightCheck& c);

// The CPUs this process may run on (sched_getaffinity), sorted.
std::vector<int> affinity_cpus();

}  // namespace calib::core
