// `calib-host check PLUGIN.so...`: conformance of a plugin to the ABI contract, for vendors.
//
// Only renders: core's check_plugin() runs each plugin in a worker process, which judges it by the
// same rules the host applies when it scans or runs plugins (core/plugin_contract.hpp). A plugin that
// crashes, exits or hangs costs one FAIL line, never the checker.
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "calib/core/plugin_client.hpp"
#include "commands.hpp"

namespace calib::cli {
namespace {

using core::CheckEvent;
using core::CheckEventKind;

void print_event(const CheckEvent& e) {
    const char* verdict = nullptr;
    switch (e.kind) {
        case CheckEventKind::begin: return;
        case CheckEventKind::log: std::cout << "  log (" << e.check << "): " << e.detail << "\n" << std::flush; return;
        case CheckEventKind::pass: verdict = "PASS"; break;
        case CheckEventKind::fail: verdict = "FAIL"; break;
        case CheckEventKind::skip: verdict = "SKIP"; break;
    }
    std::cout << verdict << ": ";
    if (e.check.empty()) std::cout << e.detail;  // the worker died: the detail says how and when
    else std::cout << e.check << (e.detail.empty() ? "" : ": ") << e.detail;
    std::cout << "\n" << std::flush;
}

// Checks one plugin, printing verdicts as they arrive. Returns the tally.
core::CheckTally check_one(const std::string& path, const core::CheckOptions& opt) {
    std::cout << "checking " << path << "\n" << std::flush;
    core::CheckTally t = core::check_plugin(path, opt, print_event);
    std::cout << "result: " << t.pass << " passed, " << t.fail << " failed, " << t.skip << " skipped -> "
              << (t.fail == 0 ? "PASS" : "FAIL") << "\n"
              << std::flush;
    return t;
}

const char* kCheckHelp = R"(calib-host check [options] PLUGIN.so...: check plugins against the ABI contract

Loads each plugin in a separate process and runs it through the ABI: entry symbol, ABI version,
table, metadata, device, case list (stable, unique, fusion pairs), prepare/run/release of the
cheapest case of each kind, error statuses, timing that grows with iterations. Prints one
PASS/FAIL/SKIP line per check; a crash, exit or hang is a FAIL, not a dead checker.

Options:
  --all-cases        run every case, not only the cheapest of each kind
  --timeout SECONDS  give up on a plugin after this long (default 300)
  -v, --verbose      also print the plugin's log lines
  -h, --help         this help

Exit codes: 0 all PASS or SKIP; 1 some check FAILed; 2 usage error (bad option, missing file).
)";


}  // namespace

int cmd_check(const Args& args) {
    core::CheckOptions opt;
    std::vector<std::string> files;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "-h" || a == "--help") {
            std::cout << kCheckHelp;
            return kExitOk;
        } else if (a == "--all-cases") {
            opt.all_cases = true;
        } else if (a == "-v" || a == "--verbose") {
            opt.verbose = true;
        } else if (a == "--timeout" || a.rfind("--timeout=", 0) == 0) {
            std::string v = a == "--timeout" ? (i + 1 < args.size() ? args[++i] : "") : a.substr(10);
            char* end = nullptr;
            double s = std::strtod(v.c_str(), &end);
            if (v.empty() || end == nullptr || *end != '\0' || !(s > 0) || s > 86400)
                return usage_error("--timeout needs a number of seconds in (0, 86400]");
            opt.timeout_seconds = s;
        } else if (!a.empty() && a[0] == '-') {
            return usage_error("check: unknown option '" + a + "' (see calib-host check --help)");
        } else {
            files.push_back(a);
        }
    }
    if (files.empty()) return usage_error("check: missing PLUGIN.so (usage: calib-host check PLUGIN.so...)");
    std::vector<std::string> paths;
    for (const auto& f : files) {
        // An absolute path: dlopen() of a bare name would search the library path instead.
        char* real = ::realpath(f.c_str(), nullptr);
        if (real == nullptr) return usage_error("check: cannot open '" + f + "': " + std::strerror(errno));
        paths.emplace_back(real);
        std::free(real);
    }
    int failed = 0;
    for (const auto& p : paths)
        if (check_one(p, opt).fail > 0) ++failed;
    if (paths.size() > 1)
        std::cout << (paths.size() - static_cast<std::size_t>(failed)) << " of " << paths.size()
                  << " plugins passed\n";
    return failed == 0 ? kExitOk : kExitCaseFailures;
}

}  // namespace calib::cli
