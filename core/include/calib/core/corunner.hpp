// Co-runner detection: how much CPU time other processes (and the hypervisor, as steal) took on the
// CPUs calib runs on. A sample timed while something else ran there measured a shared machine, so the
// measurement policy discards it (docs/measurement.md, "Co-runners").
//
// foreign = busy time of calib's CPUs (/proc/stat: user nice system irq softirq steal, summed over the
//           CPUs of this process's affinity set) - CPU time of calib's own processes (this process and
//           its workers, exact, from their CPU clocks).
// /proc/stat counts in ticks (10 ms), so foreign time is read as a rate over a sliding window of at
// least window_seconds, in CPUs (foreign CPU seconds per second): a busy loop reads 0.5-1.0 (less
// while calib's own threads compete with it), an idle machine 0.00-0.05. In CPUs, not as a share of
// them: one foreign thread slows a parallel region on 128 CPUs as much as on 2.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace calib::core {

// Cumulative seconds over the CPUs of this process's affinity set (`cpus`, empty: all it may run on).
struct CpuTimes {
    double busy = 0;   // user + nice + system + irq + softirq + steal
    double steal = 0;  // of busy: time the hypervisor gave the vCPUs to someone else
    std::size_t cpus = 0;
    bool ok = false;   // false when /proc/stat was unreadable
};
CpuTimes read_cpu_times(const std::string& proc_stat = "/proc/stat");
// Time the hypervisor ran something else on each CPU while this guest wanted it ("steal", /proc/stat,
// cumulative seconds, 10 ms resolution), indexed by CPU number, 0 for CPUs this process may not run
// on; empty when unreadable. A case whose CPUs lost time this way ran slower by that much without any
// sign in the placement probe.
std::vector<double> steal_seconds_per_cpu(const std::string& proc_stat = "/proc/stat");
// CPU seconds (all threads) of a process: this one for pid 0; < 0 when unreadable (gone, not ours).
double process_cpu_seconds(pid_t pid = 0);

struct CoRunnerConfig {
    // A sample is disturbed when, over the window ending after it (at least window_seconds long, and
    // the sample itself when longer), other processes used more than this many of calib's CPUs.
    double max_foreign_cpus = 0.1;
    double window_seconds = 0.5;
    // A case is disturbed when other processes used more than max_foreign_cpus over it and at least
    // this many CPU seconds (two ticks: a short case reads 0.1-0.2 CPUs from one stray tick).
    double min_case_foreign_seconds = 0.02;
    // Readings closer than this reuse the previous one (a reading costs ~30 us).
    double min_interval_seconds = 0.002;
};

class CoRunnerMonitor {
public:
    struct Reading {
        double t = 0;        // seconds, steady clock
        double foreign = 0;  // cumulative foreign CPU seconds since the monitor started
        double steal = 0;    // cumulative steal seconds since the monitor started
    };
    using TimesFn = std::function<CpuTimes()>;
    using PidsFn = std::function<std::vector<pid_t>()>;  // calib's other processes (the workers)
    using CpuFn = std::function<double(pid_t)>;         // process CPU seconds, pid 0 = this process
    using ClockFn = std::function<double()>;
    // Defaults: /proc/stat, no other processes, process_cpu_seconds, the steady clock.
    explicit CoRunnerMonitor(CoRunnerConfig cfg = {}, TimesFn times = {}, PidsFn pids = {}, CpuFn cpu = {},
                             ClockFn clock = {});

    bool available() const { return available_; }
    const CoRunnerConfig& config() const { return cfg_; }
    // Takes a reading (unless the last is under min_interval_seconds old) and returns the CPUs other
    // processes used on average over the window that ends now.
    double foreign_cpus_now();
    bool quiet() { return foreign_cpus_now() <= cfg_.max_foreign_cpus; }
    Reading last() const { return readings_.empty() ? Reading{} : readings_.back(); }
    // Foreign and steal seconds between two readings (by their cumulative values).
    std::size_t cpus() const { return cpus_; }
    std::string description() const;

private:
    Reading read();
    CoRunnerConfig cfg_;
    TimesFn times_;
    PidsFn pids_;
    CpuFn cpu_;
    ClockFn clock_;
    bool available_ = false;
    std::size_t cpus_ = 1;
    CpuTimes base_{};
    double last_busy_ = 0, last_self_ = 0, foreign_ = 0;
    std::vector<std::pair<pid_t, double>> last_pids_;  // CPU seconds of each worker at the last reading
    std::deque<Reading> readings_;
};

}  // namespace calib::core
