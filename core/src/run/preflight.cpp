// Preflight checks before a run (preflight.hpp): governor, clocks, load, co-runners, RAPL, and the
// caller's extra (GPU) checks.
#include "calib/core/preflight.hpp"

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <thread>

#include "calib/core/plugin_client.hpp"

namespace calib::core {

namespace {

std::string num(double v, int digits = 2) {
    char b[64];
    std::snprintf(b, sizeof b, "%.*f", digits, v);
    return b;
}

std::string iso8601_now() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    // "+00:00", not "Z": datetime.fromisoformat reads "Z" only from Python 3.11 on (origin-2026.md).
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
    return buf;
}

PreflightCheck make(std::string name, std::string status, std::string message) {
    PreflightCheck c;
    c.name = std::move(name);
    c.status = std::move(status);
    c.message = std::move(message);
    return c;
}

// "0-3,5" from {0,1,2,3,5}.
std::string cpu_list(const std::vector<int>& cpus) {
    std::string s;
    for (std::size_t i = 0; i < cpus.size();) {
        std::size_t j = i;
        while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
        if (!s.empty()) s += ",";
        s += std::to_string(cpus[i]);
        if (j > i) {
            s += '-';  // appended, not "-" + ...: GCC 12's -Wrestrict misfires on that
            s += std::to_string(cpus[j]);
        }
        i = j + 1;
    }
    return s;
}

std::vector<const CoreClock*> cores_of(const CpuConditions& c, const std::vector<int>& cpus) {
    std::vector<const CoreClock*> out;
    for (const auto& k : c.cores)
        if (cpus.empty() || std::find(cpus.begin(), cpus.end(), k.cpu) != cpus.end()) out.push_back(&k);
    return out;
}

}  // namespace

std::vector<int> affinity_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::vector<int> out;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return out;
    for (int i = 0; i < CPU_SETSIZE; ++i)
        if (CPU_ISSET(i, &set)) out.push_back(i);
    return out;
}

void add_check(Preflight& p, PreflightCheck check) {
    if (check.status == "fail") p.passed = false;
    p.checks.push_back(std::move(check));
}

PreflightCheck governor_check(const CpuConditions& c, const std::vector<int>& cpus) {
    std::map<std::string, std::vector<int>> by_governor;
    for (const auto* k : cores_of(c, cpus))
        if (!k->governor.empty()) by_governor[k->governor].push_back(k->cpu);
    if (by_governor.empty())
        return make("governor", "skip",
                    "no frequency governor readable" +
                        (c.cpufreq_reason.empty() ? std::string() : ": " + c.cpufreq_reason));
    std::string seen;
    for (const auto& [g, list] : by_governor) seen += (seen.empty() ? "" : ", ") + g + " on CPU " + cpu_list(list);
    if (by_governor.size() == 1 && by_governor.begin()->first == "performance")
        return make("governor", "pass", seen);
    return make("governor", "warn",
                seen + " (not performance: the clock follows the load, so short cases run at lower clocks; "
                       "cpupower frequency-set -g performance)");
}

PreflightCheck cpu_clock_check(const CpuConditions& c, const std::vector<int>& cpus, const PreflightConfig& cfg) {
    const auto cores = cores_of(c, cpus);
    const CoreClock* lowest = nullptr;
    double lowest_ratio = 0;
    for (const auto* k : cores) {
        if (!k->max_mhz || !(k->cur_mhz > 0)) continue;
        const double r = k->cur_mhz / *k->max_mhz;
        if (lowest == nullptr || r < lowest_ratio) lowest = k, lowest_ratio = r;
    }
    if (lowest == nullptr) {
        std::string why = "no maximum clock known";
        if (!c.cpufreq_reason.empty()) why += ": " + c.cpufreq_reason;
        if (!c.clock_source.empty() && !cores.empty())
            why += "; current " + num(cores.front()->cur_mhz, 0) + " MHz on CPU " + std::to_string(cores.front()->cpu) +
                   " (" + c.clock_source + ")";
        return make("cpu_clock", "skip", why);
    }
    PreflightCheck out =
        make("cpu_clock", lowest_ratio < cfg.min_clock_ratio ? "warn" : "pass",
             "CPU " + std::to_string(lowest->cpu) + " at " + num(lowest->cur_mhz, 0) + " of " + num(*lowest->max_mhz, 0) +
                 " MHz max (" + num(100 * lowest_ratio, 0) + "%, the lowest of CPU " + cpu_list(cpus) + "; turbo " + c.turbo +
                 ")");
    if (out.status == "warn") out.message += ": below " + num(100 * cfg.min_clock_ratio, 0) + "% (idle or power-saving cores)";
    out.value = lowest_ratio;
    out.threshold = cfg.min_clock_ratio;
    out.unit = "of max clock";
    return out;
}

PreflightCheck system_load_check(double load1, int online_cpus, const PreflightConfig& cfg) {
    if (load1 < 0 || online_cpus <= 0) return make("system_load", "skip", "load average not readable");
    const double per_cpu = load1 / online_cpus;
    const std::string status = per_cpu > cfg.load_fail_per_cpu ? "fail" : per_cpu > cfg.load_warn_per_cpu ? "warn" : "pass";
    PreflightCheck out = make("system_load", status,
                              "1-min load average " + num(load1) + " on " + std::to_string(online_cpus) + " CPUs (" +
                                  num(per_cpu) + " per CPU; warn above " + num(cfg.load_warn_per_cpu) + ", fail above " +
                                  num(cfg.load_fail_per_cpu) + ")");
    out.value = per_cpu;
    out.threshold = status == "fail" ? cfg.load_fail_per_cpu : cfg.load_warn_per_cpu;
    out.unit = "load per CPU";
    return out;
}

PreflightCheck rapl_check(const CpuConditions& c) {
    if (!c.rapl_available) return make("rapl", "skip", "CPU energy not measured: " + c.rapl_reason);
    std::string ds;
    for (const auto& d : c.rapl_domains) ds += (ds.empty() ? "" : ", ") + d;
    return make("rapl", "pass", "RAPL energy counters readable: " + ds);
}

PreflightCheck corunner_check(double foreign, std::size_t cpus, const PreflightConfig& cfg) {
    if (foreign < 0) return make("corunner", "skip", "co-runner monitor unavailable (/proc/stat or the process CPU clock)");
    const double limit = cfg.corunner.max_foreign_cpus;
    PreflightCheck out =
        make("corunner", foreign > limit ? "fail" : "pass",
             num(foreign) + " CPUs used by other processes on calib's " + std::to_string(cpus) + " CPU(s) over " +
                 num(cfg.corunner_window_seconds) + " s (fail above " + num(limit) + ")");
    if (out.status == "fail") out.message += ": samples timed now would share the CPUs";
    out.value = foreign;
    out.threshold = limit;
    out.unit = "CPUs";
    return out;
}

std::string describe(const PreflightCheck& c) {
    std::string s = c.status == "fail" ? "FAIL" : c.status;
    return s + " " + c.name + ": " + c.message;
}

Preflight run_preflight(const PreflightOptions& o) {
    Preflight p;
    p.timestamp = iso8601_now();
    const std::vector<int> cpus = o.cpus ? o.cpus() : affinity_cpus();

    // The co-runner window first (it waits), the cheap reads inside it would only add calib's own time.
    double foreign = -1;
    std::size_t monitored = cpus.size();
    if (o.corunner) {
        CoRunnerConfig cfg = o.config.corunner;
        cfg.window_seconds = o.config.corunner_window_seconds;
        cfg.min_interval_seconds = 0;
        CoRunnerMonitor::PidsFn pids = o.own_pids;
        if (!pids) pids = [] { return live_worker_pids(); };
        CoRunnerMonitor monitor(cfg, o.cpu_times, pids);
        if (monitor.available()) {
            std::this_thread::sleep_for(std::chrono::duration<double>(o.config.corunner_window_seconds));
            foreign = monitor.foreign_cpus_now();
            monitored = monitor.cpus();
        }
    }
    const CpuConditions c = read_cpu_conditions(o.paths);
    add_check(p, governor_check(c, cpus));
    add_check(p, cpu_clock_check(c, cpus, o.config));
    double load1 = -1;
    {
        std::ifstream in(o.loadavg);
        if (!(in >> load1)) load1 = -1;
    }
    add_check(p, system_load_check(load1, static_cast<int>(c.cores.size()), o.config));
    if (o.corunner) add_check(p, corunner_check(foreign, monitored, o.config));
    else add_check(p, make("corunner", "skip", "not checked (co-runner check off)"));
    add_check(p, rapl_check(c));
    for (const auto& e : o.extra) add_check(p, e);
    return p;
}

}  // namespace calib::core
