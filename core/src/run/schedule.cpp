// Stage 2 of a run: every selected case measured in its plugin's worker (prepare, measure under the
// policy, release), then the end-of-run pass for cases timed off the reference CPU placement.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

#include "calib/core/corunner.hpp"
#include "calib/core/placement.hpp"
#include "calib/plugin.h"
#include "stages.hpp"

namespace calib::core::detail {
namespace {

// The device between two readings: the energy counter's increase, throttling at either end, and the
// increase of the time spent capped by power or temperature.
EnergyWindow window_of(const DeviceState& a, const DeviceState& b, double seconds, double busy, uint64_t executions) {
    EnergyWindow w;
    w.seconds = seconds;
    w.busy_seconds = busy;
    w.executions = executions;
    w.end = b;
    const uint32_t both = a.valid & b.valid;
    if ((both & CALIB_STATE_ENERGY) != 0 && b.energy_joules >= a.energy_joules) w.energy_joules = b.energy_joules - a.energy_joules;
    if ((a.valid & CALIB_STATE_THROTTLE) != 0) w.throttle |= a.throttle;
    if ((b.valid & CALIB_STATE_THROTTLE) != 0) w.throttle |= b.throttle;
    if ((both & CALIB_STATE_THROTTLE_TIME) != 0) {
        w.power_capped_seconds = std::max(0.0, b.power_capped_seconds - a.power_capped_seconds);
        w.thermal_capped_seconds = std::max(0.0, b.thermal_capped_seconds - a.thermal_capped_seconds);
    }
    return w;
}

// Fraction of an ok outcome's kept samples that were timed displaced (pairs: the fused side's count,
// which equals the unfused side's); 0 when none or not ok.
double displaced_fraction(const CaseOutcome& out) {
    if (out.status != "ok") return 0;
    const Measurement* m = out.pair ? &out.pair->a : out.measurement ? &*out.measurement : nullptr;
    if (m == nullptr || m->samples.empty()) return 0;
    return static_cast<double>(m->displaced_samples) / static_cast<double>(m->samples.size());
}

// Share of an ok outcome's wall time the hypervisor stole from its most robbed CPU, when above
// steal_max_share and at least 20 ms (two ticks of the steal clock); 0 otherwise.
double steal_fraction(const CaseOutcome& out, double steal_max_share) {
    if (out.status != "ok" || !(out.wall_seconds > 0) || out.steal_seconds < 0.02) return 0;
    const double s = out.steal_seconds / out.wall_seconds;
    return s > steal_max_share ? s : 0;
}

// Other processes used more of calib's CPUs over the whole case than the monitor allows.
bool busy_case(const CaseOutcome& out, const CoRunnerConfig& c) {
    return out.foreign_cpus > c.max_foreign_cpus && out.foreign_seconds >= c.min_case_foreign_seconds;
}

// How disturbed by co-runners an ok outcome was: the share of its kept samples timed beside one, or its
// foreign CPUs when the case was busy; any sample discarded for a co-runner counts too (ticks let the
// samples just before the detection through). 0 when clean or not ok.
double disturbed_fraction(const CaseOutcome& out, const CoRunnerConfig& c) {
    if (out.status != "ok") return 0;
    double f = busy_case(out, c) ? std::max(out.foreign_cpus, 1e-3) : 0;
    for (const Measurement* m : {out.measurement ? &*out.measurement : nullptr, out.pair ? &out.pair->a : nullptr}) {
        if (m == nullptr || m->samples.empty()) continue;
        const double n = static_cast<double>(m->samples.size());
        f = std::max(f, static_cast<double>(m->disturbed_samples) / n);
        if (m->disturbed_discarded > 0) f = std::max(f, std::min(1.0, static_cast<double>(m->disturbed_discarded) / n));
    }
    return f;
}

// The policy of one replica: the case's budget shared among the replicas.
PolicyConfig replica_policy(const RunOptions& o) {
    PolicyConfig c = o.policy;
    if (o.replicas > 1) {
        c.time_budget_seconds /= static_cast<double>(o.replicas);
        // The spread between replicas is what the interval is made of: no stretching one replica's
        // budget to narrow its own bootstrap interval.
        c.pair_budget_extension = 1;
        // The floors are the case's, shared among its replicas (at least 2 samples each).
        const auto share = [&](std::size_t n) {
            return std::max<std::size_t>(2, (n + o.replicas - 1) / o.replicas);
        };
        c.budget_floor_samples = share(c.budget_floor_samples);
        c.pair_min_samples = share(c.pair_min_samples);
    }
    return c;
}

// ln of a replica's figure (latency median; pairs: speedup) and its standard error on the log scale
// from its own 95% interval; {0, -1} when it has none.
std::pair<double, double> replica_value(const CaseOutcome& out) {
    if (out.pair) {
        const auto& p = *out.pair;
        if (!(p.speedup > 0) || !(p.speedup_ci_low > 0) || !(p.speedup_ci_high > 0)) return {0, -1};
        return {std::log(p.speedup), (std::log(p.speedup_ci_high) - std::log(p.speedup_ci_low)) / 3.92};
    }
    if (!out.measurement) return {0, -1};
    const auto& s = out.measurement->stats;
    if (!(s.median > 0) || !(s.median_ci_low > 0) || !(s.median_ci_high > 0)) return {0, -1};
    return {std::log(s.median), (std::log(s.median_ci_high) - std::log(s.median_ci_low)) / 3.92};
}

// Sample variance of a case's replica values (ln scale).
double sample_variance(const std::vector<double>& y) {
    const double n = static_cast<double>(y.size());
    double mean = 0, ss = 0;
    for (double v : y) mean += v / n;
    for (double v : y) ss += (v - mean) * (v - mean);
    return ss / (n - 1);
}

// Two-sided 95% quantile of Student's t.
double t975(double df) {
    static const double table[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228};
    if (df < 1) return table[0];
    if (df <= 10) return table[static_cast<int>(df) - 1];
    return 1.96 + 2.4 / df;
}

// Largest steal increase over one CPU between two readings.
double steal_delta(const std::vector<double>& before, const std::vector<double>& after) {
    double most = 0;
    const std::size_t n = std::min(before.size(), after.size());
    for (std::size_t i = 0; i < n; ++i) most = std::max(most, after[i] - before[i]);
    return most;
}

}  // namespace

Scheduler::Scheduler(const RunOptions& o, const std::atomic<bool>& cancel, ProgressSink* progress,
                     PlacementGuard* guard, RunResult& result)
    : o_(o),
      cancel_(cancel),
      progress_(progress),
      guard_(guard),
      result_(result),
      policy_(make_policy(o.policy_name, replica_policy(o))),
      run_timeout_(o.run_timeout_seconds.value_or(o.run_timeout_factor * o.policy.time_budget_seconds + 10.0)) {}

std::vector<double> Scheduler::steal_now() const {
    return o_.steal_probe ? o_.steal_probe() : steal_seconds_per_cpu();
}

// How far off a case was timed: the share of its samples kept displaced, or of its wall time stolen.
double Scheduler::off_fraction(const CaseOutcome& out) const {
    return std::max({displaced_fraction(out), steal_fraction(out, o_.placement.steal_max_share),
                     disturbed_fraction(out, o_.corunner)});
}

CoRunnerMonitor* Scheduler::monitor() const { return guard_ != nullptr ? guard_->monitor() : nullptr; }

// An outcome naming the plugin and case(s), before anything is measured.
CaseOutcome Scheduler::outcome_for(const PluginRecord& plugin, const Selected& s) const {
    CaseOutcome out;
    out.plugin_id = plugin.id;
    out.plugin_path = plugin.path;
    out.device_name = plugin.device_name;
    // ABI 1.1: a case on another of the plugin's devices carries that device's name.
    if (const uint32_t d = s.primary->device_list().front(); d > 0 && d < plugin.devices.size()) out.device_name = plugin.devices[d].name;
    out.info = *s.primary;
    if (s.unfused != nullptr) out.unfused = *s.unfused;
    return out;
}

// One case (or fused/unfused pair) in `client`'s worker: prepare, measure under the policy, release.
CaseOutcome Scheduler::measure_one(PluginClient& client, const PluginRecord& plugin, const Selected& s) {
    CaseOutcome out = outcome_for(plugin, s);
    const double t_case = now_seconds();
    const std::vector<double> steal_before = steal_now();
    CoRunnerMonitor* mon = monitor();
    if (mon != nullptr) mon->foreign_cpus_now();
    const double foreign_before = mon != nullptr ? mon->last().foreign : 0;
    std::vector<uint32_t> instances;
    auto prepare = [&](const CaseInfo& c, InstanceInfo& info) {
        const double t_prep = now_seconds();
        auto prepared = client.prepare(c.index, o_.prepare_timeout_seconds);
        out.prepare_seconds += now_seconds() - t_prep;
        instances.push_back(prepared.instance);
        info = prepared.info;
        return RunFn([this, &client, id = prepared.instance](uint64_t n) { return client.run(id, n, run_timeout_); });
    };
    try {
        RunFn run_a = prepare(*s.primary, out.instance);
        auto cancelled = [&] { return cancel_.load(); };
        if (s.unfused == nullptr) {
            // The device's state around the measurement (ABI 1.1 plugins that read it), and what ran inside.
            const uint32_t device = s.primary->device_list().front();
            const std::optional<DeviceState> before = state_of(client, plugin, device);
            const double t_before = now_seconds();
            uint64_t executions = 0;
            double busy = 0;
            RunFn counted = [&](uint64_t n) {
                const double t = run_a(n);
                executions += n;
                busy += t;
                return t;
            };
            // CPU plugins: the package and DRAM energy through RAPL, or why not.
            const bool cpu = !before && plugin.device_kind == DeviceKind::cpu;
            std::optional<RaplSnapshot> rapl_before;
            if (cpu && rapl_.available()) rapl_before = rapl_.snapshot();
            out.measurement = policy_->measure(before || rapl_before ? counted : run_a, cancelled, guard_);
            if (before)
                if (const std::optional<DeviceState> after = state_of(client, plugin, device)) {
                    out.energy = window_of(*before, *after, now_seconds() - t_before, busy, executions);
                    out.energy->min_seconds = o_.min_energy_window_seconds;
                }
            if (cpu) {
                out.energy = EnergyWindow{};
                if (rapl_before) {
                    const RaplEnergy e = rapl_.joules_between(*rapl_before, rapl_.snapshot());
                    out.energy->seconds = now_seconds() - t_before;
                    out.energy->busy_seconds = busy;
                    out.energy->executions = executions;
                    if (e.package_joules) out.energy->energy_joules = *e.package_joules + e.dram_joules.value_or(0);
                } else {
                    out.energy->note = "CPU energy not measured: " + rapl_.unavailable_reason();
                }
            }
            if (main_pass_ && s.primary->sustained && o_.sustained_seconds > 0 && !o_.quick &&
                out.measurement->reason != StopReason::cancelled)
                sustain(client, instances.front(), plugin, out);
        } else {
            RunFn run_b = prepare(*s.unfused, out.unfused_instance);
            out.pair = policy_->measure_pair(run_a, run_b, cancelled, guard_);
        }
        const auto reason = out.pair ? out.pair->reason : out.measurement->reason;
        if (reason == StopReason::cancelled) {
            out.status = "cancelled";
            out.message = "interrupted before the measurement finished";
        }
    } catch (const WorkerFailure& f) {
        // A second interrupt kills the worker: that is a cancellation, not a crash.
        out.status = cancel_.load() ? "cancelled" : failure_status(f);
        out.message = f.what();
    } catch (const std::exception& e) {
        out.status = "failed";
        out.message = e.what();
    }
    for (auto id : instances) client.release(id);
    out.wall_seconds = now_seconds() - t_case;
    out.steal_seconds = steal_delta(steal_before, steal_now());
    if (mon != nullptr) {
        out.corunner_checked = true;
        mon->foreign_cpus_now();
        out.foreign_seconds = std::max(0.0, mon->last().foreign - foreign_before);
        if (out.wall_seconds > 0)
            out.foreign_cpus = out.foreign_seconds / out.wall_seconds;
    }
    return out;
}

std::optional<DeviceState> Scheduler::state_of(PluginClient& client, const PluginRecord& plugin, uint32_t device) {
    if (plugin.abi_minor < 1 || stateless_.count(plugin.id) != 0) return std::nullopt;
    std::optional<DeviceState> s = client.read_state(device, 10);
    if (!s || s->valid == 0) {
        stateless_.insert(plugin.id);
        return std::nullopt;
    }
    return s;
}

// Each device's conditions before the plugin's first case: the mean power of five readings 50 ms apart
// (the counters the driver updates every few tens of ms), the last reading's clocks and temperature.
void Scheduler::read_idle(PluginClient& client, const PluginRecord& plugin) {
    for (uint32_t d = 0; d < std::max<std::size_t>(1, plugin.devices.size()); ++d) {
        DeviceConditions c;
        c.plugin = plugin.id;
        c.device = d;
        c.name = d < plugin.devices.size() ? plugin.devices[d].name : plugin.device_name;
        double power = 0;
        int n = 0;
        for (int i = 0; i < 5; ++i) {
            const std::optional<DeviceState> s = state_of(client, plugin, d);
            if (!s) break;
            c.idle = *s;
            if ((s->valid & CALIB_STATE_POWER) != 0) power += s->power_watts, ++n;
            if (i < 4) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        if (c.idle.valid == 0) return;  // the plugin reads no state
        if (n > 0) c.idle.power_watts = power / n;
        result_.devices.push_back(std::move(c));
    }
}

// A sustained case run back to back for RunOptions::sustained_seconds (one run() call, sized from its
// median), the device read around it: the figure under sustained power and heat, beside the burst one.
void Scheduler::sustain(PluginClient& client, uint32_t instance, const PluginRecord& plugin, CaseOutcome& out) {
    const double median = out.measurement->stats.median;
    if (!(median > 0)) return;
    const uint32_t device = out.info.device_list().front();
    const uint64_t n = std::max<uint64_t>(1, static_cast<uint64_t>(std::llround(o_.sustained_seconds / median)));
    try {
        const std::optional<DeviceState> before = state_of(client, plugin, device);
        const double t0 = now_seconds();
        const double busy = client.run(instance, n, o_.sustained_seconds * 3 + 30);
        const double wall = now_seconds() - t0;
        const std::optional<DeviceState> after = state_of(client, plugin, device);
        if (before && after) {
            out.sustained = window_of(*before, *after, wall, busy, n);
        } else {
            out.sustained = EnergyWindow{};
            out.sustained->seconds = wall;
            out.sustained->busy_seconds = busy;
            out.sustained->executions = n;
        }
    } catch (const WorkerFailure& f) {
        out.message = std::string("sustained window failed: ") + f.what();
    }
}

void Scheduler::measure_all(const std::vector<PluginRecord>& plugins) {
    std::vector<std::pair<const PluginRecord*, std::vector<Selected>>> work;
    for (const auto& p : plugins) {
        if (!p.loaded || !p.device_available) continue;
        auto sel = select_cases(o_, p);
        total_ += sel.size();
        if (!sel.empty()) work.emplace_back(&p, std::move(sel));
    }
    for (auto& [plugin, cases] : work) {
        if (cancel_.load()) break;
        const double t_plugin = now_seconds();
        measure_plugin(*plugin, cases);
        result_.plugin_seconds[plugin->id] += now_seconds() - t_plugin;
    }
    replicate(replicable_);
}

// Further replicas of `cases` (in plugin order): a pass of their own per replica, each plugin in a fresh
// worker (a new process: new addresses, buffers and threads), so the replicas of a case are a whole
// pass apart. A case is replicated while it is ok and clean; a replica timed off is dropped.
void Scheduler::replicate(const std::vector<Later>& cases) {
    for (std::size_t r = 1; r < o_.replicas && !cancel_.load(); ++r) {
        std::optional<PluginClient> client;
        const PluginRecord* client_plugin = nullptr;
        for (const auto& c : cases) {
            if (cancel_.load()) break;
            CaseOutcome& out = result_.outcomes[c.outcome];
            if (out.status != "ok" || off_fraction(out) > 0 || out.replica_log.size() > r) continue;
            const double t_case = now_seconds();  // a new worker's start counts to its plugin
            if (client_plugin != c.plugin) {
                client.reset();
                client.emplace(c.plugin->path, o_.worker);
                client_plugin = c.plugin;
            }
            CaseOutcome again = measure_one(*client, *c.plugin, c.sel);
            if (again.status == "ok" && off_fraction(again) == 0) add_replica(out, std::move(again));
            result_.plugin_seconds[c.plugin->id] += now_seconds() - t_case;
        }
    }
}

// A case whose turn came while the CPUs were displaced and the plugin's allowance was spent: a
// placeholder now, measured in the end-of-run pass.
void Scheduler::defer(const PluginRecord& plugin, const Selected& s) {
    CaseOutcome placeholder = outcome_for(plugin, s);
    placeholder.status = "cancelled";
    placeholder.message = "deferred to the end of the run (CPUs displaced) and interrupted before it";
    later_.push_back({result_.outcomes.size(), &plugin, s, true, 1.0});
    result_.outcomes.push_back(std::move(placeholder));
    ++result_.placement.deferred_cases;
}

void Scheduler::measure_plugin(const PluginRecord& plugin, const std::vector<Selected>& cases) {
    PluginClient client(plugin.path, o_.worker);
    main_pass_ = true;
    try {
        read_idle(client, plugin);
    } catch (const WorkerFailure&) {
        // A worker that dies reading its state: the cases below restart it and report what happens.
    }
    if (guard_ != nullptr) guard_->new_allowance();
    for (const auto& s : cases) {
        if (cancel_.load()) {
            result_.complete = false;
            break;
        }
        if (guard_ != nullptr && o_.placement.retry_seconds > 0 && guard_->allowance_spent() &&
            !(guard_->in_reference() && guard_->quiet())) {
            defer(plugin, s);
            continue;
        }
        if (progress_ != nullptr) progress_->case_started(plugin.id, s.primary->name, done_, total_);
        const double t_start = now_seconds();
        CaseOutcome out = measure_one(client, plugin, s);
        ++done_;
        if (progress_ != nullptr) progress_->case_finished(out, done_, total_);
        if (const double d = off_fraction(out); d > 0) {
            later_.push_back({result_.outcomes.size(), &plugin, s, false, d});
            if (steal_fraction(out, o_.placement.steal_max_share) > 0) ++result_.placement.steal_cases;
            if (disturbed_fraction(out, o_.corunner) > 0) {
                ++result_.placement.disturbed_cases;
                onset_neighbours(t_start);
            }
        } else if (guard_ != nullptr && out.status == "ok") {
            measured_in_.push_back({result_.outcomes.size(), &plugin, s, false, 0, guard_->reference_ns()});
        }
        if (out.status == "ok" && off_fraction(out) == 0) {
            replicable_.push_back({result_.outcomes.size(), &plugin, s, false, 0});
            const double t_end = now_seconds();
            std::erase_if(recent_, [&](const auto& r) { return t_end - r.second > o_.corunner.window_seconds; });
            if (out.foreign_seconds > 0) recent_.push_back({{result_.outcomes.size(), &plugin, s, false, 0}, t_end});
        }
        result_.outcomes.push_back(std::move(out));
    }
    main_pass_ = false;
}

// A co-runner is confirmed only once the window ending after a sample holds enough of it, so the case
// measured while it started is flagged, but one that ended a few ms into it saw too little to judge
// (under the per-case floor, 20 ms: ticks). When a case comes out disturbed, the clean cases that ended
// within one window before it started and saw any foreign time go to the end-of-run pass too (measured
// again, their further replicas after it).
void Scheduler::onset_neighbours(double t_start) {
    for (const auto& [lt, t_end] : recent_) {
        if (t_start - t_end > o_.corunner.window_seconds) continue;
        const CaseOutcome& prev = result_.outcomes[lt.outcome];
        later_.push_back({lt.outcome, lt.plugin, lt.sel, false, std::max(prev.foreign_cpus, 1e-3)});
        // From here on it is a case for the pass, as if it had come out disturbed: no longer a clean
        // case to replicate after the main pass, nor one list_stale() may send to the pass a second time.
        const auto same = [&](const Later& r) { return r.outcome == lt.outcome; };
        std::erase_if(replicable_, same);
        std::erase_if(measured_in_, same);
        ++result_.placement.disturbed_cases;
    }
    recent_.clear();
}

// Pools a further replica into a case's outcome: samples appended (the figure is the pooled median),
// the replica's own value and error kept for replica_intervals().
void Scheduler::add_replica(CaseOutcome& out, CaseOutcome&& again) const {
    if (out.replica_log.empty()) {
        const auto [v, se] = replica_value(out);
        if (se < 0) return;
        out.replica_log.push_back(v);
        out.replica_se.push_back(se);
    }
    const auto [v, se] = replica_value(again);
    if (se < 0) return;
    out.replica_log.push_back(v);
    out.replica_se.push_back(se);
    auto pool = [](Measurement& m, const Measurement& x) {
        m.samples.insert(m.samples.end(), x.samples.begin(), x.samples.end());
        m.stats = compute_stats(m.samples);
        m.discarded_samples += x.discarded_samples;
        m.displaced_samples += x.displaced_samples;
        m.disturbed_discarded += x.disturbed_discarded;
        m.disturbed_samples += x.disturbed_samples;
        m.placement_wait_seconds += x.placement_wait_seconds;
        m.elapsed_seconds += x.elapsed_seconds;
        m.warmup_seconds += x.warmup_seconds;
    };
    if (out.pair && again.pair) {
        pool(out.pair->a, again.pair->a);
        pool(out.pair->b, again.pair->b);
        if (out.pair->a.stats.median > 0) out.pair->speedup = out.pair->b.stats.median / out.pair->a.stats.median;
    } else if (out.measurement && again.measurement) {
        pool(*out.measurement, *again.measurement);
    }
    out.wall_seconds += again.wall_seconds;
    out.prepare_seconds += again.prepare_seconds;
    out.steal_seconds = std::max(out.steal_seconds, again.steal_seconds);
    out.foreign_seconds += again.foreign_seconds;
    if (out.wall_seconds > 0) out.foreign_cpus = out.foreign_seconds / out.wall_seconds;
}

// The interval of a case measured in R replicas: its figure x exp(+-t se), with se^2 the moderated
// between-replica variance of ln(figure) over R (Smyth's moderated t: the case's own variance, R - 1
// degrees of freedom, shrunk towards the plugin's typical one with d0 = 2 prior degrees of freedom),
// and never below the replicas' own sampling error. Pairs and single cases are pooled apart.
void Scheduler::replica_intervals() {
    constexpr double d0 = 2;
    std::map<std::pair<std::string, bool>, std::vector<CaseOutcome*>> groups;
    for (auto& out : result_.outcomes)
        if (out.status == "ok" && out.replica_log.size() >= 2) groups[{out.plugin_id, out.pair.has_value()}].push_back(&out);
    for (auto& [key, outs] : groups) {
        // The typical variance: the median of each case's own over the median of chi2_df / df
        // (Wilson-Hilferty), so that it estimates the variance rather than the median of its estimates.
        std::vector<double> own, scaled;
        for (const CaseOutcome* out : outs) {
            const double df = static_cast<double>(out->replica_log.size()) - 1;
            own.push_back(sample_variance(out->replica_log));
            scaled.push_back(own.back() / std::pow(1 - 2 / (9 * df), 3));
        }
        std::sort(scaled.begin(), scaled.end());
        const double prior = scaled[scaled.size() / 2];
        const double d = outs.size() >= 3 ? d0 : 0;  // fewer cases cannot say what is typical
        for (std::size_t i = 0; i < outs.size(); ++i) {
            CaseOutcome& out = *outs[i];
            const double n = static_cast<double>(out.replica_log.size()), df = n - 1;
            double within = 0;
            for (double se : out.replica_se) within += se * se / n;
            const double moderated = (d * prior + df * own[i]) / (d + df);
            const double se = std::max(std::sqrt(moderated / n), std::sqrt(within / n));
            const double half = t975(d + df) * se;
            out.interval_factor_low = std::exp(-half);
            out.interval_factor_high = std::exp(half);
        }
    }
}

// Clean cases measured under a reference the run later left for a faster placement (a run that started
// with the vCPUs spread) were in fact timed displaced: counted displaced throughout, listed for the pass.
void Scheduler::list_stale() {
    if (guard_ == nullptr || !(o_.placement.retry_seconds > 0)) return;
    for (const auto& m : measured_in_) {
        if (!(m.reference_ns > o_.placement.displaced_ratio * guard_->reference_ns())) continue;
        CaseOutcome& out = result_.outcomes[m.outcome];
        for (Measurement* side : {out.measurement ? &*out.measurement : nullptr, out.pair ? &out.pair->a : nullptr,
                                  out.pair ? &out.pair->b : nullptr})
            if (side != nullptr) side->displaced_samples = side->samples.size();
        later_.push_back({m.outcome, m.plugin, m.sel, false, 1.0, m.reference_ns});
        ++result_.placement.stale_cases;
    }
}

// One case of the pass: a deferred case's measurement takes its placeholder's place; a retry replaces
// the original only when fewer of its samples were displaced.
void Scheduler::retry_one(const Later& lt, PluginClient& client) {
    if (lt.deferred && progress_ != nullptr) progress_->case_started(lt.plugin->id, lt.sel.primary->name, done_, total_);
    CaseOutcome again = measure_one(client, *lt.plugin, lt.sel);
    CaseOutcome& orig = result_.outcomes[lt.outcome];
    if (lt.deferred) {
        again.placement_retry = "deferred";
        orig = std::move(again);
        ++done_;
        if (progress_ != nullptr) progress_->case_finished(orig, done_, total_);
        return;
    }
    ++result_.placement.retried_cases;
    if (again.status == "ok" && off_fraction(again) < lt.displaced) {
        again.placement_retry = "replaced";
        // The sustained window ran in the main pass only (its figure is the device's, not the host CPUs').
        if (!again.sustained) again.sustained = std::move(orig.sustained);
        orig = std::move(again);
        ++result_.placement.replaced_cases;
    } else {
        orig.placement_retry = "original_kept";
    }
}

// Outcomes still disturbed after the pass are flagged (their records say `disturbed`).
void Scheduler::flag_disturbed() {
    if (monitor() == nullptr) return;
    for (auto& out : result_.outcomes) {
        if (out.status != "ok") continue;
        // Samples discarded for a co-runner leave a clean record; kept ones or a busy case do not.
        std::size_t kept = 0;
        for (const Measurement* m : {out.measurement ? &*out.measurement : nullptr, out.pair ? &out.pair->a : nullptr})
            if (m != nullptr) kept += m->disturbed_samples;
        // A pooled record's replicas were each clean to be pooled: their summed stray ticks say nothing.
        out.disturbed = kept > 0 || (out.replica_log.size() < 2 && busy_case(out, o_.corunner));
        if (out.disturbed) ++result_.placement.flagged_cases;
    }
}

// The end-of-run pass, one worker per plugin: deferred cases are measured (after waiting for the
// reference placement while placement.retry_seconds last), then cases that kept displaced samples,
// most displaced first, are measured again when the placement is the reference one (waited for while
// the seconds last, probed once after).
void Scheduler::retry_pass() {
    if (guard_ == nullptr || later_.empty() || !(o_.placement.retry_seconds > 0) || cancel_.load()) return;
    std::stable_sort(later_.begin(), later_.end(), [](const Later& x, const Later& y) {
        if (x.plugin != y.plugin) return x.plugin->path < y.plugin->path;
        if (x.deferred != y.deferred) return x.deferred;
        return x.displaced > y.displaced;
    });
    const double t_pass = now_seconds();
    const double deadline = t_pass + o_.placement.retry_seconds;
    if (progress_ != nullptr) progress_->retry_started(later_.size());
    guard_->new_allowance();  // one allowance for the whole pass: it has its own wait above
    std::optional<PluginClient> client;
    const PluginRecord* client_plugin = nullptr;
    for (const auto& lt : later_) {
        if (cancel_.load()) break;
        // Within the pass's time, wait for the reference placement; after it, take one probe (a retry
        // once the time is up still runs if the placement is right at that moment).
        const double left = deadline - now_seconds();
        const bool back = left > 0 ? guard_->wait_within(left) : guard_->in_reference();
        if (!lt.deferred && !back) continue;  // retries only in the reference placement
        const double t_case = now_seconds();
        if (client_plugin != lt.plugin) {
            client.reset();
            client.emplace(lt.plugin->path, o_.worker);
            client_plugin = lt.plugin;
        }
        retry_one(lt, *client);
        result_.plugin_seconds[lt.plugin->id] += now_seconds() - t_case;
    }
    client.reset();
    // The cases the pass measured (deferred, or replaced by a clean retry) hold one measurement.
    std::vector<Later> measured;
    for (const auto& lt : later_) {
        const std::string& how = result_.outcomes[lt.outcome].placement_retry;
        if (how == "deferred" || how == "replaced") measured.push_back(lt);
    }
    replicate(measured);
    result_.placement.retry_seconds = now_seconds() - t_pass;
}

}  // namespace calib::core::detail
