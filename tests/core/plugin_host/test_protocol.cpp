#include <catch2/catch.hpp>

#include <cstring>

#include "../../../core/src/plugin_host/protocol.hpp"

using namespace calib::core;

TEST_CASE("protocol: a record survives encode/decode", "[protocol]") {
    PluginRecord in;
    in.id = "org.x";
    in.name = "x";
    in.version = "1";
    in.abi_major = 1;
    in.abi_minor = 3;
    in.device_kind = DeviceKind::gpu;
    in.device_name = "gpu0";
    in.device_available = false;
    in.unavailable_reason = "no driver";
    CaseInfo c;
    c.index = 4;
    c.name = "conv";
    c.family = Family::fusion;
    c.shape = {1, -2, 3};
    c.flops = 1.5e9;
    c.fusion_role = FusionRole::unfused;
    c.quick = true;
    c.params = {{"k", "v"}, {"", ""}};
    in.cases = {c, CaseInfo{}};
    in.peaks = {{"memory", 0, 900.5, "f"}};

    wire::Writer w(wire::Type::opened);
    wire::put_record(w, in);
    std::string frame = w.finish();
    uint32_t n = 0;
    std::memcpy(&n, frame.data(), 4);
    REQUIRE(n == frame.size() - 4);
    REQUIRE(static_cast<wire::Type>(frame[4]) == wire::Type::opened);

    wire::Reader r(std::string_view(frame).substr(5));
    PluginRecord out;
    wire::get_record(r, out);
    r.expect_end();
    CHECK(out.id == in.id);
    CHECK(out.abi_minor == 3);
    CHECK(out.device_kind == DeviceKind::gpu);
    CHECK_FALSE(out.device_available);
    CHECK(out.unavailable_reason == "no driver");
    REQUIRE(out.cases.size() == 2);
    CHECK(out.cases[0].index == 4);
    CHECK(out.cases[0].shape == c.shape);
    CHECK(out.cases[0].flops == 1.5e9);
    CHECK(out.cases[0].fusion_role == FusionRole::unfused);
    CHECK(out.cases[0].quick);
    CHECK(out.cases[0].params == c.params);
    REQUIRE(out.peaks.size() == 1);
    CHECK(out.peaks[0].bandwidth_gbps == 900.5);

    // Every truncation is detected, never read past the end.
    std::string_view body = std::string_view(frame).substr(5);
    for (std::size_t cut = 0; cut < body.size(); cut += 7) {
        wire::Reader t(body.substr(0, cut));
        PluginRecord tmp;
        CHECK_THROWS_AS(wire::get_record(t, tmp), wire::ProtocolError);
    }
}

TEST_CASE("protocol: out-of-range enums are rejected", "[protocol]") {
    wire::Writer w(wire::Type::opened);
    w.str("").str("").str("").str("").str("").u16(1).u16(0).u8(9);  // device kind 9
    std::string frame = w.finish();
    wire::Reader r(std::string_view(frame).substr(5));
    PluginRecord out;
    CHECK_THROWS_AS(wire::get_record(r, out), wire::ProtocolError);
}
