// The profile of a fixed, synthetic run, field for field against tests/data/golden_profile.json.
// The expectation was generated from the builder before the typed-profile refactor (issue 18): any
// change to a key, its order or a value shows up here. What depends on the build or the environment
// (calib and Boost versions, the worker environment) is masked on both sides.
//
// To regenerate after an intended format change: CALIB_UPDATE_GOLDEN=1 ctest -R golden, then review
// the diff of tests/data/golden_profile.json.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "calib/core/run.hpp"

using namespace calib::core;
namespace json = boost::json;

namespace {

const std::filesystem::path kGolden = std::filesystem::path(CALIB_SOURCE_DIR) / "tests/data/golden_profile.json";
const char* const kMasked = "<masked>";

Measurement measured(double median_seconds, std::size_t n = 12) {
    Measurement m;
    for (std::size_t i = 0; i < n; ++i)
        m.samples.push_back(median_seconds * (1.0 + 0.002 * (static_cast<double>(i % 5) - 2.0)));
    m.stats = compute_stats(m.samples);
    m.iterations_per_sample = 3;
    m.reason = StopReason::converged;
    return m;
}

CaseInfo matmul(const std::string& name, const std::string& precision, int64_t m, int64_t k, int64_t n) {
    CaseInfo c;
    c.name = name;
    c.family = Family::compute;
    c.operation_type = "matmul";
    c.precision = precision;
    c.shape = {m, k, n};
    c.flops = 2.0 * static_cast<double>(m * k * n);
    c.bytes = static_cast<double>(m * k + k * n + m * n) * (precision == "fp64" ? 8 : precision == "fp32" ? 4 : 2);
    if (m == k && k == n) c.params = {{"matrix_size", std::to_string(n)}};
    else c.params = {{"m", std::to_string(m)}, {"k", std::to_string(k)}, {"n", std::to_string(n)}};
    return c;
}

CaseInfo sweep(const std::string& kernel, double ws) {
    CaseInfo c;
    c.name = "stream_" + kernel + "_" + std::to_string(static_cast<int64_t>(ws));
    c.family = Family::memory;
    c.operation_type = "stream_" + kernel;
    c.precision = "fp64";
    c.shape = {static_cast<int64_t>(ws / 8)};
    c.bytes = ws;
    c.params = {{"kernel", kernel}, {"working_set_bytes", std::to_string(static_cast<int64_t>(ws))}, {"threads", "4"}};
    return c;
}

PluginRecord plugin(const std::string& id, DeviceKind kind, const std::string& device) {
    PluginRecord p;
    p.path = "/opt/calib/plugins/lib" + id + ".so";
    p.loaded = true;
    p.id = id;
    p.name = id + " plugin";
    p.version = "1.2.3";
    p.vendor = "calib tests";
    p.description = "fixture";
    p.abi_major = 1;
    p.abi_minor = 0;
    p.device_kind = kind;
    p.device_name = device;
    return p;
}

struct Fixture {
    RunResult r;
    RunOptions o;

    CaseOutcome& add(const std::string& plugin_id, const std::string& device, CaseInfo c, double seconds,
                     const std::string& status = "ok") {
        CaseOutcome out;
        out.plugin_id = plugin_id;
        out.plugin_path = "/opt/calib/plugins/lib" + plugin_id + ".so";
        out.device_name = device;
        out.info = std::move(c);
        out.status = status;
        if (status == "ok") out.measurement = measured(seconds);
        else out.message = "fixture: " + status;
        out.instance.implementation = plugin_id == "cpu" ? "brg:avx512_core" : "cublasLt";
        out.instance.verified = true;
        out.instance.max_abs_error = 1.5e-6;
        out.instance.tolerance = 1e-4;
        out.instance.params = {{"threads", "4"}, {"library_version", "3.4.1"}};
        out.wall_seconds = 0.5;
        out.prepare_seconds = 0.125;
        out.steal_seconds = 0.01;
        r.outcomes.push_back(std::move(out));
        return r.outcomes.back();
    }

    void fusion(const std::string& pattern, const std::string& precision, int64_t m, double fused_s, double unfused_s) {
        CaseOutcome o;
        o.plugin_id = "cpu";
        o.plugin_path = "/opt/calib/plugins/libcpu.so";
        o.device_name = "Fixture CPU";
        o.info.name = pattern + "_" + precision + "_" + std::to_string(m) + "_fused";
        o.info.family = Family::fusion;
        o.info.operation_type = "linear";
        o.info.precision = precision;
        o.info.shape = {m, 256, 256};
        o.info.fusion_pattern = pattern;
        o.info.fusion_role = FusionRole::fused;
        o.info.fusion_group = pattern + std::to_string(m);
        o.info.flops = 2.0 * static_cast<double>(m) * 256 * 256 + static_cast<double>(m) * 256;
        o.info.bytes = 4.0 * static_cast<double>(m * 256 + 256 * 256 + 256 + m * 256);
        o.info.params = {{"operators", "matmul,add,relu"}, {"num_operators", "3"}, {"epilogue", "bias_relu"}};
        CaseInfo u = o.info;
        u.name = pattern + "_" + precision + "_" + std::to_string(m) + "_unfused";
        u.fusion_role = FusionRole::unfused;
        u.bytes = 4.0 * static_cast<double>(m * 256 + 256 * 256 + 256 + 5 * m * 256);
        u.params = {{"operators", "matmul,add,relu"}, {"num_operators", "3"}};
        o.unfused = u;
        PairMeasurement pm;
        pm.a = measured(fused_s, 8);
        pm.b = measured(unfused_s, 8);
        pm.b.iterations_per_sample = 2;
        pm.speedup = unfused_s / fused_s;
        pm.speedup_ci_low = pm.speedup * 0.98;
        pm.speedup_ci_high = pm.speedup * 1.02;
        pm.reason = StopReason::time_budget;
        o.pair = pm;
        o.instance.implementation = "fused_kernel";
        o.instance.verified = true;
        o.instance.max_abs_error = 2e-6;
        o.instance.tolerance = 1e-4;
        o.unfused_instance.implementation = "reference_chain";
        o.unfused_instance.verified = true;
        o.unfused_instance.max_abs_error = 3e-6;
        o.wall_seconds = 1.5;
        o.prepare_seconds = 0.25;
        r.outcomes.push_back(std::move(o));
    }

    Fixture() {
        auto& h = r.host;
        h.hostname = "fixture-host";
        h.cpu_model = "Fixture CPU 9000";
        h.cpu_vendor = "GenuineIntel";
        h.physical_cores = 4;
        h.logical_cpus = 8;
        h.caches = {{1, "Data", 48 << 10, 2},
                    {1, "Instruction", 32 << 10, 2},
                    {2, "Unified", 2 << 20, 2},
                    {3, "Unified", 32 << 20, 8}};
        h.isa = {"avx2", "fma", "avx512f"};
        h.total_memory_bytes = 32ull << 30;
        h.os = "Fixture OS 1";
        h.kernel = "Linux 6.1 x86_64";
        h.compiler = "GNU 12.2.0";
        h.load_average = {0.5, 0.25, 0.125};
        h.cpufreq_governor = "performance";
        h.sustained_clock_ghz = 3.5;
        h.clock_readings_ghz = {3.5, 3.4};
        h.fma_pipes = 2;
        r.peaks.compute = {{"fp64", 224, "detected", "4 cores x 3.5 GHz x 16"},
                           {"fp32", 448, "detected", "4 cores x 3.5 GHz x 32"},
                           {"bf16", 1792, "detected", "avx512_bf16"},
                           {"int8", 3584, "detected", "vnni"}};
        r.started_at = "2026-03-04T05:06:07Z";
        r.wall_seconds = 42.5;
        r.complete = true;

        PluginRecord cpu = plugin("cpu", DeviceKind::cpu, "Fixture CPU 9000");
        cpu.cases.resize(14);
        PluginRecord gpu = plugin("gpu", DeviceKind::gpu, "Fixture GPU X");
        gpu.cases.resize(4);
        gpu.peaks = {{"fp32", 20000, 0, "sm x clock x 2"},
                     {"tf32", 80000, 0, "tensor cores"},
                     {"fp16", 160000, 0, "tensor cores"},
                     {"memory", 0, 2000, "hbm3 bus x clock"}};
        PluginRecord off = plugin("npu", DeviceKind::other, "Fixture NPU");
        off.device_available = false;
        off.unavailable_reason = "no device node";
        PluginRecord bad;
        bad.path = "/opt/calib/plugins/libbroken.so";
        bad.loaded = false;
        bad.reason_code = RejectReason::bad_table;
        bad.reason = "table too small";
        r.plugins = {cpu, gpu, off, bad};
        r.plugin_seconds = {{"cpu", 30.25}, {"gpu", 10.5}, {"npu", 0.0}};

        // CPU matmul: fp32 at two sizes, non-square fp32, fp64, bf16, int8, an unsupported fp8 and a crash.
        auto gf = [](const CaseInfo& c, double gflops) { return c.flops / (gflops * 1e9); };
        CaseInfo c;
        c = matmul("cpu_matmul_fp32_1024", "fp32", 1024, 1024, 1024);
        add("cpu", "Fixture CPU 9000", c, gf(c, 300));
        c = matmul("cpu_matmul_fp32_256", "fp32", 256, 256, 256);
        add("cpu", "Fixture CPU 9000", c, gf(c, 150)).placement_retry = "replaced";
        c = matmul("cpu_matmul_fp32_4096x512x1024", "fp32", 4096, 512, 1024);
        add("cpu", "Fixture CPU 9000", c, gf(c, 280));
        c = matmul("cpu_matmul_fp64_1024", "fp64", 1024, 1024, 1024);
        add("cpu", "Fixture CPU 9000", c, gf(c, 160));
        c = matmul("cpu_matmul_bf16_1024", "bf16", 1024, 1024, 1024);
        add("cpu", "Fixture CPU 9000", c, gf(c, 1900));  // above its peak: suspicious
        c = matmul("cpu_matmul_int8_2048", "int8", 2048, 2048, 2048);
        add("cpu", "Fixture CPU 9000", c, gf(c, 2500));
        add("cpu", "Fixture CPU 9000", matmul("cpu_matmul_fp8_1024", "fp8_e4m3", 1024, 1024, 1024), 0, "unsupported");
        add("cpu", "Fixture CPU 9000", matmul("cpu_matmul_fp16_1024", "fp16", 1024, 1024, 1024), 0, "crashed");
        // A compute operation outside the origin's list.
        CaseInfo custom;
        custom.name = "cpu_rope_4096";
        custom.family = Family::compute;
        custom.operation_type = "rope";
        custom.precision = "fp32";
        custom.shape = {4096, 128};
        custom.flops = 6.0 * 4096 * 128;
        custom.bytes = 8.0 * 4096 * 128;
        custom.params = {{"heads", "32"}};
        add("cpu", "Fixture CPU 9000", custom, custom.flops / 20e9);

        // GPU matmul: fp32 (fastest fp32: the primary device), tf32 math on fp32 storage, fp16.
        c = matmul("gpu_matmul_fp32_8192", "fp32", 8192, 8192, 8192);
        add("gpu", "Fixture GPU X", c, gf(c, 18000));
        c = matmul("gpu_matmul_tf32_8192", "fp32", 8192, 8192, 8192);
        c.params.emplace_back("math", "tf32");
        add("gpu", "Fixture GPU X", c, gf(c, 60000));
        c = matmul("gpu_matmul_fp16_8192", "fp16", 8192, 8192, 8192);
        add("gpu", "Fixture GPU X", c, gf(c, 120000));

        // Memory sweep: four kernels over working sets across L1, L2, L3 and DRAM.
        for (double ws : {24e3, 64e3, 1.5e6, 12e6, 16e6, 256e6, 1e9})
            for (const char* k : {"copy", "scale", "add", "triad"}) {
                const double gbps = ws < 48e3 ? 800 : ws < 3e6 ? 400 : ws < 24e6 ? 150 : 40;
                const double factor = k[0] == 'c' ? 1.0 : k[0] == 's' ? 0.95 : k[0] == 'a' ? 1.1 : 1.05;
                add("cpu", "Fixture CPU 9000", sweep(k, ws), ws / (gbps * factor * 1e9));
            }
        // The GPU's own sweep (the primary device's memory levels): L2-resident and HBM working sets.
        for (double ws : {12e6, 24e6, 200e6, 800e6})
            for (const char* k : {"copy", "triad"}) {
                CaseInfo g = sweep(k, ws);
                g.name = "gpu_" + g.name;
                g.operation_type = std::string("device_") + k;
                g.params = {{"kernel", k}, {"working_set_bytes", std::to_string(static_cast<int64_t>(ws))},
                            {"last_cache_bytes", "50000000"}, {"device_memory", "HBM"}};
                add("gpu", "Fixture GPU X", g, ws / ((ws < 50e6 ? 5000 : 1800) * 1e9));
            }
        // An origin memory record (a plain copy).
        CaseInfo copy;
        copy.name = "memory_copy_64MiB";
        copy.family = Family::memory;
        copy.operation_type = "add";
        copy.precision = "fp64";
        copy.shape = {8 << 20};
        copy.bytes = 2.0 * (64 << 20);
        copy.params = {{"operation", "memory_copy"}, {"size_mb", "64"}};
        add("cpu", "Fixture CPU 9000", copy, copy.bytes / 38e9);

        // Fusion: one pattern at two fp32 shapes and one bf16 shape, a second pattern at one shape,
        // and a pair that failed.
        fusion("Linear_Bias_ReLU", "fp32", 128, 1.0e-3, 1.4e-3);
        fusion("Linear_Bias_ReLU", "fp32", 512, 3.0e-3, 3.6e-3);
        fusion("Linear_Bias_ReLU", "bf16", 512, 2.0e-3, 2.1e-3);
        fusion("Linear_GELU", "fp32", 256, 2.0e-3, 1.9e-3);
        CaseOutcome& failed = add("cpu", "Fixture CPU 9000", matmul("Linear_SiLU_fused", "fp32", 64, 256, 256), 0,
                                  "verification_failed");
        failed.info.family = Family::fusion;
        failed.unfused = failed.info;
        failed.unfused->name = "Linear_SiLU_unfused";

        r.placement.probe = "cache-line ping-pong between CPU 0 and CPU 7";
        r.placement.initial_reference_ns = 25.5;
        r.placement.settle_seconds = 0.75;
        r.placement.reference_ns = 24.5;
        r.placement.probes = 120;
        r.placement.displaced_probes = 3;
        r.placement.wait_seconds = 1.25;
        r.placement.probe_seconds = 0.0625;
        r.placement.deferred_cases = 1;
        r.placement.stale_cases = 2;
        r.placement.steal_cases = 1;
        r.placement.retried_cases = 3;
        r.placement.replaced_cases = 1;
        r.placement.retry_seconds = 4.5;

        o.hardware_name = "Fixture Box";
        o.policy.min_samples = 12;
        o.policy.time_budget_seconds = 0.25;
    }
};

// Values that depend on the build or the environment, not on the run.
void mask(json::object& doc) {
    auto set = [](json::object& o, const char* k) {
        if (o.contains(k)) o[k] = kMasked;
    };
    auto& md = doc["metadata"].as_object();
    set(md, "calibration_date");
    set(md, "calibration_tool_version");
    set(md, "python_version");
    set(doc, "calib_version");
    set(doc["host"].as_object(), "libraries");
    auto& policy = doc["run"].as_object()["policy"].as_object();
    set(policy, "openmp_wait_policy");
    set(policy, "worker_environment");
}

json::value golden_doc(const Profile& p) {
    json::value v = to_json(p);
    mask(v.as_object());
    return v;
}

// The first difference between two JSON values (key sets and order, kinds, values), "" when equal.
std::string first_difference(const json::value& want, const json::value& got, const std::string& path) {
    const std::string at = path.empty() ? "<root>" : path;
    auto integer = [](const json::value& v) { return v.is_int64() || v.is_uint64(); };
    if (want.kind() != got.kind() && !(integer(want) && integer(got)))
        return at + ": expected " + json::serialize(want) + ", got " + json::serialize(got);
    if (want.is_object()) {
        const auto& w = want.get_object();
        const auto& g = got.get_object();
        auto wi = w.begin();
        auto gi = g.begin();
        for (; wi != w.end() && gi != g.end(); ++wi, ++gi) {
            if (wi->key() != gi->key())
                return at + ": expected key \"" + std::string(wi->key()) + "\", got \"" + std::string(gi->key()) + "\"";
            std::string d = first_difference(wi->value(), gi->value(), path + "." + std::string(wi->key()));
            if (!d.empty()) return d;
        }
        if (wi != w.end()) return at + ": missing key \"" + std::string(wi->key()) + "\"";
        if (gi != g.end()) return at + ": unexpected key \"" + std::string(gi->key()) + "\"";
        return "";
    }
    if (want.is_array()) {
        const auto& w = want.get_array();
        const auto& g = got.get_array();
        if (w.size() != g.size())
            return at + ": expected " + std::to_string(w.size()) + " elements, got " + std::to_string(g.size());
        for (std::size_t i = 0; i < w.size(); ++i) {
            std::string d = first_difference(w[i], g[i], path + "[" + std::to_string(i) + "]");
            if (!d.empty()) return d;
        }
        return "";
    }
    if (want.is_double()) {
        const double a = want.get_double(), b = got.get_double();
        if (a == b || std::fabs(a - b) <= 1e-12 * std::max(std::fabs(a), std::fabs(b))) return "";
    } else if (want == got) {
        return "";
    }
    return at + ": expected " + json::serialize(want) + ", got " + json::serialize(got);
}

std::string read_text(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

TEST_CASE("golden: a fixture run's profile is field for field the checked-in expectation", "[run][golden]") {
    Fixture f;
    const Profile p = build_profile(f.r, f.o);
    const json::value got = golden_doc(p);
    if (std::getenv("CALIB_UPDATE_GOLDEN") != nullptr) {
        save_text_atomic(kGolden, pretty_print(got));
        WARN("rewrote " << kGolden.string());
    }
    const std::string text = read_text(kGolden);
    REQUIRE(!text.empty());
    const json::value want = json::parse(text);
    INFO("first difference: " << first_difference(want, got, ""));
    CHECK(first_difference(want, got, "").empty());
    // Byte for byte as well: the same printer, the same keys in the same order, the same values.
    CHECK(pretty_print(got) == text);
}

TEST_CASE("golden: the expectation reads back and writes out unchanged", "[run][golden]") {
    const std::string text = read_text(kGolden);
    const Profile back = parse_profile(text);
    CHECK(to_json_text(back) == text);
    CHECK(validate(json::parse(text)).empty());
}
