// Record-by-record comparison of two profiles from their stored intervals: the one rule that
// `calib-host compare`, `calib-host history compare` and a run's regression report all apply.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "calib/core/profile.hpp"

namespace calib::core {

// A record's figure (higher is better: GFLOPS, GB/s or speedup) with its 95% interval.
struct Interval {
    double value = 0, lo = 0, hi = 0;
    double noise = 0;        // the samples' own relative scatter (coefficient of variation)
    bool disturbed = false;  // measured beside a co-runner (extra_params.disturbed)
};

// "SAME", "FASTER", "SLOWER", "UNSURE" or "DISTURBED" for the change from `a` to `b`.
const char* classify(const Interval& a, const Interval& b, double same_pct);
// Throughput with its stored interval (ci_low/ci_high; older profiles: the median's relative
// confidence half-width, "noise").
Interval op_interval(const OperationRecord& r);
// Energy efficiency of a record measured with its device's energy counter (ABI 1.1): work per joule
// (GFLOP/J or GB/J, 1000 / pJ per unit), over the measurement or, `sustained`, the sustained window.
// Its interval is +-kEnergyUncertainty: NVML documents power and energy readings as accurate to +-5%.
inline constexpr double kEnergyUncertainty = 0.05;
std::optional<Interval> energy_interval(const OperationRecord& r, bool sustained);
// The speedup's interval and scatter: the two sides' coefficients of variation combined as for a ratio.
Interval fusion_interval(const FusionRecord& r);

struct RecordComparison {
    std::string key;
    const char* unit;   // "GFLOPS", "GB/s", "x", or "GFLOP/J", "GB/J" (energy rows, key + " energy")
    Interval a, b;
    const char* verdict;  // classify(a, b, same_pct)
    double change_pct;    // (b / a - 1) x 100
};

// Every record common to `a` and `b` (operations, then fusion), in `a`'s order.
std::vector<RecordComparison> compare_profiles(const Profile& a, const Profile& b, double same_pct = 2.0);

}  // namespace calib::core
