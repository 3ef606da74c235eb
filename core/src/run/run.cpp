// A calibration run, stage by stage: scan the plugins, characterise the host (clock, FMA pipes, peaks),
// settle the placement guard, select and measure the cases (select.cpp, schedule.cpp), then read the
// clock again and close the run's record.
#include "calib/core/run.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>

#include "calib/core/placement.hpp"
#include "stages.hpp"

namespace calib::core {

namespace detail {
double now_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace detail

namespace {

using detail::now_seconds;

std::string iso8601_now() {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    // "+00:00", not "Z": datetime.fromisoformat reads "Z" only from Python 3.11 on (origin-2026.md).
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
    return buf;
}

void set_peaks(RunResult& r, const RunOptions& o) {
    r.peaks = detect_cpu_peaks(r.host);
    apply_overrides(r.peaks, o.peak_gflops, o.peak_bandwidth);
}

// The host block and its peaks; the sustained clock, FMA pipes and compute ceilings (instruction loops
// per precision, under 1 s) are measured here so the profile carries them (detect_cpu_peaks reuses them).
void characterise_host(RunResult& r, const RunOptions& o) {
    r.host = detect_host();
    r.host.sustained_clock_ghz = measure_sustained_clock_ghz(r.host.logical_cpus);
    r.host.clock_readings_ghz.push_back(r.host.sustained_clock_ghz);
    r.host.avx512_clock_ghz = measure_avx512_clock_ghz(r.host);
    r.host.fma_pipes = measure_fma_pipes(r.host);
    r.host.ceilings = measure_cpu_ceilings(r.host);
    set_peaks(r, o);
}

// The clock again at the end: on a shared host the all-core clock moves with the neighbours' load
// (3.56 GHz at the start of one run, 3.66 at others), and a peak from a low reading let two matmuls
// read 100.3-100.8% efficiency. The peak uses the higher reading (of each clock: integer and zmm-loaded).
void reread_clock(RunResult& r, const RunOptions& o) {
    if (!(r.host.sustained_clock_ghz > 0)) return;
    const double end_ghz = measure_sustained_clock_ghz(r.host.logical_cpus);
    r.host.clock_readings_ghz.push_back(end_ghz);
    const double end_avx512 = measure_avx512_clock_ghz(r.host);
    if (end_ghz > r.host.sustained_clock_ghz || end_avx512 > r.host.avx512_clock_ghz) {
        r.host.sustained_clock_ghz = std::max(end_ghz, r.host.sustained_clock_ghz);
        r.host.avx512_clock_ghz = std::max(end_avx512, r.host.avx512_clock_ghz);
        set_peaks(r, o);
    }
}

// The placement guard, settled before the first case, with the co-runner monitor; none when both are
// switched off or neither works (a guard without a placement probe only watches for co-runners).
void start_guard(const RunOptions& o, std::optional<PlacementProbe>& probe, std::optional<CoRunnerMonitor>& monitor,
                 std::optional<PlacementGuard>& guard, RunResult::Placement& rec) {
    PlacementGuard::ProbeFn probe_fn;
    if (o.placement_guard) {
        probe_fn = o.placement_probe;
        if (probe_fn) {
            rec.probe = "injected";
        } else {
            probe.emplace();
            rec.probe = probe->description();
            if (probe->available()) probe_fn = [&probe] { return probe->probe_ns(); };
        }
    }
    if (o.corunner_check) {
        // calib's own CPU time: this process and its live workers.
        monitor.emplace(o.corunner, o.cpu_times_probe, [] { return live_worker_pids(); });
        rec.corunner = monitor->description();
        rec.corunner_max_cpus = o.corunner.max_foreign_cpus;
        rec.corunner_window_seconds = o.corunner.window_seconds;
        if (!monitor->available()) monitor.reset();
    }
    if (!probe_fn && !monitor) return;
    guard.emplace(std::move(probe_fn), o.placement);
    if (monitor) guard->set_monitor(&*monitor);
    guard->settle(o.placement.settle_min_seconds, o.placement.settle_max_seconds);
    rec.initial_reference_ns = guard->reference_ns();
    rec.settle_seconds = guard->settle_seconds();
}

void close_guard(const PlacementGuard& guard, RunResult::Placement& rec) {
    rec.reference_ns = guard.reference_ns();
    rec.probes = guard.probes();
    rec.displaced_probes = guard.displaced_probes();
    rec.wait_seconds = guard.used_seconds();
    rec.probe_seconds = guard.probe_seconds();
}

}  // namespace

RunOptions run_preset(Preset p) {
    RunOptions o;
    o.quick = p == Preset::quick;
    o.policy = policy_preset(p);
    if (o.quick) o.placement.retry_seconds = 3;
    return o;
}

std::vector<PluginRecord> scan_all(const DiscoveryOptions& discovery, const WorkerOptions& worker,
                                   ProgressSink* progress) {
    std::vector<PluginRecord> out;
    std::map<std::string, std::string> loaded_from;  // plugin id -> the path it was loaded from
    for (const auto& cand : discover(discovery)) {
        PluginRecord rec;
        if (cand.insecure) {
            rec.path = cand.path.string();
            rec.reason_code = RejectReason::insecure;
            rec.reason = cand.insecure_reason + " (use --allow-insecure-plugins to load it anyway)";
        } else {
            rec = scan_plugin(cand.path, worker);
        }
        // One plugin per id: the first found in the search order wins (docs/cli.md), so a copy of a
        // built-in in a --plugins folder replaces it instead of running beside it.
        if (rec.loaded) {
            auto [first, fresh] = loaded_from.emplace(rec.id, rec.path);
            if (!fresh) {
                rec.loaded = false;
                rec.reason_code = RejectReason::duplicate;
                rec.duplicate_of = first->second;
                rec.reason = "plugin id " + rec.id + " is already loaded from " + first->second;
            }
        }
        if (progress != nullptr) progress->plugin_scanned(rec);
        out.push_back(std::move(rec));
    }
    return out;
}

RunResult run_calibration(const RunOptions& o, const std::vector<PluginRecord>& plugins,
                          const std::atomic<bool>& cancel, ProgressSink* progress) {
    RunResult result;
    result.started_at = iso8601_now();
    const double t_start = now_seconds();
    result.plugins = plugins;
    characterise_host(result, o);

    std::optional<PlacementProbe> probe;
    std::optional<CoRunnerMonitor> monitor;
    std::optional<PlacementGuard> guard;
    start_guard(o, probe, monitor, guard, result.placement);
    detail::Scheduler scheduler(o, cancel, progress, guard ? &*guard : nullptr, result);
    scheduler.measure_all(plugins);
    scheduler.list_stale();
    scheduler.retry_pass();
    scheduler.flag_disturbed();
    scheduler.replica_intervals();

    if (cancel.load()) result.complete = false;
    if (!cancel.load()) reread_clock(result, o);
    if (guard) close_guard(*guard, result.placement);
    result.wall_seconds = now_seconds() - t_start;
    return result;
}

}  // namespace calib::core
