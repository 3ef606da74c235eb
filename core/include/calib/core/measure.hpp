// Measurement policy: warm-up, iterations per sample, stopping rule and statistics. Owned by the host
// and identical for every plugin. A policy is one named, replaceable piece (see make_policy()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace calib::core {

class CoRunnerMonitor;  // corunner.hpp

// Summary of per-execution times (seconds). Quantiles by linear interpolation between order statistics
// (type 7, as numpy's default).
struct SampleStats {
    std::size_t count = 0;
    double min = 0, max = 0, mean = 0, median = 0, stddev = 0;  // stddev: sample (n-1)
    double cv = 0;                 // stddev / mean
    double p10 = 0, p25 = 0, p75 = 0, p90 = 0;
    double mad = 0;                // median absolute deviation
    double robust_cv = 0;          // 1.4826 * mad / median
    double median_ci_low = 0;      // distribution-free 95% confidence interval of the median
    double median_ci_high = 0;
    double noise = 0;              // relative half-width of that interval: the stopping criterion
};
// Order statistics bounding the median: 1-based ranks (lo, hi) of the widest-needed interval with
// coverage >= 95% under Binomial(n, 1/2); n < 6 cannot reach 95%, so it gets the widest (1, n).
std::pair<std::size_t, std::size_t> median_ci_ranks(std::size_t n);
SampleStats compute_stats(std::vector<double> samples);

enum class StopReason { converged, time_budget, max_samples, fixed_count, cancelled };
const char* to_string(StopReason r);

struct PolicyConfig {
    double warmup_seconds = 0.02;      // warm-up by time; at least one call
    double min_sample_seconds = 0.002; // iterations per sample chosen so one sample lasts at least this
    double target_noise = 0.01;        // stop when noise (see SampleStats) <= this
    std::size_t min_samples = 10;
    std::size_t max_samples = 2000;
    double time_budget_seconds = 0.15; // per case (per pair for fusion), warm-up included; at least
                                       // min(min_samples, 3) samples are taken regardless
    std::size_t fixed_samples = 0;     // > 0 selects fixed-count mode: exactly this many samples
                                       // (make_policy then returns the "fixed" policy for any name)
    std::size_t pair_ci_every = 5;     // measure_pair: re-evaluate the bootstrap CI at most this often
    // measure_pair: a pair whose speedup interval is still wider than +-pair_max_halfwidth when the
    // budget runs out gets up to pair_budget_extension x the budget in all (0 or 1: no extension).
    double pair_max_halfwidth = 0.05;
    double pair_budget_extension = 4.0;
    // measure_pair: the fewest pairs before the budget may stop it (capped by min_samples).
    std::size_t pair_min_samples = 4;
    // The fewest samples before the budget may stop a case (capped by min_samples): 3 give an
    // interval; with replicas each replica takes its share (run.hpp), the case still gets this many.
    std::size_t budget_floor_samples = 3;
};

// The presets calib-host offers, the one place their figures live (cli/ and bench/ take them from here):
// standard is PolicyConfig's defaults; quick (--quick) shortens the budget to 0.15 s per case.
enum class Preset { standard, quick };
PolicyConfig policy_preset(Preset p);

// Executes the case `iterations` times back to back and returns the elapsed seconds.
// Throws to abort the measurement (the error propagates to the caller).
using RunFn = std::function<double(uint64_t iterations)>;
// Monotonic seconds; injectable so tests can drive the policy with synthetic streams.
using ClockFn = std::function<double()>;
// Returns true when the run should stop as soon as possible.
using CancelFn = std::function<bool()>;

// Keeps timing to the run's reference CPU placement (see placement.hpp). The reference is the lowest
// median of `reference_window` consecutive probes seen so far (settle() probes included) whose
// placement holds at least reference_min_share of the run's probes: a placement becomes the reference
// only by holding for most of a window and for a good part of the run, so a rare faster state does not
// (on the 16-vCPU Sapphire Rapids host a 24-28 ns state -- two vCPUs on one core -- held for a window
// during settle() and then made the usual ~90 ns placement look displaced in 91% of the probes), while
// a run that starts in a far placement (vCPUs spread by the previous run's load) moves to the near one
// as soon as that holds. A probe above displaced_ratio x reference means the CPUs are displaced. The policy then discards the sample taken across it and waits, polling,
// until the placement returns -- within an allowance per case and per plugin (new_allowance()), after
// which samples are kept and counted as displaced.
struct PlacementConfig {
    double displaced_ratio = 2.0;
    // A window median is the reference only while probes up to displaced_ratio x it stand for at least
    // this share of the run's time so far (each probe weighs the time since the one before, <= 1 s):
    // a rare fast state -- two vCPUs on one core -- must not become it.
    double reference_min_share = 0.35;
    // ... except that a reference held this long (run time) never moves up again: on the AMD guest a
    // run that sat far for most of its minute made the far placement the reference (DWConv2d_BN_ReLU
    // 1x64x56x56 then read 6.6 against 2.9). It may still move down.
    double reference_confirm_seconds = 10.0;
    double max_wait_per_case = 0.5;  // seconds of waiting plus discarded samples, per case
    double max_wait_per_plugin = 1.0;  // the same, from one new_allowance() to the next
    double poll_seconds = 0.01;
    std::size_t reference_window = 15;
    // A case whose CPUs lost more than this share of its wall time (and at least 20 ms) to the
    // hypervisor (steal time) is measured again in the end-of-run pass, like a displaced one.
    double steal_max_share = 0.05;
    // settle() before the first case: at least this long, and up to the maximum while a faster
    // placement seen in it has not come back (a run right after another starts with the vCPUs spread;
    // idle, the AMD guest put them back together within 0.2-6 s, and 1 s was not always enough).
    double settle_min_seconds = 2.0;
    double settle_max_seconds = 6.0;
    // The run's end-of-run pass (run.hpp): a case whose turn comes while the CPUs are displaced and
    // the plugin allowance is spent is deferred to it, and cases that kept displaced samples are
    // measured again in it. It waits for the reference placement at most this long; retries start
    // only within it, deferred cases are measured regardless (0: no deferral, no retries).
    double retry_seconds = 10.0;
};

class PlacementGuard {
public:
    using ProbeFn = std::function<double()>;        // one-way latency in ns; <= 0: unknown
    using SleepFn = std::function<void(double)>;    // seconds; injectable for tests
    PlacementGuard(ProbeFn probe, PlacementConfig cfg = {}, ClockFn clock = {}, SleepFn sleep = {});

    // Before the first case: probes every poll_seconds with the CPUs idle for at least min_seconds,
    // and on (up to max_seconds) while a faster placement has held a full window and the CPUs are not
    // in it now; then the current window median is the reference, and the settle counts as min_seconds
    // of run time in that placement. Idle CPUs are what brings a hypervisor to put vCPUs back together
    // (docs/measurement.md).
    void settle(double min_seconds, double max_seconds = 0);
    // Starts a new per-plugin allowance.
    void new_allowance() { used_allowance_ = 0; }
    bool allowance_spent() const { return used_allowance_ >= cfg_.max_wait_per_plugin; }
    // One probe: true in the reference placement (or when the probe knows nothing).
    bool in_reference();
    // With a co-runner monitor (set_monitor): false while other processes hold more than its share of
    // calib's CPUs over its window. The policy discards a sample after which this is false and waits,
    // within the same allowances as for the placement. Without a monitor: always true.
    void set_monitor(CoRunnerMonitor* monitor) { monitor_ = monitor; }
    CoRunnerMonitor* monitor() const { return monitor_; }
    bool quiet();
    std::size_t disturbed_readings() const { return disturbed_; }
    // Whether this case (which has used `case_used` seconds of allowance) may still wait or discard.
    bool may_wait(double case_used) const;
    // Charges discarded-sample time to the allowances.
    void charge(double seconds, double& case_used);
    // Polls until the reference placement returns (and the CPUs are quiet) or the allowance is spent;
    // true if it returned.
    bool wait_for_reference(double& case_used);
    // Polls until the reference placement returns or `seconds` have passed, outside any allowance
    // (the retry pass); true if it returned. The time counts in used_seconds().
    bool wait_within(double seconds);

    double reference_ns() const { return reference_ns_; }
    std::size_t probes() const { return probes_; }
    std::size_t displaced_probes() const { return displaced_; }
    double used_seconds() const { return used_total_; }
    double probe_seconds() const { return probe_seconds_; }  // time spent probing, settle excluded
    double settle_seconds() const { return settle_seconds_; }
    const PlacementConfig& config() const { return cfg_; }

private:
    ProbeFn probe_;
    CoRunnerMonitor* monitor_ = nullptr;
    std::size_t disturbed_ = 0;
    PlacementConfig cfg_;
    ClockFn clock_;
    SleepFn sleep_;
    void observe(double ns);  // updates the window and the reference
    void set_reference(double ns, double now);
    double reference_since_ = -1;  // when the current reference placement was first taken
    double reference_ns_ = 0;
    std::vector<double> window_;  // the last reference_window probe latencies (ring)
    std::vector<double> latency_weights_;  // seconds each probe stood for, by 1 ns latency bin
    double latency_total_ = 0;
    double last_probe_at_ = -1;
    std::vector<double> candidates_;  // lowest window median seen per 1 ns bin (0: none)
    std::size_t window_next_ = 0;
    bool established_ = false;
    double settle_seconds_ = 0;
    std::size_t probes_ = 0, displaced_ = 0;
    double used_total_ = 0, used_allowance_ = 0, probe_seconds_ = 0;
};

struct Measurement {
    SampleStats stats;               // over per-execution seconds (sample seconds / iterations)
    std::vector<double> samples;     // per-execution seconds, in the order taken
    uint64_t iterations_per_sample = 1;
    StopReason reason = StopReason::converged;
    double warmup_seconds = 0;       // time spent warming up
    double elapsed_seconds = 0;      // wall time of the whole measurement, warm-up included
    // With a PlacementGuard: samples thrown away because the placement changed across them, seconds
    // spent waiting for (or discarding outside) the reference placement, and samples kept although
    // displaced (the allowance was spent).
    std::size_t discarded_samples = 0;
    double placement_wait_seconds = 0;
    std::size_t displaced_samples = 0;
    // With a co-runner monitor: of discarded_samples, those discarded because other processes held
    // calib's CPUs; and samples kept although a co-runner was there (the allowance was spent).
    std::size_t disturbed_discarded = 0;
    std::size_t disturbed_samples = 0;
};

// Two variants timed alternately (A B A B ...) so drift hits both. speedup = median(b) / median(a)
// (for fusion: a = fused, b = unfused), with a 95% bootstrap interval over the paired samples.
struct PairMeasurement {
    Measurement a, b;
    double speedup = 0, speedup_ci_low = 0, speedup_ci_high = 0;
    StopReason reason = StopReason::converged;
};

class MeasurementPolicy {
public:
    virtual ~MeasurementPolicy() = default;
    virtual std::string name() const = 0;
    virtual const PolicyConfig& config() const = 0;
    // `guard` (optional) confines samples to the reference CPU placement; time spent waiting for it
    // or on discarded samples does not count against the time budget.
    virtual Measurement measure(const RunFn& run, const CancelFn& cancelled = {},
                                PlacementGuard* guard = nullptr) const = 0;
    virtual PairMeasurement measure_pair(const RunFn& a, const RunFn& b, const CancelFn& cancelled = {},
                                         PlacementGuard* guard = nullptr) const = 0;
};

// Names: "adaptive" (default: samples until noise <= target, with min_samples, or budget) and
// "fixed" (exactly fixed_samples samples, for reproducible runs). Throws std::invalid_argument for an
// unknown name. `clock` defaults to std::chrono::steady_clock.
std::unique_ptr<MeasurementPolicy> make_policy(const std::string& name, const PolicyConfig& config,
                                               ClockFn clock = {});
std::vector<std::string> policy_names();

}  // namespace calib::core
