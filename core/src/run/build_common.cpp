// build_profile's shared parts: how a case ended, the host's vocabulary as lookups, the partition of
// the outcomes, the primary device and the peaks every record is judged against.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>

#include "build.hpp"
#include "calib/vocabulary.h"

namespace calib::core::build {

namespace json = boost::json;

Ending ending_of(const CaseOutcome& c) {
    Ending e;
    e.name = c.status;
    e.ok = c.status == "ok";
    e.unsupported = c.status == "unsupported";
    return e;
}

bool is_origin_operation(const std::string& operation_type) {
#define CALIB_NAME(s) s,
    static const std::set<std::string> s = {CALIB_OPERATION_TYPES(CALIB_NAME)};
#undef CALIB_NAME
    return s.count(operation_type) > 0;
}

bool is_origin_precision(const std::string& precision) {
#define CALIB_ORIGIN(s, origin) {s, origin},
    static const std::pair<const char*, int> all[] = {CALIB_PRECISIONS(CALIB_ORIGIN)};
#undef CALIB_ORIGIN
    return std::any_of(std::begin(all), std::end(all),
                       [&](const auto& p) { return p.second == 1 && precision == p.first; });
}

const std::vector<std::string>& sweep_kernels() {
#define CALIB_NAME(s) s,
    static const std::vector<std::string> k = {CALIB_SWEEP_KERNELS(CALIB_NAME)};
#undef CALIB_NAME
    return k;
}

std::string math_of(const CaseInfo& c) {
    for (const auto& [k, v] : c.params)
        if (k == CALIB_PARAM_MATH && !v.empty()) return v;
    return c.precision;
}

std::pair<std::string, double> sweep_point_of(const CaseInfo& c) {
    std::pair<std::string, double> point{"", 0.0};
    for (const auto& [k, v] : c.params) {
        if (k == CALIB_PARAM_KERNEL) point.first = v;
        if (k == CALIB_PARAM_WORKING_SET_BYTES) point.second = std::atof(v.c_str());
    }
    return point;
}

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

Outcomes partition(const RunResult& r) {
    Outcomes parts;
    for (const auto& out : r.outcomes) {
        if (!ending_of(out).ok) parts.failed.push_back(&out);
        else if (out.pair) parts.fusion.push_back(&out);
        else if (out.info.family == Family::transfer) parts.transfers.push_back(&out);
        else if (out.info.family == Family::memory && !is_origin_operation(out.info.operation_type))
            parts.sweep.push_back(&out);
        else if (out.info.family == Family::memory) parts.copies.push_back(&out);
        else parts.compute.push_back(&out);
    }
    return parts;
}

std::string primary_device(const Outcomes& parts) {
    std::string primary;
    double primary_gflops = 0;
    for (const auto* c : parts.compute)
        if (c->info.operation_type == CALIB_OPERATION_MATMUL && math_of(c->info) == CALIB_PRECISION_REFERENCE) {
            double g = c->info.flops / c->measurement->stats.median / 1e9;
            if (g > primary_gflops) primary_gflops = g, primary = c->plugin_id;
        }
    if (primary.empty() && !parts.compute.empty()) primary = parts.compute.front()->plugin_id;
    return primary;
}

std::string device_of(const RunResult& r, const std::string& plugin_id) {
    for (const auto& p : r.plugins)
        if (p.id == plugin_id) return p.device_name;
    return {};
}

std::pair<double, std::string> Judge::compute(const std::string& plugin_id, const std::string& precision) const {
    auto peak = formula(plugin_id, precision);
    if (peak.second == "detected")
        if (const Peak* pk = r.peaks.find(precision); pk != nullptr && pk->ceiling_gflops > 0)
            return {pk->ceiling_gflops, "measured ceiling"};
    return peak;
}

std::pair<double, std::string> Judge::formula(const std::string& plugin_id, const std::string& precision) const {
    for (const auto& p : r.plugins)
        if (p.id == plugin_id)
            for (const auto& pk : p.peaks)
                if (pk.precision == precision && pk.gflops > 0) return {pk.gflops, "plugin"};
    if (const Peak* pk = r.peaks.find(precision); pk != nullptr && pk->gflops > 0) return {pk->gflops, pk->source};
    return {0.0, "unknown"};
}

// Bandwidth from the user, else the primary device's plugin, else the measured DRAM figure.
Judge make_judge(const RunResult& r, const std::string& primary, double measured_bandwidth_gbps) {
    Judge j{r, primary, r.peaks, 0, ""};
    auto& bw = j.peaks.bandwidth;
    if (bw.source != "user")
        for (const auto& pl : r.plugins)
            if (pl.id == primary)
                for (const auto& pk : pl.peaks)
                    if (pk.bandwidth_gbps > 0) {
                        bw.gbps = pk.bandwidth_gbps;
                        bw.source = "plugin";
                        bw.formula = pk.formula;
                    }
    j.bandwidth_source = bw.source;
    if (bw.gbps <= 0) {
        bw.gbps = measured_bandwidth_gbps;
        bw.source = j.bandwidth_source = "measured";
        bw.formula = "no theoretical DRAM bandwidth known: best measured STREAM DRAM figure "
                     "(use --peak-bandwidth for the datasheet value)";
    }
    j.bandwidth_gbps = bw.gbps;
    return j;
}

}  // namespace calib::core::build
