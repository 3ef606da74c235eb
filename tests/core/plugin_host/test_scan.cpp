#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <random>

#include "calib/abi.h"
#include "fixtures.hpp"

namespace fs = std::filesystem;
using calib::core::Family;
using calib::core::FusionRole;
using calib::core::PluginRecord;
using calib::core::RejectReason;
using calib::core::scan_plugin;
using calib::test::fixture;
using calib::test::worker_options;

namespace {

PluginRecord scan(const std::string& variant) { return scan_plugin(fixture(variant), worker_options()); }

void require_rejected(const PluginRecord& r, RejectReason why) {
    INFO("reason: " << r.reason);
    REQUIRE_FALSE(r.loaded);
    REQUIRE(r.reason_code == why);
    REQUIRE_FALSE(r.reason.empty());
    REQUIRE(r.cases.empty());
}

}  // namespace

TEST_CASE("scan: the good fixture loads with metadata, device, cases and peaks", "[scan]") {
    PluginRecord r = scan("good");
    INFO(r.reason);
    REQUIRE(r.loaded);
    CHECK(r.reason_code == RejectReason::none);
    CHECK(r.path == fixture("good").string());
    CHECK(r.id == "org.calib.fixture");
    CHECK(r.name == "fixture");
    CHECK(r.version == "1.2.3");
    CHECK(r.vendor == "calib tests");
    CHECK(r.abi_major == CALIB_ABI_VERSION_MAJOR);
    CHECK(r.abi_minor == 0);  // the C fixture is an ABI 1.0 plugin
    CHECK(r.device_kind == calib::core::DeviceKind::cpu);
    REQUIRE(r.devices.size() == 1);
    CHECK(r.devices[0].name == "fixture cpu");
    for (const auto& c : r.cases) CHECK(c.devices.empty());
    CHECK(r.device_name == "fixture cpu");
    CHECK(r.device_available);

    REQUIRE(r.cases.size() == 3);
    const auto& c0 = r.cases[0];
    CHECK(c0.index == 0);
    CHECK(c0.name == "busy_loop");
    CHECK(c0.family == Family::compute);
    CHECK(c0.operation_type == "matmul");
    CHECK(c0.precision == "fp32");
    CHECK(c0.shape == std::vector<int64_t>{64, 64, 64});
    CHECK(c0.flops == 2.0 * 64 * 64 * 64);
    CHECK(c0.quick);
    CHECK(c0.fusion_role == FusionRole::none);
    CHECK(c0.fusion_pattern.empty());
    CHECK(c0.params == calib::core::ParamList{{"matrix_size", "64"}, {"note", "fixture"}});
    CHECK(r.cases[1].family == Family::fusion);
    CHECK(r.cases[1].fusion_role == FusionRole::fused);
    CHECK(r.cases[2].fusion_role == FusionRole::unfused);
    CHECK(r.cases[1].fusion_group == r.cases[2].fusion_group);
    CHECK(r.cases[1].fusion_pattern == "Linear_Bias_ReLU");
    CHECK(r.cases[2].shape.back() == 66);
    CHECK_FALSE(r.cases[2].quick);

    REQUIRE(r.peaks.size() == 1);
    CHECK(r.peaks[0].precision == "fp32");
    CHECK(r.peaks[0].gflops == 12.5);
    CHECK(r.peaks[0].formula == "fixture: 12.5 by decree");
}

TEST_CASE("scan: a newer minor with a larger table loads", "[scan]") {
    PluginRecord r = scan("newer_minor");
    INFO(r.reason);
    REQUIRE(r.loaded);
    CHECK(r.abi_minor == CALIB_ABI_VERSION_MINOR + 1);
    CHECK(r.cases.size() == 3);
    CHECK(r.peaks.size() == 1);
}

TEST_CASE("scan: an unavailable device still loads, with the reason", "[scan]") {
    PluginRecord r = scan("unavailable");
    REQUIRE(r.loaded);
    CHECK_FALSE(r.device_available);
    CHECK(r.unavailable_reason == "fixture device absent");
    CHECK(r.cases.size() == 3);
}

TEST_CASE("scan: the C++ helper plugin loads", "[scan]") {
    PluginRecord r = scan("cpp");
    INFO(r.reason);
    REQUIRE(r.loaded);
    CHECK(r.id == "org.calib.fixture.cpp");
    REQUIRE(r.cases.size() == 4);
    CHECK(r.cases[1].precision == "bf16");
}

TEST_CASE("scan: table and negotiation failures are rejected with the right reason", "[scan]") {
    SECTION("no entry symbol") {
        PluginRecord r = scan("no_entry");
        require_rejected(r, RejectReason::no_entry_symbol);
        CHECK_THAT(r.reason, Catch::Contains("calib_plugin_entry"));
    }
    SECTION("ABI major too new") {
        PluginRecord r = scan("abi_major");
        require_rejected(r, RejectReason::abi_major_mismatch);
        CHECK_THAT(r.reason, Catch::Contains("plugin ABI " + std::to_string(CALIB_ABI_VERSION_MAJOR + 1) + "."));
    }
    SECTION("table too small") {
        require_rejected(scan("small_table"), RejectReason::bad_table);
    }
    SECTION("init fails") {
        PluginRecord r = scan("init_error");
        require_rejected(r, RejectReason::init_failed);
        CHECK_THAT(r.reason, Catch::Contains("fixture init refused: no widget attached"));
        CHECK_THAT(r.reason, Catch::Contains("status 7"));
    }
}

TEST_CASE("scan: crash, hang and exit in a load-time constructor", "[scan]") {
    SECTION("crash") {
        PluginRecord r = scan("ctor_crash");
        require_rejected(r, RejectReason::crashed);
        CHECK_THAT(r.reason, Catch::Contains("killed by signal 11 (SIGSEGV)"));
    }
    SECTION("hang is cut at the scan timeout") {
        auto t0 = std::chrono::steady_clock::now();
        PluginRecord r = scan_plugin(fixture("ctor_hang"), worker_options(0.5));
        double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        require_rejected(r, RejectReason::timed_out);
        CHECK(took >= 0.5);
        CHECK(took < 5.0);
    }
    SECTION("exit") {
        PluginRecord r = scan("ctor_exit");
        require_rejected(r, RejectReason::exited);
        CHECK_THAT(r.reason, Catch::Contains("exited with status 0"));
    }
}

TEST_CASE("scan: files that are not libraries", "[scan]") {
    calib::test::TempDir dir;
    std::ofstream(dir / "a.so").close();
    std::ofstream(dir / "b.so") << "this is text, not ELF\n";
    {
        std::ofstream c(dir / "c.so", std::ios::binary);
        std::mt19937 rng(7);
        for (int i = 0; i < 4096; ++i) c.put(static_cast<char>(rng()));
    }
    for (const char* name : {"a.so", "b.so", "c.so", "missing.so"}) {
        INFO(name);
        PluginRecord r = scan_plugin(dir / name, worker_options());
        require_rejected(r, RejectReason::not_a_library);
    }
}

TEST_CASE("scan never throws, even when the worker cannot start", "[scan]") {
    auto o = worker_options();
    o.host_executable = "/nonexistent/calib-host";
    PluginRecord r;
    REQUIRE_NOTHROW(r = scan_plugin(fixture("good"), o));
    require_rejected(r, RejectReason::exited);
    CHECK_THAT(r.reason, Catch::Contains("127"));
}
