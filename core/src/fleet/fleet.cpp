// The fleet view (calib/core/fleet.hpp): headline figures, the fleet's judgement of each node with
// compare's rule, the alpha-beta network fit, and the fleet file's JSON.
#include "calib/core/fleet.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <map>

#include "calib/core/profile_sections.hpp"

namespace calib::core {
namespace json = boost::json;

namespace {

bool is_gpu_kind(const std::string& kind) { return !kind.empty() && kind != "cpu"; }

// Device name -> "gpu." for the devices the profile's plugins report as anything but a CPU.
std::map<std::string, std::string> device_prefixes(const Profile& p) {
    std::map<std::string, std::string> out;
    for (const auto& e : read_sections(p).plugins)
        if (is_gpu_kind(e.device.kind)) out[e.device.name] = "gpu.";
    return out;
}

std::string prefix_of(const std::map<std::string, std::string>& prefixes, const std::string& device) {
    auto it = prefixes.find(device);
    return it == prefixes.end() ? std::string() : it->second;
}

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

double median_of(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string utc_now() {
    const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    gmtime_r(&t, &tm);
    char b[40];
    std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
    return b;
}

// A JSON number that is never NaN or infinite (the profile writer refuses those).
double finite(double v) { return std::isfinite(v) ? v : 0.0; }

}  // namespace

std::vector<HeadlineFigure> headline_figures(const Profile& p) {
    const auto prefixes = device_prefixes(p);
    // Best GFLOPS per (prefix, precision); the memory level's bandwidth per prefix.
    std::map<std::pair<std::string, std::string>, HeadlineFigure> best;
    std::vector<std::pair<std::string, HeadlineFigure>> memory, fusion;  // by device prefix
    for (const auto& [key, r] : p.operation_profiles) {
        const OperationExtras x = read_extras(r);
        if (x.judgement.status != "ok") continue;
        const std::string prefix = prefix_of(prefixes, x.origin.device);
        const std::string level = text_field(r.extra_params, "memory_level");
        if (!level.empty() && r.achieved_bandwidth_gbps > 0) {
            const std::string name = prefix + lower(level) + "_bandwidth";
            bool seen = false;
            for (const auto& m : memory) seen |= m.second.name == name;
            if (!seen) memory.push_back({prefix, {name, "GB/s", key, op_interval(r)}});
            continue;
        }
        if (!(r.measured_gflops > 0)) continue;
        std::string precision = x.origin.precision;
        const std::string math = text_field(r.extra_params, "math");
        if (precision == "fp32" && !math.empty() && math != "fp32") precision = math;  // tf32 is not fp32
        if (prefix.empty() && precision != "fp32" && precision != "bf16") continue;
        const auto slot = std::make_pair(prefix, precision);
        auto it = best.find(slot);
        if (it == best.end() || r.measured_gflops > it->second.interval.value)
            best[slot] = {prefix + "best_gflops." + precision, "GFLOPS", key, op_interval(r)};
    }
    for (const auto& [key, r] : p.fusion_profiles) {
        if (key.find('@') != std::string::npos || key.find('#') != std::string::npos) continue;  // bare keys only
        const FusionExtras x = read_extras(r);
        if (x.status != "ok" || !(r.speedup_factor > 0)) continue;
        const std::string prefix = prefix_of(prefixes, x.device);
        fusion.push_back({prefix, {prefix + "fusion_speedup." + fusion_key(r.fusion_pattern, r.input_shape, x.precision),
                                   "x", key, fusion_interval(r)}});
    }
    std::vector<HeadlineFigure> out;
    for (const std::string prefix : {"", "gpu."}) {
        for (const auto& [slot, f] : best)
            if (slot.first == prefix) out.push_back(f);
        for (const auto& [pre, m] : memory)
            if (pre == prefix) out.push_back(m);
    }
    for (const std::string prefix : {"", "gpu."})
        for (const auto& [pre, f] : fusion)
            if (pre == prefix) out.push_back(f);
    return out;
}

json::object topology_json(const std::string& transport, const std::vector<NetworkSeries>& series) {
    json::object t;
    t["transport"] = transport;
    t["model"] = "t = alpha + bytes / beta (fit_alpha_beta: least squares on relative error); ping_pong: one-way time";
    json::array pp, ar;
    for (const auto& s : series) {
        json::object o;
        json::array nodes, ranks, points;
        for (const auto& n : s.nodes) nodes.push_back(json::value(n));
        for (int r : s.ranks) ranks.push_back(r);
        for (std::size_t i = 0; i < s.bytes.size() && i < s.seconds.size(); ++i) {
            const double us = finite(s.seconds[i] * 1e6);
            points.push_back(json::object{{"bytes", static_cast<int64_t>(s.bytes[i])},
                                          {"seconds", finite(s.seconds[i])},
                                          {"time_us", us},
                                          {"gbps", us > 0 ? finite(s.bytes[i] / (s.seconds[i] * 1e9)) : 0.0},
                                          {"repetitions", i < s.repetitions.size() ? s.repetitions[i] : 0}});
        }
        o["nodes"] = nodes;
        o["ranks"] = ranks;
        o["batches"] = s.batches;
        o["points"] = points;
        const AlphaBeta f = fit_alpha_beta(s.bytes, s.seconds);  // finite: zeros when not ok
        append_fit(o, f);
        if (s.kind == "allreduce")
            o["bus_beta_gbps"] = finite(f.beta_gbps * bus_factor("all_reduce", static_cast<int64_t>(s.nodes.size())));
        (s.kind == "allreduce" ? ar : pp).push_back(std::move(o));
    }
    t["ping_pong"] = pp;
    t["allreduce"] = ar;
    return t;
}

namespace {

json::object interval_json(const Interval& iv) {
    return {{"value", finite(iv.value)}, {"ci_low", finite(iv.lo)}, {"ci_high", finite(iv.hi)}, {"cv", finite(iv.noise)}};
}

struct NodeFigure {
    std::string node;
    HeadlineFigure figure;
};

}  // namespace

json::object fleet_view(const std::vector<FleetNode>& nodes, const FleetOptions& o, json::value topology) {
    json::object doc;
    doc["fleet_schema_version"] = kFleetSchemaVersion;
    doc["calib_version"] = CALIB_VERSION;
    doc["created_at"] = utc_now();
    doc["mode"] = o.mode;
    doc["same_threshold_pct"] = o.same_pct;

    // Figures in first-seen order over the nodes, each with every ok node's value.
    std::vector<std::string> order;
    std::map<std::string, std::vector<NodeFigure>> by_name;
    json::array node_list;
    std::size_t ok_nodes = 0;
    for (const auto& n : nodes) {
        json::object e;
        e["name"] = n.name;
        e["status"] = n.status;
        e["reason"] = n.reason;
        if (n.rank) e["rank"] = *n.rank;
        if (!n.ranks.empty()) {
            json::array r;
            for (int x : n.ranks) r.push_back(x);
            e["ranks"] = r;
        }
        e["profile"] = n.profile_path.empty() ? json::value(nullptr) : json::value(n.profile_path);
        if (n.profile) {
            e["hardware_name"] = n.profile->metadata.hardware_name;
            e["calibration_date"] = n.profile->metadata.calibration_date;
        }
        for (const auto& [k, v] : n.extra) e[k] = v;
        node_list.push_back(std::move(e));
        if (n.status != "ok" || !n.profile) continue;
        ++ok_nodes;
        for (auto& f : headline_figures(*n.profile)) {
            if (!by_name.count(f.name)) order.push_back(f.name);
            by_name[f.name].push_back({n.name, std::move(f)});
        }
    }
    doc["nodes"] = node_list;
    json::object counts{{"total", nodes.size()}, {"ok", ok_nodes}, {"failed", nodes.size() - ok_nodes}};
    doc["node_counts"] = counts;

    json::object figures;
    json::array all_outliers;
    for (const auto& name : order) {
        const auto& vals = by_name[name];
        std::vector<double> v, rel_lo, rel_hi, noise;
        for (const auto& nf : vals) {
            const Interval& iv = nf.figure.interval;
            v.push_back(iv.value);
            if (iv.value > 0) {
                rel_lo.push_back(iv.lo / iv.value);
                rel_hi.push_back(iv.hi / iv.value);
            }
            noise.push_back(iv.noise);
        }
        const double med = median_of(v);
        std::vector<double> dev;
        for (double x : v) dev.push_back(std::fabs(x - med));
        const double mad = median_of(dev);
        // The fleet's reference: the median figure, with the nodes' median relative interval and scatter.
        Interval ref{med, med * median_of(rel_lo), med * median_of(rel_hi), median_of(noise), false};
        const bool judged = vals.size() >= 3;

        json::object f;
        f["unit"] = vals.front().figure.unit;
        f["nodes"] = vals.size();
        f["median"] = finite(med);
        f["min"] = finite(*std::min_element(v.begin(), v.end()));
        f["max"] = finite(*std::max_element(v.begin(), v.end()));
        f["mad"] = finite(mad);
        f["mad_pct"] = med > 0 ? finite(mad / med * 100) : 0.0;
        f["reference"] = interval_json(ref);
        json::array values, outliers, missing;
        for (const auto& nf : vals) {
            json::object e = interval_json(nf.figure.interval);
            e.emplace("node", nf.node);
            e["record"] = nf.figure.record;
            const char* verdict = classify(ref, nf.figure.interval, o.same_pct);
            const double change = med > 0 ? (nf.figure.interval.value / med - 1.0) * 100 : 0.0;
            e["verdict"] = verdict;
            e["change_pct"] = finite(change);
            if (nf.figure.interval.disturbed) e["disturbed"] = true;
            values.push_back(std::move(e));
            const std::string vs = verdict;
            if (judged && (vs == "SLOWER" || vs == "FASTER")) {
                json::object out{{"node", nf.node},
                                 {"direction", vs == "SLOWER" ? "slower" : "faster"},
                                 {"change_pct", finite(change)},
                                 {"value", finite(nf.figure.interval.value)},
                                 {"fleet_median", finite(med)}};
                outliers.push_back(out);
                out.emplace("figure", name);
                out["unit"] = f["unit"];
                all_outliers.push_back(std::move(out));
            }
        }
        for (const auto& n : nodes) {
            if (n.status != "ok" || !n.profile) continue;
            bool has = false;
            for (const auto& nf : vals) has |= nf.node == n.name;
            if (!has) missing.push_back(json::value(n.name));
        }
        f["values"] = values;
        f["judged"] = judged;
        f["outliers"] = outliers;
        f["missing"] = missing;
        figures[name] = std::move(f);
    }
    doc["figures"] = figures;
    doc["outliers"] = all_outliers;
    doc["topology"] = std::move(topology);
    return doc;
}

std::string node_name_of(const Profile& p, const std::string& fallback) {
    if (auto it = p.extensions.find("host"); it != p.extensions.end() && it->value().is_object()) {
        const std::string h = text_field(it->value().as_object(), "hostname");
        if (!h.empty()) return h;
    }
    if (!p.metadata.hardware_name.empty()) return p.metadata.hardware_name;
    return fallback;
}

std::string file_safe(const std::string& name) {
    std::string s = name;
    for (char& c : s)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) c = '_';
    if (s.empty() || s == "." || s == "..") s = "node" + s;
    return s;
}

}  // namespace calib::core
