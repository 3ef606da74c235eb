// `calib-host export --format FORMAT IN OUT`: a profile in the shapes the origin's other readers load.
// Options and output only; the transformations are core's (calib/core/profile_export.hpp).
#include <cctype>
#include <filesystem>
#include <iostream>

#include "calib/core/profile.hpp"
#include "calib/core/profile_export.hpp"
#include "options.hpp"

namespace calib::cli {
namespace {

namespace fs = std::filesystem;

struct ExportArgs {
    std::string format, input, output, hardware_id;
    bool registry = false;
};

// A folder name of letters, digits, '.', '_' and '-', neither "." nor "..".
bool plain_name(const std::string& s) {
    if (s.empty() || s == "." || s == "..") return false;
    for (unsigned char c : s)
        if (!std::isalnum(c) && c != '.' && c != '_' && c != '-') return false;
    return true;
}

// Parses and checks the options; returns false with the exit code in `code` when not to go on.
bool parse_export(const Args& args, ExportArgs& a, int& code) {
    po::options_description desc(
        "calib-host export --format FORMAT IN OUT [options]: write profile IN in a shape the origin's\n"
        "readers load\n"
        "  --format origin-2025 IN OUT     the file the 2025 loader accepts (metadata of its 11 fields,\n"
        "                                  no precision_results)\n"
        "  --format origin-curves IN DIR   DIR/<hardware_id>/<precision>/efficiency_curves.json per\n"
        "                                  precision of IN's efficiency curves, as the GPU mapper\n"
        "                                  loads them\n"
        "Exit codes: 0 written; 2 usage or input error (nothing written); 3 internal error");
    desc.add_options()("help,h", "this help")("format", po::value(&a.format), "origin-2025 or origin-curves")(
        "hardware-id", po::value(&a.hardware_id),
        "origin-curves: the folder under DIR (default: hardware_name lower-cased, e.g. nvidia_h200)")(
        "registry", po::bool_switch(&a.registry),
        "origin-curves: also write IN under the hardware registry's file name in DIR/<hardware_id>/");
    po::options_description hidden;
    hidden.add_options()("input", po::value(&a.input))("output", po::value(&a.output));
    po::options_description all;
    all.add(desc).add(hidden);
    po::positional_options_description pos;
    pos.add("input", 1).add("output", 1);
    po::variables_map vm;
    if (!parse_command(args, all, vm, code, &pos, &desc)) return false;
    const bool curves = a.format == "origin-curves";
    if (a.format != "origin-2025" && !curves)
        code = usage_error(
            (a.format.empty() ? std::string("missing --format") : "unknown --format '" + a.format + "'") +
            " (formats: origin-2025, origin-curves)");
    else if (a.input.empty() || a.output.empty())
        code = usage_error(curves ? "usage: calib-host export --format origin-curves IN DIR"
                                  : "usage: calib-host export --format origin-2025 IN OUT");
    else if (!curves && (a.registry || vm.count("hardware-id")))
        code = usage_error("--hardware-id and --registry apply to --format origin-curves only");
    else if (vm.count("hardware-id") && !plain_name(a.hardware_id))
        code = usage_error("--hardware-id must be a plain folder name (letters, digits, '.', '_', '-')");
    else
        return true;
    return false;
}

// Every file to write, computed before any is written. Throws on bad input.
std::vector<std::pair<fs::path, std::string>> curve_outputs(const ExportArgs& a, const core::Profile& p) {
    const std::string id =
        a.hardware_id.empty() ? core::default_hardware_id(p.metadata.hardware_name) : a.hardware_id;
    const auto files = core::to_origin_curves(p, id);
    if (files.empty())
        throw core::ProfileError(
            "no efficiency curves in " + a.input +
            " (profiles before calib's efficiency_curves section carry none; run calib-host "
            "again to measure them)");
    std::vector<std::pair<fs::path, std::string>> out;
    const fs::path dir = fs::path(a.output) / id;
    for (const auto& f : files)
        out.emplace_back(dir / f.precision / "efficiency_curves.json", core::pretty_print(f.document));
    if (a.registry) out.emplace_back(dir / core::registry_file_name(p.metadata), core::to_json_text(p));
    return out;
}

}  // namespace

int cmd_export(const Args& args) {
    ExportArgs a;
    if (int code = 0; !parse_export(args, a, code)) return code;
    std::vector<std::pair<fs::path, std::string>> outputs;
    try {
        const core::Profile p = core::load_profile(a.input);
        if (a.format == "origin-2025")
            outputs.emplace_back(a.output, core::to_json_text(core::to_origin_2025(p)));
        else
            outputs = curve_outputs(a, p);
        for (const auto& [path, text] : outputs) {
            if (path.has_parent_path()) fs::create_directories(path.parent_path());
            core::save_text_atomic(path, text);
        }
    } catch (const std::exception& e) {
        return usage_error(e.what());
    }
    for (const auto& o : outputs) std::cout << o.first.string() << "\n";
    return kExitOk;
}

}  // namespace calib::cli
