// Merges a run's outcomes into a HardwareCalibration profile (docs/profile-format.md).
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <boost/version.hpp>

#include "calib/abi.h"
#include "calib/core/run.hpp"

namespace calib::core {
namespace {

namespace json = boost::json;

const std::set<std::string>& origin_operation_types() {
    static const std::set<std::string> s = {
        "matmul", "conv2d", "conv1d", "depthwise_conv", "transpose_conv", "relu", "gelu", "sigmoid", "add",
        "mul", "softmax", "layernorm", "batchnorm", "maxpool", "avgpool", "adaptive_pool", "attention",
        "flash_attention", "embedding", "linear", "unknown"};
    return s;
}

const std::set<std::string>& origin_precisions() {
    static const std::set<std::string> s = {"fp64", "fp32",  "fp16",  "fp8",   "fp8_e4m3", "fp8_e5m2",
                                            "fp4",  "bf16", "int32", "int16", "int8",     "int4"};
    return s;
}

// A parameter's text as a JSON number when the whole text is one, else as a string.
json::value param_value(const std::string& text) {
    if (!text.empty()) {
        char* end = nullptr;
        long long i = std::strtoll(text.c_str(), &end, 10);
        if (end != nullptr && *end == '\0') return json::value(static_cast<int64_t>(i));
        double d = std::strtod(text.c_str(), &end);
        if (end != nullptr && *end == '\0' && std::isfinite(d)) return json::value(d);
    }
    return json::value(text);
}

double ms(double seconds) { return seconds * 1e3; }

std::string shape_text(const std::vector<int64_t>& shape) {
    std::string s;
    for (auto d : shape) {
        if (!s.empty()) s += 'x';
        s += std::to_string(d);
    }
    return s;
}

// Peaks a case is judged against: the plugin's own for its device (source "plugin"), else the host's.
struct PeakLookup {
    const RunResult& r;
    double bandwidth_gbps = 0;  // ridge-point bandwidth (user, else measured DRAM triad)

    std::pair<double, std::string> compute(const std::string& plugin_id, const std::string& precision) const {
        for (const auto& p : r.plugins)
            if (p.id == plugin_id)
                for (const auto& pk : p.peaks)
                    if (pk.precision == precision && pk.gflops > 0) return {pk.gflops, "plugin"};
        if (const Peak* pk = r.peaks.find(precision); pk != nullptr && pk->gflops > 0)
            return {pk->gflops, pk->source};
        return {0.0, "unknown"};
    }
};

// The math a case runs in: its "math" param when given (tf32 is fp32 storage with tf32 math), else its
// precision. Peaks, the precision matrix and precision_support are keyed by it.
std::string math_of(const CaseInfo& c) {
    for (const auto& [k, v] : c.params)
        if (k == "math" && !v.empty()) return v;
    return c.precision;
}

// What the placement guard did to this case's samples (measure.hpp, PlacementGuard).
// `retry`: what the end-of-run retry pass did (CaseOutcome::placement_retry), when it ran.
void add_placement(json::object& e, const Measurement& m, const std::string& retry) {
    e["discarded_samples"] = static_cast<int64_t>(m.discarded_samples);
    e["displaced_samples"] = static_cast<int64_t>(m.displaced_samples);
    e["placement_wait_seconds"] = m.placement_wait_seconds;
    if (!retry.empty()) e["placement_retry"] = retry;
}

void add_stats(json::object& e, const SampleStats& s, const CaseOutcome& c) {
    const Measurement& m = *c.measurement;
    e["case_seconds"] = c.wall_seconds;  // wall time of the case: prepare, warm-up, samples, release
    e["prepare_seconds"] = c.prepare_seconds;
    e["steal_seconds"] = c.steal_seconds;
    e["median_latency_ms"] = ms(s.median);
    e["p10_latency_ms"] = ms(s.p10);
    e["p90_latency_ms"] = ms(s.p90);
    e["cv"] = s.cv;
    e["robust_cv"] = s.robust_cv;
    e["noise"] = s.noise;
    e["samples"] = static_cast<int64_t>(s.count);
    e["iterations_per_sample"] = static_cast<int64_t>(m.iterations_per_sample);
    e["stopping_reason"] = to_string(m.reason);
    add_placement(e, m, c.placement_retry);
}

void add_instance(json::object& e, const InstanceInfo& in, const std::string& prefix) {
    e[prefix + "implementation"] = in.implementation;
    e[prefix + "reference_fallback"] = in.reference_fallback;
    e[prefix + "verified"] = in.verified;
    e[prefix + "max_abs_error"] = in.max_abs_error;
    for (const auto& [k, v] : in.params) e[prefix + k] = param_value(v);
}

std::string unique_key(std::set<std::string>& used, std::string key) {
    std::string k = key;
    for (int i = 2; used.count(k); ++i) k = key + "#" + std::to_string(i);
    used.insert(k);
    return k;
}

struct LevelRange {
    std::string name;
    double lo, hi;  // working-set bytes
    uint64_t size_bytes;
};

// Cache levels from the host (aggregate capacity over all instances) -> plateau ranges of the sweep.
std::vector<LevelRange> level_ranges(const HostInfo& h) {
    std::map<int, uint64_t> cap;  // level -> total bytes (data/unified caches)
    for (const auto& c : h.caches) {
        if (c.type == "Instruction") continue;
        int instances = c.shared_cpu_count > 0 ? std::max(1, h.logical_cpus / c.shared_cpu_count) : 1;
        cap[c.level] = std::max<uint64_t>(cap[c.level], c.size_bytes * static_cast<uint64_t>(instances));
    }
    std::vector<LevelRange> out;
    double prev = 0;
    for (const auto& [level, bytes] : cap) {
        std::string name = "L";
        name += std::to_string(level);
        out.push_back({name, prev * 1.5, 0.75 * static_cast<double>(bytes), bytes});
        prev = static_cast<double>(bytes);
    }
    out.push_back({"DRAM", 4.0 * prev, 1e300, 0});
    return out;
}

json::object memory_hierarchy(const RunResult& r, const std::vector<const CaseOutcome*>& sweep,
                              double* dram_copy, double* dram_triad) {
    json::object mh;
    mh["convention"] =
        "STREAM: bytes counted without write-allocate traffic (copy, scale: 2 x 8 bytes per element; add, "
        "triad: 3 x 8); GB/s = 1e9 bytes/s of the best sample (STREAM's best-of rule); per level the best of "
        "the sweep points in its plateau; working set = all arrays of the kernel, over all cores; DRAM: every "
        "array >= 4 x the last-level cache";
    json::array levels;
    for (const auto& range : level_ranges(r.host)) {
        json::object lvl;
        lvl["name"] = range.name;
        lvl["size_bytes"] = static_cast<int64_t>(range.size_bytes);
        json::array used;
        bool any = false;
        for (const char* k : {"copy", "scale", "add", "triad"}) {
            double best = 0;
            for (const auto* o : sweep) {
                std::string kernel;
                double ws = 0;
                for (const auto& [pk, pv] : o->info.params) {
                    if (pk == "kernel") kernel = pv;
                    if (pk == "working_set_bytes") ws = std::atof(pv.c_str());
                }
                const bool dram = range.name == "DRAM";  // at least 4x the LLC, inclusive
                if (kernel != k || (dram ? ws < range.lo : ws <= range.lo) || ws > range.hi) continue;
                // STREAM's convention: the best sample (interference only ever adds time).
                double gbps = o->info.bytes / o->measurement->stats.min / 1e9;
                best = std::max(best, gbps);
                if (std::string(k) == "copy") used.push_back(static_cast<int64_t>(ws));
            }
            lvl[std::string(k) + "_gbps"] = best;
            any = any || best > 0;
        }
        lvl["working_sets_bytes"] = used;
        if (!any) continue;
        if (range.name == "DRAM") {
            *dram_copy = lvl["copy_gbps"].as_double();
            *dram_triad = lvl["triad_gbps"].as_double();
        }
        levels.push_back(std::move(lvl));
    }
    mh["levels"] = std::move(levels);
    return mh;
}

}  // namespace

Profile build_profile(const RunResult& r, const RunOptions& o) {
    Profile p;
    auto& md = p.metadata;
    md.hardware_name = o.hardware_name.empty() ? r.host.cpu_model : o.hardware_name;
    md.calibration_date = r.started_at;
    md.calibration_tool_version = std::string("calib ") + CALIB_VERSION;
    md.cpu_model = r.host.cpu_model;
    md.cpu_count = r.host.physical_cores;
    md.total_memory_gb = static_cast<double>(r.host.total_memory_bytes) / (1024.0 * 1024.0 * 1024.0);
    md.python_version = std::string("n/a (calib-host ") + CALIB_VERSION + ", C++)";
    md.num_warmup_runs = 1;
    md.num_measurement_runs =
        static_cast<int64_t>(o.policy.fixed_samples > 0 ? o.policy.fixed_samples : o.policy.min_samples);

    // Partition the outcomes.
    std::vector<const CaseOutcome*> compute, copies, sweep, fusion, failed;
    for (const auto& out : r.outcomes) {
        if (out.status != "ok") failed.push_back(&out);
        else if (out.pair) fusion.push_back(&out);
        else if (out.info.family == Family::memory &&
                 origin_operation_types().count(out.info.operation_type) == 0)
            sweep.push_back(&out);
        else if (out.info.family == Family::memory) copies.push_back(&out);
        else compute.push_back(&out);
    }

    double dram_copy = 0, dram_triad = 0;
    json::object mh = memory_hierarchy(r, sweep, &dram_copy, &dram_triad);
    double best_copy = dram_copy;
    if (best_copy == 0)
        for (const auto* c : copies) best_copy = std::max(best_copy, c->info.bytes / c->measurement->stats.median / 1e9);

    // The profile's primary device: the one whose fp32 matmul is fastest (the host CPU when none ran).
    // Its peaks fill the origin's single-device fields.
    std::string primary;
    double primary_gflops = 0;
    for (const auto* c : compute)
        if (c->info.operation_type == "matmul" && math_of(c->info) == "fp32") {
            double g = c->info.flops / c->measurement->stats.median / 1e9;
            if (g > primary_gflops) primary_gflops = g, primary = c->plugin_id;
        }
    if (primary.empty() && !compute.empty()) primary = compute.front()->plugin_id;

    // Peaks: compute from detection/override/plugin; bandwidth from the user, else the primary device's
    // plugin, else the measured DRAM figure.
    PeakTable peaks = r.peaks;
    PeakLookup lookup{r};
    if (peaks.bandwidth.source != "user")
        for (const auto& pl : r.plugins)
            if (pl.id == primary)
                for (const auto& pk : pl.peaks)
                    if (pk.bandwidth_gbps > 0) {
                        peaks.bandwidth.gbps = pk.bandwidth_gbps;
                        peaks.bandwidth.source = "plugin";
                        peaks.bandwidth.formula = pk.formula;
                    }
    std::string bw_source = peaks.bandwidth.source;
    double bw_peak = peaks.bandwidth.gbps;
    if (bw_peak <= 0) {
        bw_peak = std::max(dram_triad, best_copy);
        bw_source = "measured";
        peaks.bandwidth.gbps = bw_peak;
        peaks.bandwidth.source = "measured";
        peaks.bandwidth.formula = "no theoretical DRAM bandwidth known: best measured STREAM DRAM figure "
                                  "(use --peak-bandwidth for the datasheet value)";
    }
    lookup.bandwidth_gbps = bw_peak;
    p.theoretical_peak_gflops = lookup.compute(primary, "fp32").first;
    p.theoretical_bandwidth_gbps = bw_peak;
    p.measured_bandwidth_gbps = best_copy;

    std::set<std::string> used_keys;
    std::map<std::string, double> best_by_precision;        // by math
    std::map<std::string, std::string> best_plugin;          // which plugin reached it
    for (const auto* c : compute) {
        const auto& ci = c->info;
        const auto& st = c->measurement->stats;
        OperationRecord rec;
        const bool origin_type = origin_operation_types().count(ci.operation_type) > 0;
        rec.operation_type = origin_type ? ci.operation_type : "unknown";
        rec.measured_gflops = ci.flops / st.median / 1e9;
        rec.achieved_bandwidth_gbps = ci.bytes / st.median / 1e9;
        const std::string math = math_of(ci);
        auto [peak, source] = lookup.compute(c->plugin_id, math);
        rec.efficiency = peak > 0 ? rec.measured_gflops / peak : 0;
        rec.arithmetic_intensity = ci.bytes > 0 ? ci.flops / ci.bytes : 0;
        const double ridge = bw_peak > 0 && peak > 0 ? peak / bw_peak : 0;
        rec.memory_bound = ridge > 0 && rec.arithmetic_intensity < ridge;
        rec.compute_bound = !rec.memory_bound;
        if (ci.operation_type == "matmul" && ci.shape.size() == 3) {
            rec.input_shape = {ci.shape[0], ci.shape[1]};
            rec.output_shape = {ci.shape[0], ci.shape[2]};
        } else {
            rec.input_shape = ci.shape;
            rec.output_shape = ci.shape;
        }
        rec.mean_latency_ms = ms(st.mean);
        rec.std_latency_ms = ms(st.stddev);
        rec.min_latency_ms = ms(st.min);
        rec.max_latency_ms = ms(st.max);
        rec.num_trials = static_cast<int64_t>(st.count);
        auto& e = rec.extra_params;
        std::vector<std::pair<std::string, std::string>> key_params = ci.params;
        for (const auto& [k, v] : ci.params) e[k] = param_value(v);
        if (!origin_type) e["operation"] = ci.operation_type;
        if (ci.precision != "fp32") key_params.emplace_back("precision", ci.precision);
        e["precision"] = ci.precision;
        e["device"] = c->device_name;
        e["plugin"] = c->plugin_id;
        e["case"] = ci.name;
        add_instance(e, c->instance, "");
        add_stats(e, st, *c);
        e["flops"] = ci.flops;
        e["bytes"] = ci.bytes;
        e["peak_gflops"] = peak;
        e["peak_source"] = source;
        e["status"] = "ok";
        if (rec.efficiency > 1.0) e["suspicious"] = true;
        if (ci.operation_type == "matmul" && rec.measured_gflops > best_by_precision[math]) {
            best_by_precision[math] = rec.measured_gflops;
            best_plugin[math] = c->plugin_id;
        }
        std::string key = unique_key(used_keys, operation_key(rec.operation_type, key_params, rec.input_shape));
        p.operation_profiles.emplace_back(key, std::move(rec));
    }

    for (const auto* c : copies) {
        const auto& ci = c->info;
        const auto& st = c->measurement->stats;
        OperationRecord rec;
        rec.operation_type = ci.operation_type;
        rec.measured_gflops = 0;
        rec.achieved_bandwidth_gbps = ci.bytes / st.median / 1e9;
        rec.efficiency = bw_peak > 0 ? rec.achieved_bandwidth_gbps / bw_peak : 0;
        rec.arithmetic_intensity = 0;
        rec.memory_bound = true;
        rec.compute_bound = false;
        rec.input_shape = ci.shape;
        rec.output_shape = ci.shape;
        rec.mean_latency_ms = ms(st.mean);
        rec.std_latency_ms = ms(st.stddev);
        rec.min_latency_ms = ms(st.min);
        rec.max_latency_ms = ms(st.max);
        rec.num_trials = static_cast<int64_t>(st.count);
        auto& e = rec.extra_params;
        for (const auto& [k, v] : ci.params) e[k] = param_value(v);
        e["precision"] = ci.precision;
        e["device"] = c->device_name;
        e["plugin"] = c->plugin_id;
        e["case"] = ci.name;
        add_instance(e, c->instance, "");
        add_stats(e, st, *c);
        e["bytes"] = ci.bytes;
        e["peak_bandwidth_gbps"] = bw_peak;
        e["peak_source"] = bw_source;
        e["status"] = "ok";
        if (rec.efficiency > 1.0) e["suspicious"] = true;
        std::string key = unique_key(used_keys, operation_key(rec.operation_type, ci.params, rec.input_shape));
        p.operation_profiles.emplace_back(key, std::move(rec));
    }

    // Fusion: one record per shape and precision; the bare pattern key = fp32 at the largest shape.
    std::map<std::string, const CaseOutcome*> largest_fp32;
    std::set<std::string> used_fusion;
    for (const auto* c : fusion) {
        const auto& f = c->info;
        const auto& u = *c->unfused;
        const auto& pm = *c->pair;
        FusionRecord rec;
        rec.fusion_pattern = f.fusion_pattern;
        for (const auto& [k, v] : u.params)
            if (k == "operators") {
                std::size_t start = 0;
                while (start <= v.size()) {
                    auto end = v.find(',', start);
                    if (end == std::string::npos) end = v.size();
                    if (end > start) rec.operators.push_back(v.substr(start, end - start));
                    start = end + 1;
                }
            }
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
        auto& e = rec.extra_params;
        for (const auto& [k, v] : f.params)
            if (k != "operators" && k != "num_operators") e[k] = param_value(v);
        e["precision"] = f.precision;
        e["device"] = c->device_name;
        e["plugin"] = c->plugin_id;
        e["status"] = "ok";
        e["speedup_ci_low"] = pm.speedup_ci_low;
        e["speedup_ci_high"] = pm.speedup_ci_high;
        e["tier"] = to_string(fusion_tier(rec.speedup_factor));
        e["verified"] = c->instance.verified && c->unfused_instance.verified;
        e["max_abs_error"] = std::max(c->instance.max_abs_error, c->unfused_instance.max_abs_error);
        e["tolerance"] = c->instance.tolerance;
        e["reference_fallback"] = c->instance.reference_fallback || c->unfused_instance.reference_fallback;
        e["fused_implementation"] = c->instance.implementation;
        e["unfused_implementation"] = c->unfused_instance.implementation;
        e["fused_median_latency_ms"] = ms(pm.a.stats.median);
        e["unfused_median_latency_ms"] = ms(pm.b.stats.median);
        e["fused_p10_latency_ms"] = ms(pm.a.stats.p10);
        e["fused_p90_latency_ms"] = ms(pm.a.stats.p90);
        e["unfused_p10_latency_ms"] = ms(pm.b.stats.p10);
        e["unfused_p90_latency_ms"] = ms(pm.b.stats.p90);
        e["fused_cv"] = pm.a.stats.cv;
        e["unfused_cv"] = pm.b.stats.cv;
        e["samples"] = static_cast<int64_t>(pm.a.stats.count);
        e["iterations_per_sample"] = static_cast<int64_t>(pm.a.iterations_per_sample);
        e["unfused_iterations_per_sample"] = static_cast<int64_t>(pm.b.iterations_per_sample);
        e["stopping_reason"] = to_string(pm.reason);
        add_placement(e, pm.a, c->placement_retry);
        e["case_seconds"] = c->wall_seconds;
        e["prepare_seconds"] = c->prepare_seconds;
        e["steal_seconds"] = c->steal_seconds;
        e["fused_case"] = f.name;
        e["unfused_case"] = u.name;
        std::string key = f.fusion_pattern + "@" + shape_text(f.shape);
        if (f.precision != "fp32") key += "@" + f.precision;
        if (f.precision == "fp32") {
            auto& best = largest_fp32[f.fusion_pattern];
            auto elems = [](const std::vector<int64_t>& s) {
                double n = 1;
                for (auto d : s) n *= static_cast<double>(d);
                return n;
            };
            if (best == nullptr || elems(f.shape) > elems(best->info.shape)) best = c;
        }
        p.fusion_profiles.emplace_back(unique_key(used_fusion, key), std::move(rec));
    }
    // The bare pattern keys (what the original consumers look up), fp32 at the largest measured shape.
    for (const auto& [pattern, c] : largest_fp32) {
        std::string key = pattern + "@" + shape_text(c->info.shape);
        for (const auto& [k, rec] : p.fusion_profiles)
            if (k == key) {
                FusionRecord copy = rec;
                p.fusion_profiles.emplace_back(unique_key(used_fusion, pattern), std::move(copy));
                break;
            }
    }

    compute_aggregates(p);

    // precision_matrix: the origin's shape, exactly.
    std::set<std::string> all_precisions, supported;
    std::map<std::string, std::string> unsupported_reason;
    for (const auto& out : r.outcomes) {
        if (out.info.family != Family::compute || out.info.operation_type != "matmul") continue;
        const std::string math = math_of(out.info);
        all_precisions.insert(math);
        if (out.status == "ok") supported.insert(math);
        else if (out.status == "unsupported") unsupported_reason.emplace(math, out.message);
    }
    if (!all_precisions.empty()) {
        json::object pm;
        pm["hardware_name"] = md.hardware_name;
        json::array sup, unsup;
        json::object peak_by, speedup, theo;
        // The theoretical peak of a precision: from the device that reached its best figure.
        auto theoretical = [&](const std::string& pr) {
            return lookup.compute(best_plugin.count(pr) ? best_plugin[pr] : primary, pr);
        };
        for (const auto& pr : all_precisions) {
            if (!origin_precisions().count(pr)) continue;  // e.g. tf32: in precision_support only
            if (supported.count(pr)) {
                sup.push_back(json::value(pr));
                peak_by[pr] = best_by_precision[pr];
                if (best_by_precision.count("fp32") && best_by_precision["fp32"] > 0)
                    speedup[pr] = best_by_precision[pr] / best_by_precision["fp32"];
            } else {
                unsup.push_back(json::value(pr));
            }
            if (double t = theoretical(pr).first; t > 0) theo[pr] = t;
        }
        pm["supported_precisions"] = sup;
        pm["unsupported_precisions"] = unsup;
        pm["peak_gflops_by_precision"] = peak_by;
        pm["speedup_vs_fp32"] = speedup;
        pm["theoretical_peaks"] = theo;
        p.precision_matrix = pm;

        json::object support;
        for (const auto& pr : all_precisions) {
            json::object s;
            s["supported"] = supported.count(pr) > 0;
            if (!supported.count(pr))
                s["reason"] = unsupported_reason.count(pr) ? unsupported_reason[pr] : "no case succeeded";
            if (supported.count(pr)) s["best_gflops"] = best_by_precision[pr];
            const auto [peak_gflops, peak_source] = theoretical(pr);
            s["peak_gflops"] = peak_gflops;
            s["peak_source"] = peak_source;
            if (supported.count(pr) && peak_gflops > 0) {
                double eff = best_by_precision[pr] / peak_gflops;
                s["efficiency"] = eff;
                if (eff > 1.0) s["suspicious"] = true;
            }
            support[pr] = std::move(s);
        }
        p.extensions["precision_support"] = std::move(support);
    } else {
        p.precision_matrix = nullptr;
    }

    // calib's top-level additions.
    auto& x = p.extensions;
    json::object ext;
    ext["schema_version"] = kProfileSchemaVersion;
    ext["calib_version"] = CALIB_VERSION;
    json::object host = to_json(r.host);
    // Library versions: the host's own; plugins report theirs (e.g. oneDNN) in each record's extra_params.
    host["libraries"] = {{"calib", CALIB_VERSION}, {"boost", BOOST_LIB_VERSION},
                         {"plugin_abi", std::to_string(CALIB_ABI_VERSION_MAJOR) + "." +
                                            std::to_string(CALIB_ABI_VERSION_MINOR)}};
    ext["host"] = std::move(host);
    ext["peaks"] = peaks.to_json();
    json::array plugins;
    for (const auto& pl : r.plugins) {
        json::object j;
        j["path"] = pl.path;
        j["status"] = pl.loaded ? "loaded" : "rejected";
        if (!pl.loaded) {
            j["reason_code"] = to_string(pl.reason_code);
            j["reason"] = pl.reason;
        }
        j["id"] = pl.id;
        j["name"] = pl.name;
        j["version"] = pl.version;
        j["vendor"] = pl.vendor;
        j["abi"] = {{"major", pl.abi_major}, {"minor", pl.abi_minor}};
        j["device"] = {{"kind", to_string(pl.device_kind)}, {"name", pl.device_name},
                       {"available", pl.device_available}};
        if (!pl.device_available) j["unavailable_reason"] = pl.unavailable_reason;
        j["cases"] = static_cast<int64_t>(pl.cases.size());
        auto it = r.plugin_seconds.find(pl.id);
        if (pl.loaded && it != r.plugin_seconds.end()) j["seconds"] = it->second;
        plugins.push_back(std::move(j));
    }
    ext["plugins"] = std::move(plugins);
    ext["memory_hierarchy"] = std::move(mh);
    json::array sweep_arr;
    for (const auto* c : sweep) {
        json::object j;
        for (const auto& [k, v] : c->info.params) j[k] = param_value(v);
        j["operation"] = c->info.operation_type;
        j["gbps"] = c->info.bytes / c->measurement->stats.median / 1e9;
        j["best_gbps"] = c->info.bytes / c->measurement->stats.min / 1e9;
        j["bytes"] = c->info.bytes;
        add_stats(j, c->measurement->stats, *c);
        j["case"] = c->info.name;
        sweep_arr.push_back(std::move(j));
    }
    ext["memory_sweep"] = std::move(sweep_arr);
    json::array fails;
    for (const auto* c : failed) {
        json::object j;
        j["plugin"] = c->plugin_id;
        j["plugin_path"] = c->plugin_path;
        j["case"] = c->info.name;
        if (c->unfused) j["unfused_case"] = c->unfused->name;
        j["family"] = to_string(c->info.family);
        j["precision"] = c->info.precision;
        j["status"] = c->status;
        j["message"] = c->message;
        fails.push_back(std::move(j));
    }
    ext["failed_cases"] = std::move(fails);
    json::object run;
    run["complete"] = r.complete;
    run["started_at"] = r.started_at;
    run["wall_seconds"] = r.wall_seconds;
    run["quick"] = o.quick;
    json::object pol;
    pol["name"] = o.policy_name;
    pol["warmup_seconds"] = o.policy.warmup_seconds;
    pol["min_sample_seconds"] = o.policy.min_sample_seconds;
    pol["target_noise"] = o.policy.target_noise;
    pol["min_samples"] = static_cast<int64_t>(o.policy.min_samples);
    pol["time_budget_seconds"] = o.policy.time_budget_seconds;
    pol["fixed_samples"] = static_cast<int64_t>(o.policy.fixed_samples);
    pol["pair_max_halfwidth"] = o.policy.pair_max_halfwidth;
    pol["pair_budget_extension"] = o.policy.pair_budget_extension;
    pol["pair_min_samples"] = static_cast<int64_t>(o.policy.pair_min_samples);
    // What the workers ran under (set by the worker unless the user's environment says otherwise).
    json::object env;
    for (const auto& d : worker_env_defaults()) env[d.name] = worker_env_value(d);
    pol["openmp_wait_policy"] = env["OMP_WAIT_POLICY"];
    pol["worker_environment"] = std::move(env);
    json::object place;
    place["probe"] = r.placement.probe;
    place["displaced_ratio"] = o.placement.displaced_ratio;
    place["reference_min_share"] = o.placement.reference_min_share;
    place["reference_confirm_seconds"] = o.placement.reference_confirm_seconds;
    place["max_wait_per_case_seconds"] = o.placement.max_wait_per_case;
    place["max_wait_per_plugin_seconds"] = o.placement.max_wait_per_plugin;
    place["settle_min_seconds"] = o.placement.settle_min_seconds;
    place["settle_max_seconds"] = o.placement.settle_max_seconds;
    place["initial_reference_ns"] = r.placement.initial_reference_ns;
    place["settle_seconds"] = r.placement.settle_seconds;
    place["reference_ns"] = r.placement.reference_ns;
    place["probes"] = static_cast<int64_t>(r.placement.probes);
    place["displaced_probes"] = static_cast<int64_t>(r.placement.displaced_probes);
    place["wait_seconds"] = r.placement.wait_seconds;
    place["probe_seconds"] = r.placement.probe_seconds;
    place["retry_limit_seconds"] = o.placement.retry_seconds;
    place["deferred_cases"] = static_cast<int64_t>(r.placement.deferred_cases);
    place["stale_cases"] = static_cast<int64_t>(r.placement.stale_cases);
    place["steal_max_share"] = o.placement.steal_max_share;
    place["steal_cases"] = static_cast<int64_t>(r.placement.steal_cases);
    place["retried_cases"] = static_cast<int64_t>(r.placement.retried_cases);
    place["replaced_cases"] = static_cast<int64_t>(r.placement.replaced_cases);
    place["retry_seconds"] = r.placement.retry_seconds;
    pol["placement"] = std::move(place);
    run["policy"] = std::move(pol);
    json::object ps;
    for (const auto& [id, s] : r.plugin_seconds) ps[id] = s;
    run["plugin_seconds"] = std::move(ps);
    ext["run"] = std::move(run);
    // Keep the documented order: our keys first, then anything already set (precision_support).
    for (auto& kv : x) ext[kv.key()] = kv.value();
    x = std::move(ext);
    return p;
}

}  // namespace calib::core
