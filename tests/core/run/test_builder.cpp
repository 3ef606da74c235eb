// build_profile(): outcomes -> HardwareCalibration, on synthetic run results.
#include <catch2/catch.hpp>

#include <algorithm>

#include "calib/core/run.hpp"

using namespace calib::core;

namespace {

Measurement measured(double median_seconds, std::size_t n = 10) {
    Measurement m;
    for (std::size_t i = 0; i < n; ++i) m.samples.push_back(median_seconds * (1.0 + 0.001 * (double(i) - double(n) / 2)));
    m.stats = compute_stats(m.samples);
    m.iterations_per_sample = 4;
    m.reason = StopReason::converged;
    return m;
}

CaseInfo matmul_case(const std::string& precision, int n) {
    CaseInfo c;
    c.name = "matmul_" + precision + "_" + std::to_string(n);
    c.family = Family::compute;
    c.operation_type = "matmul";
    c.precision = precision;
    c.shape = {n, n, n};
    c.flops = 2.0 * n * n * n;
    c.bytes = 3.0 * n * n * 4;
    c.params = {{"matrix_size", std::to_string(n)}};
    return c;
}

CaseInfo sweep_case(const std::string& kernel, double ws) {
    CaseInfo c;
    c.name = "stream_" + kernel + "_" + std::to_string(int64_t(ws));
    c.family = Family::memory;
    c.operation_type = "stream_" + kernel;
    c.precision = "fp64";
    c.bytes = ws;
    c.params = {{"kernel", kernel}, {"working_set_bytes", std::to_string(int64_t(ws))}};
    return c;
}

RunResult synthetic() {
    RunResult r;
    r.started_at = "2026-01-01T00:00:00Z";
    r.host.cpu_model = "Test CPU";
    r.host.physical_cores = 2;
    r.host.logical_cpus = 2;
    r.host.total_memory_bytes = 8ull << 30;
    r.host.caches = {{1, "Data", 32 << 10, 1}, {2, "Unified", 1 << 20, 1}, {3, "Unified", 16 << 20, 2}};
    r.peaks.compute = {{"fp32", 200, "detected", "f"}, {"bf16", 400, "detected", "f"}};
    PluginRecord p;
    p.id = "org.test";
    p.loaded = true;
    r.plugins.push_back(p);

    auto add = [&](CaseInfo c, double seconds, const std::string& status = "ok") {
        CaseOutcome o;
        o.plugin_id = "org.test";
        o.device_name = "Test CPU";
        o.info = std::move(c);
        o.status = status;
        if (status == "ok") o.measurement = measured(seconds);
        else o.message = "reason for " + status;
        o.instance.implementation = "brg:avx512_core";
        o.instance.verified = true;
        r.outcomes.push_back(std::move(o));
    };
    add(matmul_case("fp32", 1024), 2.0 * 1024 * 1024 * 1024 / 100e9);  // 100 GFLOPS
    add(matmul_case("fp32", 256), 2.0 * 256 * 256 * 256 / 50e9);       // 50 GFLOPS
    add(matmul_case("bf16", 1024), 2.0 * 1024 * 1024 * 1024 / 500e9);  // 500 GFLOPS > 400 peak
    add(matmul_case("fp16", 1024), 0, "unsupported");
    add(matmul_case("int8", 1024), 0, "crashed");
    // Sweep: bandwidth falls with the working set (GB/s = ws / seconds / 1e9 since bytes = ws).
    const double l1 = 400, l2 = 200, l3 = 100, dram = 20;
    for (double ws : {16e3, 400e3, 8e6, 128e6}) {
        double gbps = ws < 32e3 ? l1 : ws < 1e6 ? l2 : ws < 20e6 ? l3 : dram;
        for (const char* k : {"copy", "triad"}) add(sweep_case(k, ws), ws / (gbps * 1e9) * (k[0] == 'c' ? 1.0 : 0.9));
    }
    // Origin copy record.
    CaseInfo copy;
    copy.name = "memory_copy_64MiB";
    copy.family = Family::memory;
    copy.operation_type = "add";
    copy.precision = "fp64";
    copy.shape = {8 << 20};
    copy.bytes = 2.0 * (64 << 20);
    copy.params = {{"operation", "memory_copy"}, {"size_mb", "64"}};
    add(copy, copy.bytes / 19e9);
    // One fusion pair at two shapes.
    for (int m : {128, 512}) {
        CaseOutcome o;
        o.plugin_id = "org.test";
        o.info.name = "LBR_" + std::to_string(m) + "_fused";
        o.info.family = Family::fusion;
        o.info.operation_type = "linear";
        o.info.precision = "fp32";
        o.info.shape = {m, 512, 512};
        o.info.fusion_pattern = "Linear_Bias_ReLU";
        o.info.fusion_role = FusionRole::fused;
        o.info.flops = 2.0 * m * 512 * 512 + m * 512;
        o.info.bytes = 4.0 * (m * 512 + 512 * 512 + 512 + m * 512);
        CaseInfo u = o.info;
        u.name = "LBR_" + std::to_string(m) + "_unfused";
        u.fusion_role = FusionRole::unfused;
        u.bytes = 4.0 * (m * 512 + 512 * 512 + 512 + 5 * m * 512);
        u.params = {{"operators", "matmul,add,relu"}, {"num_operators", "3"}};
        o.unfused = u;
        PairMeasurement pm;
        pm.a = measured(1e-3);
        pm.b = measured(1.3e-3);
        pm.speedup = 1.3;
        pm.speedup_ci_low = 1.28;
        pm.speedup_ci_high = 1.32;
        o.pair = pm;
        o.instance.verified = o.unfused_instance.verified = true;
        r.outcomes.push_back(std::move(o));
    }
    return r;
}

}  // namespace

TEST_CASE("builder: operation records, keys, efficiency and the suspicious flag", "[run][builder]") {
    RunOptions o;
    Profile p = build_profile(synthetic(), o);
    auto find = [&](const std::string& key) -> const OperationRecord* {
        for (const auto& [k, r] : p.operation_profiles)
            if (k == key) return &r;
        return nullptr;
    };
    const auto* big = find("matmul_matrix_size=1024_medium");
    REQUIRE(big != nullptr);
    CHECK(big->measured_gflops == Approx(100).epsilon(0.01));
    CHECK(big->efficiency == Approx(0.5).epsilon(0.01));
    CHECK(big->input_shape == std::vector<int64_t>{1024, 1024});
    CHECK(!big->extra_params.contains("suspicious"));
    const auto* bf = find("matmul_matrix_size=1024_precision=bf16_medium");
    REQUIRE(bf != nullptr);
    CHECK(bf->efficiency > 1.0);
    CHECK(bf->extra_params.at("suspicious").as_bool());
    CHECK(find("matmul_matrix_size=256_small") != nullptr);
    // Failed and unsupported cases never become numbers.
    CHECK(find("matmul_matrix_size=1024_precision=fp16_medium") == nullptr);
    CHECK(find("matmul_matrix_size=1024_precision=int8_medium") == nullptr);
    const auto& failed = p.extensions.at("failed_cases").as_array();
    REQUIRE(failed.size() == 2);
    CHECK(failed[0].at("status") == "unsupported");
    CHECK(failed[1].at("status") == "crashed");
    // Aggregates over the fp32 compute records only, as the origin's consumers read them (memory records
    // have measured_gflops 0; the 500 GFLOPS bf16 record is not fp32).
    CHECK(p.best_measured_gflops == Approx(100).epsilon(0.01));
    CHECK(p.worst_measured_gflops == Approx(50).epsilon(0.01));
    // The ridge point decides memory/compute bound: 1024^3 fp32 is compute bound, AI = 2N/12.
    CHECK(big->compute_bound);
    CHECK(!big->memory_bound);
    CHECK(validate(to_json(p)).empty());
}

TEST_CASE("builder: memory hierarchy plateaus and the DRAM copy aggregate", "[run][builder]") {
    RunOptions o;
    Profile p = build_profile(synthetic(), o);
    const auto& levels = p.extensions.at("memory_hierarchy").at("levels").as_array();
    REQUIRE(levels.size() == 4);
    std::vector<std::string> names;
    double prev = 1e300;
    for (const auto& l : levels) {
        names.push_back(std::string(l.at("name").as_string()));
        double copy = l.at("copy_gbps").as_double();
        CHECK(copy < prev);
        prev = copy;
    }
    CHECK(names == std::vector<std::string>{"L1", "L2", "L3", "DRAM"});
    CHECK(levels[0].at("copy_gbps").as_double() == Approx(400).epsilon(0.01));
    CHECK(levels[3].at("copy_gbps").as_double() == Approx(20).epsilon(0.01));
    CHECK(p.measured_bandwidth_gbps == Approx(20).epsilon(0.01));
    // No theoretical bandwidth given: the measured DRAM figure stands in, and says so.
    CHECK(p.extensions.at("peaks").at("bandwidth").at("source") == "measured");
    RunOptions user;
    user.peak_bandwidth = 50;
    RunResult r = synthetic();
    apply_overrides(r.peaks, std::nullopt, 50.0);
    Profile q = build_profile(r, user);
    CHECK(q.theoretical_bandwidth_gbps == 50);
    CHECK(q.bandwidth_efficiency == Approx(0.4).epsilon(0.01));
    CHECK(q.extensions.at("peaks").at("bandwidth").at("source") == "user");
}

TEST_CASE("builder: fusion records per shape plus the bare pattern key", "[run][builder]") {
    RunOptions o;
    Profile p = build_profile(synthetic(), o);
    std::vector<std::string> keys;
    for (const auto& [k, r] : p.fusion_profiles) keys.push_back(k);
    CHECK(keys == std::vector<std::string>{"Linear_Bias_ReLU@128x512x512", "Linear_Bias_ReLU@512x512x512",
                                           "Linear_Bias_ReLU"});
    const auto& bare = p.fusion_profiles.back().second;
    CHECK(bare.input_shape == std::vector<int64_t>{512, 512, 512});
    CHECK(bare.speedup_factor == Approx(1.3).epsilon(0.01));
    CHECK(bare.operators == std::vector<std::string>{"matmul", "add", "relu"});
    CHECK(bare.num_operators == 3);
    CHECK(bare.memory_reduction == Approx(1.0 - double(bare.fused_memory_bytes) / bare.unfused_memory_bytes));
    CHECK(bare.extra_params.at("speedup_ci_low").as_double() == Approx(1.28));
    CHECK(bare.extra_params.at("verified").as_bool());
    ProfileQuery q(p);
    CHECK(q.fusion_speedup("Linear_Bias_ReLU", {512, 512, 512}) == Approx(1.3).epsilon(0.01));
    CHECK(q.should_fuse("Linear_Bias_ReLU", {256, 512, 512}));
}

TEST_CASE("builder: precision matrix in the origin's shape", "[run][builder]") {
    RunOptions o;
    Profile p = build_profile(synthetic(), o);
    const auto& pm = p.precision_matrix.as_object();
    std::vector<std::string> fields;
    for (const auto& kv : pm) fields.push_back(std::string(kv.key()));
    CHECK(fields == std::vector<std::string>{"hardware_name", "supported_precisions", "unsupported_precisions",
                                             "peak_gflops_by_precision", "speedup_vs_fp32", "theoretical_peaks"});
    CHECK(pm.at("supported_precisions").as_array().size() == 2);
    CHECK(pm.at("unsupported_precisions").as_array().size() == 2);
    CHECK(pm.at("speedup_vs_fp32").at("bf16").as_double() == Approx(5.0).epsilon(0.01));
    const auto& sup = p.extensions.at("precision_support").as_object();
    CHECK(sup.at("fp16").at("reason") == "reason for unsupported");
    CHECK(sup.at("fp32").at("efficiency").as_double() == Approx(0.5).epsilon(0.01));
}

TEST_CASE("builder: a device plugin's own peaks, tf32 math and the primary device", "[run][builder]") {
    RunResult r = synthetic();
    PluginRecord gpu;
    gpu.id = "org.test.gpu";
    gpu.loaded = true;
    gpu.device_kind = DeviceKind::gpu;
    gpu.peaks = {{"fp32", 60000, 0, "sm x clock"}, {"tf32", 400000, 0, "tensor cores"}, {"memory", 0, 3000, "hbm"}};
    r.plugins.push_back(gpu);
    auto add_gpu = [&](const std::string& math, double gflops) {
        CaseOutcome o;
        o.plugin_id = "org.test.gpu";
        o.info = matmul_case("fp32", 8192);
        o.info.name = "gpu_matmul_" + math;
        o.info.params.emplace_back("math", math);
        o.measurement = measured(o.info.flops / (gflops * 1e9));
        r.outcomes.push_back(std::move(o));
    };
    add_gpu("fp32", 50000);
    add_gpu("tf32", 300000);
    RunOptions o;
    Profile p = build_profile(r, o);
    // The GPU's fp32 matmul is the fastest: its peaks fill the single-device origin fields.
    CHECK(p.theoretical_peak_gflops == 60000);
    CHECK(p.theoretical_bandwidth_gbps == 3000);
    CHECK(p.extensions.at("peaks").at("bandwidth").at("source") == "plugin");
    for (const auto& [k, rec] : p.operation_profiles) {
        if (rec.extra_params.at("plugin") != "org.test.gpu") continue;
        // tf32 is judged against the tf32 peak, not flagged against the fp32 one.
        CHECK(rec.efficiency < 1.0);
        CHECK(!rec.extra_params.contains("suspicious"));
        CHECK(rec.extra_params.at("peak_source") == "plugin");
    }
    const auto& pm = p.precision_matrix.as_object();
    CHECK(!pm.at("peak_gflops_by_precision").as_object().contains("tf32"));  // origin precisions only
    CHECK(pm.at("peak_gflops_by_precision").at("fp32").as_double() == Approx(50000).epsilon(0.01));
    CHECK(pm.at("theoretical_peaks").at("fp32").as_double() == 60000);
    CHECK(p.extensions.at("precision_support").at("tf32").at("efficiency").as_double() == Approx(0.75).epsilon(0.01));
    CHECK(validate(to_json(p)).empty());
}

TEST_CASE("builder: host CPU records are judged against the measured ceiling, the formula beside",
          "[run][builder]") {
    RunResult r = synthetic();
    r.peaks.compute[0].ceiling_gflops = 150;  // fp32: formula 200
    r.peaks.compute[0].ceiling_source = "measured: vfmadd231ps zmm loop";
    r.peaks.compute[1].ceiling_gflops = 450;  // bf16: formula 400, the 500 GFLOPS matmul is above both
    r.peaks.compute[1].ceiling_source = "measured: vdpbf16ps zmm loop";
    Profile p = build_profile(r, RunOptions{});
    CHECK(p.theoretical_peak_gflops == 200);  // the origin's theoretical peak stays the formula
    CHECK(p.extensions.at("peaks").at("compute").at("fp32").at("ceiling_gflops").as_double() == 150);
    int seen = 0;
    for (const auto& [k, rec] : p.operation_profiles) {
        const auto& x = rec.extra_params;
        if (!(std::abs(rec.measured_gflops - 100) < 0.5 || std::abs(rec.measured_gflops - 500) < 0.5)) continue;
        ++seen;
        CHECK(x.at("peak_source") == "measured ceiling");
        const bool bf16 = rec.measured_gflops > 200;
        CHECK(x.at("peak_gflops").as_double() == (bf16 ? 450 : 150));
        CHECK(x.at("formula_peak_gflops").as_double() == (bf16 ? 400 : 200));
        CHECK(rec.efficiency == Approx(bf16 ? 500.0 / 450 : 100.0 / 150).epsilon(0.01));
        CHECK(x.contains("above_ceiling") == bf16);
        CHECK(x.contains("suspicious") == bf16);
    }
    CHECK(seen == 2);
    CHECK(validate(to_json(p)).empty());

    // A user peak stays the peak: no ceiling, no formula beside.
    r.peaks.compute[0].source = "user";
    p = build_profile(r, RunOptions{});
    for (const auto& [k, rec] : p.operation_profiles)
        if (std::abs(rec.measured_gflops - 100) < 0.5) {
            CHECK(rec.extra_params.at("peak_source") == "user");
            CHECK(rec.extra_params.at("peak_gflops").as_double() == 200);
            CHECK(!rec.extra_params.contains("formula_peak_gflops"));
        }
}

TEST_CASE("builder: DRAM starts where the triad sweep flattened when the reported LLC is too big", "[run][builder]") {
    // A VM reporting its host's 480 MiB L3, whose bandwidth is DRAM's from 64 MB on: 4 x LLC would
    // leave no DRAM point at all.
    RunResult r = synthetic();
    r.host.caches = {{1, "Data", 32 << 10, 1}, {2, "Unified", 1 << 20, 1}, {3, "Unified", 480u << 20, 2}};
    r.outcomes.erase(std::remove_if(r.outcomes.begin(), r.outcomes.end(),
                                    [](const CaseOutcome& o) { return o.info.operation_type.rfind("stream_", 0) == 0; }),
                     r.outcomes.end());
    for (double ws : {16e3, 400e3, 8e6, 64e6, 256e6, 1024e6}) {
        const double gbps = ws < 32e3 ? 400 : ws < 1e6 ? 200 : ws < 20e6 ? 100 : ws < 100e6 ? 22 : 20;
        for (const char* k : {"copy", "triad"}) {
            CaseOutcome o;
            o.plugin_id = "org.test";
            o.device_name = "Test CPU";
            o.info = sweep_case(k, ws);
            o.measurement = measured(ws / (gbps * 1e9));
            r.outcomes.push_back(std::move(o));
        }
    }
    RunOptions o;
    Profile p = build_profile(r, o);
    const auto& mh = p.extensions.at("memory_hierarchy");
    const auto& levels = mh.at("levels").as_array();
    REQUIRE(levels.size() == 4);
    CHECK(levels[3].at("name") == "DRAM");
    CHECK(levels[3].at("copy_gbps").as_double() == Approx(22).epsilon(0.01));  // best of the flat points
    CHECK(std::string(mh.at("convention").as_string()).find("flat") != std::string::npos);
    CHECK(p.measured_bandwidth_gbps > 0);

    SECTION("not flat at its end: no DRAM level rather than a cached one") {
        for (auto& out : r.outcomes)
            if (out.info.operation_type == "stream_triad" && out.info.bytes > 1e9)
                out.measurement = measured(out.info.bytes / (60 * 1e9));  // still falling: 60 -> 20
        Profile q = build_profile(r, o);
        const auto& lv = q.extensions.at("memory_hierarchy").at("levels").as_array();
        for (const auto& l : lv) CHECK(l.at("name") != "DRAM");
    }
}
