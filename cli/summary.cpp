#include "summary.hpp"

#include "json_fields.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "calib/core/profile_sections.hpp"
#include "calib/core/topology.hpp"

namespace calib::cli {
namespace {

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

std::string count(int64_t n) { return fixed(static_cast<double>(n), 0); }

// The summary being written: the stream, and the warnings gathered on the way for the end.
struct Report {
    std::ostream& os;
    const core::Profile& p;
    core::CalibSections s;
    std::vector<std::string> warnings;
    int displaced_records = 0;  // operation and fusion records with displaced_samples > 0
    int disturbed_records = 0;  // records flagged disturbed (a co-runner shared the CPUs)
};

void print_placement(Report& r, const core::PlacementSection& o) {
    if (o.probes <= 0) return;
    r.os << "\n  CPU placement: " << count(o.displaced_probes) << " of " << count(o.probes)
         << " probes displaced (reference " << fixed(o.reference_ns, 0) << " ns), " << fixed(o.wait_seconds)
         << " s waited";
    if (o.steal_cases > 0)
        r.os << "; " << count(o.steal_cases) << " case(s) lost over " << fixed(100 * o.steal_max_share, 0)
             << "% of their time to the hypervisor (steal)";
    if (o.stale_cases > 0)
        r.os << "; " << count(o.stale_cases) << " case(s) timed before the reference moved to a faster placement";
    if (o.disturbed_cases > 0)
        r.os << "; " << count(o.disturbed_cases) << " case(s) timed beside a co-runner (" << count(o.flagged_cases)
             << " still flagged disturbed)";
    if (o.deferred_cases > 0 || o.retried_cases > 0)
        r.os << "; at the end " << count(o.deferred_cases) << " deferred case(s) measured, "
             << count(o.retried_cases) << " re-measured (" << count(o.replaced_cases) << " replaced)";
}

void print_header(Report& r) {
    const auto& md = r.p.metadata;
    r.os << "HardwareCalibration: " << md.hardware_name << "\n";
    r.os << "  CPU: " << md.cpu_model << ", " << md.cpu_count << " cores, " << fixed(md.total_memory_gb) << " GiB\n";
    if (md.device_type)
        r.os << "  Device type " << *md.device_type << ", " << md.platform_architecture.value_or("unknown") << ", framework "
             << md.framework.value_or("unknown") << (md.gpu_clock ? ", SM clock " + count(md.gpu_clock->sm_clock_mhz) + " MHz" : "")
             << (md.cpu_clock ? ", CPU clock " + fixed(md.cpu_clock->current_freq_mhz, 0) + " MHz" : "") << "\n";
    r.os << "  Calibrated " << md.calibration_date << " with " << md.calibration_tool_version;
    if (const auto& run = r.s.run) {
        r.os << " in " << fixed(run->wall_seconds) << " s";
        print_placement(r, run->policy.placement);
        if (!run->complete) {
            r.os << " (INCOMPLETE: interrupted)";
            r.warnings.push_back("the run was interrupted: this profile is partial");
        }
    }
}

void print_peaks(Report& r) {
    r.os << "\n\nPeaks (theoretical, with source; the measured ceiling beside, and which one efficiency uses)\n";
    for (const auto& [precision, pk] : r.s.peaks.compute) {
        if (pk.gflops <= 0) continue;
        r.os << "  " << pad(precision, 6) << rpad(fixed(pk.gflops), 10) << " GFLOPS  [" << pk.source << "] "
             << pk.formula << "\n";
        const double ceiling = pk.ceiling_gflops.value_or(0);
        if (ceiling > 0)
            r.os << "  " << pad("", 6) << rpad(fixed(ceiling), 10) << " GFLOPS  [measured ceiling] "
                 << pk.ceiling_source.value_or("") << "\n";
        const bool detected = pk.source == "detected";
        r.os << "  " << pad("", 6) << "host CPU efficiency uses "
             << (detected ? (ceiling > 0 ? "the measured ceiling" : "the formula") : "the " + pk.source + " peak")
             << "\n";
    }
    if (const auto& b = r.s.peaks.bandwidth; b && b->gbps > 0)
        r.os << "  memory" << rpad(fixed(b->gbps), 10) << " GB/s    [" << b->source << "] " << b->formula << "\n";
    else if (b)
        r.os << "  memory    not known (no theoretical figure given and no DRAM measurement to stand in)\n";
}

// The origin's aggregates, or what was not measured (a 0.0 there is the consumers' "not measured", never a
// figure to print as one).
void print_aggregates(Report& r) {
    const auto& p = r.p;
    r.os << "\nAggregates (the primary device's fp32 compute records, as the origin's consumers read them)\n";
    if (p.best_measured_gflops > 0)
        r.os << "  GFLOPS best/avg/worst: " << fixed(p.best_measured_gflops) << " / " << fixed(p.avg_measured_gflops)
             << " / " << fixed(p.worst_measured_gflops) << "   efficiency: " << fixed(p.best_efficiency * 100)
             << "% / " << fixed(p.avg_efficiency * 100) << "% / " << fixed(p.worst_efficiency * 100) << "%\n";
    else
        r.os << "  GFLOPS best/avg/worst: not measured (no fp32 compute record; the profile holds 0.0, which the "
                "consumers read as not measured)\n";
    const auto& levels = r.s.memory_hierarchy.levels;
    const std::string level = levels.empty() ? "DRAM" : levels.back().name;
    if (p.measured_bandwidth_gbps > 0)
        r.os << "  Memory bandwidth (" << level << " copy): " << fixed(p.measured_bandwidth_gbps) << " GB/s ("
             << fixed(p.bandwidth_efficiency * 100) << "% of " << fixed(p.theoretical_bandwidth_gbps) << ")\n";
    else
        r.os << "  Memory bandwidth: not measured (no sweep point reached " << level
             << "; the profile holds 0.0)\n";
}

// The fitted efficiency curves: what a cost model reads for sizes that were not measured.
void print_curves(Report& r) {
    if (!r.s.efficiency_curves || r.s.efficiency_curves->empty()) return;
    r.os << "\nEfficiency curves (efficiency = measured / peak against FLOPs; `query` reads them between sizes)\n  "
         << pad("operation/precision", 24) << pad("model", 18) << rpad("points", 7) << rpad("rms resid", 11)
         << rpad("FLOPs range", 22) << "\n";
    for (const auto& [key, c] : *r.s.efficiency_curves) {
        char range[64];
        std::snprintf(range, sizeof range, "%.2g - %.2g", c.min_flops, c.max_flops);
        r.os << "  " << pad(key, 24) << pad(c.fitted_curve.curve_type, 18) << rpad(count(static_cast<int64_t>(c.data_points.size())), 7)
             << rpad(fixed(c.rms_residual, 3), 11) << rpad(range, 22) << "\n";
    }
}

struct MatmulRow {
    std::string precision, shape;
    double elems;
    const core::OperationRecord* r;
    core::OperationExtras x;
};

// Matmul records by precision, then size; their warnings on the way.
std::vector<MatmulRow> matmul_rows(Report& rep) {
    std::vector<MatmulRow> rows;
    for (const auto& [key, r] : rep.p.operation_profiles) {
        if (r.operation_type != "matmul") continue;
        const auto& e = r.extra_params;  // the case's own params: its size
        std::string shape = e.contains("matrix_size") ? str(e, "matrix_size") + "^3"
                                                      : str(e, "m") + "x" + str(e, "k") + "x" + str(e, "n");
        const core::OperationExtras x = core::read_extras(r);
        rows.push_back({x.origin.precision, shape, x.judgement.flops.value_or(0), &r, x});
        if (x.judgement.suspicious.value_or(false))
            rep.warnings.push_back("efficiency above 100% (suspicious): " + key);
        if (x.instance.reference_fallback)
            rep.warnings.push_back("reference-kernel fallback: " + key + " (" + x.instance.implementation + ")");
        if (x.samples.placement.displaced_samples > 0) ++rep.displaced_records;
        if (x.samples.placement.disturbed.value_or(false)) ++rep.disturbed_records;
    }
    std::stable_sort(rows.begin(), rows.end(), [](const MatmulRow& a, const MatmulRow& b) {
        return a.precision != b.precision ? a.precision < b.precision : a.elems < b.elems;
    });
    return rows;
}

void print_matmul(Report& r) {
    const auto rows = matmul_rows(r);
    if (!rows.empty()) {
        r.os << "\nMatmul\n  " << pad("prec", 6) << pad("shape", 16) << rpad("GFLOPS", 9) << rpad("eff", 7)
             << rpad("median ms", 11) << rpad("p10-p90 ms", 20) << rpad("n", 5) << "  implementation\n";
        for (const auto& row : rows) {
            const auto& st = row.x.samples;
            r.os << "  " << pad(row.precision, 6) << pad(row.shape, 16) << rpad(fixed(row.r->measured_gflops), 9)
                 << rpad(fixed(row.r->efficiency * 100) + "%", 7) << rpad(fixed(st.median_latency_ms, 3), 11)
                 << rpad(fixed(st.p10_latency_ms, 3) + "-" + fixed(st.p90_latency_ms, 3), 20)
                 << rpad(std::to_string(row.r->num_trials), 5) << "  " << row.x.instance.implementation
                 << (row.x.samples.placement.disturbed.value_or(false) ? "  DISTURBED (co-runner)" : "") << "\n";
        }
    }
    if (r.s.precision_support)
        for (const auto& [precision, sup] : *r.s.precision_support)
            if (!sup.supported) r.os << "  " << precision << ": unsupported (" << sup.reason.value_or("") << ")\n";
}

void print_memory(Report& r) {
    const auto& levels = r.s.memory_hierarchy.levels;
    if (levels.empty()) return;
    r.os << "\nMemory hierarchy (GB/s; " << "STREAM convention, no write-allocate)\n  " << pad("level", 7)
         << rpad("size", 10) << rpad("copy", 9) << rpad("scale", 9) << rpad("add", 9) << rpad("triad", 9) << "\n";
    for (const auto& l : levels) {
        const double size = static_cast<double>(l.size_bytes);
        r.os << "  " << pad(l.name, 7) << rpad(size > 0 ? human_bytes(size) : "-", 10) << rpad(fixed(l.copy_gbps), 9)
             << rpad(fixed(l.scale_gbps), 9) << rpad(fixed(l.add_gbps), 9) << rpad(fixed(l.triad_gbps), 9) << "\n";
    }
}

void print_fusion_row(Report& rep, const std::string& key, const core::FusionRecord& r) {
    const core::FusionExtras x = core::read_extras(r);
    const double s = r.speedup_factor;
    const double lo = x.speedup_ci_low.value_or(0), hi = x.speedup_ci_high.value_or(0);
    std::string verdict = core::to_string(core::fusion_tier(s));
    if (core::fusion_tier(lo) != core::fusion_tier(hi)) verdict += " (interval straddles a tier)";
    if (x.placement.disturbed.value_or(false)) {
        verdict += "  DISTURBED (co-runner)";
        ++rep.disturbed_records;
    }
    std::string interval = "[";  // built in place (GCC 12 warns falsely on "[" + string)
    interval += fixed(lo, 2);
    interval += ", ";
    interval += fixed(hi, 2);
    interval += "]";
    rep.os << "  " << pad(r.fusion_pattern, 20) << pad(x.precision, 6)
           << pad(shape_text(r.input_shape), 16) << rpad(fixed(s, 2) + "x", 8) << rpad(interval, 17)
           << rpad(fixed(r.memory_reduction * 100) + "%", 9) << "  " << verdict << "\n";
    if (x.reference_fallback) rep.warnings.push_back("reference-kernel fallback in fusion " + key);
    if (x.placement.displaced_samples > 0) ++rep.displaced_records;
}

void print_fusion(Report& r) {
    bool header = false;
    for (const auto& [key, rec] : r.p.fusion_profiles) {
        if (key.find('@') == std::string::npos) continue;  // bare keys repeat a shaped record
        if (!header) {
            r.os << "\nFusion (speedup = unfused / fused median latency, 95% interval)\n  " << pad("pattern", 20)
                 << pad("prec", 6) << pad("shape", 16) << rpad("speedup", 8) << rpad("interval", 17)
                 << rpad("mem red.", 9) << "  verdict\n";
            header = true;
        }
        print_fusion_row(r, key, rec);
    }
}

// Energy and conditions (ABI 1.1 plugins that read their device's state): idle power per device, then per
// record the average power, energy per unit of work, clock and temperature at the end, throttling; the
// sustained window beside the burst for sustained cases.
void print_energy(Report& r) {
    if (const auto* v = r.p.extensions.if_contains("device_conditions"); v != nullptr && v->is_array() && !v->as_array().empty()) {
        r.os << "\nDevice conditions before the first case\n";
        for (const auto& d : v->as_array()) {
            if (!d.is_object()) continue;
            const auto& o = d.as_object();
            auto num = [&](const char* k) { return o.contains(k) && o.at(k).is_number() ? o.at(k).to_number<double>() : -1.0; };
            std::string line = "  device " + (o.contains("device") ? std::to_string(o.at("device").to_number<int64_t>()) : std::string("?"));
            line += o.contains("name") && o.at("name").is_string() ? " " + std::string(o.at("name").as_string()) : std::string();
            if (num("idle_power_watts") >= 0) line += ": idle " + fixed(num("idle_power_watts"), 1) + " W";
            if (num("power_limit_watts") > 0) line += " (limit " + fixed(num("power_limit_watts"), 0) + " W)";
            if (num("sm_clock_mhz") >= 0) line += ", SM " + fixed(num("sm_clock_mhz"), 0) + " MHz";
            if (num("temperature_c") >= 0) line += ", " + fixed(num("temperature_c"), 0) + " C";
            r.os << line << "\n";
        }
    }
    bool header = false;
    for (const auto& [key, rec] : r.p.operation_profiles) {
        const core::EnergyFacts e = core::read_extras(rec).energy;
        if (!e.avg_power_watts && !e.sustained_seconds) continue;
        if (!header) {
            r.os << "\nEnergy (over each measurement: average power, energy per unit of work; clock and temperature at its end)\n  "
                 << pad("record", 40) << rpad("W", 8) << rpad("pJ/unit", 12) << rpad("SM MHz", 8) << rpad("temp C", 8)
                 << "  throttling\n";
            header = true;
        }
        auto unit = [](std::optional<double> flop, std::optional<double> byte) {
            return flop ? fixed(*flop, 3) + "/FLOP" : byte ? fixed(*byte, 1) + "/B" : std::string("-");
        };
        if (e.avg_power_watts) {
            std::string thr = e.throttled.value_or(false) ? "THROTTLED" : "none";
            if (e.throttle && !e.throttle->empty()) thr += " (" + *e.throttle + ")";
            r.os << "  " << pad(key, 40) << rpad(fixed(*e.avg_power_watts, 1), 8) << rpad(unit(e.pj_per_flop, e.pj_per_byte), 12)
                 << rpad(e.end_sm_clock_mhz ? fixed(*e.end_sm_clock_mhz, 0) : "-", 8)
                 << rpad(e.end_temperature_c ? fixed(*e.end_temperature_c, 0) : "-", 8) << "  " << thr << "\n";
        }
        if (e.sustained_seconds) {
            std::string thr = e.sustained_throttled.value_or(false) ? "THROTTLED" : "none";
            if (e.sustained_throttle && !e.sustained_throttle->empty()) thr += " (" + *e.sustained_throttle + ")";
            std::string figure = e.sustained_gflops ? fixed(*e.sustained_gflops, 1) + " GFLOPS"
                                                    : fixed(e.sustained_gbps.value_or(0), 1) + " GB/s";
            r.os << "  " << pad("  sustained " + fixed(*e.sustained_seconds, 1) + " s: " + figure, 40)
                 << rpad(e.sustained_power_watts ? fixed(*e.sustained_power_watts, 1) : "-", 8)
                 << rpad(unit(e.sustained_pj_per_flop, e.sustained_pj_per_byte), 12)
                 << rpad(e.sustained_sm_clock_mhz ? fixed(*e.sustained_sm_clock_mhz, 0) : "-", 8)
                 << rpad(e.sustained_temperature_c ? fixed(*e.sustained_temperature_c, 0) : "-", 8) << "  " << thr << "\n";
        }
    }
}

// The topology (ABI 1.1 transfer cases): host links per device, the P2P link matrix (beta GB/s, alpha
// us, link kind), collectives by group size.
void print_topology(Report& r) {
    const auto* v = r.p.extensions.if_contains("topology");
    if (v == nullptr) return;
    const core::Topology t = core::read_topology(*v);
    if (t.links.empty() && t.collectives.empty()) return;
    r.os << "\nTopology (alpha-beta fits, t = alpha + bytes / beta; largest size measured in brackets)\n";
    std::vector<std::string> devices;  // "0", "1", ... as links name them
    for (const auto& d : t.devices) {
        r.os << "  device " << d.index << ": " << d.name << (d.bus_id.empty() ? "" : " (" + d.bus_id + ")") << "\n";
        devices.push_back(std::to_string(d.index));
    }
    auto largest = [](const core::TopologyLink& l) {
        return l.points.empty() ? std::string("-") : fixed(l.points.back().gbps, 1) + " @ " + core::bytes_text(l.points.back().bytes);
    };
    bool host_header = false;
    for (const auto& l : t.links) {
        if (l.operation == "copy_p2p") continue;
        if (!host_header) {
            r.os << "  " << pad("host link", 16) << pad("memory", 10) << rpad("alpha us", 10) << rpad("beta GB/s", 11)
                 << rpad("resid.", 8) << "  measured GB/s\n";
            host_header = true;
        }
        r.os << "  " << pad(l.from + " -> " + l.to, 16) << pad(l.memory.empty() ? "-" : l.memory, 10)
             << rpad(fixed(l.fit.alpha_us, 1), 10) << rpad(fixed(l.fit.beta_gbps, 1), 11)
             << rpad(fixed(l.fit.residual * 100, 1) + "%", 8) << "  " << largest(l) << "\n";
    }
    bool any_p2p = false;
    for (const auto& l : t.links) any_p2p = any_p2p || l.operation == "copy_p2p";
    if (any_p2p) {
        r.os << "  P2P link matrix, from (row) to (column): beta GB/s / alpha us / kind\n  " << pad("", 6);
        for (const auto& to : devices) r.os << pad(to, 24);
        r.os << "\n";
        for (const auto& from : devices) {
            r.os << "  " << pad(from, 6);
            for (const auto& to : devices) {
                const core::TopologyLink* l = from == to ? nullptr : core::find_link(t, from, to);
                std::string cell = from == to ? "-" : l == nullptr ? "not measured" : fixed(l->fit.beta_gbps, 1) + " / " +
                                                                          fixed(l->fit.alpha_us, 1) + " / " +
                                                                          (l->kind.empty() ? "?" : l->kind);
                if (l != nullptr && l->peer_access && !*l->peer_access) cell += " (no peer access)";
                r.os << pad(cell, 24);
            }
            r.os << "\n";
        }
    }
    if (!t.collectives.empty()) {
        r.os << "  " << pad("collective", 16) << rpad("ranks", 6) << rpad("alpha us", 10) << rpad("algbw GB/s", 12)
             << rpad("busbw GB/s", 12) << rpad("resid.", 8) << "\n";
        for (const auto& c : t.collectives)
            r.os << "  " << pad(c.operation, 16) << rpad(count(c.ranks), 6) << rpad(fixed(c.fit.alpha_us, 1), 10)
                 << rpad(fixed(c.fit.beta_gbps, 1), 12) << rpad(fixed(c.bus_beta_gbps, 1), 12)
                 << rpad(fixed(c.fit.residual * 100, 1) + "%", 8) << "\n";
    }
}

void print_warnings(Report& r) {
    if (r.displaced_records > 0)
        r.warnings.push_back(std::to_string(r.displaced_records) +
                             " records were partly timed outside the run's reference CPU placement (the wait "
                             "allowance ran out; extra_params.displaced_samples > 0): compare them with care");
    for (const auto& pt : r.s.memory_sweep)
        if (const auto* d = pt.if_contains("disturbed"); d != nullptr && d->is_bool() && d->as_bool())
            ++r.disturbed_records;
    if (r.disturbed_records > 0)
        r.warnings.push_back(std::to_string(r.disturbed_records) +
                             " records were timed while other processes used calib's CPUs and could not be "
                             "measured again clean (extra_params.disturbed): their figures are not the machine's");
    // Cases failing alike (plugin, status, message) make one line: a one-GPU node's 40 collectives
    // say "unavailable: 1 GPU visible" once, with their count.
    std::vector<std::pair<std::string, std::vector<std::string>>> alike;  // "plugin): status: message" -> cases
    for (const auto& f : r.s.failed_cases) {
        if (f.status == "unsupported") continue;
        const std::string what = f.plugin + "): " + f.status + ": " + f.message;
        auto it = std::find_if(alike.begin(), alike.end(), [&](const auto& a) { return a.first == what; });
        if (it == alike.end()) alike.push_back({what, {f.case_name}});
        else it->second.push_back(f.case_name);
    }
    for (const auto& [what, cases] : alike) {
        std::string line = cases.size() == 1 ? "case " + cases.front()
                                             : std::to_string(cases.size()) + " cases (" + cases.front() + " ... " + cases.back();
        line += cases.size() == 1 ? " (" : ", ";
        line += what;
        r.warnings.push_back(line);
    }
    for (const auto& pl : r.s.plugins) {
        if (pl.status == "rejected")
            r.warnings.push_back("plugin rejected: " + pl.path + ": " + pl.reason.value_or(""));
        else if (pl.unavailable_reason)
            r.warnings.push_back("plugin " + pl.id + " measured nothing, its device is unavailable: " +
                                 *pl.unavailable_reason);
    }
    if (!r.warnings.empty()) {
        r.os << "\nWarnings\n";
        for (const auto& w : r.warnings) r.os << "  - " << w << "\n";
    }
}

}  // namespace

void print_summary(std::ostream& os, const core::Profile& p) {
    Report r{os, p, core::read_sections(p), {}, 0};
    print_header(r);
    print_peaks(r);
    print_aggregates(r);
    print_matmul(r);
    print_memory(r);
    print_curves(r);
    print_fusion(r);
    print_energy(r);
    print_topology(r);
    print_warnings(r);
}

}  // namespace calib::cli
