// `calib-host merge A.json B.json ... --output fleet.json`: the fleet view of profiles made separately
// (a Slurm array job, a script over ssh): the same view `calib-host --fleet` writes (core/src/fleet).
#include <iostream>
#include <set>

#include "fleet_output.hpp"
#include "options.hpp"

namespace calib::cli {

namespace fs = std::filesystem;

int cmd_merge(const Args& args) {
    std::vector<std::string> files, names;
    std::string output;
    double same_pct = 2.0;
    po::options_description desc(
        "calib-host merge A.json B.json ... --output fleet.json: the fleet view of profiles made separately\n"
        "(docs/fleet.md). Exit codes: 0 written; 2 usage or input error (one line, nothing written)");
    desc.add_options()("help,h", "this help")("output,o", po::value(&output), "the fleet file to write (atomically)")(
        "name", po::value(&names)->composing(),
        "node name of each profile, in order (repeat once per profile; default: the profile's host.hostname, "
        "else metadata.hardware_name; repeats get -2, -3, ...)")(
        "same-threshold", po::value(&same_pct), "compare's SAME threshold in percent (default 2)");
    po::options_description hidden;
    hidden.add_options()("files", po::value(&files)->composing());
    po::options_description all;
    all.add(desc).add(hidden);
    po::positional_options_description pos;
    pos.add("files", -1);
    po::variables_map vm;
    if (int code = 0; !parse_command(args, all, vm, code, &pos, &desc)) return code;
    if (files.empty()) return usage_error("merge: no profile given");
    if (!names.empty() && names.size() != files.size())
        return usage_error("merge: " + std::to_string(names.size()) + " --name for " + std::to_string(files.size()) +
                           " profiles (give one per profile, in order)");
    if (!(same_pct >= 0)) return usage_error("merge: --same-threshold must be >= 0");
    if (auto err = check_fleet_output(output); !err.empty()) return usage_error("merge: " + err);

    std::vector<core::FleetNode> nodes;
    std::set<std::string> taken;
    for (std::size_t i = 0; i < files.size(); ++i) {
        core::FleetNode n;
        try {
            n.profile = core::load_profile(files[i]);
        } catch (const std::exception& e) {
            std::string msg = e.what();
            for (char& c : msg)
                if (c == '\n') c = ' ';
            // load_profile's message names the file already when it could not open it.
            return usage_error("merge: " + (msg.rfind(files[i], 0) == 0 ? msg : files[i] + ": " + msg));
        }
        std::string name = names.empty() ? core::node_name_of(*n.profile, fs::path(files[i]).stem().string()) : names[i];
        if (!names.empty() && taken.count(name)) return usage_error("merge: node name '" + name + "' given twice");
        for (int k = 2; taken.count(name); ++k) name = (names.empty() ? core::node_name_of(*n.profile, "node") : names[i]) + "-" + std::to_string(k);
        taken.insert(name);
        n.name = name;
        n.profile_path = files[i];
        nodes.push_back(std::move(n));
    }
    core::FleetOptions o;
    o.mode = "merge";
    o.same_pct = same_pct;
    boost::json::object doc;
    try {
        doc = write_fleet(output, nodes, {}, o, nullptr);
    } catch (const std::runtime_error& e) {
        std::cerr << "calib-host: error: merge: " << e.what() << "\n";
        return kExitUsage;
    }
    std::cerr << "fleet view written to " << output << "\n";
    print_fleet_summary(std::cout, doc);
    return kExitOk;
}

}  // namespace calib::cli
