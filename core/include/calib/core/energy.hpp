// CPU energy through RAPL, as Linux's powercap driver exposes it (/sys/class/powercap/intel-rapl:*).
// CPU energy is the host's job: plugins never read it. The reader is cheap (one small file read per
// domain and snapshot, ~10 us each), so the scheduler can take a snapshot around every CPU case.
//
// Domains: `intel-rapl:N` is package N (its `name` file says "package-N"; psys on some laptops);
// `intel-rapl:N:M` are its subdomains ("core", "uncore", "dram"). `energy_uj` is a counter in
// microjoules that wraps to 0 after `max_energy_range_uj` (about 262 kJ on many CPUs: ~20 minutes at
// 200 W), so one interval between two snapshots may hold at most one wrap: joules_between() adds
// max_energy_range_uj once when the counter went down. AMD CPUs use the same files (same driver).
//
// Use (the scheduler, around a CPU case):
//     const RaplReader& rapl = ...;             // once per run; RaplReader() reads the real sysfs
//     if (rapl.available()) {
//         RaplSnapshot a = rapl.snapshot();
//         ... run the case ...
//         RaplEnergy e = rapl.joules_between(a, rapl.snapshot());
//         e.package_joules, e.dram_joules (NaN-free; nullopt when no such domain), e.seconds,
//         e.domains: every domain's joules by name ("package-0", "package-0/dram", ...)
//     } else {
//         rapl.unavailable_reason()           // say why in the record instead
//     }
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

namespace calib::core {

struct RaplDomain {
    std::string id;        // the powercap entry: "intel-rapl:0", "intel-rapl:0:1"
    std::string name;      // its `name` file: "package-0", "dram", "core", "uncore", "psys"
    std::string label;     // unique: "package-0", and for a subdomain "package-0/dram"
    std::string kind;      // "package", "dram", "core", "uncore", "psys" or the name as given
    int package = -1;      // N of intel-rapl:N (the parent for a subdomain)
    bool subdomain = false;
    uint64_t max_energy_range_uj = 0;  // the counter wraps to 0 after this
    std::filesystem::path energy_file;  // .../energy_uj
};

// Energy counters of every domain at one instant (steady clock). energy_uj[i] is domain i's counter,
// nullopt when that read failed (the domain then has no figure for the interval).
struct RaplSnapshot {
    double t = 0;  // seconds, steady clock
    std::vector<std::optional<uint64_t>> energy_uj;
};

// Joules per domain between two snapshots.
struct RaplEnergy {
    double seconds = 0;
    std::vector<std::pair<std::string, double>> domains;  // by label, domains with both readings only
    std::optional<double> package_joules;  // sum over the package-N domains (core/uncore are inside them)
    std::optional<double> dram_joules;     // sum over the dram domains (beside the packages, not inside)
    std::size_t wraps = 0;                 // counters that wrapped in the interval (each corrected once)
};

class RaplReader {
public:
    // Enumerates `powercap_root`/intel-rapl:N and intel-rapl:N:M (a fake tree in tests) and checks that
    // every energy_uj can be read.
    explicit RaplReader(std::filesystem::path powercap_root = "/sys/class/powercap");

    bool available() const { return available_; }
    // Empty when available; otherwise one of
    //   "no /sys/class/powercap/intel-rapl* (RAPL not exposed: a VM, or a CPU without it)"
    //   "energy_uj not readable (root only since Linux 5.10: run as root or chmod): <file>"
    //   "no energy_uj in <entry>"
    const std::string& unavailable_reason() const { return reason_; }
    const std::vector<RaplDomain>& domains() const { return domains_; }

    RaplSnapshot snapshot() const;
    // Joules from a to b per domain; a counter lower in b than in a wrapped once (max_energy_range_uj
    // added). Both snapshots must come from this reader.
    RaplEnergy joules_between(const RaplSnapshot& a, const RaplSnapshot& b) const;

    // {available, reason (when not), domains: [{label, id, kind, max_energy_range_uj}]}
    boost::json::object status_json() const;

private:
    std::filesystem::path root_;
    std::vector<RaplDomain> domains_;
    bool available_ = false;
    std::string reason_;
};

// The counter difference b - a in microjoules, with one wrap at max_range_uj when b < a.
uint64_t rapl_delta_uj(uint64_t a, uint64_t b, uint64_t max_range_uj);

boost::json::object to_json(const RaplEnergy& e);

}  // namespace calib::core
