// validate(): every problem in a profile document, each naming its JSON path.
#include <algorithm>
#include <map>
#include <cmath>

#include "calib/core/topology.hpp"
#include "calib/vocabulary.h"
#include "reader.hpp"
#include "schema.hpp"

namespace calib::core {

namespace json = boost::json;
using detail::child_path;

namespace {

constexpr const char* kStatuses[] = {"ok",      "failed",    "unsupported", "verification_failed",
                                     "crashed", "timed_out", "exited"};

// A record's precision must be one the origin knows (calib/vocabulary.h; tf32 is a math precision,
// recorded on fp32 storage).
bool origin_precision(std::string_view s) {
#define CALIB_ORIGIN(name, origin) {name, origin},
    static constexpr std::pair<std::string_view, int> all[] = {CALIB_PRECISIONS(CALIB_ORIGIN)};
#undef CALIB_ORIGIN
    return std::any_of(std::begin(all), std::end(all), [&](const auto& p) { return p.second == 1 && p.first == s; });
}

bool near_rel(double a, double b, double rel, double abs_tol = 0) {
    if (a == b) return true;
    return std::fabs(a - b) <= rel * std::max(std::fabs(a), std::fabs(b)) + abs_tol;  // false on NaN
}

std::string fmt(double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", x);
    return buf;
}

template <size_t N>
bool one_of(std::string_view s, const char* const (&list)[N]) {
    return std::any_of(std::begin(list), std::end(list), [&](const char* x) { return s == x; });
}

// Checks calib's extra_params keys that others rely on; returns the record's status ("ok" if absent).
std::string check_extra_params(const json::object& ep, const std::string& path,
                               std::vector<std::string>& out) {
    std::string status = "ok";
    if (const auto* s = ep.if_contains("status")) {
        if (!s->is_string())
            out.push_back(child_path(path, "status") + ": expected string, got " + detail::kind_name(*s));
        else if (!one_of(s->get_string(), kStatuses))
            out.push_back(child_path(path, "status") + ": unknown status \"" + std::string(s->get_string()) +
                          "\"");
        else
            status = s->get_string();
    }
    if (const auto* p = ep.if_contains("precision")) {
        if (!p->is_string())
            out.push_back(child_path(path, "precision") + ": expected string, got " + detail::kind_name(*p));
        else if (!origin_precision(p->get_string()))
            out.push_back(child_path(path, "precision") + ": unknown precision \"" +
                          std::string(p->get_string()) + "\"");
    }
    for (const char* b : {"suspicious", "verified", "reference_fallback"}) {
        if (const auto* v = ep.if_contains(b); v && !v->is_bool())
            out.push_back(child_path(path, b) + ": expected bool, got " + detail::kind_name(*v));
    }
    return status;
}

std::string precision_of(const json::object& ep) {
    const auto* p = ep.if_contains("precision");
    return p && p->is_string() ? std::string(p->get_string()) : std::string("fp32");
}

void check_operation(const std::string& key, const OperationRecord& r, std::vector<std::string>& out) {
    const std::string path = child_path("operation_profiles", key);
    check_extra_params(r.extra_params, child_path(path, "extra_params"), out);
    if (r.efficiency > 1) {
        const auto* s = r.extra_params.if_contains("suspicious");
        if (!(s && s->is_bool() && s->get_bool()))
            out.push_back(path + ".efficiency: " + fmt(r.efficiency) +
                          " > 1 but extra_params.suspicious is not true");
    }
    for (auto [name, x] : {std::pair{"measured_gflops", r.measured_gflops},
                           {"mean_latency_ms", r.mean_latency_ms},
                           {"min_latency_ms", r.min_latency_ms},
                           {"std_latency_ms", r.std_latency_ms}}) {
        if (x < 0) out.push_back(child_path(path, name) + ": negative (" + fmt(x) + ")");
    }
    if (r.mean_latency_ms > 0 && !(r.min_latency_ms <= r.mean_latency_ms * (1 + 1e-9) &&
                                   r.mean_latency_ms <= r.max_latency_ms * (1 + 1e-9)))
        out.push_back(path + ": latencies out of order (min " + fmt(r.min_latency_ms) + ", mean " +
                      fmt(r.mean_latency_ms) + ", max " + fmt(r.max_latency_ms) + ")");
}

// A bare pattern key holds the pattern's record in the most preferred precision measured: fp32, else
// bf16, else fp16, else any (a GPU's fusion cases may have no fp32).
void check_bare_keys(const Profile& p, std::vector<std::string>& out) {
    auto rank = [](const std::string& precision) {
        static const std::vector<std::string> preferred = {"fp32", "bf16", "fp16"};
        return static_cast<int>(std::find(preferred.begin(), preferred.end(), precision) - preferred.begin());
    };
    std::map<std::string, int> best;  // pattern -> best rank among its shaped records
    for (const auto& [key, r] : p.fusion_profiles)
        if (key.substr(0, key.find('#')) != r.fusion_pattern) {
            auto [it, fresh] = best.emplace(r.fusion_pattern, rank(precision_of(r.extra_params)));
            if (!fresh) it->second = std::min(it->second, rank(precision_of(r.extra_params)));
        }
    for (const auto& [key, r] : p.fusion_profiles) {
        if (key.substr(0, key.find('#')) != r.fusion_pattern) continue;
        auto it = best.find(r.fusion_pattern);
        if (it != best.end() && rank(precision_of(r.extra_params)) != it->second)
            out.push_back(child_path("fusion_profiles", key) +
                          ": a bare pattern key must hold the pattern's fp32 record (else bf16, else fp16)");
    }
}

void check_fusion(const std::string& key, const FusionRecord& r, std::vector<std::string>& out) {
    const std::string path = child_path("fusion_profiles", key);
    const std::string status = check_extra_params(r.extra_params, child_path(path, "extra_params"), out);
    const std::string precision = precision_of(r.extra_params);
    // A second record of the same pattern, shape and precision (another plugin or device) carries a
    // "#<n>" suffix; the base key must still match.
    const std::string base = key.substr(0, key.find('#'));
    if (base != r.fusion_pattern && base != fusion_key(r.fusion_pattern, r.input_shape, precision)) {
        out.push_back(path + ": key does not match the record (expected \"" +
                      fusion_key(r.fusion_pattern, r.input_shape, precision) + "\" or \"" + r.fusion_pattern +
                      "\")");
    }
    if (r.num_operators != static_cast<int64_t>(r.operators.size()))
        out.push_back(path + ".num_operators: " + std::to_string(r.num_operators) + " but operators has " +
                      std::to_string(r.operators.size()));
    if (status != "ok") return;  // failed or skipped measurements may carry zeros
    if (!(r.unfused_latency_ms > 0) || !(r.fused_latency_ms > 0)) {
        out.push_back(path + ": status ok but latencies are not positive");
        return;
    }
    const double speedup = r.unfused_latency_ms / r.fused_latency_ms;
    if (!near_rel(r.speedup_factor, speedup, 0.01))
        out.push_back(path + ".speedup_factor: " + fmt(r.speedup_factor) + " but unfused/fused latency is " +
                      fmt(speedup));
    if (!(std::fabs(r.gflops_improvement - (r.speedup_factor - 1)) <= 0.01 * std::fabs(r.speedup_factor)))
        out.push_back(path + ".gflops_improvement: " + fmt(r.gflops_improvement) +
                      " but speedup_factor - 1 is " + fmt(r.speedup_factor - 1));
    if (r.unfused_memory_bytes > 0) {
        const double red =
            1 - static_cast<double>(r.fused_memory_bytes) / static_cast<double>(r.unfused_memory_bytes);
        if (!near_rel(r.memory_reduction, red, 0.01, 1e-9))
            out.push_back(path + ".memory_reduction: " + fmt(r.memory_reduction) +
                          " but 1 - fused/unfused bytes is " + fmt(red));
    }
}

// Each of calib's sections (profile_sections.hpp), where present, is of the kind its field table says.
void check_extensions(const json::object& ext, std::vector<std::string>& out) {
    if (const auto* v = ext.if_contains("schema_version")) {
        if (!v->is_int64() && !v->is_uint64())
            out.push_back(std::string("schema_version: expected integer, got ") + detail::kind_name(*v));
        else if (v->is_uint64() || v->get_int64() < 1)
            out.push_back("schema_version: must be a positive integer of a known size");
    }
    detail::for_each_field_kind<CalibSections>([&](std::string_view key, const char* kind) {
        const auto* v = ext.if_contains(key);
        if (key != "schema_version" && v && !detail::is_json_kind(*v, kind))
            out.push_back(std::string(key) + ": expected " + kind + ", got " + detail::kind_name(*v));
    });
    if (const auto* run = ext.if_contains("run"); run && run->is_object()) {
        if (const auto* c = run->get_object().if_contains("complete"); c && !c->is_bool())
            out.push_back(std::string("run.complete: expected bool, got ") + detail::kind_name(*c));
    }
    if (const auto* t = ext.if_contains("topology"))
        for (auto& problem : validate_topology(*t)) out.push_back(std::move(problem));
}

// metadata.preflight agrees with its checks: passed = no check failed; forced only when it did not pass.
void check_preflight(const Metadata& m, std::vector<std::string>& out) {
    if (!m.preflight) return;
    const Preflight& pf = *m.preflight;
    std::string failed;
    for (const auto& c : pf.checks)
        if (c.status == "fail") failed = c.name;
    if (pf.passed && !failed.empty())
        out.push_back("metadata.preflight.passed: true but check \"" + failed + "\" failed");
    if (!pf.passed && failed.empty() && !pf.checks.empty())
        out.push_back("metadata.preflight.passed: false but no check failed");
    if (pf.forced && pf.passed) out.push_back("metadata.preflight.forced: true but the preflight passed");
}

}  // namespace

std::vector<std::string> validate(const json::value& doc) {
    std::vector<std::string> out;
    try {
        detail::Problems collect(&out);
        detail::scan_non_finite(doc, "", collect);
        detail::ReadResult res = detail::read_profile(doc, collect);
        if (!doc.is_object()) return out;
        const Profile& p = res.profile;
        bool records_ok = true;
        for (size_t i = 0; i < p.operation_profiles.size(); ++i) {
            records_ok = records_ok && res.operation_ok[i];
            if (res.operation_ok[i])
                check_operation(p.operation_profiles[i].first, p.operation_profiles[i].second, out);
        }
        for (size_t i = 0; i < p.fusion_profiles.size(); ++i) {
            if (res.fusion_ok[i]) check_fusion(p.fusion_profiles[i].first, p.fusion_profiles[i].second, out);
        }
        check_bare_keys(p, out);
        if (res.top_ok) check_preflight(p.metadata, out);
        check_extensions(p.extensions, out);
        // Aggregates are only comparable when every field they derive from was read.
        if (res.top_ok && records_ok) {
            Profile expected = p;
            compute_aggregates(expected);
            const std::pair<const char*, std::pair<double, double>> aggs[] = {
                {"best_measured_gflops", {p.best_measured_gflops, expected.best_measured_gflops}},
                {"avg_measured_gflops", {p.avg_measured_gflops, expected.avg_measured_gflops}},
                {"worst_measured_gflops", {p.worst_measured_gflops, expected.worst_measured_gflops}},
                {"best_efficiency", {p.best_efficiency, expected.best_efficiency}},
                {"avg_efficiency", {p.avg_efficiency, expected.avg_efficiency}},
                {"worst_efficiency", {p.worst_efficiency, expected.worst_efficiency}},
                {"bandwidth_efficiency", {p.bandwidth_efficiency, expected.bandwidth_efficiency}}};
            for (const auto& [name, v] : aggs) {
                if (!near_rel(v.first, v.second, 1e-6))
                    out.push_back(std::string(name) + ": " + fmt(v.first) + " but the records give " +
                                  fmt(v.second) + " (the primary device's fp32 compute records)");
            }
        }
    } catch (const std::exception& e) {
        out.push_back(std::string("<root>: cannot validate: ") + e.what());  // e.g. out of memory
    }
    return out;
}

}  // namespace calib::core
