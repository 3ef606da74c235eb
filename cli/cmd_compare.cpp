// `calib-host compare A B`: every common record side by side, classified from the stored intervals.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>

#include "calib/core/profile.hpp"
#include "calib/core/profile_sections.hpp"
#include "options.hpp"

namespace calib::cli {
namespace {

namespace json = boost::json;

struct Interval {
    double value, lo, hi;
    double noise;  // the samples' own relative scatter (coefficient of variation)
    bool disturbed = false;  // measured beside a co-runner (extra_params.disturbed)
};

// Higher is better for every compared figure (GFLOPS, GB/s, speedup). Intervals that do not overlap
// still say UNSURE when the change is within the samples' own scatter (nvbench's compare rule): the
// intervals bound each run's median, not the machine's drift from one run to the next (two back-to-back
// runs of the 2-vCPU guest showed 6-9 FASTER/SLOWER speedups without it, 1-2 with it).
const char* classify(const Interval& a, const Interval& b, double same_pct) {
    if (a.disturbed || b.disturbed) return "DISTURBED";  // a co-runner shared the CPUs: no verdict
    if (!(a.value > 0) || !(b.value > 0) || !(a.lo <= a.hi) || !(b.lo <= b.hi)) return "UNSURE";
    const double change = b.value / a.value - 1.0;
    const bool overlap = a.lo <= b.hi && b.lo <= a.hi;
    if (overlap) return std::fabs(change) * 100 <= same_pct ? "SAME" : "UNSURE";
    if (std::fabs(change) <= std::max(a.noise, b.noise)) return "UNSURE";
    return change > 0 ? "FASTER" : "SLOWER";
}

// Throughput with the interval implied by the median's relative confidence half-width ("noise").
Interval op_interval(const core::OperationRecord& r) {
    double v = r.measured_gflops > 0 ? r.measured_gflops : r.achieved_bandwidth_gbps;
    const core::SampleFacts st = core::read_extras(r).samples;
    const bool disturbed = st.placement.disturbed.value_or(false);
    if (st.ci_low && st.ci_high) return {v, *st.ci_low, *st.ci_high, st.cv, disturbed};
    return {v, v / (1 + st.noise), v / std::max(1e-12, 1 - st.noise), st.cv, disturbed};
}

// The speedup's scatter: the two sides' coefficients of variation combined as for a ratio.
Interval fusion_interval(const core::FusionRecord& r) {
    const core::FusionExtras x = core::read_extras(r);
    return {r.speedup_factor, x.speedup_ci_low.value_or(r.speedup_factor), x.speedup_ci_high.value_or(r.speedup_factor),
            std::hypot(x.fused_cv, x.unfused_cv), x.placement.disturbed.value_or(false)};
}

}  // namespace

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

    int regressions = 0, compared = 0;
    std::map<std::string, int> counts;
    auto report = [&](const std::string& key, const char* unit, const Interval& x, const Interval& y) {
        const char* cls = classify(x, y, same_pct);
        const double change = (y.value / x.value - 1.0) * 100;
        char line[512];
        std::snprintf(line, sizeof line, "%-8s %-58s %10.3g %10.3g %-7s %+7.1f%%\n", cls, key.c_str(), x.value,
                      y.value, unit, change);
        std::cout << line;
        ++counts[cls];
        ++compared;
        if (std::string(cls) == "SLOWER" && fail_pct >= 0 && -change > fail_pct) ++regressions;
    };
    std::printf("%-8s %-58s %10s %10s %-7s %8s\n", "CLASS", "RECORD", "A", "B", "UNIT", "CHANGE");
    for (const auto& [key, ra] : a.operation_profiles)
        for (const auto& [kb, rb] : b.operation_profiles)
            if (kb == key) report(key, ra.measured_gflops > 0 ? "GFLOPS" : "GB/s", op_interval(ra), op_interval(rb));
    for (const auto& [key, ra] : a.fusion_profiles)
        for (const auto& [kb, rb] : b.fusion_profiles)
            if (kb == key) report(key, "x", fusion_interval(ra), fusion_interval(rb));
    std::fflush(stdout);
    std::cout << compared << " common records:";
    for (const auto& [cls, n] : counts) std::cout << " " << n << " " << cls;
    std::cout << "\n";
    if (regressions > 0) {
        std::cerr << "calib-host: " << regressions << " record(s) slower by more than " << fail_pct << "%\n";
        return kExitCaseFailures;
    }
    return kExitOk;
}

}  // namespace calib::cli
