// The comparison rule shared by `compare`, `history compare` and a run's regression report.
#include "calib/core/compare.hpp"

#include <algorithm>
#include <cmath>
#include <optional>

#include "calib/core/profile_sections.hpp"

namespace calib::core {

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

Interval op_interval(const OperationRecord& r) {
    double v = r.measured_gflops > 0 ? r.measured_gflops : r.achieved_bandwidth_gbps;
    const SampleFacts st = read_extras(r).samples;
    const bool disturbed = st.placement.disturbed.value_or(false);
    if (st.ci_low && st.ci_high) return {v, *st.ci_low, *st.ci_high, st.cv, disturbed};
    return {v, v / (1 + st.noise), v / std::max(1e-12, 1 - st.noise), st.cv, disturbed};
}

Interval fusion_interval(const FusionRecord& r) {
    const FusionExtras x = read_extras(r);
    return {r.speedup_factor, x.speedup_ci_low.value_or(r.speedup_factor), x.speedup_ci_high.value_or(r.speedup_factor),
            std::hypot(x.fused_cv, x.unfused_cv), x.placement.disturbed.value_or(false)};
}

std::optional<Interval> energy_interval(const OperationRecord& r, bool sustained) {
    const EnergyFacts e = read_extras(r).energy;
    const std::optional<double> pj = sustained ? (e.sustained_pj_per_flop ? e.sustained_pj_per_flop : e.sustained_pj_per_byte)
                                               : (e.pj_per_flop ? e.pj_per_flop : e.pj_per_byte);
    if (!pj || !(*pj > 0)) return std::nullopt;
    const double v = 1000.0 / *pj;  // GFLOPS/W (or GB/s per W): work per joule, higher is better
    const bool disturbed = read_extras(r).samples.placement.disturbed.value_or(false);
    return Interval{v, v * (1 - kEnergyUncertainty), v * (1 + kEnergyUncertainty), kEnergyUncertainty / 2, disturbed};
}

std::vector<RecordComparison> compare_profiles(const Profile& a, const Profile& b, double same_pct) {
    std::vector<RecordComparison> out;
    auto add = [&](const std::string& key, const char* unit, const Interval& x, const Interval& y) {
        out.push_back({key, unit, x, y, classify(x, y, same_pct), (y.value / x.value - 1.0) * 100});
    };
    for (const auto& [key, ra] : a.operation_profiles)
        for (const auto& [kb, rb] : b.operation_profiles)
            if (kb == key) {
                add(key, ra.measured_gflops > 0 ? "GFLOPS" : "GB/s", op_interval(ra), op_interval(rb));
                const char* unit = ra.measured_gflops > 0 ? "GFLOP/J" : "GB/J";
                for (const bool sustained : {false, true})
                    if (auto x = energy_interval(ra, sustained), y = energy_interval(rb, sustained); x && y)
                        add(key + (sustained ? " sustained energy" : " energy"), unit, *x, *y);
            }
    for (const auto& [key, ra] : a.fusion_profiles)
        for (const auto& [kb, rb] : b.fusion_profiles)
            if (kb == key) add(key, "x", fusion_interval(ra), fusion_interval(rb));
    return out;
}

}  // namespace calib::core
