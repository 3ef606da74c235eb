// calib's own sections of a HardwareCalibration profile, typed (docs/profile-format.md). The Profile
// keeps them as JSON (profile.hpp: precision_matrix, extensions) so that unknown keys survive a round
// trip; these types are how calib writes them (the builder) and reads them (the CLI). Each type has one
// field table (core/src/profile/schema.hpp) that drives both its writer and its reader, so a field is
// named once. A new section is a new type here, a table there and a field of CalibSections.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "calib/core/curves.hpp"
#include "calib/core/plugin_types.hpp"
#include "calib/core/profile.hpp"

namespace calib::core {

// A JSON object whose keys are data (precision names, plugin ids), in insertion order.
template <class T>
using NamedList = std::vector<std::pair<std::string, T>>;

// ---- what calib writes into a record's extra_params -----------------------------------------------
// extra_params opens with the case's own params under their own names (free text, so it stays JSON);
// these are the fields calib adds after them, in this order.

// What the placement guard did to a measurement's samples.
struct PlacementFacts {
    int64_t discarded_samples = 0, displaced_samples = 0;
    double placement_wait_seconds = 0;
    std::optional<std::string> placement_retry;  // "deferred", "replaced", "original_kept"
    // Co-runners (written when the monitor ran): samples discarded for one, samples kept beside one,
    // foreign CPU seconds and share of the CPUs over the case, and whether the record is disturbed.
    std::optional<int64_t> disturbed_discarded, disturbed_samples;
    std::optional<double> foreign_cpu_seconds, foreign_cpus;
    std::optional<bool> disturbed;
};
// The statistics of one measured case.
struct SampleFacts {
    double case_seconds = 0, prepare_seconds = 0, steal_seconds = 0;
    double median_latency_ms = 0, p10_latency_ms = 0, p90_latency_ms = 0;
    double cv = 0, robust_cv = 0, noise = 0;
    // The 95% interval of the record's figure (GFLOPS for compute, GB/s for memory records); with
    // replicas, over them (docs/measurement.md, "Replicas"), and how many there were.
    std::optional<double> ci_low, ci_high;
    std::optional<int64_t> replicas;
    // Each replica's own figure and the standard error of its logarithm (from its own interval).
    std::optional<std::vector<double>> replica_figures, replica_log_se;
    int64_t samples = 0, iterations_per_sample = 0;
    std::string stopping_reason;
    PlacementFacts placement;  // flattened
};
// ABI 1.1 plugins that read their device's state: energy and conditions over the measurement (the
// energy counter's increase between a reading before and one after; per execution it includes the
// host's gaps between samples, busy_fraction says how much of the window the plugin timed), the
// conditions at its end, throttling seen (bits at either end, and the time the power cap or heat held the
// clock down in between); and the same over the sustained window of a sustained case.
struct EnergyFacts {
    std::optional<double> energy_window_seconds, energy_joules, energy_per_execution_joules, avg_power_watts;
    std::optional<std::string> energy_note;  // why a window has no energy figures
    std::optional<double> pj_per_flop, pj_per_byte, busy_fraction;
    std::optional<double> end_sm_clock_mhz, end_memory_clock_mhz, end_temperature_c, end_power_limit_watts;
    std::optional<std::string> throttle;  // "power_cap,thermal,...", "" none
    std::optional<bool> throttled;        // power-capped or thermal time in the window, or such a bit at an end
    std::optional<double> power_capped_seconds, thermal_capped_seconds;
    std::optional<double> sustained_seconds, sustained_gflops, sustained_gbps, sustained_power_watts,
        sustained_energy_joules, sustained_pj_per_flop, sustained_pj_per_byte, sustained_sm_clock_mhz,
        sustained_temperature_c;
    std::optional<std::string> sustained_throttle;
    std::optional<bool> sustained_throttled;
    std::optional<double> sustained_power_capped_seconds, sustained_thermal_capped_seconds;
};
// Where an operation record came from.
struct CaseOrigin {
    std::optional<std::string> operation;  // the case's own type, on "unknown" records
    std::string precision = "fp32";        // storage precision
    std::string device;
    std::optional<int64_t> device_index;  // ABI 1.1: the plugin's device index, when it has several
    std::string plugin, case_name;
};
// What the plugin said about the instance it timed (its own params follow in extra_params).
struct InstanceFacts {
    std::string implementation;
    bool reference_fallback = false, verified = false;
    double max_abs_error = 0;
};
// What the record was judged against.
struct Judgement {
    std::optional<double> flops;                // compute records
    double bytes = 0;
    std::optional<double> peak_gflops;          // compute records
    std::optional<double> peak_bandwidth_gbps;  // bandwidth records
    std::string peak_source;                    // "measured ceiling" for a host CPU peak with a ceiling
    std::optional<double> formula_peak_gflops;  // beside a measured ceiling: the formula peak
    std::string status = "ok";
    std::optional<bool> suspicious;             // efficiency above 1
    std::optional<bool> above_ceiling;          // measured above the measured ceiling it is judged against
};
// An operation record's extra_params, read as a whole (each part is written on its own, see above).
struct OperationExtras {
    CaseOrigin origin;
    InstanceFacts instance;
    SampleFacts samples;
    Judgement judgement;
    EnergyFacts energy;
};
// A fusion record's extra_params after the fused case's params.
struct FusionExtras {
    std::string precision = "fp32", device, plugin, status = "ok";
    std::optional<double> speedup_ci_low, speedup_ci_high;
    std::optional<int64_t> replicas;
    std::optional<std::vector<double>> replica_figures, replica_log_se;  // each replica's speedup
    std::string tier;
    bool verified = false;
    double max_abs_error = 0, tolerance = 0;
    bool reference_fallback = false;
    std::string fused_implementation, unfused_implementation;
    double fused_median_latency_ms = 0, unfused_median_latency_ms = 0;
    double fused_p10_latency_ms = 0, fused_p90_latency_ms = 0, unfused_p10_latency_ms = 0, unfused_p90_latency_ms = 0;
    double fused_cv = 0, unfused_cv = 0;
    int64_t samples = 0, iterations_per_sample = 0, unfused_iterations_per_sample = 0;
    std::string stopping_reason;
    PlacementFacts placement;  // flattened
    double case_seconds = 0, prepare_seconds = 0, steal_seconds = 0;
    std::string fused_case, unfused_case;
};
// A memory_sweep point after the case's params.
struct SweepPointFacts {
    std::string operation;
    double gbps = 0, best_gbps = 0, bytes = 0;
    SampleFacts samples;  // flattened
    std::string case_name;
};

// "peaks": what each precision and the memory system can do at most, and where that figure came from.
struct PeakEntry {
    double gflops = 0;
    std::string source;   // "detected", "user", "plugin"
    std::string formula;
    std::optional<double> ceiling_gflops;       // host CPU: the measured ceiling (0 = not measured)
    std::optional<std::string> ceiling_source;
};
struct BandwidthEntry {
    double gbps = 0;
    std::string source;   // "unknown", "user", "plugin", "measured"
    std::string formula;
};
struct PeaksSection {
    NamedList<PeakEntry> compute;  // by precision
    std::optional<BandwidthEntry> bandwidth;
};

// "plugins": one entry per candidate file, loaded or rejected.
struct PluginAbi {
    int64_t major = 0, minor = 0;
};
struct PluginDevice {
    std::string kind, name;
    bool available = true;
};
struct PluginEntry {
    std::string path;
    std::string status;  // "loaded", "rejected" or "duplicate"
    std::optional<std::string> reason_code, reason;  // rejected or duplicate only
    std::optional<std::string> duplicate_of;         // duplicate only: the path of the copy that loaded
    std::string id, name, version, vendor;
    PluginAbi abi;
    PluginDevice device;
    std::optional<std::string> unavailable_reason;  // device unavailable only
    int64_t cases = 0;
    std::optional<double> seconds;  // loaded and run only
};

// "memory_hierarchy": STREAM figures per cache level and DRAM.
struct MemoryLevel {
    std::string name;  // "L1", "L2", ..., "DRAM"
    int64_t size_bytes = 0;
    double copy_gbps = 0, scale_gbps = 0, add_gbps = 0, triad_gbps = 0;
    std::vector<int64_t> working_sets_bytes;  // of the copy points in this level's plateau
};
struct MemoryHierarchy {
    std::string convention;
    std::optional<std::string> device;  // whose levels these are (the profile's primary device)
    std::vector<MemoryLevel> levels;
};

// "failed_cases": every case that did not end "ok".
struct FailedCase {
    std::string plugin, plugin_path, case_name;
    std::optional<std::string> unfused_case;
    std::string family, precision, status, message;
};

// "run": how the run went and under which policy.
struct PlacementSection {
    std::string probe = "off";
    double displaced_ratio = 0, reference_min_share = 0, reference_confirm_seconds = 0;
    double max_wait_per_case_seconds = 0, max_wait_per_plugin_seconds = 0;
    double settle_min_seconds = 0, settle_max_seconds = 0;
    double initial_reference_ns = 0, settle_seconds = 0, reference_ns = 0;
    int64_t probes = 0, displaced_probes = 0;
    double wait_seconds = 0, probe_seconds = 0, retry_limit_seconds = 0;
    int64_t deferred_cases = 0, stale_cases = 0;
    double steal_max_share = 0;
    int64_t steal_cases = 0, retried_cases = 0, replaced_cases = 0;
    double retry_seconds = 0;
    // The co-runner monitor: how it read ("off", "unavailable: ...", the method), its threshold and
    // window, cases it sent to the end-of-run pass, and cases still flagged disturbed at the end.
    std::string corunner = "off";
    double corunner_max_cpus = 0, corunner_window_seconds = 0;
    int64_t disturbed_cases = 0, flagged_cases = 0;
};
struct PolicySection {
    std::string name;
    double warmup_seconds = 0, min_sample_seconds = 0, target_noise = 0;
    int64_t min_samples = 0;
    double time_budget_seconds = 0;
    int64_t fixed_samples = 0;
    double pair_max_halfwidth = 0, pair_budget_extension = 0;
    int64_t pair_min_samples = 0;
    int64_t replicas = 1;  // passes over every case, each in fresh workers (measurement.md, replicas)
    std::string openmp_wait_policy;
    NamedList<std::string> worker_environment;
    PlacementSection placement;
};
struct RunSection {
    bool complete = true;
    std::string started_at;
    double wall_seconds = 0;
    bool quick = false;
    PolicySection policy;
    NamedList<double> plugin_seconds;
};

// "precision_matrix" (the origin's shape, origin precisions only) and calib's "precision_support"
// (every math precision a matmul ran in, tf32 included).
struct PrecisionMatrix {
    std::string hardware_name;
    std::vector<std::string> supported_precisions, unsupported_precisions;
    NamedList<double> peak_gflops_by_precision, speedup_vs_fp32, theoretical_peaks;
};
struct PrecisionSupport {
    bool supported = false;
    std::optional<std::string> reason;       // unsupported only
    std::optional<double> best_gflops;       // supported only
    double peak_gflops = 0;
    std::string peak_source;
    std::optional<double> efficiency;        // supported with a known peak
    std::optional<bool> suspicious;          // efficiency above 1
};

// calib's top-level additions, in the order they are written (profile-format.md). `memory_sweep` points
// carry the case's own params as keys, so they stay JSON objects (read_sweep_point types the rest).
// "efficiency_curves": efficiency against FLOPs per operation and precision on the primary device,
// fitted (core/curves.hpp) so that sizes never measured get an answer; keyed "<operation>/<precision>".
struct CurveDataPoint {
    double flops = 0;            // of one execution
    double efficiency_mean = 0;  // measured / peak, from the median time
    double ci_lower = 0, ci_upper = 0;  // from the median's 95% interval
    double efficiency_std = 0;   // cv x efficiency
    int64_t num_samples = 0;
    std::string source = "measured";
    std::string record;          // the operation or fusion record it comes from
};
struct FittedCurveEntry {
    std::string curve_type;  // "asymptotic", "piecewise_linear", "constant"
    std::optional<double> peak, scale;                    // asymptotic
    std::optional<std::vector<std::vector<double>>> breakpoints;  // piecewise_linear: [[flops, efficiency], ...]
    std::optional<double> efficiency;                     // constant
};
struct EfficiencyCurve {
    std::string operation_type, precision, device;
    std::string description;
    double peak_gflops = 0;  // what efficiency is relative to
    FittedCurveEntry fitted_curve;
    double rms_residual = 0, max_abs_residual = 0;  // efficiency units, on the data points
    int64_t points_within_ci = 0;                    // data points whose interval holds the curve
    double min_flops = 0, max_flops = 0;
    std::vector<CurveDataPoint> data_points;
};

struct CalibSections {
    int64_t schema_version = kProfileSchemaVersion;
    std::string calib_version;
    boost::json::object host;
    PeaksSection peaks;
    std::vector<PluginEntry> plugins;
    MemoryHierarchy memory_hierarchy;
    std::optional<RunSection> run;  // always written; absent only in a profile from elsewhere
    std::vector<boost::json::object> memory_sweep;
    std::vector<FailedCase> failed_cases;
    std::optional<NamedList<PrecisionSupport>> precision_support;
    std::optional<NamedList<EfficiencyCurve>> efficiency_curves;
};

// Writers: the JSON calib writes. The extra_params parts are appended to `e` key by key.
void append(boost::json::object& e, const CaseOrigin& x);
void append(boost::json::object& e, const InstanceFacts& x);
void append(boost::json::object& e, const SampleFacts& x);
void append(boost::json::object& e, const Judgement& x);
void append(boost::json::object& e, const EnergyFacts& x);
void append(boost::json::object& e, const FusionExtras& x);
void append(boost::json::object& e, const SweepPointFacts& x);
// calib's sections go into Profile::extensions ahead of any other key.
boost::json::object to_json(const PeaksSection& s);
boost::json::object to_json(const PluginEntry& s);
boost::json::object to_json(const PrecisionMatrix& s);
boost::json::object to_json(const CalibSections& s);
// An efficiency_curves entry's fitted curve as the model that evaluates it (a piecewise curve without
// breakpoints is a constant), and a fitted model as the entry the profile stores.
FittedCurve model_of(const FittedCurveEntry& e);
FittedCurveEntry entry_of(const FittedCurve& c);
void write_sections(const CalibSections& s, Profile& p);

// Readers, tolerant: a missing or mistyped field keeps its default, so an older or hand-edited
// profile still renders.
OperationExtras read_extras(const OperationRecord& r);
FusionExtras read_extras(const FusionRecord& r);
SweepPointFacts read_sweep_point(const boost::json::object& point);
PrecisionMatrix read_precision_matrix(const Profile& p);
CalibSections read_sections(const Profile& p);

// A plugin's own fields as the profile lists them (status, identity, ABI, device, case count), without
// the run's figures. Defined in the run unit (calib_core_run), which knows the plugin records.
PluginEntry plugin_entry(const PluginRecord& pl);

}  // namespace calib::core
