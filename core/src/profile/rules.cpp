// The origin's naming and aggregation rules, and calib's fusion keys and tiers.
#include <algorithm>
#include <limits>

#include "calib/core/profile.hpp"

namespace calib::core {

namespace {

// Element count as a double: no overflow on absurd shapes, same as the origin's np.prod.
double element_count(const std::vector<int64_t>& shape) {
    double n = 1;
    for (auto d : shape) n *= static_cast<double>(d);
    return n;
}

}  // namespace

std::string operation_key(const std::string& operation_type,
                          const std::vector<std::pair<std::string, std::string>>& key_params,
                          const std::vector<int64_t>& input_shape) {
    auto params = key_params;
    std::stable_sort(params.begin(), params.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::string key = operation_type;
    for (const auto& [name, value] : params) key += "_" + name + "=" + value;
    if (operation_type == "matmul" || operation_type == "conv2d") {
        const double n = element_count(input_shape);
        key += n < 1048576.0 ? "_small" : n < 10485760.0 ? "_medium" : "_large";
    }
    return key;
}

std::string fusion_key(const std::string& pattern, const std::vector<int64_t>& input_shape,
                       const std::string& precision) {
    std::string key = pattern + "@";
    for (size_t i = 0; i < input_shape.size(); ++i) {
        if (i) key += "x";
        key += std::to_string(input_shape[i]);
    }
    if (!precision.empty() && precision != "fp32") key += "@" + precision;
    return key;
}

std::string text_field(const boost::json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

namespace {

// fp32 storage and fp32 arithmetic (a "math" of tf32 is not fp32); records without a precision are the
// origin's fp32 ones.
bool is_fp32(const OperationRecord& r) {
    const std::string precision = text_field(r.extra_params, "precision");
    const std::string math = text_field(r.extra_params, "math");
    return (precision.empty() || precision == "fp32") && (math.empty() || math == "fp32");
}

// The device the origin's single-device figures describe: the one of the fastest fp32 matmul record
// (of the fastest fp32 record when there is no matmul), as the builder's primary device.
std::string primary_device_of(const Profile& p) {
    std::string device;
    double best = 0;
    bool matmul = false;
    for (const auto& [key, r] : p.operation_profiles) {
        if (!(r.measured_gflops > 0) || !is_fp32(r)) continue;
        const bool mm = r.operation_type == "matmul";
        if ((mm && !matmul) || (mm == matmul && r.measured_gflops > best)) {
            best = r.measured_gflops;
            matmul = mm;
            device = text_field(r.extra_params, "device");
        }
    }
    return device;
}

}  // namespace

void compute_aggregates(Profile& p) {
    double best_g = 0, worst_g = 0, sum_g = 0, best_e = 0, worst_e = 0, sum_e = 0;
    size_t n = 0;
    const std::string device = primary_device_of(p);
    for (const auto& [key, r] : p.operation_profiles) {
        if (!(r.measured_gflops > 0)) continue;  // memory records never enter the aggregates
        if (!is_fp32(r) || text_field(r.extra_params, "device") != device) continue;  // the origin reads them as fp32
        if (n == 0) {
            best_g = worst_g = r.measured_gflops;
            best_e = worst_e = r.efficiency;
        }
        best_g = std::max(best_g, r.measured_gflops);
        worst_g = std::min(worst_g, r.measured_gflops);
        best_e = std::max(best_e, r.efficiency);
        worst_e = std::min(worst_e, r.efficiency);
        sum_g += r.measured_gflops;
        sum_e += r.efficiency;
        ++n;
    }
    p.best_measured_gflops = best_g;
    p.worst_measured_gflops = worst_g;
    p.avg_measured_gflops = n ? sum_g / static_cast<double>(n) : 0;
    p.best_efficiency = best_e;
    p.worst_efficiency = worst_e;
    p.avg_efficiency = n ? sum_e / static_cast<double>(n) : 0;
    p.bandwidth_efficiency =
        p.theoretical_bandwidth_gbps > 0 ? p.measured_bandwidth_gbps / p.theoretical_bandwidth_gbps : 0;
}

FusionTier fusion_tier(double speedup) {
    if (speedup >= 1.5) return FusionTier::strong;
    if (speedup >= 1.1) return FusionTier::moderate;
    if (speedup >= 0.95) return FusionTier::minimal;
    return FusionTier::slower;  // also NaN: never recommend fusing on garbage
}

const char* to_string(FusionTier t) {
    switch (t) {
        case FusionTier::strong:
            return "strong";
        case FusionTier::moderate:
            return "moderate";
        case FusionTier::minimal:
            return "minimal";
        case FusionTier::slower:
            return "slower";
    }
    return "slower";
}

}  // namespace calib::core
