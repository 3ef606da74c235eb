// ProfileQuery: interpolated lookups over a loaded profile (the origin only matched sizes exactly).
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "calib/core/curves.hpp"
#include "calib/core/profile.hpp"
#include "calib/core/profile_sections.hpp"

namespace calib::core {

namespace json = boost::json;

namespace {

struct Point {
    double x, y;
};

bool is_ok(const json::object& ep) {
    const auto* s = ep.if_contains("status");
    return !s || (s->is_string() && s->get_string() == "ok");
}

bool precision_matches(const json::object& ep, const std::string& wanted) {
    if (wanted.empty()) return true;
    const auto* p = ep.if_contains("precision");
    if (!p) return wanted == "fp32";
    return p->is_string() && p->get_string() == wanted;
}

// A positive finite number from extra_params, or NaN.
double positive(const json::object& ep, std::string_view key) {
    const auto* v = ep.if_contains(key);
    if (!v || !v->is_number()) return NAN;
    const double x = v->to_number<double>();
    return std::isfinite(x) && x > 0 ? x : NAN;
}

// matrix_size, else cbrt(m*k*n), else the geometric mean of input_shape; NaN when none applies.
double record_size(const OperationRecord& r) {
    if (double s = positive(r.extra_params, "matrix_size"); !std::isnan(s)) return s;
    const double m = positive(r.extra_params, "m"), k = positive(r.extra_params, "k"),
                 n = positive(r.extra_params, "n");
    if (!std::isnan(m) && !std::isnan(k) && !std::isnan(n)) return std::cbrt(m * k * n);
    if (r.input_shape.empty()) return NAN;
    double log_sum = 0;
    for (auto d : r.input_shape) {
        if (d <= 0) return NAN;
        log_sum += std::log(static_cast<double>(d));
    }
    return std::exp(log_sum / static_cast<double>(r.input_shape.size()));
}

// Interpolates y at x over points in log(x) (and log(y) when `log_y` and both ends are positive);
// clamps outside the measured range. Points at the same x are averaged. `pts` must be non-empty.
double interpolate(std::vector<Point> pts, double x, bool log_y) {
    std::sort(pts.begin(), pts.end(), [](const Point& a, const Point& b) { return a.x < b.x; });
    std::vector<Point> merged;
    for (size_t i = 0; i < pts.size();) {
        size_t j = i;
        double sum = 0;
        for (; j < pts.size() && pts[j].x == pts[i].x; ++j) sum += pts[j].y;
        merged.push_back({pts[i].x, sum / static_cast<double>(j - i)});
        i = j;
    }
    if (!(x > merged.front().x)) return merged.front().y;  // also x <= 0
    if (!(x < merged.back().x)) return merged.back().y;
    auto hi =
        std::lower_bound(merged.begin(), merged.end(), x, [](const Point& p, double v) { return p.x < v; });
    if (hi->x == x) return hi->y;  // exact hit, bit for bit
    const Point& a = *(hi - 1);
    const Point& b = *hi;
    const double t = (std::log(x) - std::log(a.x)) / (std::log(b.x) - std::log(a.x));
    if (log_y && a.y > 0 && b.y > 0) return std::exp(std::log(a.y) + t * (std::log(b.y) - std::log(a.y)));
    return a.y + t * (b.y - a.y);
}

}  // namespace

ProfileQuery::ProfileQuery(const Profile& p) : p_(p) {}

namespace {

template <class Field>
double lookup(const Profile& p, const std::string& op, const std::string& precision, double size, Field field,
              double fallback) {
    if (std::isnan(size)) return fallback;
    std::vector<Point> pts;
    for (const auto& [key, r] : p.operation_profiles) {
        if (r.operation_type != op || !precision_matches(r.extra_params, precision) || !is_ok(r.extra_params))
            continue;
        const double x = record_size(r), y = field(r);
        if (!std::isnan(x) && std::isfinite(y)) pts.push_back({x, y});
    }
    return pts.empty() ? fallback : interpolate(std::move(pts), size, true);
}

}  // namespace

namespace {

bool measured_at(const Profile& p, const std::string& op, const std::string& precision, double size) {
    for (const auto& [key, r] : p.operation_profiles)
        if (r.operation_type == op && precision_matches(r.extra_params, precision) && record_size(r) == size)
            return true;
    return false;
}

// A square matmul of a size no record measured: the profile's fitted curve at its FLOPs (2 n^3), with
// the peak the curve's efficiency is relative to; nullopt without such a curve.
std::optional<std::pair<double, double>> from_curve(const Profile& p, const std::string& op,
                                                    const std::string& precision, double size) {
    if (op != "matmul" || !(size > 0) || measured_at(p, op, precision, size)) return std::nullopt;
    const auto curves = read_sections(p).efficiency_curves;
    if (!curves) return std::nullopt;
    for (const auto& [key, c] : *curves) {
        if (key != op + "/" + precision) continue;
        return std::make_pair(model_of(c.fitted_curve).evaluate(2 * size * size * size), c.peak_gflops);
    }
    return std::nullopt;
}

}  // namespace

double ProfileQuery::efficiency(const std::string& operation_type, const std::string& precision,
                                double size) const {
    if (auto c = from_curve(p_, operation_type, precision, size)) return c->first;
    return lookup(
        p_, operation_type, precision, size, [](const OperationRecord& r) { return r.efficiency; },
        p_.avg_efficiency);
}

double ProfileQuery::gflops(const std::string& operation_type, const std::string& precision,
                            double size) const {
    if (auto c = from_curve(p_, operation_type, precision, size)) return c->first * c->second;
    return lookup(
        p_, operation_type, precision, size, [](const OperationRecord& r) { return r.measured_gflops; },
        p_.avg_measured_gflops);
}

double ProfileQuery::fusion_speedup(const std::string& pattern, const std::vector<int64_t>& shape,
                                    const std::string& precision, double fallback) const {
    std::vector<Point> pts;
    for (const auto& [key, r] : p_.fusion_profiles) {
        if (r.fusion_pattern != pattern || !precision_matches(r.extra_params, precision) ||
            !is_ok(r.extra_params))
            continue;
        double n = 1;
        for (auto d : r.input_shape) n *= static_cast<double>(d);
        if (n > 0 && std::isfinite(r.speedup_factor) && r.speedup_factor > 0)
            pts.push_back({n, r.speedup_factor});
    }
    if (pts.empty()) return fallback;
    // No shape given: the largest measured shape, as the bare pattern key does.
    double n = shape.empty() ? std::numeric_limits<double>::infinity() : 1;
    for (auto d : shape) n *= static_cast<double>(d);
    return interpolate(std::move(pts), n, false);
}

bool ProfileQuery::should_fuse(const std::string& pattern, const std::vector<int64_t>& shape,
                               double threshold, const std::string& precision) const {
    return fusion_speedup(pattern, shape, precision, 1.0) >= threshold;
}

}  // namespace calib::core
