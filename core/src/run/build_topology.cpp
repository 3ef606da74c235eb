// build_profile's topology merger: transfer cases grouped into links (host<->device, device->device) and
// collectives (by operation and group), each fitted as alpha-beta over its sizes (topology.hpp).
#include <algorithm>
#include <map>
#include <tuple>

#include "build.hpp"
#include "calib/plugin.h"

namespace calib::core::build {

namespace {

std::string param(const CaseInfo& c, const std::string& key) {
    for (const auto& [k, v] : c.params)
        if (k == key) return v;
    return {};
}

TopologyPoint point_of(const CaseOutcome& c) {
    TopologyPoint p;
    p.bytes = c.info.bytes;
    p.seconds = c.measurement->stats.median;
    p.gbps = p.bytes / p.seconds / 1e9;
    const SampleFacts f = sample_facts(c);
    p.ci_low_gbps = f.ci_low;
    p.ci_high_gbps = f.ci_high;
    if (c.disturbed) p.disturbed = true;
    p.case_name = c.info.name;
    return p;
}

template <class Entry>
void finish(Entry& e) {
    std::sort(e.points.begin(), e.points.end(), [](const auto& a, const auto& b) { return a.bytes < b.bytes; });
    std::vector<double> bytes, seconds;
    for (const auto& p : e.points) bytes.push_back(p.bytes), seconds.push_back(p.seconds);
    e.fit = fit_alpha_beta(bytes, seconds);
}

}  // namespace

Topology topology(const RunResult& r, const std::vector<const CaseOutcome*>& transfers) {
    Topology t;
    std::set<std::string> with_transfers;
    for (const auto* c : transfers) with_transfers.insert(c->plugin_id);
    for (const auto& p : r.plugins) {
        if (!p.loaded || (p.devices.size() < 2 && with_transfers.count(p.id) == 0)) continue;
        for (std::size_t i = 0; i < p.devices.size(); ++i)
            t.devices.push_back({p.id, static_cast<int64_t>(i), p.devices[i].name, to_string(p.devices[i].kind),
                                 p.devices[i].bus_id});
    }
    // Links keyed by plugin, operation, endpoints and host memory; collectives by plugin, operation, group.
    std::map<std::tuple<std::string, std::string, std::string, std::string, std::string>, TopologyLink> links;
    std::map<std::tuple<std::string, std::string, std::vector<uint32_t>>, TopologyCollective> collectives;
    for (const auto* c : transfers) {
        const CaseInfo& ci = c->info;
        const std::vector<uint32_t> devs = ci.device_list();
        if (ci.operation_type == "copy_h2d" || ci.operation_type == "copy_d2h" || ci.operation_type == "copy_p2p") {
            std::string from = "host", to = std::to_string(devs[0]);
            if (ci.operation_type == "copy_d2h") std::swap(from, to);
            if (ci.operation_type == "copy_p2p") from = std::to_string(devs[0]), to = std::to_string(devs.at(1));
            const std::string memory = param(ci, "memory");
            TopologyLink& l = links[{c->plugin_id, ci.operation_type, from, to, memory}];
            l.plugin = c->plugin_id;
            l.operation = ci.operation_type;
            l.from = from;
            l.to = to;
            l.memory = memory;
            if (l.kind.empty()) l.kind = param(ci, "link");
            if (const std::string pa = param(ci, "peer_access"); !pa.empty()) l.peer_access = pa == "1";
            l.points.push_back(point_of(*c));
        } else {
            TopologyCollective& k = collectives[{c->plugin_id, ci.operation_type, devs}];
            k.plugin = c->plugin_id;
            k.operation = ci.operation_type;
            k.ranks = static_cast<int64_t>(devs.size());
            k.devices.assign(devs.begin(), devs.end());
            TopologyPoint p = point_of(*c);
            p.busbw_gbps = p.gbps * bus_factor(ci.operation_type, k.ranks);
            k.points.push_back(std::move(p));
        }
    }
    for (auto& [key, l] : links) {
        finish(l);
        t.links.push_back(std::move(l));
    }
    // Host to device first, then device to host, then P2P (each in key order).
    auto rank = [](const TopologyLink& l) { return l.operation == "copy_h2d" ? 0 : l.operation == "copy_d2h" ? 1 : 2; };
    std::stable_sort(t.links.begin(), t.links.end(), [&](const auto& a, const auto& b) { return rank(a) < rank(b); });
    for (auto& [key, k] : collectives) {
        finish(k);
        k.bus_beta_gbps = k.fit.beta_gbps * bus_factor(k.operation, k.ranks);
        t.collectives.push_back(std::move(k));
    }
    return t;
}

boost::json::array device_conditions(const std::vector<DeviceConditions>& devices) {
    boost::json::array out;
    for (const auto& d : devices) {
        boost::json::object o;
        o["plugin"] = d.plugin;
        o["device"] = d.device;
        o["name"] = d.name;
        const DeviceState& s = d.idle;
        if ((s.valid & CALIB_STATE_POWER) != 0) o["idle_power_watts"] = s.power_watts;
        if ((s.valid & CALIB_STATE_POWER_LIMIT) != 0) o["power_limit_watts"] = s.power_limit_watts;
        if ((s.valid & CALIB_STATE_CLOCKS) != 0) o["sm_clock_mhz"] = s.sm_clock_mhz, o["memory_clock_mhz"] = s.memory_clock_mhz;
        if ((s.valid & CALIB_STATE_TEMPERATURE) != 0) o["temperature_c"] = s.temperature_c;
        if ((s.valid & CALIB_STATE_THROTTLE) != 0) o["throttle"] = throttle_text(s.throttle);
        out.push_back(std::move(o));
    }
    return out;
}

}  // namespace calib::core::build
