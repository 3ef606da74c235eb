// The topology section: alpha-beta fits, JSON, validation and lookup (topology.hpp).
#include "calib/core/topology.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace calib::core {

namespace json = boost::json;

AlphaBeta fit_alpha_beta(const std::vector<double>& bytes, const std::vector<double>& seconds) {
    AlphaBeta f;
    const std::size_t n = std::min(bytes.size(), seconds.size());
    double sw = 0, sn = 0, snn = 0, st = 0, snt = 0;
    std::size_t used = 0;
    double first = -1;
    bool two_sizes = false;
    for (std::size_t i = 0; i < n; ++i) {
        const double x = bytes[i], t = seconds[i];
        if (!(x > 0) || !(t > 0) || !std::isfinite(x) || !std::isfinite(t)) continue;
        if (first < 0) first = x;
        else if (x != first) two_sizes = true;
        const double w = 1.0 / (t * t);
        sw += w, sn += w * x, snn += w * x * x, st += w * t, snt += w * x * t;
        ++used;
    }
    if (used < 2 || !two_sizes) return f;
    const double det = sw * snn - sn * sn;
    double b = det > 0 ? (sw * snt - sn * st) / det : 0;  // seconds per byte
    double a = (st - b * sn) / sw;
    if (a < 0) {  // through the origin
        a = 0;
        b = snt / snn;
    }
    if (!(b > 0) || !std::isfinite(1.0 / b)) return f;  // no positive, finite beta: no fit (all fields 0)
    f.alpha_us = a * 1e6;
    f.beta_gbps = 1.0 / b / 1e9;
    double sq = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const double x = bytes[i], t = seconds[i];
        if (!(x > 0) || !(t > 0) || !std::isfinite(x) || !std::isfinite(t)) continue;
        const double e = (a + b * x - t) / t;
        sq += e * e;
    }
    f.residual = std::sqrt(sq / static_cast<double>(used));
    f.ok = true;
    return f;
}

double predict_seconds(const AlphaBeta& f, double bytes) {
    if (!f.ok) return 0;
    return f.alpha_us * 1e-6 + bytes / (f.beta_gbps * 1e9);
}

double bus_factor(const std::string& op, int64_t ranks) {
    const double n = static_cast<double>(ranks);
    if (ranks < 1) return 0;
    if (op == "all_reduce") return 2.0 * (n - 1) / n;
    if (op == "all_gather" || op == "reduce_scatter") return (n - 1) / n;
    return 1.0;
}

void append_fit(json::object& o, const AlphaBeta& f) {
    o["alpha_us"] = f.alpha_us;
    o["beta_gbps"] = f.beta_gbps;
    o["fit_residual"] = f.residual;
    o["fit_ok"] = f.ok;
}

namespace {

json::array points_json(const std::vector<TopologyPoint>& points) {
    json::array a;
    for (const auto& p : points) {
        json::object o;
        o["bytes"] = p.bytes;
        o["seconds"] = p.seconds;
        o["gbps"] = p.gbps;
        if (p.busbw_gbps) o["busbw_gbps"] = *p.busbw_gbps;
        if (p.ci_low_gbps) o["ci_low_gbps"] = *p.ci_low_gbps;
        if (p.ci_high_gbps) o["ci_high_gbps"] = *p.ci_high_gbps;
        if (p.disturbed) o["disturbed"] = *p.disturbed;
        if (!p.case_name.empty()) o["case"] = p.case_name;
        a.push_back(std::move(o));
    }
    return a;
}

double num(const json::object& o, const char* key, double dflt = 0) {
    const json::value* v = o.if_contains(key);
    if (v == nullptr) return dflt;
    if (v->is_double()) return v->get_double();
    if (v->is_int64()) return static_cast<double>(v->get_int64());
    if (v->is_uint64()) return static_cast<double>(v->get_uint64());
    return dflt;
}

std::optional<double> opt_num(const json::object& o, const char* key) {
    const json::value* v = o.if_contains(key);
    if (v == nullptr || !v->is_number()) return std::nullopt;
    return num(o, key);
}

std::string text(const json::object& o, const char* key) {
    const json::value* v = o.if_contains(key);
    if (v == nullptr) return {};
    if (v->is_string()) return std::string(v->get_string());
    if (v->is_int64()) return std::to_string(v->get_int64());
    return {};
}

AlphaBeta read_fit(const json::object& o) {
    AlphaBeta f;
    f.alpha_us = num(o, "alpha_us");
    f.beta_gbps = num(o, "beta_gbps");
    f.residual = num(o, "fit_residual");
    const json::value* ok = o.if_contains("fit_ok");
    f.ok = ok != nullptr && ok->is_bool() ? ok->get_bool() : f.beta_gbps > 0;
    return f;
}

std::vector<TopologyPoint> read_points(const json::object& o) {
    std::vector<TopologyPoint> out;
    const json::value* v = o.if_contains("points");
    if (v == nullptr || !v->is_array()) return out;
    for (const auto& e : v->get_array()) {
        if (!e.is_object()) continue;
        const auto& p = e.get_object();
        TopologyPoint t;
        t.bytes = num(p, "bytes");
        t.seconds = num(p, "seconds");
        t.gbps = num(p, "gbps");
        t.busbw_gbps = opt_num(p, "busbw_gbps");
        t.ci_low_gbps = opt_num(p, "ci_low_gbps");
        t.ci_high_gbps = opt_num(p, "ci_high_gbps");
        if (const json::value* d = p.if_contains("disturbed"); d != nullptr && d->is_bool()) t.disturbed = d->get_bool();
        t.case_name = text(p, "case");
        out.push_back(std::move(t));
    }
    return out;
}

const json::array* array_of(const json::object& o, const char* key) {
    const json::value* v = o.if_contains(key);
    return v != nullptr && v->is_array() ? &v->get_array() : nullptr;
}

}  // namespace

json::object to_json(const Topology& t) {
    json::object o;
    json::array devices;
    for (const auto& d : t.devices) {
        json::object e;
        e["plugin"] = d.plugin;
        e["index"] = d.index;
        e["name"] = d.name;
        e["kind"] = d.kind;
        if (!d.bus_id.empty()) e["bus_id"] = d.bus_id;
        devices.push_back(std::move(e));
    }
    o["devices"] = std::move(devices);
    json::array links;
    for (const auto& l : t.links) {
        json::object e;
        e["plugin"] = l.plugin;
        e["operation"] = l.operation;
        e["from"] = l.from;
        e["to"] = l.to;
        if (!l.memory.empty()) e["memory"] = l.memory;
        if (!l.kind.empty()) e["kind"] = l.kind;
        if (l.peer_access) e["peer_access"] = *l.peer_access;
        append_fit(e, l.fit);
        e["points"] = points_json(l.points);
        links.push_back(std::move(e));
    }
    o["links"] = std::move(links);
    json::array collectives;
    for (const auto& c : t.collectives) {
        json::object e;
        e["plugin"] = c.plugin;
        e["operation"] = c.operation;
        e["ranks"] = c.ranks;
        json::array devs;
        for (int64_t d : c.devices) devs.push_back(d);
        e["devices"] = std::move(devs);
        append_fit(e, c.fit);
        e["bus_beta_gbps"] = c.bus_beta_gbps;
        e["points"] = points_json(c.points);
        collectives.push_back(std::move(e));
    }
    o["collectives"] = std::move(collectives);
    return o;
}

Topology read_topology(const json::value& v) {
    Topology t;
    if (!v.is_object()) return t;
    const auto& o = v.get_object();
    if (const auto* a = array_of(o, "devices"))
        for (const auto& e : *a) {
            if (!e.is_object()) continue;
            const auto& d = e.get_object();
            t.devices.push_back({text(d, "plugin"), static_cast<int64_t>(num(d, "index")), text(d, "name"), text(d, "kind"),
                                 text(d, "bus_id")});
        }
    if (const auto* a = array_of(o, "links"))
        for (const auto& e : *a) {
            if (!e.is_object()) continue;
            const auto& d = e.get_object();
            TopologyLink l;
            l.plugin = text(d, "plugin");
            l.operation = text(d, "operation");
            l.from = text(d, "from");
            l.to = text(d, "to");
            l.memory = text(d, "memory");
            l.kind = text(d, "kind");
            if (const json::value* p = d.if_contains("peer_access"); p != nullptr && p->is_bool()) l.peer_access = p->get_bool();
            l.fit = read_fit(d);
            l.points = read_points(d);
            t.links.push_back(std::move(l));
        }
    if (const auto* a = array_of(o, "collectives"))
        for (const auto& e : *a) {
            if (!e.is_object()) continue;
            const auto& d = e.get_object();
            TopologyCollective c;
            c.plugin = text(d, "plugin");
            c.operation = text(d, "operation");
            c.ranks = static_cast<int64_t>(num(d, "ranks"));
            if (const auto* devs = array_of(d, "devices"))
                for (const auto& x : *devs)
                    if (x.is_int64()) c.devices.push_back(x.get_int64());
            c.fit = read_fit(d);
            c.bus_beta_gbps = num(d, "bus_beta_gbps");
            c.points = read_points(d);
            t.collectives.push_back(std::move(c));
        }
    return t;
}

std::vector<std::string> validate_topology(const json::value& v, const std::string& where) {
    std::vector<std::string> p;
    if (!v.is_object()) return {where + ": not an object"};
    const auto& o = v.get_object();
    for (const char* key : {"devices", "links", "collectives"})
        if (array_of(o, key) == nullptr) p.push_back(where + "." + key + ": missing or not an array");
    if (!p.empty()) return p;
    auto check_entry = [&](const json::object& e, const std::string& at, bool collective) {
        for (const char* key : {"plugin", "operation"})
            if (text(e, key).empty()) p.push_back(at + "." + key + ": missing");
        for (const char* key : {"alpha_us", "beta_gbps", "fit_residual"})
            if (!opt_num(e, key) || !std::isfinite(num(e, key)) || num(e, key) < 0)
                p.push_back(at + "." + key + ": not a finite number >= 0");
        if (collective && !(num(e, "ranks") >= 1)) p.push_back(at + ".ranks: below 1");
        const auto* pts = array_of(e, "points");
        if (pts == nullptr) {
            p.push_back(at + ".points: missing");
            return;
        }
        std::vector<double> bytes, seconds;
        for (std::size_t i = 0; i < pts->size(); ++i) {
            const std::string pat = at + ".points[" + std::to_string(i) + "]";
            if (!(*pts)[i].is_object()) {
                p.push_back(pat + ": not an object");
                continue;
            }
            const auto& q = (*pts)[i].get_object();
            const double b = num(q, "bytes"), s = num(q, "seconds"), g = num(q, "gbps");
            if (!(b > 0) || !(s > 0) || !std::isfinite(s)) {
                p.push_back(pat + ": bytes and seconds must be > 0");
                continue;
            }
            if (std::fabs(g - b / s / 1e9) > 1e-3 * g + 1e-9) p.push_back(pat + ".gbps: not bytes / seconds");
            bytes.push_back(b);
            seconds.push_back(s);
        }
        // The stored fit is the fit of the stored points (within 1%).
        const AlphaBeta refit = fit_alpha_beta(bytes, seconds);
        const double beta = num(e, "beta_gbps");
        if (refit.ok && beta > 0 && std::fabs(refit.beta_gbps - beta) > 0.01 * beta)
            p.push_back(at + ".beta_gbps: " + std::to_string(beta) + " is not the fit of its points (" +
                        std::to_string(refit.beta_gbps) + ")");
    };
    const auto& links = *array_of(o, "links");
    for (std::size_t i = 0; i < links.size(); ++i) {
        const std::string at = where + ".links[" + std::to_string(i) + "]";
        if (!links[i].is_object()) {
            p.push_back(at + ": not an object");
            continue;
        }
        const auto& e = links[i].get_object();
        if (text(e, "from").empty() || text(e, "to").empty()) p.push_back(at + ": from/to missing");
        check_entry(e, at, false);
    }
    const auto& colls = *array_of(o, "collectives");
    for (std::size_t i = 0; i < colls.size(); ++i) {
        const std::string at = where + ".collectives[" + std::to_string(i) + "]";
        if (!colls[i].is_object()) {
            p.push_back(at + ": not an object");
            continue;
        }
        check_entry(colls[i].get_object(), at, true);
    }
    return p;
}

const TopologyLink* find_link(const Topology& t, const std::string& from, const std::string& to, const std::string& memory) {
    const TopologyLink* best = nullptr;
    for (const auto& l : t.links) {
        if (l.from != from || l.to != to) continue;
        if (!memory.empty() && l.memory != memory) continue;
        if (best == nullptr || (memory.empty() && l.memory == "pinned" && best->memory != "pinned")) best = &l;
    }
    return best;
}

const TopologyCollective* find_collective(const Topology& t, const std::string& operation, int64_t ranks) {
    for (const auto& c : t.collectives)
        if (c.operation == operation && c.ranks == ranks) return &c;
    return nullptr;
}

const TopologyPoint* nearest_point(const std::vector<TopologyPoint>& points, double bytes) {
    const TopologyPoint* best = nullptr;
    for (const auto& p : points)
        if (p.bytes > 0 && (best == nullptr || std::fabs(std::log(p.bytes / bytes)) < std::fabs(std::log(best->bytes / bytes))))
            best = &p;
    return best;
}

double parse_bytes(const std::string& s) {
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (end == s.c_str() || !(v > 0) || !std::isfinite(v)) throw std::invalid_argument("not a size: '" + s + "'");
    std::string unit(end);
    while (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
    double mult = 1;
    if (unit.empty() || unit == "B") mult = 1;
    else if (unit == "K" || unit == "KiB" || unit == "k") mult = 1024.0;
    else if (unit == "M" || unit == "MiB") mult = 1024.0 * 1024;
    else if (unit == "G" || unit == "GiB") mult = 1024.0 * 1024 * 1024;
    else if (unit == "KB" || unit == "kB") mult = 1e3;
    else if (unit == "MB") mult = 1e6;
    else if (unit == "GB") mult = 1e9;
    else throw std::invalid_argument("unknown size unit in '" + s + "' (B, KiB, MiB, GiB, KB, MB, GB)");
    return v * mult;
}

std::string bytes_text(double b) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) b /= 1024, ++u;
    char buf[32];
    std::snprintf(buf, sizeof buf, b == std::floor(b) ? "%.0f %s" : "%.3g %s", b, units[u]);
    return buf;
}

}  // namespace calib::core
