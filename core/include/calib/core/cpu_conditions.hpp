// The conditions the CPU runs under right now: clock per core (and its limits), frequency governor,
// turbo state, and whether RAPL energy can be read. Cheap sysfs/procfs reads only (no measurement);
// each item says where it came from or why it is unknown (a VM usually has no cpufreq at all).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

namespace calib::core {

struct CoreClock {
    int cpu = 0;
    double cur_mhz = 0;                       // 0 = not readable
    std::optional<double> min_mhz, max_mhz;   // cpuinfo_min_freq / cpuinfo_max_freq (hardware limits)
    std::optional<double> base_mhz;           // base_frequency (intel_pstate), when exposed
    std::string governor;                     // scaling_governor; empty when not readable
};

struct CpuConditions {
    std::vector<CoreClock> cores;  // every online CPU, by number
    // Where cur_mhz came from: "cpufreq scaling_cur_freq", "/proc/cpuinfo cpu MHz", or empty (nowhere).
    std::string clock_source;
    // Why there is no cpufreq (then no min/max/governor): e.g. "no /sys/devices/system/cpu/cpu0/cpufreq
    // (no cpufreq driver: a VM, or a kernel without one)". Empty when cpufreq was read.
    std::string cpufreq_reason;
    std::string governor;        // cpu0's (the others in cores[i].governor); empty when not readable
    std::string turbo = "unknown";  // "on", "off" or "unknown"
    std::string turbo_source;    // the file it was read from; empty when unknown
    std::string turbo_reason;    // why unknown
    bool rapl_available = false;
    std::string rapl_reason;     // why not (RaplReader::unavailable_reason)
    std::vector<std::string> rapl_domains;  // labels, e.g. "package-0", "package-0/dram"

    // The largest max_mhz over the cores (nullopt when none known), and the same for min and base.
    std::optional<double> max_mhz() const;
    std::optional<double> min_mhz() const;
    std::optional<double> base_mhz() const;
};

struct ConditionsPaths {
    std::string cpu_root = "/sys/devices/system/cpu";
    std::string cpuinfo = "/proc/cpuinfo";
    std::string powercap_root = "/sys/class/powercap";
};

CpuConditions read_cpu_conditions(const ConditionsPaths& paths = {});

// The host section's additions: {"cpu_clocks": {source, reason, per_core_mhz, min/max/base_mhz,
// governors}, "turbo": {state, source | reason}, "rapl": {available, reason, domains}}.
void add_to_json(boost::json::object& host, const CpuConditions& c);

// "0-3,8,10-11" -> {0,1,2,3,8,10,11}; empty when malformed.
std::vector<int> parse_cpu_list(const std::string& list);

}  // namespace calib::core
