#include <catch2/catch.hpp>
#include <cmath>

#include "calib/core/curves.hpp"

using namespace calib::core;

namespace {
CurvePoint pt(double x, double e, double half = 0.01) { return {x, e, e - half, e + half, 0.01, 10}; }
}  // namespace

TEST_CASE("fit_curve: points on an asymptote give the asymptotic model and answer between them", "[curves]") {
    auto truth = [](double x) { return 0.9 * (1 - std::exp(-x / 1e9)); };
    std::vector<CurvePoint> p;
    for (double x : {2.7e8, 2.1e9, 1.7e10, 1.4e11}) p.push_back(pt(x, truth(x)));
    FittedCurve c = fit_curve(p);
    CHECK(c.type == "asymptotic");
    CHECK(c.rms_residual < 0.005);
    CHECK(c.points == 4);
    CHECK(c.points_within_ci == 4);
    CHECK(c.evaluate(6e8) == Approx(truth(6e8)).margin(0.01));  // never measured
    CHECK(c.peak == Approx(0.9).margin(0.01));
}

TEST_CASE("fit_curve: a shape the asymptote cannot follow gives a monotone piecewise curve", "[curves]") {
    // Low and flat, then a jump: the asymptote misses by far more than the slack.
    std::vector<CurvePoint> p = {pt(1e6, 0.10), pt(1e7, 0.11), pt(1e8, 0.10), pt(1e9, 0.80), pt(1e10, 0.82)};
    FittedCurve c = fit_curve(p);
    REQUIRE(c.type == "piecewise_linear");
    for (std::size_t i = 1; i < c.breakpoints.size(); ++i) {
        CHECK(c.breakpoints[i].first > c.breakpoints[i - 1].first);
        CHECK(c.breakpoints[i].second >= c.breakpoints[i - 1].second);  // what the consumer's loader enforces
    }
    CHECK(c.evaluate(5.5e8) == Approx((0.105 + 0.80) / 2).margin(1e-9));  // between two breakpoints
    CHECK(c.evaluate(1e3) == Approx(0.10));    // flat before the first point
    CHECK(c.evaluate(1e7) == Approx(0.105));   // 0.11 and the dip after it pooled
    CHECK(c.evaluate(1e12) == Approx(0.82));   // and after the last
    CHECK(c.max_abs_residual == Approx(0.005).margin(1e-9));  // the pooled dip
}

TEST_CASE("fit_curve: one point is a constant, none is a constant 0 with no points", "[curves]") {
    FittedCurve one = fit_curve({pt(1e9, 0.42)});
    CHECK(one.type == "constant");
    CHECK(one.evaluate(1e3) == 0.42);
    CHECK(one.points == 1);
    FittedCurve none = fit_curve({pt(0, 0.5), pt(-1, 0.5)});  // x <= 0 is not a point
    CHECK(none.points == 0);
    CHECK(none.evaluate(1e9) == 0);
}
