// build_profile's mergers for the precision matrix and support, and for the run and its policy.
#include <map>
#include <set>

#include "build.hpp"
#include "calib/vocabulary.h"

namespace calib::core::build {

namespace {

// Per math precision of every matmul case: whether any succeeded, else why not.
struct PrecisionTally {
    std::set<std::string> all, supported;
    std::map<std::string, std::string> unsupported_reason;
};

PrecisionTally tally(const RunResult& r) {
    PrecisionTally t;
    for (const auto& out : r.outcomes) {
        if (out.info.family != Family::compute || out.info.operation_type != CALIB_OPERATION_MATMUL) continue;
        const std::string math = math_of(out.info);
        const Ending end = ending_of(out);
        t.all.insert(math);
        if (end.ok) t.supported.insert(math);
        else if (end.unsupported) t.unsupported_reason.emplace(math, out.message);
    }
    return t;
}

double best_of(const BestByPrecision& best, const std::string& pr) {
    auto it = best.gflops.find(pr);
    return it == best.gflops.end() ? 0.0 : it->second;
}

// The theoretical peak of a precision: from the device that reached its best figure.
std::pair<double, std::string> theoretical(const Judge& judge, const BestByPrecision& best, const std::string& pr) {
    auto it = best.plugin.find(pr);
    return judge.compute(it != best.plugin.end() ? it->second : judge.primary, pr);
}

// The origin's shape, exactly: origin precisions only (tf32 is in precision_support only).
PrecisionMatrix matrix(const PrecisionTally& t, const std::string& hardware_name, const Judge& judge,
                       const BestByPrecision& best) {
    PrecisionMatrix pm;
    pm.hardware_name = hardware_name;
    const double fp32 = best_of(best, CALIB_PRECISION_REFERENCE);
    for (const auto& pr : t.all) {
        if (!is_origin_precision(pr)) continue;
        if (t.supported.count(pr)) {
            pm.supported_precisions.push_back(pr);
            pm.peak_gflops_by_precision.emplace_back(pr, best_of(best, pr));
            if (fp32 > 0) pm.speedup_vs_fp32.emplace_back(pr, best_of(best, pr) / fp32);
        } else {
            pm.unsupported_precisions.push_back(pr);
        }
        if (double peak = theoretical(judge, best, pr).first; peak > 0) pm.theoretical_peaks.emplace_back(pr, peak);
    }
    return pm;
}

PrecisionSupport support(const PrecisionTally& t, const std::string& pr, const Judge& judge,
                         const BestByPrecision& best) {
    PrecisionSupport s;
    s.supported = t.supported.count(pr) > 0;
    if (!s.supported) {
        auto it = t.unsupported_reason.find(pr);
        s.reason = it != t.unsupported_reason.end() ? it->second : "no case succeeded";
    } else {
        s.best_gflops = best_of(best, pr);
    }
    std::tie(s.peak_gflops, s.peak_source) = theoretical(judge, best, pr);
    if (s.supported && s.peak_gflops > 0) {
        s.efficiency = best_of(best, pr) / s.peak_gflops;
        if (*s.efficiency > 1.0) s.suspicious = true;
    }
    return s;
}

PlacementSection placement_section(const RunResult& r, const RunOptions& o) {
    const auto& rp = r.placement;
    const auto& op = o.placement;
    PlacementSection s;
    s.probe = rp.probe;
    s.displaced_ratio = op.displaced_ratio;
    s.reference_min_share = op.reference_min_share;
    s.reference_confirm_seconds = op.reference_confirm_seconds;
    s.max_wait_per_case_seconds = op.max_wait_per_case;
    s.max_wait_per_plugin_seconds = op.max_wait_per_plugin;
    s.settle_min_seconds = op.settle_min_seconds;
    s.settle_max_seconds = op.settle_max_seconds;
    s.initial_reference_ns = rp.initial_reference_ns;
    s.settle_seconds = rp.settle_seconds;
    s.reference_ns = rp.reference_ns;
    s.probes = static_cast<int64_t>(rp.probes);
    s.displaced_probes = static_cast<int64_t>(rp.displaced_probes);
    s.wait_seconds = rp.wait_seconds;
    s.probe_seconds = rp.probe_seconds;
    s.retry_limit_seconds = op.retry_seconds;
    s.deferred_cases = static_cast<int64_t>(rp.deferred_cases);
    s.stale_cases = static_cast<int64_t>(rp.stale_cases);
    s.steal_max_share = op.steal_max_share;
    s.steal_cases = static_cast<int64_t>(rp.steal_cases);
    s.retried_cases = static_cast<int64_t>(rp.retried_cases);
    s.replaced_cases = static_cast<int64_t>(rp.replaced_cases);
    s.retry_seconds = rp.retry_seconds;
    s.corunner = rp.corunner;
    s.corunner_max_cpus = rp.corunner_max_cpus;
    s.corunner_window_seconds = rp.corunner_window_seconds;
    s.disturbed_cases = static_cast<int64_t>(rp.disturbed_cases);
    s.flagged_cases = static_cast<int64_t>(rp.flagged_cases);
    return s;
}

PolicySection policy_section(const RunResult& r, const RunOptions& o) {
    const auto& c = o.policy;
    PolicySection s;
    s.name = o.policy_name;
    s.warmup_seconds = c.warmup_seconds;
    s.min_sample_seconds = c.min_sample_seconds;
    s.target_noise = c.target_noise;
    s.min_samples = static_cast<int64_t>(c.min_samples);
    s.time_budget_seconds = c.time_budget_seconds;
    s.fixed_samples = static_cast<int64_t>(c.fixed_samples);
    s.pair_max_halfwidth = c.pair_max_halfwidth;
    s.pair_budget_extension = c.pair_budget_extension;
    s.pair_min_samples = static_cast<int64_t>(c.pair_min_samples);
    s.replicas = static_cast<int64_t>(o.replicas);
    // What the workers ran under (set by the worker unless the user's environment says otherwise).
    for (const auto& d : worker_env_defaults()) {
        const std::string v = worker_env_value(d);
        if (d.name == std::string("OMP_WAIT_POLICY")) s.openmp_wait_policy = v;
        s.worker_environment.emplace_back(d.name, v);
    }
    s.placement = placement_section(r, o);
    return s;
}

}  // namespace

PrecisionResult precisions(const RunResult& r, const std::string& hardware_name, const Judge& judge,
                           const BestByPrecision& best) {
    PrecisionResult res;
    const PrecisionTally t = tally(r);
    if (t.all.empty()) return res;
    res.matrix = matrix(t, hardware_name, judge, best);
    res.support.emplace();
    for (const auto& pr : t.all) res.support->emplace_back(pr, support(t, pr, judge, best));
    return res;
}

RunSection run_section(const RunResult& r, const RunOptions& o) {
    RunSection s;
    s.complete = r.complete;
    s.started_at = r.started_at;
    s.wall_seconds = r.wall_seconds;
    s.quick = o.quick;
    s.policy = policy_section(r, o);
    for (const auto& [id, sec] : r.plugin_seconds) s.plugin_seconds.emplace_back(id, sec);
    return s;
}

}  // namespace calib::core::build
