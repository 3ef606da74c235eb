#include "summary.hpp"

#include "json_fields.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace calib::cli {
namespace {

namespace json = boost::json;

std::string pad(std::string s, std::size_t w) {
    if (s.size() < w) s.append(w - s.size(), ' ');
    return s;
}
std::string rpad(const std::string& s, std::size_t w) {
    return s.size() < w ? std::string(w - s.size(), ' ') + s : s;
}

std::string shape_text(const std::vector<int64_t>& s) {
    std::string t;
    for (auto d : s) {
        if (!t.empty()) t += 'x';
        t += std::to_string(d);
    }
    return t;
}

std::string human_bytes(double b) {
    const char* units[] = {"B", "KiB", "MiB", "GiB"};
    int u = 0;
    while (b >= 1024 && u < 3) {
        b /= 1024;
        ++u;
    }
    return fixed(b, b < 10 ? 1 : 0) + " " + units[u];
}

}  // namespace

void print_summary(std::ostream& os, const core::Profile& p) {
    const auto& md = p.metadata;
    const json::object empty;
    auto ext = [&](const char* k) -> const json::object& {
        auto* v = p.extensions.if_contains(k);
        return v != nullptr && v->is_object() ? v->as_object() : empty;
    };
    std::vector<std::string> warnings;
    int displaced_records = 0;  // operation and fusion records with displaced_samples > 0

    os << "HardwareCalibration: " << md.hardware_name << "\n";
    os << "  CPU: " << md.cpu_model << ", " << md.cpu_count << " cores, " << fixed(md.total_memory_gb) << " GiB\n";
    os << "  Calibrated " << md.calibration_date << " with " << md.calibration_tool_version;
    const auto& run = ext("run");
    if (!run.empty()) {
        os << " in " << fixed(num(run, "wall_seconds")) << " s";
        const json::object* pol = run.if_contains("policy") ? run.at("policy").if_object() : nullptr;
        const json::value* pl = pol != nullptr ? pol->if_contains("placement") : nullptr;
        if (pl != nullptr && pl->is_object() && num(pl->as_object(), "probes") > 0) {
            const auto& o = pl->as_object();
            os << "\n  CPU placement: " << fixed(num(o, "displaced_probes"), 0) << " of " << fixed(num(o, "probes"), 0)
               << " probes displaced (reference " << fixed(num(o, "reference_ns"), 0) << " ns), "
               << fixed(num(o, "wait_seconds")) << " s waited";
            if (num(o, "steal_cases") > 0)
                os << "; " << fixed(num(o, "steal_cases"), 0) << " case(s) lost over "
                   << fixed(100 * num(o, "steal_max_share"), 0) << "% of their time to the hypervisor (steal)";
            if (num(o, "stale_cases") > 0)
                os << "; " << fixed(num(o, "stale_cases"), 0)
                   << " case(s) timed before the reference moved to a faster placement";
            if (num(o, "deferred_cases") > 0 || num(o, "retried_cases") > 0)
                os << "; at the end " << fixed(num(o, "deferred_cases"), 0) << " deferred case(s) measured, "
                   << fixed(num(o, "retried_cases"), 0) << " re-measured (" << fixed(num(o, "replaced_cases"), 0)
                   << " replaced)";
        }
        if (run.contains("complete") && !flag(run, "complete")) {
            os << " (INCOMPLETE: interrupted)";
            warnings.push_back("the run was interrupted: this profile is partial");
        }
    }
    os << "\n\nPeaks (theoretical, with source)\n";
    const auto& peaks = ext("peaks");
    if (auto* c = peaks.if_contains("compute"); c != nullptr && c->is_object())
        for (const auto& kv : c->as_object()) {
            if (!kv.value().is_object()) continue;
            const auto& pk = kv.value().as_object();
            if (num(pk, "gflops") <= 0) continue;
            os << "  " << pad(std::string(kv.key()), 6) << rpad(fixed(num(pk, "gflops")), 10) << " GFLOPS  ["
               << str(pk, "source") << "] " << str(pk, "formula") << "\n";
        }
    if (auto* b = peaks.if_contains("bandwidth"); b != nullptr && b->is_object())
        os << "  memory" << rpad(fixed(num(b->as_object(), "gbps")), 10) << " GB/s    [" << str(b->as_object(), "source")
           << "] " << str(b->as_object(), "formula") << "\n";

    os << "\nAggregates (compute records only)\n";
    os << "  GFLOPS best/avg/worst: " << fixed(p.best_measured_gflops) << " / " << fixed(p.avg_measured_gflops) << " / "
       << fixed(p.worst_measured_gflops) << "   efficiency: " << fixed(p.best_efficiency * 100) << "% / "
       << fixed(p.avg_efficiency * 100) << "% / " << fixed(p.worst_efficiency * 100) << "%\n";
    os << "  Memory bandwidth (DRAM copy): " << fixed(p.measured_bandwidth_gbps) << " GB/s ("
       << fixed(p.bandwidth_efficiency * 100) << "% of " << fixed(p.theoretical_bandwidth_gbps) << ")\n";

    // Matmul table by precision, then size.
    struct Row {
        std::string precision, shape;
        double elems;
        const core::OperationRecord* r;
    };
    std::vector<Row> rows;
    for (const auto& [key, r] : p.operation_profiles) {
        if (r.operation_type != "matmul") continue;
        std::string prec = str(r.extra_params, "precision", "fp32");
        std::string shape = r.extra_params.contains("matrix_size")
                                ? str(r.extra_params, "matrix_size") + "^3"
                                : str(r.extra_params, "m") + "x" + str(r.extra_params, "k") + "x" +
                                      str(r.extra_params, "n");
        double e = num(r.extra_params, "flops");
        rows.push_back({prec, shape, e, &r});
        if (flag(r.extra_params, "suspicious"))
            warnings.push_back("efficiency above 100% (suspicious): " + key);
        if (flag(r.extra_params, "reference_fallback"))
            warnings.push_back("reference-kernel fallback: " + key + " (" + str(r.extra_params, "implementation") + ")");
        if (num(r.extra_params, "displaced_samples") > 0) ++displaced_records;
    }
    std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
        return a.precision != b.precision ? a.precision < b.precision : a.elems < b.elems;
    });
    if (!rows.empty()) {
        os << "\nMatmul\n  " << pad("prec", 6) << pad("shape", 16) << rpad("GFLOPS", 9) << rpad("eff", 7)
           << rpad("median ms", 11) << rpad("p10-p90 ms", 20) << rpad("n", 5) << "  implementation\n";
        for (const auto& row : rows) {
            const auto& e = row.r->extra_params;
            os << "  " << pad(row.precision, 6) << pad(row.shape, 16) << rpad(fixed(row.r->measured_gflops), 9)
               << rpad(fixed(row.r->efficiency * 100) + "%", 7) << rpad(fixed(num(e, "median_latency_ms"), 3), 11)
               << rpad(fixed(num(e, "p10_latency_ms"), 3) + "-" + fixed(num(e, "p90_latency_ms"), 3), 20)
               << rpad(std::to_string(row.r->num_trials), 5) << "  " << str(e, "implementation") << "\n";
        }
    }
    if (auto* ps = p.extensions.if_contains("precision_support"); ps != nullptr && ps->is_object())
        for (const auto& kv : ps->as_object())
            if (kv.value().is_object() && !flag(kv.value().as_object(), "supported"))
                os << "  " << std::string(kv.key()) << ": unsupported (" << str(kv.value().as_object(), "reason")
                   << ")\n";

    const auto& mh = ext("memory_hierarchy");
    if (auto* lv = mh.if_contains("levels"); lv != nullptr && lv->is_array() && !lv->as_array().empty()) {
        os << "\nMemory hierarchy (GB/s; " << "STREAM convention, no write-allocate)\n  " << pad("level", 7)
           << rpad("size", 10) << rpad("copy", 9) << rpad("scale", 9) << rpad("add", 9) << rpad("triad", 9) << "\n";
        for (const auto& v : lv->as_array()) {
            if (!v.is_object()) continue;
            const auto& l = v.as_object();
            os << "  " << pad(str(l, "name"), 7)
               << rpad(num(l, "size_bytes") > 0 ? human_bytes(num(l, "size_bytes")) : "-", 10)
               << rpad(fixed(num(l, "copy_gbps")), 9) << rpad(fixed(num(l, "scale_gbps")), 9) << rpad(fixed(num(l, "add_gbps")), 9)
               << rpad(fixed(num(l, "triad_gbps")), 9) << "\n";
        }
    }

    bool header = false;
    for (const auto& [key, r] : p.fusion_profiles) {
        if (key.find('@') == std::string::npos) continue;  // bare keys repeat a shaped record
        if (!header) {
            os << "\nFusion (speedup = unfused / fused median latency, 95% interval)\n  " << pad("pattern", 20)
               << pad("prec", 6) << pad("shape", 16) << rpad("speedup", 8) << rpad("interval", 17)
               << rpad("mem red.", 9) << "  verdict\n";
            header = true;
        }
        const auto& e = r.extra_params;
        const double s = r.speedup_factor;
        const double lo = num(e, "speedup_ci_low"), hi = num(e, "speedup_ci_high");
        std::string verdict = core::to_string(core::fusion_tier(s));
        if (core::fusion_tier(lo) != core::fusion_tier(hi)) verdict += " (interval straddles a tier)";
        std::string interval = "[";
        interval += fixed(lo, 2);
        interval += ", ";
        interval += fixed(hi, 2);
        interval += "]";
        os << "  " << pad(r.fusion_pattern, 20) << pad(str(e, "precision", "fp32"), 6)
           << pad(shape_text(r.input_shape), 16) << rpad(fixed(s, 2) + "x", 8) << rpad(interval, 17) << rpad(fixed(r.memory_reduction * 100) + "%", 9) << "  "
           << verdict << "\n";
        if (flag(e, "reference_fallback")) warnings.push_back("reference-kernel fallback in fusion " + key);
        if (num(e, "displaced_samples") > 0) ++displaced_records;
    }
    if (displaced_records > 0)
        warnings.push_back(std::to_string(displaced_records) +
                           " records were partly timed outside the run's reference CPU placement (the wait "
                           "allowance ran out; extra_params.displaced_samples > 0): compare them with care");

    if (auto* fc = p.extensions.if_contains("failed_cases"); fc != nullptr && fc->is_array())
        for (const auto& v : fc->as_array())
            if (v.is_object() && str(v.as_object(), "status") != "unsupported")
                warnings.push_back("case " + str(v.as_object(), "case") + " (" + str(v.as_object(), "plugin") +
                                   "): " + str(v.as_object(), "status") + ": " + str(v.as_object(), "message"));
    if (auto* pl = p.extensions.if_contains("plugins"); pl != nullptr && pl->is_array())
        for (const auto& v : pl->as_array()) {
            if (!v.is_object()) continue;
            const auto& o = v.as_object();
            if (str(o, "status") == "rejected")
                warnings.push_back("plugin rejected: " + str(o, "path") + ": " + str(o, "reason"));
            else if (o.contains("unavailable_reason"))
                warnings.push_back("plugin " + str(o, "id") + " measured nothing, its device is unavailable: " +
                                   str(o, "unavailable_reason"));
        }
    if (!warnings.empty()) {
        os << "\nWarnings\n";
        for (const auto& w : warnings) os << "  - " << w << "\n";
    }
}

}  // namespace calib::cli
