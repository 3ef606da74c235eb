// Stage 2 of a run: every selected case measured in its plugin's worker (prepare, measure under the
// policy, release), then the end-of-run pass for cases timed off the reference CPU placement.
#include <algorithm>

#include "calib/core/placement.hpp"
#include "stages.hpp"

namespace calib::core::detail {
namespace {

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
      policy_(make_policy(o.policy_name, o.policy)),
      run_timeout_(o.run_timeout_seconds.value_or(o.run_timeout_factor * o.policy.time_budget_seconds + 10.0)) {}

std::vector<double> Scheduler::steal_now() const {
    return o_.steal_probe ? o_.steal_probe() : steal_seconds_per_cpu();
}

// How far off a case was timed: the share of its samples kept displaced, or of its wall time stolen.
double Scheduler::off_fraction(const CaseOutcome& out) const {
    return std::max(displaced_fraction(out), steal_fraction(out, o_.placement.steal_max_share));
}

// An outcome naming the plugin and case(s), before anything is measured.
CaseOutcome Scheduler::outcome_for(const PluginRecord& plugin, const Selected& s) const {
    CaseOutcome out;
    out.plugin_id = plugin.id;
    out.plugin_path = plugin.path;
    out.device_name = plugin.device_name;
    out.info = *s.primary;
    if (s.unfused != nullptr) out.unfused = *s.unfused;
    return out;
}

// One case (or fused/unfused pair) in `client`'s worker: prepare, measure under the policy, release.
CaseOutcome Scheduler::measure_one(PluginClient& client, const PluginRecord& plugin, const Selected& s) {
    CaseOutcome out = outcome_for(plugin, s);
    const double t_case = now_seconds();
    const std::vector<double> steal_before = steal_now();
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
            out.measurement = policy_->measure(run_a, cancelled, guard_);
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
    return out;
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
    if (guard_ != nullptr) guard_->new_allowance();
    for (const auto& s : cases) {
        if (cancel_.load()) {
            result_.complete = false;
            break;
        }
        if (guard_ != nullptr && o_.placement.retry_seconds > 0 && guard_->allowance_spent() &&
            !guard_->in_reference()) {
            defer(plugin, s);
            continue;
        }
        if (progress_ != nullptr) progress_->case_started(plugin.id, s.primary->name, done_, total_);
        CaseOutcome out = measure_one(client, plugin, s);
        ++done_;
        if (progress_ != nullptr) progress_->case_finished(out, done_, total_);
        if (const double d = off_fraction(out); d > 0) {
            later_.push_back({result_.outcomes.size(), &plugin, s, false, d});
            if (steal_fraction(out, o_.placement.steal_max_share) > 0) ++result_.placement.steal_cases;
        } else if (guard_ != nullptr && out.status == "ok") {
            measured_in_.push_back({result_.outcomes.size(), &plugin, s, false, 0, guard_->reference_ns()});
        }
        result_.outcomes.push_back(std::move(out));
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
        orig = std::move(again);
        ++result_.placement.replaced_cases;
    } else {
        orig.placement_retry = "original_kept";
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
    result_.placement.retry_seconds = now_seconds() - t_pass;
}

}  // namespace calib::core::detail
