// metadata.preflight in the profile: written in the origin's 2026 shape, read back, validated, a check's
// further keys accepted, and dropped by the 2025 export.
#include <catch2/catch.hpp>

#include "calib/core/profile_export.hpp"
#include "profile_test_util.hpp"

using namespace calib::core;

namespace {

Profile with_preflight() {
    Profile p = parse_profile(test::read_sample("good.json"));
    Preflight pf;
    pf.timestamp = "2026-11-29T20:30:00+00:00";
    pf.passed = false;
    pf.forced = true;
    pf.checks.push_back({"governor", "skip", "no frequency governor readable", std::nullopt, std::nullopt, std::nullopt});
    pf.checks.push_back({"corunner", "fail", "1.90 CPUs used by other processes", 1.9, 0.1, std::string("CPUs")});
    p.metadata.preflight = pf;
    return p;
}

}  // namespace

TEST_CASE("metadata.preflight round-trips and validates", "[profile][preflight]") {
    const Profile p = with_preflight();
    const std::string text = to_json_text(p);
    const auto doc = boost::json::parse(text);
    const auto& pf = doc.at("metadata").at("preflight").as_object();
    CHECK(pf.at("timestamp") == "2026-11-29T20:30:00+00:00");
    CHECK(pf.at("passed") == false);
    CHECK(pf.at("forced") == true);
    REQUIRE(pf.at("checks").as_array().size() == 2);
    const auto& c = pf.at("checks").as_array()[1].as_object();
    CHECK(c.at("name") == "corunner");
    CHECK(c.at("value").as_double() == 1.9);
    CHECK_FALSE(pf.at("checks").as_array()[0].as_object().contains("value"));  // left out, not null
    CHECK(validate(doc).empty());

    const Profile q = parse_profile(text);
    REQUIRE(q.metadata.preflight);
    CHECK(q.metadata.preflight->forced);
    CHECK(q.metadata.preflight->checks[1].threshold == 0.1);
    CHECK(to_json_text(q) == text);
}

TEST_CASE("metadata.preflight: further keys of a check are accepted, a wrong type is a problem", "[profile][preflight]") {
    auto doc = to_json(with_preflight());
    auto& checks = doc.as_object()["metadata"].as_object()["preflight"].as_object()["checks"].as_array();
    checks[0].as_object()["expected"] = "performance";  // the origin's checks may carry more
    CHECK(validate(doc).empty());
    CHECK_NOTHROW(from_json(doc));
    doc.as_object()["metadata"].as_object()["preflight"].as_object()["passed"] = "no";
    const auto problems = validate(doc);
    REQUIRE_FALSE(problems.empty());
    CHECK(problems[0].find("metadata.preflight.passed") != std::string::npos);
    doc.as_object()["metadata"].as_object()["preflight"] = nullptr;  // null: none (the consumers' default)
    CHECK_NOTHROW(from_json(doc));
}

TEST_CASE("export origin-2025 drops metadata.preflight", "[profile][preflight][export]") {
    const Profile q = to_origin_2025(with_preflight());
    CHECK_FALSE(q.metadata.preflight);
    CHECK(to_json(q).at("metadata").as_object().size() == 11);
}

TEST_CASE("validate: metadata.preflight's passed and forced agree with its checks", "[profile][preflight]") {
    Profile p = with_preflight();
    CHECK(validate(to_json(p)).empty());
    p.metadata.preflight->passed = true;
    auto problems = validate(to_json(p));
    REQUIRE(problems.size() == 2);
    CHECK(problems[0] == "metadata.preflight.passed: true but check \"corunner\" failed");
    CHECK(problems[1] == "metadata.preflight.forced: true but the preflight passed");
    p.metadata.preflight->checks.pop_back();  // no failure left
    p.metadata.preflight->forced = false;
    CHECK(validate(to_json(p)).empty());
    p.metadata.preflight->passed = false;
    problems = validate(to_json(p));
    REQUIRE(problems.size() == 1);
    CHECK(problems[0] == "metadata.preflight.passed: false but no check failed");
}
