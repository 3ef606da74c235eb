#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "calib/core/measure.hpp"

using namespace calib::core;
using Approx = Catch::Detail::Approx;

TEST_CASE("compute_stats on five hand-computed samples", "[stats]") {
    // Sorted: 1 2 3 4 5. Deviations from the median 3: 2 1 0 1 2 -> MAD 1.
    const SampleStats s = compute_stats({5, 1, 4, 2, 3});
    CHECK(s.count == 5);
    CHECK(s.min == 1);
    CHECK(s.max == 5);
    CHECK(s.mean == Approx(3));
    CHECK(s.median == Approx(3));
    CHECK(s.stddev == Approx(std::sqrt(2.5)));  // (4+1+0+1+4)/4
    CHECK(s.cv == Approx(std::sqrt(2.5) / 3));
    CHECK(s.p10 == Approx(1.4));  // h = 0.4
    CHECK(s.p25 == Approx(2));
    CHECK(s.p75 == Approx(4));
    CHECK(s.p90 == Approx(4.6));  // h = 3.6
    CHECK(s.mad == Approx(1));
    CHECK(s.robust_cv == Approx(1.4826 / 3));
    // n = 5 cannot reach 95%: widest interval, the extremes.
    CHECK(s.median_ci_low == 1);
    CHECK(s.median_ci_high == 5);
    CHECK(s.noise == Approx((5.0 - 1.0) / 2 / 3));
}

TEST_CASE("compute_stats with an even count interpolates the median and uses ranks 2..9 of 10", "[stats]") {
    const SampleStats s = compute_stats({10, 9, 8, 7, 6, 5, 4, 3, 2, 1});
    CHECK(s.median == Approx(5.5));
    CHECK(s.p25 == Approx(3.25));  // h = 2.25
    CHECK(s.mad == Approx(2.5));   // deviations .5 .5 1.5 1.5 2.5 2.5 3.5 3.5 4.5 4.5
    CHECK(s.median_ci_low == 2);
    CHECK(s.median_ci_high == 9);
    CHECK(s.noise == Approx(3.5 / 5.5));
}

TEST_CASE("compute_stats degenerate inputs", "[stats]") {
    CHECK(compute_stats({}).count == 0);
    const SampleStats one = compute_stats({2.5});
    CHECK(one.median == 2.5);
    CHECK(one.stddev == 0);
    CHECK(one.median_ci_low == 2.5);
    CHECK(one.median_ci_high == 2.5);
    const SampleStats flat = compute_stats({0.0, 0.0, 0.0});
    CHECK(flat.noise == 0);
    CHECK(std::isinf(compute_stats({0.0, 0.0, 1.0, -1.0, 0.0}).noise));
}

TEST_CASE("median_ci_ranks follows the binomial order-statistic table", "[stats]") {
    CHECK(median_ci_ranks(0) == std::pair<std::size_t, std::size_t>{0, 0});
    CHECK(median_ci_ranks(1) == std::pair<std::size_t, std::size_t>{1, 1});
    CHECK(median_ci_ranks(5) == std::pair<std::size_t, std::size_t>{1, 5});  // 93.75% at best
    CHECK(median_ci_ranks(6) == std::pair<std::size_t, std::size_t>{1, 6});  // 96.9%
    CHECK(median_ci_ranks(9) == std::pair<std::size_t, std::size_t>{2, 8});  // 96.1%
    CHECK(median_ci_ranks(10) == std::pair<std::size_t, std::size_t>{2, 9});
    CHECK(median_ci_ranks(100) == std::pair<std::size_t, std::size_t>{40, 61});  // 96.5%; 41 gives 94.3%
    // Large n (0.5^n underflows): close to the normal approximation n/2 -+ 0.98 sqrt(n).
    const auto [lo, hi] = median_ci_ranks(2000);
    CHECK(lo + hi == 2001);
    CHECK(std::abs(static_cast<double>(lo) - (1000 - 0.98 * std::sqrt(2000.0))) <= 2);
}

TEST_CASE("StopReason names", "[stats]") {
    CHECK(std::string(to_string(StopReason::converged)) == "converged");
    CHECK(std::string(to_string(StopReason::time_budget)) == "time_budget");
    CHECK(std::string(to_string(StopReason::max_samples)) == "max_samples");
    CHECK(std::string(to_string(StopReason::fixed_count)) == "fixed_count");
    CHECK(std::string(to_string(StopReason::cancelled)) == "cancelled");
}
