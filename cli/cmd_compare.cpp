// `calib-host compare A B`: every common record side by side, classified from the stored intervals.
#include <iostream>

#include "calib/core/profile.hpp"
#include "comparison.hpp"
#include "options.hpp"

namespace calib::cli {

int cmd_compare(const Args& args) {
    std::vector<std::string> files;
    double fail_pct = -1, same_pct = 2.0;
    po::options_description desc(
        "calib-host compare A B: every common record of two profiles, classified SAME / FASTER / SLOWER /\n"
        "UNSURE / DISTURBED (a co-runner shared the CPUs in either run) from the stored intervals (operations: GFLOPS or GB/s with the median's 95% interval;\n"
        "fusion: the speedup interval); apart intervals with a change within the samples' own scatter (cv)\n"
        "are UNSURE. Exit 1 with --fail-on-regression when something got slower by more than PCT percent");
    po::options_description hidden;
    hidden.add_options()("files", po::value(&files)->composing());
    desc.add_options()("help,h", "this help")("fail-on-regression", po::value(&fail_pct),
                                              "exit 1 when a record is SLOWER by more than PCT percent")(
        "same-threshold", po::value(&same_pct), "overlapping intervals within PCT percent are SAME (default 2)");
    po::options_description all;
    all.add(desc).add(hidden);
    po::positional_options_description pos;
    pos.add("files", 2);
    po::variables_map vm;
    try {
        vm = parse(args, all, &pos);
    } catch (const po::error& e) {
        return usage_error(e.what());
    }
    if (vm.count("help")) {
        std::cout << desc << "\n";
        return kExitOk;
    }
    if (files.size() != 2) return usage_error("compare needs two profile files");
    if (vm.count("fail-on-regression") && !(fail_pct >= 0))
        return usage_error("--fail-on-regression must be a non-negative percentage");
    core::Profile a, b;
    try {
        a = core::load_profile(files[0]);
        b = core::load_profile(files[1]);
    } catch (const std::exception& e) {
        return usage_error(e.what());
    }

    const int regressions = print_comparison(a, b, same_pct, fail_pct);
    if (regressions > 0) {
        std::cerr << "calib-host: " << regressions << " record(s) slower by more than " << fail_pct << "%\n";
        return kExitCaseFailures;
    }
    return kExitOk;
}

}  // namespace calib::cli
