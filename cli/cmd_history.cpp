// `calib-host history`: the runs recorded in the history database (docs/history.md): list, show,
// export, compare (the same table as `calib-host compare`) and prune, the only way anything is deleted.
#include <cmath>
#include <cstdio>
#include <iostream>

#include "calib/core/history.hpp"
#include "calib/core/host_info.hpp"
#include "comparison.hpp"
#include "options.hpp"

namespace calib::cli {
namespace {

namespace fs = std::filesystem;

const char* kHistoryHelp =
    "calib-host history [list] [--all]       runs recorded on this machine (--all: every machine)\n"
    "       calib-host history show ID              one run: fingerprints and records\n"
    "       calib-host history export ID OUT        the profile as written then, byte for byte (OUT - : stdout)\n"
    "       calib-host history compare [ID]         the newest run against the previous run of the same\n"
    "                                               fingerprints, or against run ID (as calib-host compare)\n"
    "       calib-host history prune [--id ID]... [--before DATE] [--keep N]\n"
    "                                               delete runs (nothing is deleted otherwise)\n"
    "Every form takes --history PATH (default $XDG_DATA_HOME/calib/history.sqlite, else\n"
    "~/.local/share/calib/history.sqlite)";

struct HistoryArgs {
    std::string path;
    std::vector<std::string> positional;
    bool all = false;
    double fail_pct = -1, same_pct = 2.0;
    std::vector<int64_t> ids;
    std::string before;
    int64_t keep = -1;
};

fs::path db_path(const HistoryArgs& a) { return a.path.empty() ? core::default_history_path() : fs::path(a.path); }

std::string short_hash(const core::Fingerprint& f) { return f.hash.substr(0, 8); }

bool parse_id(const std::string& s, int64_t& id) {
    char* end = nullptr;
    const long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || v < 1) return false;
    id = v;
    return true;
}

// The runs of this machine: the hardware fingerprint's CPU part, read from /proc (no plugin scan).
std::vector<core::HistoryRun> machine_runs(core::HistoryDb& db, bool all) {
    if (all) return db.runs();
    const core::HostInfo h = core::detect_host();
    const auto gib = static_cast<int64_t>(std::llround(static_cast<double>(h.total_memory_bytes) / (1024.0 * 1024 * 1024)));
    return db.runs(h.cpu_model, h.physical_cores, gib);
}

int list_runs(const HistoryArgs& a) {
    const fs::path path = db_path(a);
    if (!fs::exists(path)) {
        std::cout << "no runs recorded (" << path.string() << " does not exist)\n";
        return kExitOk;
    }
    core::HistoryDb db(path, false);
    const auto runs = machine_runs(db, a.all);
    if (runs.empty()) {
        std::cout << "no runs recorded " << (a.all ? "" : "for this machine (--all: every machine) ") << "in "
                  << path.string() << "\n";
        return kExitOk;
    }
    std::printf("%-5s %-24s %-8s %-8s %7s  %-30s %s\n", "ID", "RECORDED", "HW", "SW", "RECORDS", "HARDWARE",
                "PROFILE");
    for (const auto& r : runs) {
        std::string where = r.profile_path.empty() ? "(stdout)" : r.profile_path;
        if (!r.complete) where += " (interrupted)";
        std::printf("%-5lld %-24s %-8s %-8s %7lld  %-30s %s\n", static_cast<long long>(r.id), r.recorded_at.c_str(),
                    short_hash(r.hardware).c_str(), short_hash(r.software).c_str(), static_cast<long long>(r.records),
                    r.hardware_name.c_str(), where.c_str());
    }
    std::fflush(stdout);
    return kExitOk;
}

int show_run(const HistoryArgs& a) {
    int64_t id = 0;
    if (a.positional.size() != 1 || !parse_id(a.positional[0], id)) return usage_error("history show needs one run ID");
    core::HistoryDb db(db_path(a), false);
    const auto r = db.run(id);
    if (!r) return usage_error("history: no run " + a.positional[0] + " in " + db.path().string());
    const auto prev = db.previous_comparable(id);
    std::cout << "run " << r->id << (r->complete ? "" : " (interrupted)") << "\n"
              << "  recorded:    " << r->recorded_at << "\n"
              << "  calibrated:  " << r->calibration_date << "\n"
              << "  hardware:    " << r->hardware_name << "\n"
              << "  profile:     " << (r->profile_path.empty() ? "(stdout)" : r->profile_path) << "\n"
              << "  hardware fingerprint " << r->hardware.hash << ": " << r->hardware.json << "\n"
              << "  software fingerprint " << r->software.hash << ": " << r->software.json << "\n"
              << "  previous comparable run: " << (prev ? std::to_string(*prev) : std::string("none")) << "\n"
              << r->records << " records:\n";
    std::printf("%-9s %-58s %10s %10s %10s %-7s %6s\n", "SECTION", "RECORD", "FIGURE", "LOW", "HIGH", "UNIT", "CV");
    for (const auto& x : db.records(id))
        std::printf("%-9s %-58s %10.3g %10.3g %10.3g %-7s %5.1f%%%s\n", x.section.c_str(), x.key.c_str(), x.figure,
                    x.ci_low, x.ci_high, x.unit.c_str(), x.cv * 100, x.disturbed ? " disturbed" : "");
    std::fflush(stdout);
    return kExitOk;
}

int export_run(const HistoryArgs& a) {
    int64_t id = 0;
    if (a.positional.size() != 2 || !parse_id(a.positional[0], id))
        return usage_error("history export needs a run ID and an output file");
    core::HistoryDb db(db_path(a), false);
    if (!db.run(id)) return usage_error("history: no run " + a.positional[0] + " in " + db.path().string());
    const std::string text = db.profile_text(id);
    if (a.positional[1] == "-") {
        std::cout << text << std::flush;
        return kExitOk;
    }
    try {
        core::save_text_atomic(a.positional[1], text);
    } catch (const std::exception& e) {
        return usage_error(e.what());
    }
    return kExitOk;
}

int compare_runs(const HistoryArgs& a) {
    if (a.positional.size() > 1) return usage_error("history compare takes at most one run ID");
    core::HistoryDb db(db_path(a), false);
    const auto runs = machine_runs(db, a.all);
    if (runs.empty()) return usage_error("history: no runs recorded for this machine (--all: every machine)");
    const core::HistoryRun& newest = runs.back();
    int64_t base = 0;
    if (!a.positional.empty()) {
        if (!parse_id(a.positional[0], base)) return usage_error("history compare: bad run ID " + a.positional[0]);
        if (!db.run(base)) return usage_error("history: no run " + a.positional[0] + " in " + db.path().string());
    } else if (auto prev = db.previous_comparable(newest.id)) {
        base = *prev;
    } else {
        return usage_error("history: run " + std::to_string(newest.id) +
                           " has no earlier complete run with the same fingerprints");
    }
    const core::Profile before = core::parse_profile(db.profile_text(base));
    const core::Profile after = core::parse_profile(db.profile_text(newest.id));
    // The table on stdout is exactly `calib-host compare` of the two exported profiles.
    std::cerr << "history: run " << newest.id << " (" << newest.recorded_at << ") against run " << base << "\n";
    const int regressions = print_comparison(before, after, a.same_pct, a.fail_pct);
    if (regressions > 0) {
        std::cerr << "calib-host: " << regressions << " record(s) slower by more than " << a.fail_pct << "%\n";
        return kExitCaseFailures;
    }
    return kExitOk;
}

int prune_runs(const HistoryArgs& a) {
    if (!a.positional.empty()) return usage_error("history prune takes options only (--id, --before, --keep)");
    core::PruneRule rule;
    rule.ids = a.ids;
    if (!a.before.empty()) rule.before = a.before;
    if (a.keep >= 0) rule.keep = a.keep;
    if (rule.ids.empty() && !rule.before && !rule.keep)
        return usage_error("history prune needs --id, --before or --keep (nothing is deleted otherwise)");
    core::HistoryDb db(db_path(a), false);
    const int64_t n = db.prune(rule);
    std::cout << "deleted " << n << " run(s) from " << db.path().string() << "\n";
    return kExitOk;
}

}  // namespace

int cmd_history(const Args& args) {
    HistoryArgs a;
    Args rest = args;
    std::string action = "list";
    if (!rest.empty() && rest[0].rfind("-", 0) != 0) {
        action = rest[0];
        rest.erase(rest.begin());
    }
    po::options_description desc(kHistoryHelp);
    desc.add_options()("help,h", "this help")("history", po::value(&a.path), "the history database")(
        "all", po::bool_switch(&a.all), "list / compare: runs of every machine, not only this one")(
        "same-threshold", po::value(&a.same_pct), "compare: overlapping intervals within PCT percent are SAME (default 2)")(
        "fail-on-regression", po::value(&a.fail_pct), "compare: exit 1 when a record is SLOWER by more than PCT percent")(
        "id", po::value(&a.ids)->composing(), "prune: delete this run (repeatable)")(
        "before", po::value(&a.before), "prune: delete runs recorded before this UTC date (YYYY-MM-DD[THH:MM:SS])")(
        "keep", po::value(&a.keep), "prune: keep only the newest N runs of each pair of fingerprints");
    po::options_description hidden;
    hidden.add_options()("args", po::value(&a.positional)->composing());
    po::options_description all;
    all.add(desc).add(hidden);
    po::positional_options_description pos;
    pos.add("args", -1);
    po::variables_map vm;
    if (int code = 0; !parse_command(rest, all, vm, code, &pos, &desc)) return code;
    if (vm.count("fail-on-regression") && !(a.fail_pct >= 0))
        return usage_error("--fail-on-regression must be a non-negative percentage");
    if (vm.count("keep") && a.keep < 0) return usage_error("--keep must be >= 0");
    try {
        if (action == "list") {
            if (!a.positional.empty()) return usage_error("history list takes no arguments");
            return list_runs(a);
        }
        if (action == "show") return show_run(a);
        if (action == "export") return export_run(a);
        if (action == "compare") return compare_runs(a);
        if (action == "prune") return prune_runs(a);
    } catch (const core::HistoryError& e) {
        return usage_error(std::string("history: ") + e.what());
    } catch (const core::ProfileError& e) {
        return usage_error(std::string("history: a stored profile: ") + e.what());
    }
    return usage_error("unknown history action '" + action + "' (list, show, export, compare, prune)");
}

}  // namespace calib::cli
