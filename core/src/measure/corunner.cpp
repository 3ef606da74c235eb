// Co-runner detection (corunner.hpp): /proc/stat busy time of calib's CPUs against the exact CPU time of
// calib's own processes.
#include "calib/core/corunner.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <sched.h>
#include <unistd.h>

namespace calib::core {

namespace {

// Calls fn(cpu, fields) for each "cpuN" line of /proc/stat whose CPU this process may run on; fields in
// seconds: user nice system idle iowait irq softirq steal (guest time is inside user). False when
// unreadable.
template <class Fn>
bool for_each_cpu(const std::string& proc_stat, Fn fn) {
    cpu_set_t mine;
    CPU_ZERO(&mine);
    if (sched_getaffinity(0, sizeof mine, &mine) != 0) return false;
    std::FILE* f = std::fopen(proc_stat.c_str(), "r");
    if (f == nullptr) return false;
    const double tick = 1.0 / static_cast<double>(std::max(1L, ::sysconf(_SC_CLK_TCK)));
    char line[512];
    while (std::fgets(line, sizeof line, f) != nullptr) {
        if (std::strncmp(line, "cpu", 3) != 0 || line[3] < '0' || line[3] > '9') continue;
        unsigned cpu = 0;
        unsigned long long v[8] = {};
        if (std::sscanf(line + 3, "%u %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &v[0], &v[1], &v[2], &v[3],
                        &v[4], &v[5], &v[6], &v[7]) != 9)
            continue;
        if (cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &mine)) continue;
        double s[8];
        for (int i = 0; i < 8; ++i) s[i] = static_cast<double>(v[i]) * tick;
        fn(cpu, s);
    }
    std::fclose(f);
    return true;
}

}  // namespace

CpuTimes read_cpu_times(const std::string& proc_stat) {
    CpuTimes out;
    for_each_cpu(proc_stat, [&](unsigned, const double* s) {
        out.busy += s[0] + s[1] + s[2] + s[5] + s[6] + s[7];
        out.steal += s[7];
        ++out.cpus;
    });
    out.ok = out.cpus > 0;
    return out;
}

std::vector<double> steal_seconds_per_cpu(const std::string& proc_stat) {
    std::vector<double> out;
    for_each_cpu(proc_stat, [&](unsigned cpu, const double* s) {
        if (out.size() <= cpu) out.resize(cpu + 1, 0.0);
        out[cpu] = s[7];
    });
    return out;
}

double process_cpu_seconds(pid_t pid) {
    clockid_t clock = CLOCK_PROCESS_CPUTIME_ID;
    if (pid != 0 && ::clock_getcpuclockid(pid, &clock) != 0) return -1;
    timespec ts{};
    if (::clock_gettime(clock, &ts) != 0) return -1;
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

CoRunnerMonitor::CoRunnerMonitor(CoRunnerConfig cfg, TimesFn times, PidsFn pids, CpuFn cpu, ClockFn clock)
    : cfg_(cfg), times_(std::move(times)), pids_(std::move(pids)), cpu_(std::move(cpu)), clock_(std::move(clock)) {
    if (!times_) times_ = [] { return read_cpu_times(); };
    if (!cpu_) cpu_ = [](pid_t p) { return process_cpu_seconds(p); };
    if (!clock_)
        clock_ = [] {
            return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
        };
    base_ = times_();
    available_ = base_.ok && cpu_(0) >= 0;
    if (!available_) return;
    cpus_ = std::max<std::size_t>(1, base_.cpus);
    last_busy_ = base_.busy;
    last_self_ = cpu_(0);
    if (pids_)
        for (pid_t p : pids_())
            if (const double s = cpu_(p); s >= 0) last_pids_.emplace_back(p, s);
    readings_.push_back({clock_(), 0, 0});
}

CoRunnerMonitor::Reading CoRunnerMonitor::read() {
    const CpuTimes now = times_();
    const double self = cpu_(0);
    double own = self - last_self_;
    last_self_ = self;
    std::vector<std::pair<pid_t, double>> seen;
    if (pids_)
        for (pid_t p : pids_()) {
            const double s = cpu_(p);
            if (s < 0) continue;
            seen.emplace_back(p, s);
            auto it = std::find_if(last_pids_.begin(), last_pids_.end(), [p](const auto& x) { return x.first == p; });
            own += it != last_pids_.end() ? s - it->second : s;  // a new worker: all of its time is new
        }
    last_pids_ = std::move(seen);
    // Not clamped per reading: ticks make single deltas +-10 ms, their sum stays unbiased.
    foreign_ += (now.busy - last_busy_) - own;
    last_busy_ = now.busy;
    return {clock_(), foreign_, now.steal - base_.steal};
}

double CoRunnerMonitor::foreign_cpus_now() {
    if (!available_) return 0;
    const double t = clock_();
    if (t - readings_.back().t >= cfg_.min_interval_seconds) readings_.push_back(read());
    const Reading& now = readings_.back();
    // The window: from the latest reading at least window_seconds before now (else the oldest).
    std::size_t ref = 0;
    for (std::size_t i = readings_.size(); i-- > 0;)
        if (now.t - readings_[i].t >= cfg_.window_seconds) {
            ref = i;
            break;
        }
    if (ref > 0) readings_.erase(readings_.begin(), readings_.begin() + static_cast<std::ptrdiff_t>(ref));
    const Reading& from = readings_.front();
    const double span = now.t - from.t;
    if (span < 0.5 * cfg_.window_seconds) return 0;  // too short to read ticks from
    return std::max(0.0, now.foreign - from.foreign) / span;
}

std::string CoRunnerMonitor::description() const {
    if (!available_) return "unavailable: /proc/stat or the process CPU clock is unreadable";
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "/proc/stat busy time of %zu CPU(s) minus calib's own CPU time, over %.2f s windows", cpus_,
                  cfg_.window_seconds);
    return buf;
}

}  // namespace calib::core
