// Internal: build_profile's parts. The run's outcomes are sorted once (Outcomes), the primary device
// and the peaks resolved once (Judge); each profile section then has its own short merger.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "calib/core/profile_sections.hpp"
#include "calib/core/run.hpp"
#include "calib/core/topology.hpp"

namespace calib::core::build {

// How a case ended, as far as the profile cares. The one place that reads CaseOutcome::status.
struct Ending {
    bool ok = false;
    bool unsupported = false;
    std::string name;  // as written in failed_cases[].status
};
Ending ending_of(const CaseOutcome& c);

// The host's vocabulary (calib/vocabulary.h) as lookups.
bool is_origin_operation(const std::string& operation_type);
bool is_origin_precision(const std::string& precision);
const std::vector<std::string>& sweep_kernels();
// The math a case runs in: its "math" param when given, else its precision.
std::string math_of(const CaseInfo& c);
// A memory sweep point's kernel and working set (its "kernel" and "working_set_bytes" params).
std::pair<std::string, double> sweep_point_of(const CaseInfo& c);

// A parameter's text as a JSON number when the whole text is one, else as a string.
boost::json::value param_value(const std::string& text);
inline double ms(double seconds) { return seconds * 1e3; }

// The outcomes by what they become in the profile.
struct Outcomes {
    std::vector<const CaseOutcome*> compute;  // operation records judged against compute peaks
    std::vector<const CaseOutcome*> copies;   // memory cases of an origin type: bandwidth records
    std::vector<const CaseOutcome*> sweep;    // memory sweep points
    std::vector<const CaseOutcome*> fusion;   // measured fusion pairs
    std::vector<const CaseOutcome*> transfers;  // ABI 1.1 transfer cases: the topology section
    std::vector<const CaseOutcome*> failed;   // everything that did not end ok
};
Outcomes partition(const RunResult& r);

// Peaks every record is judged against, and the primary device whose peaks fill the origin's
// single-device fields.
struct Judge {
    const RunResult& r;
    std::string primary;              // plugin id: fastest fp32 matmul (first compute case's when none)
    PeakTable peaks;                  // the run's, with the primary device's bandwidth when it has one
    double bandwidth_gbps = 0;        // ridge-point bandwidth (user, plugin, else measured DRAM)
    std::string bandwidth_source;
    // The peak efficiency is judged against: the plugin's own peak for its device (source "plugin"), else
    // the host's measured ceiling where the host peak is detected and a ceiling was measured (source
    // "measured ceiling"), else the host's peak (formula or user), else {0, "unknown"}.
    std::pair<double, std::string> compute(const std::string& plugin_id, const std::string& precision) const;
    // The same without the measured ceiling: the plugin's, the host's formula or user peak.
    std::pair<double, std::string> formula(const std::string& plugin_id, const std::string& precision) const;
};
std::string primary_device(const Outcomes& parts);
Judge make_judge(const RunResult& r, const std::string& primary, double measured_bandwidth_gbps);

// Best matmul GFLOPS per math precision and the plugin that reached it.
struct BestByPrecision {
    std::map<std::string, double> gflops;
    std::map<std::string, std::string> plugin;
};

// Sections.
Metadata metadata(const RunResult& r, const RunOptions& o);
// The 2026 consumers' metadata (origin-2026.md): device type, architecture, framework and clocks of the
// primary device (plugin id `primary`).
void consumer_metadata(Metadata& md, const RunResult& r, const Outcomes& parts, const std::string& primary);
// The memory hierarchy of one device (the primary one; every device's points when `device` is empty):
// its cache levels and the memory behind the last (DRAM, or what the device's points name: HBM, ...).
struct MemoryResult {
    MemoryHierarchy hierarchy;
    double memory_copy_gbps = 0, memory_triad_gbps = 0;  // at the memory level; 0: not measured
    const CaseOutcome* memory_copy_point = nullptr;      // the copy point that gave memory_copy_gbps
};
MemoryResult memory_hierarchy(const HostInfo& host, const std::vector<const CaseOutcome*>& sweep,
                              const std::string& device);
// The device a plugin measures (its scan record's device name); empty when unknown.
std::string device_of(const RunResult& r, const std::string& plugin_id);
std::vector<boost::json::object> memory_sweep(const std::vector<const CaseOutcome*>& sweep);
void add_compute_records(Profile& p, const Outcomes& parts, const Judge& judge, BestByPrecision& best,
                         std::set<std::string>& used_keys);
// precision_results on the first matmul record of each shape and device (origin-2026.md).
void add_precision_results(Profile& p, const Outcomes& parts);
// Bandwidth records: first the memory level's copy point as the origin's "add" (so that a consumer's
// first "add" record is DRAM/HBM, never a cache), then the memory cases of origin types.
void add_copy_records(Profile& p, const Outcomes& parts, const MemoryResult& memory, const Judge& judge,
                      std::set<std::string>& used_keys);
void add_fusion_records(Profile& p, const std::vector<const CaseOutcome*>& fusion);
struct PrecisionResult {
    std::optional<PrecisionMatrix> matrix;
    std::optional<NamedList<PrecisionSupport>> support;
};
PrecisionResult precisions(const RunResult& r, const std::string& hardware_name, const Judge& judge,
                           const BestByPrecision& best);
std::vector<PluginEntry> plugin_entries(const RunResult& r);
// Efficiency curves of the primary device (build_curves.cpp); none without a measured peak.
std::optional<NamedList<EfficiencyCurve>> efficiency_curves(const Outcomes& parts, const Judge& judge);
// The topology section from the transfer cases and the devices of multi-device plugins (build_topology.cpp).
Topology topology(const RunResult& r, const std::vector<const CaseOutcome*>& transfers);
// Each device's conditions before its plugin's first case (idle power, clocks, temperature, limit).
boost::json::array device_conditions(const std::vector<DeviceConditions>& devices);
std::vector<FailedCase> failed_cases(const std::vector<const CaseOutcome*>& failed);
RunSection run_section(const RunResult& r, const RunOptions& o);
boost::json::object host_section(const HostInfo& h);
PeaksSection peaks_section(const PeakTable& t);

// Shared by the record mergers.
std::string unique_key(std::set<std::string>& used, const std::string& key);
// What the placement guard did to `m`'s samples; `retry`: what the end-of-run pass did to the case.
PlacementFacts placement_facts(const Measurement& m, const CaseOutcome& c);
// The statistics of a measured (non-pair) case.
SampleFacts sample_facts(const CaseOutcome& c);

}  // namespace calib::core::build
