// The export transformations (profile_export.hpp): the 2025 shape, curve breakpoints, names and dates.
#include <catch2/catch.hpp>

#include "calib/core/profile_export.hpp"
#include "profile_test_util.hpp"

using namespace calib::core;

namespace {

EfficiencyCurve curve(const std::string& type, std::vector<double> flops) {
    EfficiencyCurve c;
    c.operation_type = "matmul";
    c.precision = "fp32";
    c.fitted_curve.curve_type = type;
    for (double x : flops) {
        CurveDataPoint d;
        d.flops = x;
        c.data_points.push_back(d);
    }
    c.min_flops = flops.front();
    c.max_flops = flops.back();
    return c;
}

void check_origin_shape(const std::vector<std::pair<double, double>>& b) {
    REQUIRE(b.size() >= 2);
    for (std::size_t i = 0; i < b.size(); ++i) {
        CHECK((b[i].second >= 0 && b[i].second <= 1));
        if (i == 0) continue;
        CHECK(b[i].first > b[i - 1].first);
        CHECK(b[i].second >= b[i - 1].second);
    }
}

}  // namespace

TEST_CASE("to_origin_2025 drops the 2026 metadata and precision_results, nothing else", "[export]") {
    Profile p;
    p.metadata.hardware_name = "box";
    p.metadata.device_type = "cuda";
    p.metadata.framework = "cublaslt";
    p.metadata.platform_architecture = "x86_64";
    p.metadata.cpu_clock = CpuClock{};
    p.metadata.gpu_clock = GpuClock{};
    p.metadata.preflight = Preflight{};
    OperationRecord r = test::matmul_record(256, 100, 0.5);
    r.precision_results.emplace();
    p.operation_profiles.emplace_back("matmul", r);
    p.extensions["efficiency_curves"] = boost::json::object{{"matmul/fp32", 1}};
    const Profile q = to_origin_2025(p);
    const auto md = to_json(q).at("metadata").as_object();
    CHECK(md.size() == 11);
    CHECK(!md.contains("device_type"));
    CHECK(!md.contains("preflight"));
    CHECK(!q.operation_profiles[0].second.precision_results);
    CHECK(q.extensions == p.extensions);
    CHECK(q.metadata.hardware_name == "box");
}

TEST_CASE("default_hardware_id: lower case, runs of other characters one underscore, trimmed", "[export]") {
    CHECK(default_hardware_id("NVIDIA H200") == "nvidia_h200");
    CHECK(default_hardware_id("  Intel(R) Core(TM) i7-12700K  ") == "intel_r_core_tm_i7_12700k");
    CHECK(default_hardware_id("--") == "unknown");
}

TEST_CASE("curves_device_type: cuda and gpu are gpu, none is cpu", "[export]") {
    Metadata m;
    CHECK(curves_device_type(m) == "cpu");
    m.device_type = "cuda";
    CHECK(curves_device_type(m) == "gpu");
    m.device_type = "GPU";
    CHECK(curves_device_type(m) == "gpu");
    m.device_type = "cpu";
    CHECK(curves_device_type(m) == "cpu");
}

TEST_CASE("origin_breakpoints: an asymptote sampled at its points and between, clamped and monotone",
          "[export]") {
    EfficiencyCurve c = curve("asymptotic", {1e6, 1e8, 1e10});
    c.fitted_curve.peak = 1.2;  // above 1 at large sizes: clamped
    c.fitted_curve.scale = 1e8;
    const auto b = origin_breakpoints(c);
    check_origin_shape(b);
    CHECK(b.front().first == 1e6);
    CHECK(b.back().first == 1e10);
    CHECK(b.size() > 3);
    CHECK(b.back().second == 1.0);
    CHECK(b.front().second == Approx(1.2 * (1 - std::exp(-0.01))));
}

TEST_CASE("origin_breakpoints: a constant at one size gives that size and ten times it", "[export]") {
    EfficiencyCurve c = curve("constant", {5e7});
    c.fitted_curve.efficiency = 0.4;
    const auto b = origin_breakpoints(c);
    REQUIRE(b.size() == 2);
    CHECK(b[0] == std::pair<double, double>(5e7, 0.4));
    CHECK(b[1] == std::pair<double, double>(5e8, 0.4));
}

TEST_CASE("origin_breakpoints: a piecewise curve keeps its breakpoints, no FLOPs gives none", "[export]") {
    EfficiencyCurve c = curve("piecewise_linear", {1e6, 1e9});
    c.fitted_curve.breakpoints = std::vector<std::vector<double>>{{1e6, 0.2}, {1e9, 0.6}};
    const auto b = origin_breakpoints(c);
    check_origin_shape(b);
    CHECK(b.front() == std::pair<double, double>(1e6, 0.2));
    CHECK(b.back() == std::pair<double, double>(1e9, 0.6));
    EfficiencyCurve none = curve("constant", {0});
    CHECK(origin_breakpoints(none).empty());
}

TEST_CASE("to_origin_curves: one document per precision, none without curves", "[export]") {
    Profile p;
    p.metadata.hardware_name = "Box";
    CHECK(to_origin_curves(p, "box").empty());
    CalibSections s;
    EfficiencyCurve a = curve("constant", {1e6}), b = curve("constant", {1e6});
    b.precision = "bf16";
    s.efficiency_curves = NamedList<EfficiencyCurve>{{"matmul/fp32", a}, {"matmul/bf16", b}};
    write_sections(s, p);
    const auto files = to_origin_curves(p, "box");
    REQUIRE(files.size() == 2);
    CHECK(files[0].precision == "fp32");
    CHECK(files[1].document.at("precision") == "BF16");
    CHECK(files[1].document.at("curves").as_object().contains("matmul"));
}

TEST_CASE("utc_stamp: ISO-8601 with any offset to the registry's UTC stamp", "[export]") {
    CHECK(utc_stamp("2026-11-29T15:28:28+00:00") == "20261129T152828Z");
    CHECK(utc_stamp("2026-11-29T15:28:28Z") == "20261129T152828Z");
    CHECK(utc_stamp("2026-11-29T15:28:28.123456") == "20261129T152828Z");
    CHECK(utc_stamp("2026-01-01T01:30:00+02:00") == "20251231T233000Z");
    CHECK(utc_stamp("2026-02-28T23:00:00-01:30") == "20260301T003000Z");
    CHECK_THROWS_AS(utc_stamp("yesterday"), ProfileError);
    CHECK_THROWS_AS(utc_stamp("2026-02-30T00:00:00"), ProfileError);
    CHECK_THROWS_AS(utc_stamp("2026-02-01T00:00:00+5"), ProfileError);
}

TEST_CASE("registry_file_name follows the registry's rules", "[export]") {
    Metadata m;
    m.calibration_date = "2026-11-29T15:28:28+00:00";
    CHECK(registry_file_name(m) == "unknown_0MHz_unknown_20261129T152828Z.json");
    m.device_type = "cpu";
    m.framework = "onednn";
    m.cpu_clock = CpuClock{};
    m.cpu_clock->current_freq_mhz = 3499.9;
    m.cpu_clock->governor = "perf-ormance";
    CHECK(registry_file_name(m) == "performance_3499MHz_onednn_20261129T152828Z.json");
    m.device_type = "cuda";
    m.framework = "cublas_lt2";
    m.gpu_clock = GpuClock{};
    m.gpu_clock->sm_clock_mhz = 1980;
    CHECK(registry_file_name(m) == "performance_1980MHz_cublaslt_20261129T152828Z.json");
    m.gpu_clock->power_mode_name = "MAX N";
    CHECK(registry_file_name(m) == "MAXN_1980MHz_cublaslt_20261129T152828Z.json");
}
