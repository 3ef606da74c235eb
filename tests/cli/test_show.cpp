// `show` says what was not measured instead of printing zeros that read as measurements.
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "cli_util.hpp"

using namespace calib::test;
namespace json = boost::json;

TEST_CASE("show: a profile with no compute and no memory records says what was not measured", "[cli][show]") {
    Scratch dir;
    const auto out = (dir / "fusion_only.json").string();
    // A vendor's first run: one fusion plugin, nothing else.
    auto r = host(std::string("--plugins ") + CALIB_PLUGIN_DIR + " --no-default-plugins --quiet --time-budget 0.05" +
                  " --filter '^Linear_Bias_ReLU_fp32_128x512x512_' --output " + out);
    REQUIRE(r.exit_code == 0);
    auto doc = json::parse(slurp(out)).as_object();
    // What the consumers read as "not measured": 0.0, never null (their mappers fail on null).
    CHECK(doc.at("best_measured_gflops").as_double() == 0.0);
    CHECK(doc.at("measured_bandwidth_gbps").as_double() == 0.0);
    auto s = host("show " + out);
    CHECK(s.exit_code == 0);
    CHECK(s.out.find("GFLOPS best/avg/worst: not measured") != std::string::npos);
    CHECK(s.out.find("Memory bandwidth: not measured") != std::string::npos);
    CHECK(s.out.find("0.0 / 0.0 / 0.0") == std::string::npos);
    CHECK(s.out.find("0.0 GB/s") == std::string::npos);
}

TEST_CASE("show: the device, framework and clock the consumers file a profile under", "[cli][show]") {
    auto s = host("show " + (fs::path(CALIB_SOURCE_DIR) / "profiles" / "nvidia_h200.json").string());
    CHECK(s.exit_code == 0);
    CHECK(s.out.find("Device type cuda, x86_64, framework cublaslt, SM clock") != std::string::npos);
    CHECK(s.out.find("Memory bandwidth (HBM copy)") != std::string::npos);
    CHECK(s.out.find("Efficiency curves") != std::string::npos);
}

TEST_CASE("show: cases failing alike make one warning with their count, others one each", "[cli][show]") {
    Scratch dir;
    auto doc = json::parse(slurp(sample_profile())).as_object();
    json::array failed;
    for (int i = 0; i < 3; ++i)
        failed.push_back(json::object{{"plugin", "org.x"}, {"case", "coll_" + std::to_string(i)}, {"status", "unavailable"},
                                      {"message", "1 GPU visible"}});
    failed.push_back(json::object{{"plugin", "org.x"}, {"case", "boom"}, {"status", "crashed"}, {"message", "SIGSEGV"}});
    doc["failed_cases"] = failed;
    const auto file = (dir / "failed.json").string();
    std::ofstream(file) << json::serialize(doc);
    auto s = host("show " + file);
    REQUIRE(s.exit_code == 0);
    CHECK(s.out.find("3 cases (coll_0 ... coll_2, org.x): unavailable: 1 GPU visible") != std::string::npos);
    CHECK(s.out.find("case boom (org.x): crashed: SIGSEGV") != std::string::npos);
}
