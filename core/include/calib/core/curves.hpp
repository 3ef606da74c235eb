// Efficiency curves: efficiency (measured / peak) against work (FLOPs, or bytes for memory), fitted so
// that a consumer can answer for sizes that were never measured. The curve types are the ones the
// origin's GPU mapper loads (origin-2026.md): asymptotic, piecewise_linear (monotone non-decreasing),
// constant.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace calib::core {

struct CurvePoint {
    double x = 0;           // FLOPs (or bytes) of one execution
    double efficiency = 0;  // measured / peak
    double ci_lower = 0, ci_upper = 0;  // the efficiency's 95% interval
    double cv = 0;          // relative scatter of the samples
    std::size_t samples = 0;
};

struct FittedCurve {
    // "asymptotic": efficiency(x) = peak * (1 - exp(-x / scale)); "piecewise_linear": through
    // `breakpoints` (x ascending, efficiency non-decreasing), flat beyond both ends; "constant".
    std::string type = "constant";
    double peak = 0, scale = 0;
    std::vector<std::pair<double, double>> breakpoints;
    double efficiency = 0;
    // On the measured points: root-mean-square and largest absolute residual (efficiency units), and
    // how many of the points' 95% intervals contain the curve.
    double rms_residual = 0, max_abs_residual = 0;
    std::size_t points_within_ci = 0, points = 0;

    double evaluate(double x) const;
};

// Fits the points (any order, x > 0). One point: constant. Otherwise the asymptotic model when it is
// within kAsymptoticSlack (rms, efficiency units) of the best monotone fit, else that monotone fit
// (isotonic regression) as piecewise_linear. No points: a constant 0 with points == 0.
FittedCurve fit_curve(std::vector<CurvePoint> points);
inline constexpr double kAsymptoticSlack = 0.02;

}  // namespace calib::core
