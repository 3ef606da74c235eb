// `calib-host list`: every candidate plugin, loaded or rejected with its reason.
#include <boost/json.hpp>
#include <iomanip>
#include <iostream>

#include "calib/core/profile_sections.hpp"
#include "calib/core/run.hpp"
#include "options.hpp"

namespace calib::cli {

namespace json = boost::json;

// A case as `list --json` shows it.
json::object case_json(const core::CaseInfo& c) {
    json::object cj;
    cj["name"] = c.name;
    cj["family"] = core::to_string(c.family);
    cj["operation_type"] = c.operation_type;
    cj["precision"] = c.precision;
    json::array shape;
    for (auto d : c.shape) shape.push_back(d);
    cj["shape"] = std::move(shape);
    if (c.family == core::Family::fusion) {
        cj["fusion_pattern"] = c.fusion_pattern;
        cj["fusion_role"] = core::to_string(c.fusion_role);
        cj["fusion_group"] = c.fusion_group;
    }
    return cj;
}

// The profile's plugin entry (core::plugin_entry), re-ordered for the listing: the reason always
// (device unavailability included), the description, and the cases themselves rather than a count.
json::value plugin_list_json(const std::vector<core::PluginRecord>& plugins) {
    json::array arr;
    for (const auto& p : plugins) {
        json::object e = core::to_json(core::plugin_entry(p));
        json::object j;
        j["path"] = e["path"];
        j["status"] = e["status"];
        j["reason"] = p.loaded ? (p.device_available ? "" : "device unavailable: " + p.unavailable_reason)
                               : p.reason;
        if (!p.loaded) j["reason_code"] = e["reason_code"];
        for (const char* k : {"id", "name", "version", "vendor"}) j[k] = e[k];
        j["description"] = p.description;
        j["abi"] = e["abi"];
        j["device"] = e["device"];
        json::array cases;
        for (const auto& c : p.cases) cases.push_back(case_json(c));
        j["cases"] = std::move(cases);
        arr.push_back(std::move(j));
    }
    return json::object{{"plugins", std::move(arr)}};
}

int cmd_list(const Args& args) {
    DiscoveryArgs disc;
    bool as_json = false;
    po::options_description desc("calib-host list [options]: discover plugins and say which load");
    desc.add_options()("help,h", "this help")("json", po::bool_switch(&as_json), "JSON on stdout");
    disc.add_to(desc);
    po::variables_map vm;
    if (int code = 0; !parse_command(args, desc, vm, code)) return code;
    std::vector<core::PluginRecord> plugins;
    try {
        plugins = core::scan_all(disc.options(), core::WorkerOptions{});
    } catch (const std::runtime_error& e) {
        return usage_error(e.what());
    }
    if (as_json) {
        std::cout << core::pretty_print(plugin_list_json(plugins)) << "\n";
        return kExitOk;
    }
    std::cout << std::left << std::setw(28) << "ID" << std::setw(10) << "VERSION" << std::setw(6) << "ABI"
              << std::setw(30) << "DEVICE" << std::setw(7) << "CASES" << std::setw(10) << "STATUS"
              << "PATH / REASON\n";
    for (const auto& p : plugins) {
        std::string dev = p.loaded ? std::string(core::to_string(p.device_kind)) + ":" + p.device_name : "-";
        if (dev.size() > 28) dev = dev.substr(0, 27) + "~";
        std::cout << std::setw(28) << (p.id.empty() ? "-" : p.id) << std::setw(10)
                  << (p.version.empty() ? "-" : p.version) << std::setw(6)
                  << (p.loaded ? std::to_string(p.abi_major) + "." + std::to_string(p.abi_minor) : "-")
                  << std::setw(30) << dev << std::setw(7) << p.cases.size() << std::setw(10)
                  << core::status_of(p) << p.path;
        if (!p.loaded) std::cout << ": " << p.reason;
        if (p.loaded && !p.device_available) std::cout << " (device unavailable: " << p.unavailable_reason << ")";
        std::cout << "\n";
    }
    return kExitOk;
}

}  // namespace calib::cli
