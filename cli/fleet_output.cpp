// The fleet file and its summary (fleet_output.hpp).
#include "fleet_output.hpp"

#include "commands.hpp"

#include <unistd.h>

#include <cstdio>
#include <ostream>

namespace calib::cli {

namespace fs = std::filesystem;
namespace json = boost::json;

std::string check_fleet_output(const std::string& out) {
    if (out.empty()) return "--output FILE is required (the fleet file)";
    return check_output_path(out);
}

fs::path node_profile_dir(const fs::path& fleet_file) {
    const fs::path dir = fleet_file.has_parent_path() ? fleet_file.parent_path() : fs::path(".");
    return dir / (fleet_file.stem().string() + ".nodes");
}

json::object write_fleet(const fs::path& out, std::vector<core::FleetNode>& nodes, const std::vector<std::string>& texts,
                         const core::FleetOptions& o, json::value topology) {
    const fs::path dir = node_profile_dir(out);
    for (std::size_t i = 0; i < nodes.size() && i < texts.size(); ++i) {
        if (texts[i].empty()) continue;
        std::error_code ec;
        fs::create_directories(dir, ec);
        const std::string file = core::file_safe(nodes[i].name) + ".json";
        core::save_text_atomic(dir / file, texts[i]);
        nodes[i].profile_path = (fs::path(dir.filename()) / file).string();
    }
    json::object doc = core::fleet_view(nodes, o, std::move(topology));
    core::save_text_atomic(out, core::pretty_print(doc));
    return doc;
}

namespace {

std::string num(double v, const char* f = "%.3g") {
    char b[48];
    std::snprintf(b, sizeof b, f, v);
    return b;
}

double as_double(const json::value& v) { return v.is_number() ? v.to_number<double>() : 0.0; }

}  // namespace

void print_fleet_summary(std::ostream& os, const json::object& doc) {
    const auto& counts = doc.at("node_counts").as_object();
    os << "fleet: " << counts.at("total").to_number<int64_t>() << " node(s), " << counts.at("ok").to_number<int64_t>() << " ok, "
       << counts.at("failed").to_number<int64_t>() << " failed\n";
    for (const auto& n : doc.at("nodes").as_array()) {
        const auto& o = n.as_object();
        os << "  " << json::value_to<std::string>(o.at("name")) << ": " << json::value_to<std::string>(o.at("status"));
        if (o.at("status") != "ok") os << " (" << json::value_to<std::string>(o.at("reason")) << ")";
        os << "\n";
    }
    const auto& outliers = doc.at("outliers").as_array();
    if (outliers.empty()) os << "outliers: none (every node within its interval of the fleet, or too few nodes)\n";
    else os << "outliers:\n";
    for (const auto& x : outliers) {
        const auto& o = x.as_object();
        os << "  " << json::value_to<std::string>(o.at("node")) << " " << json::value_to<std::string>(o.at("direction"))
           << " on " << json::value_to<std::string>(o.at("figure")) << ": " << num(as_double(o.at("value")), "%.4g") << " "
           << json::value_to<std::string>(o.at("unit")) << " vs fleet median " << num(as_double(o.at("fleet_median")), "%.4g")
           << " (" << num(as_double(o.at("change_pct")), "%+.1f") << "%)\n";
    }
    const auto& topo = doc.at("topology");
    if (!topo.is_object()) return;
    for (const char* kind : {"ping_pong", "allreduce"})
        for (const auto& s : topo.as_object().at(kind).as_array()) {
            const auto& o = s.as_object();
            std::string nodes;
            for (const auto& n : o.at("nodes").as_array()) {
                if (!nodes.empty()) nodes += '-';
                nodes += json::value_to<std::string>(n);
            }
            os << "network " << kind << " " << nodes << ": ";
            if (o.at("fit_ok") != true) {
                os << "no alpha-beta fit (see the points)\n";
                continue;
            }
            os << "alpha " << num(as_double(o.at("alpha_us"))) << " us, beta " << num(as_double(o.at("beta_gbps")))
               << " GB/s (rms rel. residual " << num(as_double(o.at("fit_residual")) * 100, "%.1f") << "%)\n";
        }
}

}  // namespace calib::cli
