// Summary statistics over per-execution times, including the distribution-free median interval that
// drives the stopping rule.
#include "calib/core/measure.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace calib::core {
namespace {

// Type-7 quantile (numpy default) of sorted data.
double quantile_sorted(const std::vector<double>& x, double p) {
    if (x.empty()) return 0;
    const double h = (static_cast<double>(x.size()) - 1) * p;
    const auto lo = static_cast<std::size_t>(std::floor(h));
    if (lo + 1 >= x.size()) return x.back();
    return x[lo] + (h - static_cast<double>(lo)) * (x[lo + 1] - x[lo]);
}

}  // namespace

std::pair<std::size_t, std::size_t> median_ci_ranks(std::size_t n) {
    if (n == 0) return {0, 0};
    // Coverage of [X(l), X(n-l+1)] is 1 - 2 P(Bin(n, 1/2) <= l-1); take the largest l keeping it >= 95%.
    // Work in logs: 0.5^n underflows for n > 1074.
    const double log_half_n = static_cast<double>(n) * std::log(0.5);
    const double lgn1 = std::lgamma(static_cast<double>(n) + 1);
    double cdf = 0;  // P(Bin <= k)
    std::size_t l = 1;  // widest, also the fallback when even rank 1 misses 95% (n < 6)
    for (std::size_t k = 0; k + 1 <= (n + 1) / 2; ++k) {
        const double kd = static_cast<double>(k);
        cdf += std::exp(lgn1 - std::lgamma(kd + 1) - std::lgamma(static_cast<double>(n) - kd + 1) +
                        log_half_n);
        if (1 - 2 * cdf < 0.95) break;
        l = k + 1;  // rank k+1 keeps coverage >= 95%
    }
    return {l, n - l + 1};
}

SampleStats compute_stats(std::vector<double> samples) {
    SampleStats s;
    s.count = samples.size();
    if (samples.empty()) return s;
    std::sort(samples.begin(), samples.end());
    const double n = static_cast<double>(samples.size());
    s.min = samples.front();
    s.max = samples.back();
    s.mean = std::accumulate(samples.begin(), samples.end(), 0.0) / n;
    s.median = quantile_sorted(samples, 0.5);
    if (samples.size() > 1) {
        double ss = 0;
        for (double v : samples) ss += (v - s.mean) * (v - s.mean);
        s.stddev = std::sqrt(ss / (n - 1));
    }
    s.cv = s.mean != 0 ? s.stddev / s.mean : 0;
    s.p10 = quantile_sorted(samples, 0.10);
    s.p25 = quantile_sorted(samples, 0.25);
    s.p75 = quantile_sorted(samples, 0.75);
    s.p90 = quantile_sorted(samples, 0.90);

    std::vector<double> dev(samples.size());
    for (std::size_t i = 0; i < samples.size(); ++i) dev[i] = std::abs(samples[i] - s.median);
    std::sort(dev.begin(), dev.end());
    s.mad = quantile_sorted(dev, 0.5);
    s.robust_cv = s.median != 0 ? 1.4826 * s.mad / s.median : 0;

    const auto [lo, hi] = median_ci_ranks(samples.size());
    s.median_ci_low = samples[lo - 1];
    s.median_ci_high = samples[hi - 1];
    const double half = (s.median_ci_high - s.median_ci_low) / 2;
    if (s.median > 0)
        s.noise = half / s.median;
    else  // degenerate times: only an exactly flat stream counts as quiet
        s.noise = half == 0 ? 0 : std::numeric_limits<double>::infinity();
    return s;
}

const char* to_string(StopReason r) {
    switch (r) {
    case StopReason::converged: return "converged";
    case StopReason::time_budget: return "time_budget";
    case StopReason::max_samples: return "max_samples";
    case StopReason::fixed_count: return "fixed_count";
    case StopReason::cancelled: return "cancelled";
    }
    return "unknown";
}

}  // namespace calib::core
