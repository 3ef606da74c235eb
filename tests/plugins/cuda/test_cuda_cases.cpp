// The CUDA plugin's case list, peaks and its behaviour without a usable GPU (CI has none).
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "attention.cuh"
#include "cuda_plugin.hpp"

using namespace calib::cuda;

namespace {

std::string param(const calib::sdk::CaseSpec& c, const std::string& key) {
    for (const auto& [k, v] : c.params)
        if (k == key) return v;
    return {};
}

DeviceFacts h100() {
    DeviceFacts d;
    d.available = true;
    d.name = "test H100";
    d.cc_major = 9;
    d.cc_minor = 0;
    d.sm_count = 132;
    d.clock_khz = 1830000;
    d.mem_clock_khz = 2619000;
    d.bus_width_bits = 5120;
    d.l2_bytes = 40 << 20;
    return d;
}

}  // namespace

TEST_CASE("case names are unique and precisions come from the origin list", "[cuda]") {
    const std::set<std::string> origin = {"fp64", "fp32", "fp16", "fp8", "fp8_e4m3", "fp8_e5m2", "fp4", "bf16",
                                          "int32", "int16", "int8", "int4"};
    std::set<std::string> names;
    std::set<std::string> maths;
    for (const auto& e : build_cases(h100())) {
        CHECK(names.insert(e.spec.name).second);
        CHECK(origin.count(e.spec.precision) == 1);
        if (e.def.kind == Kind::gemm) {
            maths.insert(param(e.spec, "math"));
            // tf32 is fp32 storage; the math param and the name tell it apart.
            if (e.def.math == "tf32") {
                CHECK(e.spec.precision == "fp32");
                CHECK(e.spec.name.find("tf32") != std::string::npos);
            }
            CHECK(e.spec.flops == Approx(2.0 * e.def.m * e.def.k * e.def.n));
        }
    }
    CHECK(maths == std::set<std::string>{"fp32", "tf32", "bf16", "fp16", "fp8_e4m3"});
    CHECK(names.count("matmul_bf16_8192") == 1);
    CHECK(names.count("matmul_fp16_128x4096x4096") == 1);
}

TEST_CASE("fusion cases come in fused/unfused pairs sharing a group", "[cuda]") {
    std::map<std::string, std::vector<calib::sdk::CaseSpec>> groups;
    for (const auto& e : build_cases(h100()))
        if (e.spec.family == CALIB_FAMILY_FUSION) groups[e.spec.fusion_group].push_back(e.spec);
    // Linear: patterns x shapes x {fp32, bf16}; FullAttention: shapes x {bf16, fp16}.
    REQUIRE(groups.size() == 3 * 5 * 2 + 7 * 2);
    CHECK(groups.count("Linear_Bias_GELU_bf16_8192x4096x4096") == 1);
    CHECK(groups.count("FullAttention_bf16_16x4096x64") == 1);
    for (const auto& [group, cs] : groups) {
        REQUIRE(cs.size() == 2);
        const auto& f = cs[0].fusion_role == CALIB_ROLE_FUSED ? cs[0] : cs[1];
        const auto& u = cs[0].fusion_role == CALIB_ROLE_FUSED ? cs[1] : cs[0];
        CHECK(f.fusion_role == CALIB_ROLE_FUSED);
        CHECK(u.fusion_role == CALIB_ROLE_UNFUSED);
        CHECK(f.fusion_pattern == u.fusion_pattern);
        CHECK(f.shape == u.shape);
        CHECK(f.flops == u.flops);    // fusion changes traffic, not arithmetic
        CHECK(f.bytes < u.bytes);
        CHECK(f.name == group + "_fused");
        const std::string ops = param(u, "operators");
        CHECK((ops.rfind("matmul,add", 0) == 0 || ops == "matmul,mul,softmax,matmul"));
        CHECK(param(u, "num_operators") == std::to_string(1 + std::count(ops.begin(), ops.end(), ',')));
    }
}

TEST_CASE("FullAttention cases match the CPU fused_attention plugin's keys and count like it", "[cuda]") {
    std::map<std::string, CaseEntry> by_name;
    for (const auto& e : build_cases(h100()))
        if (e.spec.fusion_pattern == "FullAttention") by_name.emplace(e.spec.name, e);
    REQUIRE(by_name.size() == 7 * 2 * 2);  // shapes x {bf16, fp16} x {fused, unfused}

    const auto& f = by_name.at("FullAttention_bf16_8x1024x64_fused").spec;
    const auto& u = by_name.at("FullAttention_bf16_8x1024x64_unfused").spec;
    CHECK(f.family == CALIB_FAMILY_FUSION);
    CHECK(f.operation_type == "attention");
    CHECK(f.precision == "bf16");
    CHECK(f.shape == std::vector<int64_t>{8, 1024, 64});
    CHECK(f.fusion_group == "FullAttention_bf16_8x1024x64");
    CHECK(u.fusion_group == f.fusion_group);
    CHECK(f.fusion_role == CALIB_ROLE_FUSED);
    CHECK(u.fusion_role == CALIB_ROLE_UNFUSED);
    // Key params as the CPU plugin's, so the profile key is FullAttention@8x1024x64@bf16 from both.
    CHECK(param(f, "batch") == "8");
    CHECK(param(f, "seq_len") == "1024");
    CHECK(param(f, "head_dim") == "64");
    CHECK(param(u, "operators") == "matmul,mul,softmax,matmul");
    CHECK(param(u, "num_operators") == "4");
    // FLOPs 4 B S^2 D; bytes (2-byte elements): fused Q, K, V, O; unfused also S and P written and read.
    const double x = 8.0 * 1024 * 64, p = 8.0 * 1024 * 1024;
    CHECK(f.flops == Approx(8.0 * (4.0 * 1024 * 1024 * 64 + 6.0 * 1024 * 1024)));  // as the CPU plugin counts
    CHECK(u.flops == f.flops);
    CHECK(f.bytes == Approx(4 * x * 2));
    CHECK(u.bytes == Approx((4 * x + 4 * p) * 2));
    CHECK(attention_bytes(8, 1024, 64, 2, CALIB_ROLE_UNFUSED) == u.bytes);

    const auto& e = by_name.at("FullAttention_fp16_16x4096x64_unfused");
    CHECK(e.def.kind == Kind::attention);
    CHECK(e.def.pattern == Pattern::full_attention);
    CHECK(e.def.math == "fp16");
    CHECK(e.def.m == 16);
    CHECK(e.def.k == 4096);
    CHECK(e.def.n == 64);
    CHECK(e.def.role == CALIB_ROLE_UNFUSED);

    // The CPU plugin's four shapes are all there; the quick one is its quick one (4x256x64), bf16 only.
    for (const char* s : {"1x128x64", "4x256x64", "8x512x64", "8x1024x64", "32x1024x64", "32x2048x64", "16x4096x64"})
        for (const char* prec : {"bf16", "fp16"})
            CHECK(by_name.count(std::string("FullAttention_") + prec + "_" + s + "_fused") == 1);
    std::set<std::string> quick;
    for (const auto& [name, c] : by_name)
        if (c.spec.quick) quick.insert(name);
    CHECK(quick == std::set<std::string>{"FullAttention_bf16_4x256x64_fused", "FullAttention_bf16_4x256x64_unfused"});
}

TEST_CASE("the fused attention kernel's launch shape fills an H100 and refuses what it cannot run", "[cuda]") {
    const auto cfg = [](int64_t b, int64_t s) {
        const FlashConfig c = flash_attn_config(b, s, 64, 132);
        return std::make_pair(c.block_rows, c.splits);
    };
    // 128 rows once B * S / 128 covers the 132 SMs; below, 64 rows and the keys split over warps.
    CHECK(cfg(32, 1024) == std::make_pair(128, 1));
    CHECK(cfg(32, 2048) == std::make_pair(128, 1));
    CHECK(cfg(16, 4096) == std::make_pair(128, 1));
    CHECK(cfg(8, 1024) == std::make_pair(64, 2));
    CHECK(cfg(8, 512) == std::make_pair(64, 4));
    CHECK(cfg(4, 256) == std::make_pair(64, 4));
    CHECK(cfg(1, 128) == std::make_pair(64, 2));  // a split takes whole 64-key tiles: 128 keys, 2 splits
    CHECK(cfg(1, 64) == std::make_pair(64, 1));
    CHECK(cfg(3, 192) == std::make_pair(64, 1));  // 192 keys: 3 tiles, no even split
    CHECK(flash_attn_config(8, 1024, 128, 132).block_rows == 0);  // head_dim 64 only
    CHECK(flash_attn_config(8, 1000, 64, 132).block_rows == 0);   // seq_len a multiple of 64
}

TEST_CASE("bandwidth sizes run from L2-resident to at least 4x the L2", "[cuda]") {
    const DeviceFacts d = h100();
    std::map<std::string, std::pair<double, double>> range;  // operation -> min, max working set
    for (const auto& e : build_cases(d)) {
        if (e.spec.family != CALIB_FAMILY_MEMORY) continue;
        CHECK(e.def.array_bytes % (1 << 16) == 0);  // whole 16-byte vectors and aligned tiles
        const double ws = std::stod(param(e.spec, "working_set_bytes"));
        CHECK(e.spec.bytes == ws);
        CHECK(std::stod(param(e.spec, "last_cache_bytes")) == static_cast<double>(d.l2_bytes));
        CHECK((param(e.spec, "kernel") == "copy" || param(e.spec, "kernel") == "triad"));
        auto [it, fresh] = range.emplace(e.spec.operation_type, std::make_pair(ws, ws));
        it->second.first = std::min(it->second.first, ws);
        it->second.second = std::max(it->second.second, ws);
    }
    REQUIRE(range.size() == 3);
    for (const auto& [op, r] : range) {
        INFO(op);
        CHECK(r.first <= static_cast<double>(d.l2_bytes) / 2);
        CHECK(r.second >= 4.0 * static_cast<double>(d.l2_bytes));
    }
}

TEST_CASE("Hopper peaks follow NVIDIA's published H100 SXM figures", "[cuda]") {
    // 989.4 dense bf16 TFLOP/s and 3.35 TB/s at these attribute values.
    std::map<std::string, calib::sdk::Peak> by;
    for (const auto& p : device_peaks(h100())) by[p.precision] = p;
    CHECK(by.at("bf16").gflops == Approx(989.4e3).epsilon(0.01));
    CHECK(by.at("tf32").gflops == Approx(by.at("bf16").gflops / 2));
    CHECK(by.at("fp8_e4m3").gflops == Approx(by.at("bf16").gflops * 2));
    CHECK(by.at("memory").bandwidth_gbps == Approx(3352.3).epsilon(0.001));
    CHECK(by.at("bf16").formula.find("132 SMs") != std::string::npos);
    CHECK(flops_per_sm_clock(7, 5, "bf16") == 0);  // not tabulated: no invented peak
    DeviceFacts none;
    CHECK(device_peaks(none).empty());
}

TEST_CASE("without a usable GPU the plugin loads, says why, and refuses to prepare", "[cuda]") {
    const DeviceFacts d = probe_device();
    if (d.available) {
        SUCCEED("a usable GPU is present; the unavailable path is not exercised");
        return;
    }
    CHECK_FALSE(d.reason.empty());
    const calib_plugin_api* api = calib::sdk::make_api<CudaPlugin>("t", "t", "0", "t", "t");
    char buf[512] = {};
    calib_message err{buf, sizeof buf};
    void* ctx = nullptr;
    REQUIRE(api->init(nullptr, &ctx, err) == CALIB_OK);
    calib_device_info info{};
    info.struct_size = sizeof info;
    REQUIRE(api->get_device(ctx, &info) == CALIB_OK);
    CHECK(info.kind == CALIB_DEVICE_GPU);
    CHECK(info.available == 0);
    CHECK(std::string(info.unavailable_reason) == d.reason);
    REQUIRE(api->case_count(ctx) > 0);  // listing still works
    void* inst = nullptr;
    CHECK(api->prepare(ctx, 0, &inst, err) == CALIB_UNAVAILABLE);
    CHECK(inst == nullptr);
    uint32_t count = 99;
    CHECK(api->get_peaks(ctx, nullptr, 0, &count) == CALIB_OK);
    CHECK(count == 0);
    api->shutdown(ctx);
}
