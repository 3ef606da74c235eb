// build_profile's efficiency curves: per operation and precision on the primary device, the measured
// points (efficiency against FLOPs, with their intervals) and the curve fitted through them.
#include <algorithm>
#include <cmath>
#include <map>

#include "build.hpp"
#include "calib/core/curves.hpp"
#include "calib/vocabulary.h"

namespace calib::core::build {

namespace {

// The op names the origin's GPU mapper asks for, where a fused pattern is that operation.
std::string curve_operation(const std::string& pattern) {
    static const std::map<std::string, std::string> names = {
        {"Conv2d_ReLU", "conv2d"},         {"Conv2d_BN", "conv2d_batchnorm"}, {"DWConv2d_BN", "depthwise"},
        {"Linear_Bias", "linear"},         {"FullAttention", "attention"}};
    auto it = names.find(pattern);
    return it == names.end() ? std::string() : it->second;
}

// A measured point: efficiency from the median time; its interval from the median's (noise: the
// relative half-width of the time's 95% interval).
CurveDataPoint point(double flops, double seconds_median, double noise, double cv, std::size_t samples, double peak,
                     const std::string& record) {
    CurveDataPoint d;
    d.flops = flops;
    d.efficiency_mean = flops / seconds_median / 1e9 / peak;
    d.ci_lower = d.efficiency_mean / (1 + noise);
    d.ci_upper = noise < 1 ? d.efficiency_mean / (1 - noise) : d.efficiency_mean * 1e3;
    d.efficiency_std = cv * d.efficiency_mean;
    d.num_samples = static_cast<int64_t>(samples);
    d.record = record;
    return d;
}

}  // namespace

std::optional<NamedList<EfficiencyCurve>> efficiency_curves(const Outcomes& parts, const Judge& judge) {
    std::map<std::string, EfficiencyCurve> curves;  // "<operation>/<precision>"
    std::vector<std::string> order;
    auto add = [&](const std::string& op, const CaseOutcome& c, const std::string& precision, const Measurement& m,
                   const std::string& description) {
        const double peak = judge.compute(c.plugin_id, precision).first;
        if (!(peak > 0) || !(c.info.flops > 0)) return;
        const std::string key = op + "/" + precision;
        auto [it, fresh] = curves.try_emplace(key);
        EfficiencyCurve& e = it->second;
        if (fresh) {
            order.push_back(key);
            e.operation_type = op, e.precision = precision, e.device = c.device_name;
            e.description = description, e.peak_gflops = peak;
        }
        const auto& s = m.stats;
        e.data_points.push_back(point(c.info.flops, s.median, s.noise, s.cv, s.count, peak, c.info.name));
    };
    // Square matmuls only: at one FLOP count a 1 x 4096 x 4096 and a 256^3 matmul differ tenfold in
    // efficiency (memory- against compute-bound), which no curve in FLOPs alone can hold.
    auto square = [](const CaseInfo& ci) {
        return ci.shape.size() == 3 && ci.shape[0] == ci.shape[1] && ci.shape[1] == ci.shape[2];
    };
    for (const auto* c : parts.compute)
        if (c->plugin_id == judge.primary && c->info.operation_type == CALIB_OPERATION_MATMUL && square(c->info))
            add("matmul", *c, math_of(c->info), *c->measurement, "square matmul GFLOPS / peak of its precision");
    const std::string primary_device = device_of(judge.r, judge.primary);
    for (const auto* c : parts.fusion)
        if (const std::string op = curve_operation(c->info.fusion_pattern); !op.empty() && c->device_name == primary_device)
            add(op, *c, math_of(c->info), c->pair->a,
                "fused " + c->info.fusion_pattern + " GFLOPS / peak of its precision");
    if (order.empty()) return std::nullopt;
    NamedList<EfficiencyCurve> out;
    for (const auto& key : order) {
        EfficiencyCurve& e = curves[key];
        std::vector<CurvePoint> pts;
        for (const auto& d : e.data_points)
            pts.push_back({d.flops, d.efficiency_mean, d.ci_lower, d.ci_upper, d.efficiency_std, 0});
        const FittedCurve fit = fit_curve(pts);
        e.fitted_curve = entry_of(fit);
        e.rms_residual = fit.rms_residual;
        e.max_abs_residual = fit.max_abs_residual;
        e.points_within_ci = static_cast<int64_t>(fit.points_within_ci);
        e.min_flops = e.max_flops = e.data_points.front().flops;
        for (const auto& d : e.data_points) e.min_flops = std::min(e.min_flops, d.flops), e.max_flops = std::max(e.max_flops, d.flops);
        out.emplace_back(key, std::move(e));
    }
    return out;
}

}  // namespace calib::core::build
