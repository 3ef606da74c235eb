#include "calib/core/run.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <set>

#include "calib/abi.h"
#include "calib/core/placement.hpp"

namespace calib::core {
namespace {

double now_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

std::string iso8601_now() {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// The --operations name a non-fusion case belongs to.
std::string operation_category(const CaseInfo& c) {
    if (c.family == Family::memory) return "memory";
    return c.operation_type;
}

std::string status_of(const WorkerFailure& f) { return failure_status(f); }

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

struct Selected {
    const CaseInfo* primary;  // compute/memory case, or the fused case of a pair
    const CaseInfo* unfused;  // fusion pairs only
};

bool selected_common(const RunOptions& o, const CaseInfo& c) {
    if (o.quick && !c.quick) return false;
    if (!o.precisions.empty() && !contains(o.precisions, c.precision)) return false;
    return true;
}

bool name_matches(const RunOptions& o, const CaseInfo& c) {
    return !o.filter || std::regex_search(c.name, *o.filter);
}

std::vector<Selected> select_cases(const RunOptions& o, const PluginRecord& p) {
    const bool want_ops = o.operations_given || !o.fusion_given;
    const bool want_fusion = o.fusion_given || !o.operations_given;
    std::vector<Selected> out;
    for (const auto& c : p.cases) {
        if (!selected_common(o, c)) continue;
        if (c.family != Family::fusion) {
            if (!want_ops || !name_matches(o, c)) continue;
            if (!o.operations.empty() && !contains(o.operations, operation_category(c))) continue;
            out.push_back({&c, nullptr});
            continue;
        }
        if (c.fusion_role != FusionRole::fused || !want_fusion) continue;
        if (!o.fusion_patterns.empty() && !contains(o.fusion_patterns, "all") &&
            !contains(o.fusion_patterns, fusion_category(c.fusion_pattern)) &&
            !contains(o.fusion_patterns, c.fusion_pattern))
            continue;
        const CaseInfo* partner = nullptr;
        for (const auto& u : p.cases)
            if (u.family == Family::fusion && u.fusion_role == FusionRole::unfused &&
                u.fusion_group == c.fusion_group)
                partner = &u;
        if (partner == nullptr) continue;  // reported by the plugin check; nothing to compare here
        if (!name_matches(o, c) && !name_matches(o, *partner)) continue;
        out.push_back({&c, partner});
    }
    return out;
}

}  // namespace

std::vector<std::string> operation_names() { return {"matmul", "memory"}; }

std::string fusion_category(const std::string& pattern) {
    std::string l = lower(pattern);
    if (l.rfind("linear", 0) == 0) return "linear";
    if (l.find("conv") != std::string::npos) return "conv";
    if (l.rfind("qk_", 0) == 0 || l.find("attention") != std::string::npos) return "attention";
    return l;
}

std::vector<std::string> fusion_pattern_names(const std::vector<PluginRecord>& plugins) {
    std::set<std::string> categories, patterns;
    for (const auto& p : plugins)
        for (const auto& c : p.cases)
            if (c.family == Family::fusion && !c.fusion_pattern.empty()) {
                categories.insert(fusion_category(c.fusion_pattern));
                patterns.insert(c.fusion_pattern);
            }
    std::vector<std::string> out{"all"};
    out.insert(out.end(), categories.begin(), categories.end());
    for (const auto& p : patterns)
        if (!categories.count(p)) out.push_back(p);
    return out;
}

std::vector<PluginRecord> scan_all(const DiscoveryOptions& discovery, const WorkerOptions& worker,
                                   ProgressSink* progress) {
    std::vector<PluginRecord> out;
    for (const auto& cand : discover(discovery)) {
        PluginRecord rec;
        if (cand.insecure) {
            rec.path = cand.path.string();
            rec.reason_code = RejectReason::insecure;
            rec.reason = cand.insecure_reason + " (use --allow-insecure-plugins to load it anyway)";
        } else {
            rec = scan_plugin(cand.path, worker);
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
    result.host = detect_host();
    // Measured here so the profile's host block carries them (detect_cpu_peaks reuses them); the clock
    // is read again at the end of the run.
    result.host.sustained_clock_ghz = measure_sustained_clock_ghz(result.host.logical_cpus);
    result.host.clock_readings_ghz.push_back(result.host.sustained_clock_ghz);
    result.host.fma_pipes = measure_fma_pipes(result.host);
    auto set_peaks = [&] {
        result.peaks = detect_cpu_peaks(result.host);
        apply_overrides(result.peaks, o.peak_gflops, o.peak_bandwidth);
    };
    set_peaks();

    auto policy = make_policy(o.policy_name, o.policy);
    std::optional<PlacementProbe> probe;
    std::optional<PlacementGuard> guard;
    if (o.placement_guard) {
        PlacementGuard::ProbeFn probe_fn = o.placement_probe;
        if (probe_fn) {
            result.placement.probe = "injected";
        } else {
            probe.emplace();
            result.placement.probe = probe->description();
            if (probe->available()) probe_fn = [&] { return probe->probe_ns(); };
        }
        if (probe_fn) {
            guard.emplace(std::move(probe_fn), o.placement);
            guard->settle(o.placement.settle_min_seconds, o.placement.settle_max_seconds);
            result.placement.initial_reference_ns = guard->reference_ns();
            result.placement.settle_seconds = guard->settle_seconds();
        }
    }
    PlacementGuard* g = guard ? &*guard : nullptr;
    const double run_timeout =
        o.run_timeout_seconds.value_or(o.run_timeout_factor * o.policy.time_budget_seconds + 10.0);

    std::vector<std::pair<const PluginRecord*, std::vector<Selected>>> work;
    std::size_t total = 0;
    for (const auto& p : plugins) {
        if (!p.loaded || !p.device_available) continue;
        auto sel = select_cases(o, p);
        total += sel.size();
        if (!sel.empty()) work.emplace_back(&p, std::move(sel));
    }

    // An outcome naming the plugin and case(s), before anything is measured.
    auto outcome_for = [](const PluginRecord& plugin, const Selected& s) {
        CaseOutcome out;
        out.plugin_id = plugin.id;
        out.plugin_path = plugin.path;
        out.device_name = plugin.device_name;
        out.info = *s.primary;
        if (s.unfused != nullptr) out.unfused = *s.unfused;
        return out;
    };
    auto steal_now = [&] { return o.steal_probe ? o.steal_probe() : steal_seconds_per_cpu(); };
    // How far off a case was timed: the share of its samples kept displaced, or of its wall time stolen.
    auto off_fraction = [&](const CaseOutcome& out) {
        return std::max(displaced_fraction(out), steal_fraction(out, o.placement.steal_max_share));
    };
    // One case (or fused/unfused pair) in `client`'s worker: prepare, measure under the policy, release.
    auto measure_one = [&](PluginClient& client, const PluginRecord& plugin, const Selected& s) {
        CaseOutcome out = outcome_for(plugin, s);
        const double t_case = now_seconds();
        const std::vector<double> steal_before = steal_now();
        std::vector<uint32_t> instances;
        try {
            double t_prep = now_seconds();
            auto a = client.prepare(s.primary->index, o.prepare_timeout_seconds);
            out.prepare_seconds = now_seconds() - t_prep;
            instances.push_back(a.instance);
            out.instance = a.info;
            RunFn run_a = [&, id = a.instance](uint64_t n) { return client.run(id, n, run_timeout); };
            auto cancelled = [&] { return cancel.load(); };
            if (s.unfused == nullptr) {
                out.measurement = policy->measure(run_a, cancelled, g);
            } else {
                t_prep = now_seconds();
                auto b = client.prepare(s.unfused->index, o.prepare_timeout_seconds);
                out.prepare_seconds += now_seconds() - t_prep;
                instances.push_back(b.instance);
                out.unfused_instance = b.info;
                RunFn run_b = [&, id = b.instance](uint64_t n) { return client.run(id, n, run_timeout); };
                out.pair = policy->measure_pair(run_a, run_b, cancelled, g);
            }
            const auto reason = out.pair ? out.pair->reason : out.measurement->reason;
            if (reason == StopReason::cancelled) {
                out.status = "cancelled";
                out.message = "interrupted before the measurement finished";
            }
        } catch (const WorkerFailure& f) {
            // A second interrupt kills the worker: that is a cancellation, not a crash.
            out.status = cancel.load() ? "cancelled" : status_of(f);
            out.message = f.what();
        } catch (const std::exception& e) {
            out.status = "failed";
            out.message = e.what();
        }
        for (auto id : instances) client.release(id);
        out.wall_seconds = now_seconds() - t_case;
        out.steal_seconds = steal_delta(steal_before, steal_now());
        return out;
    };

    // Cases for the end-of-run pass: deferred ones (not measured: the CPUs were displaced and the
    // plugin's allowance was spent when their turn came) and ones that kept displaced samples.
    struct Later {
        std::size_t outcome;  // index into result.outcomes
        const PluginRecord* plugin;
        Selected sel;
        bool deferred;
        double displaced;     // how far off: share of samples kept displaced or of time stolen (1 when deferred)
        double reference_ns = 0;  // the reference placement it was measured in (clean cases)
    };
    std::vector<Later> later;
    // Clean cases, with the reference they were measured in: when the reference later moves down to a
    // faster placement (a run that started with the vCPUs spread), they were in fact timed displaced.
    std::vector<Later> measured_in;
    std::size_t done = 0;
    for (auto& [plugin, cases] : work) {
        if (cancel.load()) break;
        const double t_plugin = now_seconds();
        PluginClient client(plugin->path, o.worker);
        if (g != nullptr) g->new_allowance();
        for (const auto& s : cases) {
            if (cancel.load()) {
                result.complete = false;
                break;
            }
            if (g != nullptr && o.placement.retry_seconds > 0 && g->allowance_spent() && !g->in_reference()) {
                CaseOutcome placeholder = outcome_for(*plugin, s);
                placeholder.status = "cancelled";
                placeholder.message = "deferred to the end of the run (CPUs displaced) and interrupted before it";
                later.push_back({result.outcomes.size(), plugin, s, true, 1.0});
                result.outcomes.push_back(std::move(placeholder));
                ++result.placement.deferred_cases;
                continue;
            }
            if (progress != nullptr) progress->case_started(plugin->id, s.primary->name, done, total);
            CaseOutcome out = measure_one(client, *plugin, s);
            ++done;
            if (progress != nullptr) progress->case_finished(out, done, total);
            if (const double d = off_fraction(out); d > 0) {
                later.push_back({result.outcomes.size(), plugin, s, false, d});
                if (steal_fraction(out, o.placement.steal_max_share) > 0) ++result.placement.steal_cases;
            } else if (g != nullptr && out.status == "ok") {
                measured_in.push_back({result.outcomes.size(), plugin, s, false, 0, g->reference_ns()});
            }
            result.outcomes.push_back(std::move(out));
        }
        result.plugin_seconds[plugin->id] += now_seconds() - t_plugin;
    }

    if (g != nullptr && o.placement.retry_seconds > 0)
        for (const auto& m : measured_in) {
            if (!(m.reference_ns > o.placement.displaced_ratio * g->reference_ns())) continue;
            CaseOutcome& out = result.outcomes[m.outcome];
            for (Measurement* side : {out.measurement ? &*out.measurement : nullptr,
                                      out.pair ? &out.pair->a : nullptr, out.pair ? &out.pair->b : nullptr})
                if (side != nullptr) side->displaced_samples = side->samples.size();
            later.push_back({m.outcome, m.plugin, m.sel, false, 1.0, m.reference_ns});
            ++result.placement.stale_cases;
        }

    // The end-of-run pass, one worker per plugin: deferred cases are measured (after waiting for the
    // reference placement while placement.retry_seconds last), then cases that kept displaced samples,
    // most displaced first, are measured again when the placement is the reference one (waited for
    // while the seconds last, probed once after); a retry replaces the original only when fewer of its
    // samples were displaced.
    if (g != nullptr && !later.empty() && o.placement.retry_seconds > 0 && !cancel.load()) {
        std::stable_sort(later.begin(), later.end(), [](const Later& x, const Later& y) {
            if (x.plugin != y.plugin) return x.plugin->path < y.plugin->path;
            if (x.deferred != y.deferred) return x.deferred;
            return x.displaced > y.displaced;
        });
        const double t_pass = now_seconds();
        const double deadline = t_pass + o.placement.retry_seconds;
        if (progress != nullptr) progress->retry_started(later.size());
        g->new_allowance();  // one allowance for the whole pass: it has its own wait above
        std::optional<PluginClient> client;
        const PluginRecord* client_plugin = nullptr;
        for (const auto& lt : later) {
            if (cancel.load()) break;
            // Within the pass's time, wait for the reference placement; after it, take one probe (a
            // retry once the time is up still runs if the placement is right at that moment).
            const double left = deadline - now_seconds();
            const bool back = left > 0 ? g->wait_within(left) : g->in_reference();
            if (!lt.deferred && !back) continue;  // retries only in the reference placement
            const double t_case = now_seconds();
            if (client_plugin != lt.plugin) {
                client.reset();
                client.emplace(lt.plugin->path, o.worker);
                client_plugin = lt.plugin;
            }
            if (lt.deferred && progress != nullptr)
                progress->case_started(lt.plugin->id, lt.sel.primary->name, done, total);
            CaseOutcome again = measure_one(*client, *lt.plugin, lt.sel);
            CaseOutcome& orig = result.outcomes[lt.outcome];
            if (lt.deferred) {
                again.placement_retry = "deferred";
                orig = std::move(again);
                ++done;
                if (progress != nullptr) progress->case_finished(orig, done, total);
            } else {
                ++result.placement.retried_cases;
                if (again.status == "ok" && off_fraction(again) < lt.displaced) {
                    again.placement_retry = "replaced";
                    orig = std::move(again);
                    ++result.placement.replaced_cases;
                } else {
                    orig.placement_retry = "original_kept";
                }
            }
            result.plugin_seconds[lt.plugin->id] += now_seconds() - t_case;
        }
        result.placement.retry_seconds = now_seconds() - t_pass;
    }
    if (cancel.load()) result.complete = false;
    // The clock again at the end: on a shared host the all-core clock moves with the neighbours' load
    // (3.56 GHz at the start of one run, 3.66 at others), and a peak from a low reading let two matmuls
    // read 100.3-100.8% efficiency. The peak uses the higher reading.
    if (!cancel.load() && result.host.sustained_clock_ghz > 0) {
        const double end_ghz = measure_sustained_clock_ghz(result.host.logical_cpus);
        result.host.clock_readings_ghz.push_back(end_ghz);
        if (end_ghz > result.host.sustained_clock_ghz) {
            result.host.sustained_clock_ghz = end_ghz;
            set_peaks();
        }
    }
    if (guard) {
        result.placement.reference_ns = guard->reference_ns();
        result.placement.probes = guard->probes();
        result.placement.displaced_probes = guard->displaced_probes();
        result.placement.wait_seconds = guard->used_seconds();
        result.placement.probe_seconds = guard->probe_seconds();
    }
    result.wall_seconds = now_seconds() - t_start;
    return result;
}

}  // namespace calib::core
