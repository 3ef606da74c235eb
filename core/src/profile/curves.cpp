#include "calib/core/curves.hpp"

#include <algorithm>
#include <cmath>

namespace calib::core {
namespace {

// Pool-adjacent-violators: the least-squares non-decreasing fit of ys (in x order).
std::vector<double> isotonic(const std::vector<double>& ys) {
    struct Block {
        double sum;
        std::size_t n;
    };
    std::vector<Block> blocks;
    for (double y : ys) {
        blocks.push_back({y, 1});
        while (blocks.size() > 1) {
            const Block& b = blocks.back();
            const Block& a = blocks[blocks.size() - 2];
            if (a.sum / static_cast<double>(a.n) <= b.sum / static_cast<double>(b.n)) break;
            Block merged{a.sum + b.sum, a.n + b.n};
            blocks.pop_back();
            blocks.back() = merged;
        }
    }
    std::vector<double> out;
    for (const auto& b : blocks) out.insert(out.end(), b.n, b.sum / static_cast<double>(b.n));
    return out;
}

// The best peak for a given scale (closed-form least squares) and its sum of squared residuals.
std::pair<double, double> asymptotic_for(const std::vector<CurvePoint>& p, double scale) {
    double gg = 0, ge = 0;
    for (const auto& q : p) {
        const double g = 1 - std::exp(-q.x / scale);
        gg += g * g;
        ge += g * q.efficiency;
    }
    const double peak = gg > 0 ? ge / gg : 0;
    double sse = 0;
    for (const auto& q : p) {
        const double r = q.efficiency - peak * (1 - std::exp(-q.x / scale));
        sse += r * r;
    }
    return {peak, sse};
}

void score(FittedCurve& c, const std::vector<CurvePoint>& p) {
    double sse = 0;
    c.max_abs_residual = 0;
    c.points_within_ci = 0;
    for (const auto& q : p) {
        const double fit = c.evaluate(q.x);
        const double r = q.efficiency - fit;
        sse += r * r;
        c.max_abs_residual = std::max(c.max_abs_residual, std::fabs(r));
        c.points_within_ci += fit >= q.ci_lower && fit <= q.ci_upper;
    }
    c.points = p.size();
    c.rms_residual = p.empty() ? 0 : std::sqrt(sse / static_cast<double>(p.size()));
}

}  // namespace

double FittedCurve::evaluate(double x) const {
    if (type == "asymptotic") return scale > 0 ? peak * (1 - std::exp(-x / scale)) : peak;
    if (type == "piecewise_linear" && !breakpoints.empty()) {
        if (x <= breakpoints.front().first) return breakpoints.front().second;
        if (x >= breakpoints.back().first) return breakpoints.back().second;
        auto hi = std::lower_bound(breakpoints.begin(), breakpoints.end(), x,
                                   [](const std::pair<double, double>& b, double v) { return b.first < v; });
        auto lo = hi - 1;
        const double t = (x - lo->first) / (hi->first - lo->first);
        return lo->second + t * (hi->second - lo->second);
    }
    return efficiency;
}

FittedCurve fit_curve(std::vector<CurvePoint> p) {
    p.erase(std::remove_if(p.begin(), p.end(), [](const CurvePoint& q) { return !(q.x > 0) || !std::isfinite(q.efficiency); }),
            p.end());
    std::sort(p.begin(), p.end(), [](const CurvePoint& a, const CurvePoint& b) { return a.x < b.x; });
    FittedCurve c;
    if (p.size() == 1) c.efficiency = p[0].efficiency;
    if (p.size() <= 1) {
        score(c, p);
        return c;
    }
    // The monotone fit: breakpoints at every distinct x (equal x pooled by the isotonic fit's order).
    std::vector<double> ys;
    for (const auto& q : p) ys.push_back(q.efficiency);
    const std::vector<double> iso = isotonic(ys);
    FittedCurve mono;
    mono.type = "piecewise_linear";
    for (std::size_t i = 0; i < p.size(); ++i) {
        if (!mono.breakpoints.empty() && mono.breakpoints.back().first == p[i].x) mono.breakpoints.back().second = iso[i];
        else mono.breakpoints.emplace_back(p[i].x, iso[i]);
    }
    score(mono, p);
    // The asymptotic model: scale searched on a log grid from x_min / 100 to x_max * 100.
    FittedCurve asym;
    asym.type = "asymptotic";
    double best_sse = INFINITY;
    const double lo = std::log(p.front().x / 100), hi = std::log(p.back().x * 100);
    for (int i = 0; i <= 600; ++i) {
        const double scale = std::exp(lo + (hi - lo) * i / 600.0);
        auto [peak, sse] = asymptotic_for(p, scale);
        if (sse < best_sse) {
            best_sse = sse;
            asym.peak = peak;
            asym.scale = scale;
        }
    }
    score(asym, p);
    return p.size() >= 3 && asym.peak > 0 && asym.rms_residual <= mono.rms_residual + kAsymptoticSlack ? asym : mono;
}

}  // namespace calib::core
