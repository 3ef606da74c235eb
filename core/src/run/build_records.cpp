// build_profile's record mergers: operation records (compute and bandwidth) and fusion records.
#include <algorithm>
#include <cstdio>
#include <map>

#include "build.hpp"
#include "calib/plugin.h"
#include "calib/vocabulary.h"

namespace calib::core::build {

namespace json = boost::json;

namespace {

bool throttled(const EnergyWindow& w) {
    return (w.throttle & (CALIB_THROTTLE_POWER_CAP | CALIB_THROTTLE_THERMAL | CALIB_THROTTLE_HW_SLOWDOWN)) != 0 ||
           w.power_capped_seconds.value_or(0) > 0 || w.thermal_capped_seconds.value_or(0) > 0;
}

bool reads_throttle(const EnergyWindow& w) {
    return (w.end.valid & (CALIB_STATE_THROTTLE | CALIB_STATE_THROTTLE_TIME)) != 0;
}

// Energy and conditions of a case whose plugin reads its device's state (ABI 1.1); empty otherwise.
EnergyFacts energy_facts(const CaseOutcome& c) {
    EnergyFacts f;
    const double flops = c.info.flops, bytes = c.info.bytes;
    if (c.energy && !c.energy->note.empty()) {
        f.energy_note = c.energy->note;  // e.g. RAPL unavailable: nothing else to say
    } else if (c.energy) {
        const EnergyWindow& w = *c.energy;
        f.energy_window_seconds = w.seconds;
        if (w.seconds > 0) f.busy_fraction = w.busy_seconds / w.seconds;
        if (w.energy_joules && w.seconds < w.min_seconds) {
            char note[160];
            std::snprintf(note, sizeof note,
                          "window %.2f s is below %.2f s: the energy counter's steps would be most of it (see the "
                          "sustained window)", w.seconds, w.min_seconds);
            f.energy_note = note;
        } else if (w.energy_joules && w.executions > 0 && w.seconds > 0) {
            const double per = *w.energy_joules / static_cast<double>(w.executions);
            f.energy_joules = *w.energy_joules;
            f.energy_per_execution_joules = per;
            f.avg_power_watts = *w.energy_joules / w.seconds;
            if (flops > 0) f.pj_per_flop = per / flops * 1e12;
            else if (bytes > 0) f.pj_per_byte = per / bytes * 1e12;
        }
        const DeviceState& e = w.end;
        if ((e.valid & CALIB_STATE_CLOCKS) != 0) f.end_sm_clock_mhz = e.sm_clock_mhz, f.end_memory_clock_mhz = e.memory_clock_mhz;
        if ((e.valid & CALIB_STATE_TEMPERATURE) != 0) f.end_temperature_c = e.temperature_c;
        if ((e.valid & CALIB_STATE_POWER_LIMIT) != 0) f.end_power_limit_watts = e.power_limit_watts;
        if (reads_throttle(w)) {
            f.throttle = throttle_text(w.throttle);
            f.throttled = throttled(w);
        }
        f.power_capped_seconds = w.power_capped_seconds;
        f.thermal_capped_seconds = w.thermal_capped_seconds;
    }
    if (c.sustained && c.sustained->busy_seconds > 0) {
        const EnergyWindow& w = *c.sustained;
        const double n = static_cast<double>(w.executions);
        f.sustained_seconds = w.busy_seconds;
        if (flops > 0) f.sustained_gflops = flops * n / w.busy_seconds / 1e9;
        else if (bytes > 0) f.sustained_gbps = bytes * n / w.busy_seconds / 1e9;
        if (w.energy_joules && w.seconds > 0) {
            f.sustained_energy_joules = *w.energy_joules;
            f.sustained_power_watts = *w.energy_joules / w.seconds;
            if (flops > 0) f.sustained_pj_per_flop = *w.energy_joules / (flops * n) * 1e12;
            else if (bytes > 0) f.sustained_pj_per_byte = *w.energy_joules / (bytes * n) * 1e12;
        }
        if ((w.end.valid & CALIB_STATE_CLOCKS) != 0) f.sustained_sm_clock_mhz = w.end.sm_clock_mhz;
        if ((w.end.valid & CALIB_STATE_TEMPERATURE) != 0) f.sustained_temperature_c = w.end.temperature_c;
        if (reads_throttle(w)) {
            f.sustained_throttle = throttle_text(w.throttle);
            f.sustained_throttled = throttled(w);
        }
        f.sustained_power_capped_seconds = w.power_capped_seconds;
        f.sustained_thermal_capped_seconds = w.thermal_capped_seconds;
    }
    return f;
}

// What every operation record has: latencies, and in extra_params the case's params, where it ran,
// its instance (with the instance's own params) and its sample statistics. The judgement follows.
// `own_operation`: the case's type is not an origin one.
OperationRecord base_record(const CaseOutcome& c, bool own_operation) {
    const auto& ci = c.info;
    const auto& st = c.measurement->stats;
    OperationRecord rec;
    rec.mean_latency_ms = ms(st.mean);
    rec.std_latency_ms = ms(st.stddev);
    rec.min_latency_ms = ms(st.min);
    rec.max_latency_ms = ms(st.max);
    rec.num_trials = static_cast<int64_t>(st.count);
    auto& e = rec.extra_params;
    for (const auto& [k, v] : ci.params) e[k] = param_value(v);
    CaseOrigin origin;
    if (own_operation) origin.operation = ci.operation_type;
    origin.precision = ci.precision;
    origin.device = c.device_name;
    if (!ci.devices.empty()) origin.device_index = ci.devices.front();
    origin.plugin = c.plugin_id;
    origin.case_name = ci.name;
    append(e, origin);
    append(e, InstanceFacts{c.instance.implementation, c.instance.reference_fallback, c.instance.verified,
                            c.instance.max_abs_error});
    for (const auto& [k, v] : c.instance.params) e[k] = param_value(v);
    append(e, sample_facts(c));
    append(e, energy_facts(c));
    return rec;
}

// What the record was judged against (filled in by the caller), and the verdict.
void add_judgement(OperationRecord& rec, Judgement j) {
    if (rec.efficiency > 1.0) j.suspicious = true;
    append(rec.extra_params, j);
}

OperationRecord compute_record(const CaseOutcome& c, const Judge& judge, double& peak) {
    const auto& ci = c.info;
    const double median = c.measurement->stats.median;
    const bool origin_type = is_origin_operation(ci.operation_type);
    OperationRecord rec = base_record(c, !origin_type);
    rec.operation_type = origin_type ? ci.operation_type : CALIB_OPERATION_UNKNOWN;
    rec.measured_gflops = ci.flops / median / 1e9;
    rec.achieved_bandwidth_gbps = ci.bytes / median / 1e9;
    std::string source;
    std::tie(peak, source) = judge.compute(c.plugin_id, math_of(ci));
    rec.efficiency = peak > 0 ? rec.measured_gflops / peak : 0;
    rec.arithmetic_intensity = ci.bytes > 0 ? ci.flops / ci.bytes : 0;
    const double ridge = judge.bandwidth_gbps > 0 && peak > 0 ? peak / judge.bandwidth_gbps : 0;
    rec.memory_bound = ridge > 0 && rec.arithmetic_intensity < ridge;
    rec.compute_bound = !rec.memory_bound;
    if (ci.operation_type == CALIB_OPERATION_MATMUL && ci.shape.size() == 3) {
        rec.input_shape = {ci.shape[0], ci.shape[1]};
        rec.output_shape = {ci.shape[0], ci.shape[2]};
    } else {
        rec.input_shape = rec.output_shape = ci.shape;
    }
    Judgement j;
    j.flops = ci.flops;
    j.bytes = ci.bytes;
    j.peak_gflops = peak;
    j.peak_source = source;
    if (source == "measured ceiling") {  // the formula beside it; above the ceiling is flagged
        j.formula_peak_gflops = judge.formula(c.plugin_id, math_of(ci)).first;
        if (rec.measured_gflops > peak) j.above_ceiling = true;
    }
    add_judgement(rec, j);
    return rec;
}

std::vector<std::string> split_operators(const std::string& v) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= v.size()) {
        auto end = v.find(',', start);
        if (end == std::string::npos) end = v.size();
        if (end > start) out.push_back(v.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

// The origin's fusion fields: latencies and GFLOPS of both variants, speedup, memory reduction.
FusionRecord fusion_origin_fields(const CaseOutcome& c) {
    const auto& f = c.info;
    const auto& u = *c.unfused;
    const auto& pm = *c.pair;
    FusionRecord rec;
    rec.fusion_pattern = f.fusion_pattern;
    for (const auto& [k, v] : u.params)
        if (k == CALIB_PARAM_OPERATORS) rec.operators = split_operators(v);
    rec.num_operators = static_cast<int64_t>(rec.operators.size());
    rec.unfused_latency_ms = ms(pm.b.stats.median);
    rec.unfused_gflops = u.flops / pm.b.stats.median / 1e9;
    rec.unfused_memory_bytes = static_cast<int64_t>(u.bytes);
    rec.fused_latency_ms = ms(pm.a.stats.median);
    rec.fused_gflops = f.flops / pm.a.stats.median / 1e9;
    rec.fused_memory_bytes = static_cast<int64_t>(f.bytes);
    rec.speedup_factor = rec.unfused_latency_ms / rec.fused_latency_ms;
    rec.memory_reduction = u.bytes > 0 ? 1.0 - f.bytes / u.bytes : 0;
    rec.gflops_improvement = rec.speedup_factor - 1.0;
    rec.input_shape = f.shape;
    rec.num_trials = static_cast<int64_t>(std::min(pm.a.stats.count, pm.b.stats.count));
    return rec;
}

// calib's fusion extra_params: the fused case's params, verification, both variants' statistics.
void add_fusion_extras(json::object& e, const CaseOutcome& c, double speedup) {
    const auto& pm = *c.pair;
    for (const auto& [k, v] : c.info.params)
        if (k != CALIB_PARAM_OPERATORS && k != CALIB_PARAM_NUM_OPERATORS) e[k] = param_value(v);
    FusionExtras x;
    x.precision = c.info.precision;
    x.device = c.device_name;
    x.plugin = c.plugin_id;
    x.speedup_ci_low = pm.speedup_ci_low;
    x.speedup_ci_high = pm.speedup_ci_high;
    if (c.interval_factor_low > 0) {  // replicas: the interval over them
        x.speedup_ci_low = speedup * c.interval_factor_low;
        x.speedup_ci_high = speedup * c.interval_factor_high;
        x.replicas = static_cast<int64_t>(c.replica_log.size());
        x.replica_figures.emplace();
        for (double v : c.replica_log) x.replica_figures->push_back(std::exp(v));
        x.replica_log_se = c.replica_se;
    }
    x.tier = to_string(fusion_tier(speedup));
    x.verified = c.instance.verified && c.unfused_instance.verified;
    x.max_abs_error = std::max(c.instance.max_abs_error, c.unfused_instance.max_abs_error);
    x.tolerance = c.instance.tolerance;
    x.reference_fallback = c.instance.reference_fallback || c.unfused_instance.reference_fallback;
    x.fused_implementation = c.instance.implementation;
    x.unfused_implementation = c.unfused_instance.implementation;
    x.fused_median_latency_ms = ms(pm.a.stats.median);
    x.unfused_median_latency_ms = ms(pm.b.stats.median);
    x.fused_p10_latency_ms = ms(pm.a.stats.p10);
    x.fused_p90_latency_ms = ms(pm.a.stats.p90);
    x.unfused_p10_latency_ms = ms(pm.b.stats.p10);
    x.unfused_p90_latency_ms = ms(pm.b.stats.p90);
    x.fused_cv = pm.a.stats.cv;
    x.unfused_cv = pm.b.stats.cv;
    x.samples = static_cast<int64_t>(pm.a.stats.count);
    x.iterations_per_sample = static_cast<int64_t>(pm.a.iterations_per_sample);
    x.unfused_iterations_per_sample = static_cast<int64_t>(pm.b.iterations_per_sample);
    x.stopping_reason = to_string(pm.reason);
    x.placement = placement_facts(pm.a, c);
    x.case_seconds = c.wall_seconds;
    x.prepare_seconds = c.prepare_seconds;
    x.steal_seconds = c.steal_seconds;
    x.fused_case = c.info.name;
    x.unfused_case = c.unfused->name;
    append(e, x);
}

double element_count(const std::vector<int64_t>& s) {
    double n = 1;
    for (auto d : s) n *= static_cast<double>(d);
    return n;
}

// "<pattern>@<shape>", with "@<precision>" unless fp32.
std::string shaped_fusion_key(const CaseInfo& f) {
    std::string key = fusion_key(f.fusion_pattern, f.shape, CALIB_PRECISION_REFERENCE);
    if (f.precision != CALIB_PRECISION_REFERENCE) key += "@" + f.precision;
    return key;
}

}  // namespace

std::string unique_key(std::set<std::string>& used, const std::string& key) {
    std::string k = key;
    for (int i = 2; used.count(k); ++i) k = key + "#" + std::to_string(i);
    used.insert(k);
    return k;
}

void add_compute_records(Profile& p, const Outcomes& parts, const Judge& judge, BestByPrecision& best,
                         std::set<std::string>& used_keys) {
    for (const auto* c : parts.compute) {
        const auto& ci = c->info;
        double peak = 0;
        OperationRecord rec = compute_record(*c, judge, peak);
        const std::string math = math_of(ci);
        if (ci.operation_type == CALIB_OPERATION_MATMUL && rec.measured_gflops > best.gflops[math]) {
            best.gflops[math] = rec.measured_gflops;
            best.plugin[math] = c->plugin_id;
        }
        auto key_params = ci.params;
        if (ci.precision != CALIB_PRECISION_REFERENCE) key_params.emplace_back(CALIB_PARAM_PRECISION, ci.precision);
        std::string key = unique_key(used_keys, operation_key(rec.operation_type, key_params, rec.input_shape));
        p.operation_profiles.emplace_back(key, std::move(rec));
    }
}

namespace {

// One matmul record as a precision_results entry (its math precision: tf32 is its own).
PrecisionTestResult precision_entry(const OperationRecord& r) {
    PrecisionTestResult t;
    const std::string math = text_field(r.extra_params, CALIB_PARAM_MATH);
    t.precision = math.empty() ? text_field(r.extra_params, CALIB_PARAM_PRECISION) : math;
    t.supported = true;
    t.measured_gops = r.measured_gflops;
    t.efficiency = r.efficiency;
    t.mean_latency_ms = r.mean_latency_ms;
    t.std_latency_ms = r.std_latency_ms;
    t.min_latency_ms = r.min_latency_ms;
    t.max_latency_ms = r.max_latency_ms;
    t.test_size = r.input_shape.empty() ? 0 : r.input_shape.front();
    t.num_trials = r.num_trials;
    t.arithmetic_intensity = r.arithmetic_intensity;
    t.achieved_bandwidth_gbps = r.achieved_bandwidth_gbps;
    return t;
}

std::string shape_text(const std::vector<int64_t>& s) {
    std::string t;
    for (auto d : s) t += std::to_string(d) + "x";
    return t;
}

}  // namespace

// precision_results (origin-2026.md): every precision measured, or found unsupported, at a matmul
// shape on one device, on the first record of that shape (the fp32 one, which the plugins list first).
void add_precision_results(Profile& p, const Outcomes& parts) {
    std::map<std::string, std::vector<OperationRecord*>> groups;  // device + shapes -> records, in order
    std::vector<std::string> order;
    auto group_of = [](const std::string& device, const std::vector<int64_t>& in, const std::vector<int64_t>& out) {
        return device + "|" + shape_text(in) + "|" + shape_text(out);
    };
    for (auto& [key, r] : p.operation_profiles) {
        if (r.operation_type != CALIB_OPERATION_MATMUL || !(r.measured_gflops > 0)) continue;
        const std::string g = group_of(text_field(r.extra_params, "device"), r.input_shape, r.output_shape);
        if (groups[g].empty()) order.push_back(g);
        groups[g].push_back(&r);
    }
    for (const auto& g : order) {
        auto& recs = groups[g];
        std::vector<std::pair<std::string, PrecisionTestResult>> results;
        double fp32 = 0;
        for (const auto* r : recs) {
            results.emplace_back(precision_entry(*r).precision, precision_entry(*r));
            if (results.back().first == CALIB_PRECISION_REFERENCE) fp32 = r->measured_gflops;
        }
        for (auto& [name, t] : results)
            if (fp32 > 0) t.speedup_vs_fp32 = *t.measured_gops / fp32;
        for (const auto* c : parts.failed) {  // the precisions this device could not run at this shape
            if (c->info.operation_type != CALIB_OPERATION_MATMUL || c->info.shape.size() != 3 || !ending_of(*c).unsupported)
                continue;
            const auto& s = c->info.shape;
            if (group_of(c->device_name, {s[0], s[1]}, {s[0], s[2]}) != g) continue;
            PrecisionTestResult t;
            t.precision = math_of(c->info);
            t.failure_reason = c->message;
            t.test_size = s[0];
            results.emplace_back(t.precision, std::move(t));
        }
        recs.front()->precision_results = std::move(results);
    }
}

namespace {

// A bandwidth record: GB/s from the median against the device's bandwidth peak.
OperationRecord bandwidth_record(const CaseOutcome& c, const Judge& judge) {
    const auto& ci = c.info;
    OperationRecord rec = base_record(c, false);
    rec.operation_type = ci.operation_type;
    rec.measured_gflops = 0;
    rec.achieved_bandwidth_gbps = ci.bytes / c.measurement->stats.median / 1e9;
    rec.efficiency = judge.bandwidth_gbps > 0 ? rec.achieved_bandwidth_gbps / judge.bandwidth_gbps : 0;
    rec.arithmetic_intensity = 0;
    rec.memory_bound = true;
    rec.compute_bound = false;
    rec.input_shape = rec.output_shape = ci.shape;
    Judgement j;
    j.bytes = ci.bytes;
    j.peak_bandwidth_gbps = judge.bandwidth_gbps;
    j.peak_source = judge.bandwidth_source;
    add_judgement(rec, j);
    return rec;
}

}  // namespace

void add_copy_records(Profile& p, const Outcomes& parts, const MemoryResult& memory, const Judge& judge,
                      std::set<std::string>& used_keys) {
    if (const CaseOutcome* c = memory.memory_copy_point; c != nullptr) {
        OperationRecord rec = bandwidth_record(*c, judge);
        rec.operation_type = "add";  // the origin stores its memory copy test as "add"
        rec.extra_params["operation"] = c->info.operation_type;
        rec.extra_params["memory_level"] = memory.hierarchy.levels.empty() ? "" : memory.hierarchy.levels.back().name;
        ParamList key_params = {{"operation", c->info.operation_type}};
        for (const auto& [k, v] : c->info.params)
            if (k == CALIB_PARAM_WORKING_SET_BYTES) key_params.emplace_back(k, v);
        p.operation_profiles.emplace_back(unique_key(used_keys, operation_key(rec.operation_type, key_params, rec.input_shape)),
                                          std::move(rec));
    }
    for (const auto* c : parts.copies) {
        OperationRecord rec = bandwidth_record(*c, judge);
        std::string key = unique_key(used_keys, operation_key(rec.operation_type, c->info.params, rec.input_shape));
        p.operation_profiles.emplace_back(key, std::move(rec));
    }
}

// One record per shape and precision; then the bare pattern key (what the origin's consumers look
// up): a copy of the record at the largest measured shape in the most preferred precision measured --
// fp32, else bf16, else fp16, else the first seen (a GPU's fusion cases may have no fp32 at all).
void add_fusion_records(Profile& p, const std::vector<const CaseOutcome*>& fusion) {
    auto rank = [](const std::string& precision) {
        static const std::vector<std::string> preferred = {CALIB_PRECISION_REFERENCE, "bf16", "fp16"};
        auto it = std::find(preferred.begin(), preferred.end(), precision);
        return static_cast<int>(it - preferred.begin());
    };
    std::map<std::string, const CaseOutcome*> alias;  // pattern -> the case its bare key copies
    std::set<std::string> used;
    for (const auto* c : fusion) {
        FusionRecord rec = fusion_origin_fields(*c);
        add_fusion_extras(rec.extra_params, *c, rec.speedup_factor);
        const auto& f = c->info;
        auto& best = alias[f.fusion_pattern];
        if (best == nullptr || rank(f.precision) < rank(best->info.precision) ||
            (rank(f.precision) == rank(best->info.precision) && element_count(f.shape) > element_count(best->info.shape)))
            best = c;
        p.fusion_profiles.emplace_back(unique_key(used, shaped_fusion_key(f)), std::move(rec));
    }
    for (const auto& [pattern, c] : alias) {
        const std::string key = shaped_fusion_key(c->info);
        for (const auto& [k, rec] : p.fusion_profiles)
            if (k == key) {
                FusionRecord copy = rec;
                p.fusion_profiles.emplace_back(unique_key(used, pattern), std::move(copy));
                break;
            }
    }
}

}  // namespace calib::core::build
