// calib's typed sections (profile_sections.hpp): the reader and the writer of each section are driven
// by one field table, so reading a profile's sections and writing them back gives the same JSON.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "calib/core/profile_sections.hpp"

using namespace calib::core;
namespace json = boost::json;

namespace {

// The golden profile (test_profile_golden.cpp) with its masked worker environment filled back in.
Profile golden() {
    std::ifstream in(std::filesystem::path(CALIB_SOURCE_DIR) / "tests/data/golden_profile.json", std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    Profile p = parse_profile(ss.str());
    auto& policy = p.extensions["run"].as_object()["policy"].as_object();
    policy["worker_environment"] = json::object{{"OMP_WAIT_POLICY", "active"}, {"OMP_PROC_BIND", "false"}};
    return p;
}

}  // namespace

TEST_CASE("sections: calib's typed sections read back and write out the same JSON", "[run][sections]") {
    const Profile p = golden();
    Profile q = p;
    q.extensions = json::object{{"x_vendor_note", "kept after calib's sections"}};
    write_sections(read_sections(p), q);
    q.precision_matrix = to_json(read_precision_matrix(p));
    Profile want = p;
    want.extensions["x_vendor_note"] = "kept after calib's sections";
    CHECK(to_json_text(q) == to_json_text(want));
}

TEST_CASE("sections: the typed view says what the JSON says", "[run][sections]") {
    const Profile p = golden();
    const CalibSections s = read_sections(p);
    REQUIRE(s.run.has_value());
    CHECK(s.run->policy.placement.probes == 120);
    CHECK(s.run->policy.worker_environment.size() == 2);
    REQUIRE(s.plugins.size() == 4);
    CHECK(s.plugins[3].reason_code == std::optional<std::string>("bad_table"));
    CHECK(s.plugins[2].unavailable_reason == std::optional<std::string>("no device node"));
    CHECK(!s.plugins[0].reason.has_value());
    // The primary device's levels: the GPU's L2 and HBM (the CPU's sweep stays in memory_sweep).
    REQUIRE(s.memory_hierarchy.levels.size() == 2);
    CHECK(s.memory_hierarchy.levels[0].name == "L2");
    CHECK(s.memory_hierarchy.levels[1].name == "HBM");
    CHECK(s.memory_hierarchy.device == std::optional<std::string>("Fixture GPU X"));
    CHECK(s.failed_cases.size() == 3);
    REQUIRE(s.precision_support.has_value());
    CHECK(s.precision_support->back().first == "tf32");
    CHECK(read_precision_matrix(p).supported_precisions ==
          std::vector<std::string>{"bf16", "fp16", "fp32", "fp64", "int8"});
}

TEST_CASE("sections: a section of the wrong type reads as its defaults", "[run][sections]") {
    Profile p;
    p.extensions["run"] = "not an object";
    p.extensions["plugins"] = json::array{1, json::object{{"status", "rejected"}, {"path", 7}}};
    const CalibSections s = read_sections(p);
    CHECK(!s.run.has_value());
    REQUIRE(s.plugins.size() == 1);
    CHECK(s.plugins[0].status == "rejected");
    CHECK(s.plugins[0].path.empty());
}

TEST_CASE("sections: a record's extra_params read as calib's typed parts", "[run][sections]") {
    const Profile p = golden();
    const OperationRecord* tf32 = nullptr;
    const OperationRecord* rope = nullptr;
    for (const auto& [k, r] : p.operation_profiles) {
        if (k == "matmul_math=tf32_matrix_size=8192_large") tf32 = &r;
        if (k == "unknown_heads=32") rope = &r;
    }
    REQUIRE(tf32 != nullptr);
    REQUIRE(rope != nullptr);
    const OperationExtras x = read_extras(*tf32);
    CHECK(x.origin.precision == "fp32");  // storage; the math is in the case's own "math" param
    CHECK(x.origin.plugin == "gpu");
    CHECK(x.instance.implementation == "cublasLt");
    CHECK(x.samples.samples == 12);
    CHECK(x.judgement.peak_source == "plugin");
    CHECK(x.judgement.peak_gflops.has_value());
    CHECK(!x.judgement.peak_bandwidth_gbps.has_value());
    CHECK(read_extras(*rope).origin.operation == std::optional<std::string>("rope"));
    const FusionExtras f = read_extras(p.fusion_profiles.front().second);
    CHECK(f.fused_implementation == "fused_kernel");
    CHECK(f.speedup_ci_low.has_value());
    const SweepPointFacts s = read_sweep_point(p.extensions.at("memory_sweep").as_array().front().as_object());
    CHECK(s.operation == "stream_copy");
    CHECK(s.samples.samples == 12);
}
