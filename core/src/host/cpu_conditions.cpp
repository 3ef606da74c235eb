// CPU conditions (cpu_conditions.hpp): cpufreq, /proc/cpuinfo, intel_pstate / cpufreq boost, RAPL.
#include "calib/core/cpu_conditions.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "calib/core/energy.hpp"

namespace calib::core {

namespace {

namespace fs = std::filesystem;

std::optional<std::string> first_line(const fs::path& p) {
    std::ifstream in(p);
    if (!in) return std::nullopt;
    std::string line;
    if (!std::getline(in, line)) return std::nullopt;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    return line;
}

std::optional<double> khz_as_mhz(const fs::path& p) {
    const auto s = first_line(p);
    if (!s || s->empty()) return std::nullopt;
    char* end = nullptr;
    const double v = std::strtod(s->c_str(), &end);
    if (end == s->c_str() || !(v > 0)) return std::nullopt;
    return v / 1e3;
}

// "cpu MHz" per processor, in /proc/cpuinfo's order (processor N's).
std::vector<std::pair<int, double>> cpuinfo_mhz(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::pair<int, double>> out;
    int proc = -1;
    for (std::string line; std::getline(in, line);) {
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string key = line.substr(0, colon);
        while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
        const std::string value = line.substr(colon + 1);
        if (key == "processor") proc = std::atoi(value.c_str());
        else if (key == "cpu MHz" && proc >= 0) out.emplace_back(proc, std::atof(value.c_str()));
    }
    return out;
}

template <class F>
std::optional<double> best_of(const std::vector<CoreClock>& cores, F get, bool largest) {
    std::optional<double> r;
    for (const auto& c : cores)
        if (const auto v = get(c)) r = !r ? *v : (largest ? std::max(*r, *v) : std::min(*r, *v));
    return r;
}

}  // namespace

std::vector<int> parse_cpu_list(const std::string& list) {
    std::vector<int> out;
    std::istringstream in(list);
    std::string part;
    while (std::getline(in, part, ',')) {
        part.erase(std::remove_if(part.begin(), part.end(), [](char c) { return c == ' ' || c == '\n'; }), part.end());
        if (part.empty()) continue;
        const auto dash = part.find('-');
        char* end = nullptr;
        const long lo = std::strtol(part.c_str(), &end, 10);
        if (end == part.c_str()) return {};
        long hi = lo;
        if (dash != std::string::npos) {
            const std::string h = part.substr(dash + 1);
            hi = std::strtol(h.c_str(), &end, 10);
            if (end == h.c_str() || hi < lo) return {};
        }
        for (long c = lo; c <= hi; ++c) out.push_back(static_cast<int>(c));
    }
    return out;
}

std::optional<double> CpuConditions::max_mhz() const {
    return best_of(cores, [](const CoreClock& c) { return c.max_mhz; }, true);
}
std::optional<double> CpuConditions::min_mhz() const {
    return best_of(cores, [](const CoreClock& c) { return c.min_mhz; }, false);
}
std::optional<double> CpuConditions::base_mhz() const {
    return best_of(cores, [](const CoreClock& c) { return c.base_mhz; }, true);
}

CpuConditions read_cpu_conditions(const ConditionsPaths& paths) {
    CpuConditions c;
    const fs::path root = paths.cpu_root;
    std::vector<int> online = parse_cpu_list(first_line(root / "online").value_or(""));
    if (online.empty()) online = {0};

    // Per core: cpufreq where the kernel has a driver, else /proc/cpuinfo's "cpu MHz" (a VM: often the
    // nominal clock the hypervisor reports, not the real one).
    bool any_cpufreq = false;
    for (int cpu : online) {
        CoreClock k;
        k.cpu = cpu;
        const fs::path f = root / ("cpu" + std::to_string(cpu)) / "cpufreq";
        if (const auto cur = khz_as_mhz(f / "scaling_cur_freq")) k.cur_mhz = *cur, any_cpufreq = true;
        k.min_mhz = khz_as_mhz(f / "cpuinfo_min_freq");
        k.max_mhz = khz_as_mhz(f / "cpuinfo_max_freq");
        if (!k.max_mhz) k.max_mhz = khz_as_mhz(f / "scaling_max_freq");
        if (!k.min_mhz) k.min_mhz = khz_as_mhz(f / "scaling_min_freq");
        k.base_mhz = khz_as_mhz(f / "base_frequency");
        k.governor = first_line(f / "scaling_governor").value_or("");
        c.cores.push_back(std::move(k));
    }
    if (any_cpufreq) {
        c.clock_source = "cpufreq scaling_cur_freq";
    } else {
        const fs::path f0 = root / ("cpu" + std::to_string(online.front())) / "cpufreq";
        std::error_code ec;
        c.cpufreq_reason = fs::exists(f0, ec) ? "no readable scaling_cur_freq in " + f0.string()
                                              : "no " + f0.string() + " (no cpufreq driver: a VM, or a kernel without one)";
        const auto mhz = cpuinfo_mhz(paths.cpuinfo);
        for (auto& k : c.cores)
            for (const auto& [proc, v] : mhz)
                if (proc == k.cpu && v > 0) k.cur_mhz = v;
        if (std::any_of(c.cores.begin(), c.cores.end(), [](const CoreClock& k) { return k.cur_mhz > 0; }))
            c.clock_source = paths.cpuinfo + " cpu MHz";
    }
    c.governor = c.cores.empty() ? "" : c.cores.front().governor;

    // Turbo: intel_pstate says no_turbo (1 = off), acpi-cpufreq and amd-pstate say boost (1 = on).
    const fs::path no_turbo = root / "intel_pstate" / "no_turbo";
    const fs::path boost = root / "cpufreq" / "boost";
    if (const auto v = first_line(no_turbo); v && (*v == "0" || *v == "1")) {
        c.turbo = *v == "0" ? "on" : "off";
        c.turbo_source = no_turbo.string();
    } else if (const auto b = first_line(boost); b && (*b == "0" || *b == "1")) {
        c.turbo = *b == "1" ? "on" : "off";
        c.turbo_source = boost.string();
    } else {
        c.turbo_reason = "neither " + no_turbo.string() + " nor " + boost.string() +
                         " (no intel_pstate or boost-capable cpufreq driver: a VM, or turbo not controllable)";
    }

    const RaplReader rapl(paths.powercap_root);
    c.rapl_available = rapl.available();
    c.rapl_reason = rapl.unavailable_reason();
    for (const auto& d : rapl.domains()) c.rapl_domains.push_back(d.label);
    return c;
}

void add_to_json(boost::json::object& host, const CpuConditions& c) {
    namespace json = boost::json;
    json::object clocks;
    clocks["source"] = c.clock_source.empty() ? json::value("none") : json::value(c.clock_source);
    if (!c.cpufreq_reason.empty()) clocks["cpufreq_unavailable"] = c.cpufreq_reason;
    json::array cur, gov;
    for (const auto& k : c.cores) {
        cur.push_back(k.cur_mhz);
        gov.push_back(json::value(k.governor));
    }
    clocks["per_core_mhz"] = std::move(cur);
    if (const auto v = c.min_mhz()) clocks["min_mhz"] = *v;
    if (const auto v = c.max_mhz()) clocks["max_mhz"] = *v;
    if (const auto v = c.base_mhz()) clocks["base_mhz"] = *v;
    if (!c.governor.empty()) clocks["governors"] = std::move(gov);
    host["cpu_clocks"] = std::move(clocks);

    json::object turbo{{"state", c.turbo}};
    if (!c.turbo_source.empty()) turbo["source"] = c.turbo_source;
    if (!c.turbo_reason.empty()) turbo["reason"] = c.turbo_reason;
    host["turbo"] = std::move(turbo);

    json::object rapl{{"available", c.rapl_available}};
    if (!c.rapl_available) rapl["reason"] = c.rapl_reason;
    json::array ds;
    for (const auto& d : c.rapl_domains) ds.push_back(json::value(d));
    rapl["domains"] = std::move(ds);
    host["rapl"] = std::move(rapl);
}

}  // namespace calib::core
