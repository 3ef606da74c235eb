// The rules the origin's 2026 consumers depend on (shared/reference/origin-2026.md), checked on every
// committed profile in profiles/: what they read must be what calib means.
#include <catch2/catch.hpp>
#include <cmath>
#include <algorithm>
#include <filesystem>
#include <set>

#include "calib/core/curves.hpp"
#include "calib/core/profile.hpp"
#include "calib/core/profile_sections.hpp"

namespace fs = std::filesystem;
using namespace calib::core;

namespace {

std::vector<fs::path> committed() {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(fs::path(CALIB_SOURCE_DIR) / "profiles"))
        if (e.path().extension() == ".json") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

std::string text(const boost::json::object& e, const char* key) {
    const auto* v = e.if_contains(key);
    return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

bool fp32(const OperationRecord& r) {
    const auto p = text(r.extra_params, "precision"), m = text(r.extra_params, "math");
    return (p.empty() || p == "fp32") && (m.empty() || m == "fp32");
}

}  // namespace

TEST_CASE("committed profiles: what the 2026 consumers read is what calib means", "[profile][committed]") {
    const auto files = committed();
    REQUIRE(files.size() >= 2);
    bool gpu_seen = false, cpu_seen = false;
    for (const auto& f : files) {
        INFO(f.filename().string());
        const Profile p = load_profile(f);
        const CalibSections s = read_sections(p);
        CHECK(validate(to_json(p)).empty());
        // device_type: a GPU profile is not read as a CPU.
        const bool gpu = p.metadata.hardware_name.find("NVIDIA") != std::string::npos;
        REQUIRE(p.metadata.device_type);
        CHECK(*p.metadata.device_type == (gpu ? "cuda" : "cpu"));
        CHECK(p.metadata.framework.value_or("").find_first_not_of("abcdefghijklmnopqrstuvwxyz") == std::string::npos);
        CHECK(p.metadata.calibration_date.find("+00:00") != std::string::npos);  // every Python 3 reads it
        (gpu ? gpu_seen : cpu_seen) = true;
        if (gpu) CHECK(p.metadata.gpu_clock.has_value());
        else CHECK(p.metadata.cpu_clock.has_value());
        // best_measured_gflops is the best fp32 record of the primary device (that of theoretical_peak_gflops).
        double best_fp32 = 0;
        for (const auto& [k, r] : p.operation_profiles)
            if (fp32(r) && r.operation_type == "matmul") best_fp32 = std::max(best_fp32, r.measured_gflops);
        CHECK(p.best_measured_gflops == Approx(best_fp32));
        CHECK(p.best_measured_gflops <= p.theoretical_peak_gflops);
        // measured_bandwidth_gbps: the memory level's copy figure (DRAM, HBM), never a cache's.
        REQUIRE(!s.memory_hierarchy.levels.empty());
        const MemoryLevel& memory = s.memory_hierarchy.levels.back();
        CHECK(memory.name == (gpu ? "HBM" : "DRAM"));
        CHECK(p.measured_bandwidth_gbps == Approx(memory.copy_gbps));
        CHECK(p.measured_bandwidth_gbps > 0);
        CHECK(p.measured_bandwidth_gbps <= p.theoretical_bandwidth_gbps);
        if (gpu) CHECK(s.memory_hierarchy.levels.front().name == "L2");
        // The first record of each memory operation type is the memory level's.
        std::set<std::string> seen;
        for (const auto& [k, r] : p.operation_profiles) {
            if (r.measured_gflops > 0 || !seen.insert(r.operation_type).second) continue;
            INFO(k);
            CHECK(text(r.extra_params, "memory_level") == memory.name);
            CHECK(r.efficiency > 0);
            CHECK(r.efficiency <= 1.0);  // the CPU mapper rejects anything outside (0, 1]
        }
        CHECK(!seen.empty());
        // Curves: one per measured (operation, precision), each with its residual.
        REQUIRE(s.efficiency_curves);
        for (const auto& [key, c] : *s.efficiency_curves) {
            INFO(key);
            CHECK(!c.data_points.empty());
            CHECK(std::isfinite(c.rms_residual));
            CHECK(c.peak_gflops > 0);
        }
    }
    CHECK(gpu_seen);
    CHECK(cpu_seen);
}

TEST_CASE("query answers a matmul size no record measured from the fitted curve", "[profile][committed][query]") {
    const Profile p = load_profile(fs::path(CALIB_SOURCE_DIR) / "profiles" / "nvidia_h200.json");
    const auto curves = read_sections(p).efficiency_curves;
    REQUIRE(curves);
    const EfficiencyCurve* bf16 = nullptr;
    for (const auto& [key, c] : *curves)
        if (key == "matmul/bf16") bf16 = &c;
    REQUIRE(bf16 != nullptr);
    const FittedCurve f = model_of(bf16->fitted_curve);
    ProfileQuery q(p);
    const double n = 3000;  // between the measured 2048 and 4096
    CHECK(q.efficiency("matmul", "bf16", n) == Approx(f.evaluate(2 * n * n * n)));
    CHECK(q.gflops("matmul", "bf16", n) == Approx(f.evaluate(2 * n * n * n) * bf16->peak_gflops));
    // A measured size still answers with its record.
    for (const auto& [k, r] : p.operation_profiles)
        if (k == "matmul_b_layout=KxN_math=bf16_matrix_size=4096_precision=bf16_large")
            CHECK(q.efficiency("matmul", "bf16", 4096) == Approx(r.efficiency));
}
