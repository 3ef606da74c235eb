// The CUDA plugin's device state (ABI 1.1 read_device_state through NVML) and its sustained cases,
// without a GPU: NVML's throttle reason bits as CALIB_THROTTLE_*, one sustained GEMM per math, and
// read_state answering nothing where there is no NVML or no GPU.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>

#include "cuda_plugin.hpp"
#include "nvml.hpp"

using namespace calib::cuda;

TEST_CASE("NVML throttle reasons map to CALIB_THROTTLE_* bits, idle is not throttling", "[cuda][state]") {
    CHECK(throttle_from_nvml(0) == 0);
    CHECK(throttle_from_nvml(0x1) == 0);  // GPU idle
    CHECK(throttle_from_nvml(0x2) == CALIB_THROTTLE_CLOCK_LIMIT);  // applications clocks setting
    CHECK(throttle_from_nvml(0x4) == CALIB_THROTTLE_POWER_CAP);    // SW power cap
    CHECK(throttle_from_nvml(0x8) == CALIB_THROTTLE_HW_SLOWDOWN);  // HW slowdown
    CHECK(throttle_from_nvml(0x10) == CALIB_THROTTLE_OTHER);       // sync boost
    CHECK(throttle_from_nvml(0x20) == CALIB_THROTTLE_THERMAL);     // SW thermal slowdown
    CHECK(throttle_from_nvml(0x40) == CALIB_THROTTLE_THERMAL);     // HW thermal slowdown
    CHECK(throttle_from_nvml(0x80) == CALIB_THROTTLE_HW_SLOWDOWN); // HW power brake
    CHECK(throttle_from_nvml(0x100) == CALIB_THROTTLE_OTHER);      // display clock setting
    CHECK(throttle_from_nvml(0x8000000000000000ull) == CALIB_THROTTLE_OTHER);  // unknown
    CHECK(throttle_from_nvml(0x1 | 0x4) == CALIB_THROTTLE_POWER_CAP);
    CHECK(throttle_from_nvml(0x4 | 0x20 | 0x80) ==
          (CALIB_THROTTLE_POWER_CAP | CALIB_THROTTLE_THERMAL | CALIB_THROTTLE_HW_SLOWDOWN));
    CHECK(throttle_from_nvml(0x1ff) == (CALIB_THROTTLE_POWER_CAP | CALIB_THROTTLE_THERMAL |
                                        CALIB_THROTTLE_HW_SLOWDOWN | CALIB_THROTTLE_CLOCK_LIMIT |
                                        CALIB_THROTTLE_OTHER));
}

TEST_CASE("exactly one sustained case per math: its largest square matmul", "[cuda][state]") {
    DeviceFacts d;
    d.cc_major = 9;
    d.l2_bytes = 50 << 20;
    std::map<std::string, std::string> sustained;  // math -> case
    std::map<std::string, int64_t> largest;        // math -> largest square matmul size
    for (const auto& e : build_cases(d)) {
        const auto& c = e.spec;
        if (c.sustained) {
            REQUIRE(e.def.kind == Kind::gemm);
            CHECK(sustained.count(e.def.math) == 0);
            sustained[e.def.math] = c.name;
        }
        if (e.def.kind == Kind::gemm && e.def.m == e.def.k && e.def.k == e.def.n)
            largest[e.def.math] = std::max(largest[e.def.math], e.def.n);
    }
    for (const std::string math : {"fp32", "tf32", "bf16", "fp16", "fp8_e4m3"}) {
        INFO(math);
        REQUIRE(largest.count(math) == 1);
        CHECK(largest[math] == 8192);
        CHECK(sustained[math] == "matmul_" + math + "_" + std::to_string(largest[math]));
    }
    CHECK(sustained.size() == 5);
    for (const auto& e : transfer_cases(8)) CHECK_FALSE(e.spec.sustained);
}

TEST_CASE("the sustained flag reaches the host as CALIB_CASE_SUSTAINED", "[cuda][state]") {
    const calib_plugin_api* api = calib::sdk::make_api<CudaPlugin>("t", "t", "0", "t", "t");
    char buf[512] = {};
    calib_message err{buf, sizeof buf};
    void* ctx = nullptr;
    REQUIRE(api->init(nullptr, &ctx, err) == CALIB_OK);
    int sustained = 0;
    for (uint32_t i = 0; i < api->case_count(ctx); ++i) {
        calib_case_info info{};
        info.struct_size = sizeof info;
        REQUIRE(api->get_case(ctx, i, &info, err) == CALIB_OK);
        if ((info.flags & CALIB_CASE_SUSTAINED) != 0) {
            ++sustained;
            CHECK(std::string(info.name).substr(0, 7) == "matmul_");
        }
    }
    CHECK(sustained == 5);
    api->shutdown(ctx);
}

TEST_CASE("read_state: nothing to read without NVML or a GPU, never out of range", "[cuda][state]") {
    CudaPlugin plugin;
    calib::sdk::DeviceState st;
    const auto devices = plugin.devices();
    CHECK_FALSE(plugin.read_state(static_cast<uint32_t>(devices.size()), st));
    CHECK(st.valid == 0);
    CHECK_FALSE(read_nvml_state(nullptr, st));
    CHECK(st.valid == 0);
    std::string why;
    if (nvml_device(devices.front().bus_id, &why) != nullptr) {
        // A GPU with NVML: device 0 reads, and every valid field holds a plausible value.
        REQUIRE(plugin.read_state(0, st));
        CHECK(st.valid != 0);
        if ((st.valid & CALIB_STATE_ENERGY) != 0) CHECK(st.energy_joules > 0);
        if ((st.valid & CALIB_STATE_CLOCKS) != 0) CHECK(st.sm_clock_mhz > 0);
        if ((st.valid & CALIB_STATE_POWER) != 0) CHECK(st.power_watts > 0);
        return;
    }
    CHECK_FALSE(why.empty());
    for (uint32_t d = 0; d < devices.size(); ++d) {
        INFO(d);
        CHECK_FALSE(plugin.read_state(d, st));
        CHECK(st.valid == 0);
    }
    // Through the C ABI a 1.1 host sees CALIB_UNSUPPORTED.
    const calib_plugin_api* api = calib::sdk::make_api<CudaPlugin>("t", "t", "0", "t", "t");
    char buf[512] = {};
    calib_message err{buf, sizeof buf};
    void* ctx = nullptr;
    REQUIRE(api->init(nullptr, &ctx, err) == CALIB_OK);
    REQUIRE(api->read_device_state != nullptr);
    calib_device_state s{};
    s.struct_size = sizeof s;
    CHECK(api->read_device_state(ctx, 0, &s) == CALIB_UNSUPPORTED);
    CHECK(s.valid == 0);
    api->shutdown(ctx);
}
