// A calibration run: discover -> scan (worker) -> select cases -> prepare/measure/release each case in
// its plugin's worker -> outcomes. build_profile() merges the outcomes into a HardwareCalibration.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "calib/core/corunner.hpp"
#include "calib/core/host_info.hpp"
#include "calib/core/measure.hpp"
#include "calib/core/plugin_client.hpp"
#include "calib/core/plugin_types.hpp"
#include "calib/core/profile.hpp"

namespace calib::core {

struct RunOptions {
    DiscoveryOptions discovery;
    WorkerOptions worker;
    bool quick = false;
    std::optional<std::regex> filter;         // on case names (std::regex_search)
    std::vector<std::string> precisions;      // empty: all
    std::vector<std::string> operations;      // "matmul", "memory"; empty: all non-fusion cases
    bool operations_given = false;            // --operations named: only those
    std::vector<std::string> fusion_patterns; // categories ("linear") or pattern names; empty: all
    bool fusion_given = false;
    std::string policy_name = "adaptive";
    PolicyConfig policy;
    bool placement_guard = true;              // time only in the reference CPU placement (placement.hpp)
    PlacementConfig placement;
    // Replaces the real placement probe (one-way ns per call; <= 0: unknown). For tests.
    std::function<double()> placement_probe;
    // Discard samples timed while other processes held calib's CPUs, measure such cases again at the
    // end of the run, and flag those never measured clean (corunner.hpp, docs/measurement.md).
    // Each case measured this many times, each time in a fresh worker (new process, new buffers) and
    // in its own pass over the plugin's cases, with 1/replicas of the budget each; the record's
    // interval then covers the spread between replicas (docs/measurement.md, "Replicas").
    std::size_t replicas = 2;
    bool corunner_check = true;
    CoRunnerConfig corunner;
    // Replaces the /proc/stat reading of the co-runner monitor (corunner.hpp). For tests.
    std::function<CpuTimes()> cpu_times_probe;
    // Replaces the steal clock (cumulative seconds per CPU, placement.hpp). For tests.
    std::function<std::vector<double>()> steal_probe;
    double prepare_timeout_seconds = 120;     // allocation + initialisation + verification
    double run_timeout_factor = 10;           // a run call may take this x the case budget (+ 10 s)
    std::optional<double> run_timeout_seconds; // explicit per-call limit (--case-timeout)
    std::string hardware_name;                // --hardware; default: the CPU model
    std::optional<double> peak_gflops;        // --peak-gflops (fp32, user)
    std::optional<double> peak_bandwidth;     // --peak-bandwidth (user)
    // ABI 1.1 sustained cases (CALIB_CASE_SUSTAINED, a plugin's headline cases) are also run back to back
    // for this long, energy and conditions read around it (--sustained S; 0: not; --quick: not).
    double sustained_seconds = 10;
    // A measurement's energy is reported only when its window lasts this long: the driver updates its energy
    // counter every few tens of ms, so over the ~0.1 s of a GPU case the counter's steps are most of the
    // reading (H200: 0 W and 1172 W on a 700 W part). --energy-window S.
    double min_energy_window_seconds = 1.0;
};

// The conditions of a device read before and after a stretch of work (ABI 1.1 read_device_state).
struct EnergyWindow {
    double min_seconds = 0;     // RunOptions::min_energy_window_seconds when it was read
    double seconds = 0;         // wall time between the two readings
    double busy_seconds = 0;    // of it, the time the plugin reported for its executions
    uint64_t executions = 0;    // executions in between (warm-up included)
    std::optional<double> energy_joules;  // both readings had the energy counter
    DeviceState end;            // the reading after
    uint32_t throttle = 0;      // CALIB_THROTTLE_* bits at either reading
    std::optional<double> power_capped_seconds, thermal_capped_seconds;  // their counters' increase
    std::string note;           // why there is no energy (e.g. RAPL unavailable, with the reason)
};
// A device's conditions at the start of its plugin's turn, before any case: idle power and clocks.
struct DeviceConditions {
    std::string plugin;
    uint32_t device = 0;
    std::string name;
    DeviceState idle;           // power: the mean of a few readings
};

// Options for a standard or quick run (policy_preset, and a shorter end-of-run pass for quick): what
// calib-host starts from before its command line.
RunOptions run_preset(Preset p);

// One case (compute or memory) or one fusion comparison, as it ended.
struct CaseOutcome {
    std::string plugin_id;
    std::string plugin_path;
    std::string device_name;
    CaseInfo info;                        // for fusion: the fused case
    std::optional<CaseInfo> unfused;      // fusion only
    std::string status = "ok";            // ok, unsupported, failed, verification_failed, crashed, timed_out,
                                          // exited, unavailable, cancelled
    std::string message;
    InstanceInfo instance;                // for fusion: the fused instance
    InstanceInfo unfused_instance;
    std::optional<Measurement> measurement;
    std::optional<PairMeasurement> pair;  // fusion: a = fused, b = unfused
    double wall_seconds = 0;
    double prepare_seconds = 0;           // of wall_seconds: in prepare (both variants for a pair)
    double steal_seconds = 0;             // most time the hypervisor stole from one of our CPUs meanwhile
    // Co-runners (with the monitor on): CPU seconds other processes took on calib's CPUs during the
    // case and that as a share of the CPUs' time; `disturbed` when a co-runner was there for samples
    // it kept or for more than the monitor's share of the case (set after the end-of-run pass).
    // Replicas (RunOptions::replicas > 1): per replica, ln of its figure's latency (pairs: of its
    // speedup) and the standard error of that on the log scale from its own interval; after the run,
    // the record's 95% interval as factors of its figure (0 when it has one replica).
    std::vector<double> replica_log, replica_se;
    double interval_factor_low = 0, interval_factor_high = 0;
    bool corunner_checked = false;
    double foreign_seconds = 0;
    double foreign_cpus = 0;
    bool disturbed = false;
    // ABI 1.1 (plugins that read their device state): the device around the measurement, and around
    // the sustained window of a sustained case.
    std::optional<EnergyWindow> energy, sustained;
    // Set by the end-of-run pass: "deferred" (measured only there), "replaced" (measured again there,
    // this is the retry) or "original_kept" (the retry was not better); empty otherwise. Cases go there
    // when displaced, robbed by steal or disturbed by a co-runner.
    std::string placement_retry;
};

struct RunResult {
    std::vector<PluginRecord> plugins;
    std::vector<CaseOutcome> outcomes;
    std::map<std::string, double> plugin_seconds;  // by plugin id
    std::vector<DeviceConditions> devices;         // ABI 1.1 plugins that read device state
    bool complete = true;                          // false when interrupted
    double wall_seconds = 0;
    std::string started_at;                        // ISO-8601
    HostInfo host;
    PeakTable peaks;
    // The checks made before the run (preflight.hpp; the CLI runs them and sets this): metadata.preflight.
    std::optional<Preflight> preflight;
    // The placement guard over the run: how it probed ("off" / "unavailable: ..." when it did not),
    // the reference latency, probes taken and how many found the CPUs displaced, seconds spent waiting.
    struct Placement {
        std::string probe = "off";
        double initial_reference_ns = 0;  // after the settle probes, before the first case
        double settle_seconds = 0;        // how long the settle probes took
        double reference_ns = 0;          // at the end of the run
        std::size_t probes = 0, displaced_probes = 0;
        double wait_seconds = 0;
        double probe_seconds = 0;
        std::size_t deferred_cases = 0;                     // moved to the end-of-run pass
        // measured clean under a reference the run later left for a faster placement: counted
        // displaced throughout and listed for the pass
        std::size_t stale_cases = 0;
        // lost more than placement.steal_max_share of their wall time to steal: listed for the pass
        std::size_t steal_cases = 0;
        std::size_t retried_cases = 0, replaced_cases = 0;  // measured again there; replaced
        // Co-runner monitor: how it reads ("off", "unavailable: ...", or the method), cases it sent to
        // the pass, and cases still disturbed at the end (flagged in their records).
        std::string corunner = "off";
        double corunner_max_cpus = 0, corunner_window_seconds = 0;
        std::size_t disturbed_cases = 0, flagged_cases = 0;
        double retry_seconds = 0;                           // the pass's wall time
    } placement;
};

// Progress reporting (the CLI renders it).
struct ProgressSink {
    virtual ~ProgressSink() = default;
    virtual void plugin_scanned(const PluginRecord&) {}
    virtual void case_started(const std::string& plugin_id, const std::string& case_name, std::size_t index,
                              std::size_t total) {}
    virtual void case_finished(const CaseOutcome&, std::size_t done, std::size_t total) {}
    // The end-of-run pass starts, for `cases` deferred or displaced cases.
    virtual void retry_started(std::size_t cases) {}
};

// Scan every discovered candidate (in workers). Candidates marked insecure are rejected unscanned.
std::vector<PluginRecord> scan_all(const DiscoveryOptions& discovery, const WorkerOptions& worker,
                                   ProgressSink* progress = nullptr);

// Valid names for --operations and --fusion-patterns given the scanned plugins.
std::vector<std::string> operation_names();
std::vector<std::string> fusion_pattern_names(const std::vector<PluginRecord>& plugins);
// Fusion category of a pattern: "linear" for Linear_*, "conv" for *Conv2d_*, "attention" for QK_* and
// *Attention*, else the lower-cased pattern name.
std::string fusion_category(const std::string& pattern);

// Run every selected case. `cancel` is polled between cases (first interrupt: finish the current case).
RunResult run_calibration(const RunOptions& options, const std::vector<PluginRecord>& plugins,
                          const std::atomic<bool>& cancel, ProgressSink* progress = nullptr);

Profile build_profile(const RunResult& result, const RunOptions& options);

}  // namespace calib::core
