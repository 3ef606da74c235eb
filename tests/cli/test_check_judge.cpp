// `calib-host check` and a run judge alike: for each rule the two once judged differently
// (docs/abi.md, "One judge"), the check's verdict and `list --json`'s are the same.
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "cli_util.hpp"

using namespace calib::test;
namespace json = boost::json;

namespace {

// `list --json` over a folder holding only this fixture: its status and reason code.
std::pair<std::string, std::string> listed(const std::string& variant) {
    Scratch dir;
    fs::copy_file(fs::path(CALIB_FIXTURE_DIR) / ("fixture_" + variant + ".so"), dir / ("fixture_" + variant + ".so"));
    Result r = host("list --json --no-default-plugins --plugins " + dir.path().string());
    REQUIRE(r.exit_code == 0);
    const json::value doc = json::parse(r.out);
    const auto& plugins = doc.at("plugins").as_array();
    REQUIRE(plugins.size() == 1);
    const json::object& p = plugins[0].as_object();
    return {std::string(p.at("status").as_string()),
            p.contains("reason_code") ? std::string(p.at("reason_code").as_string()) : std::string()};
}

}  // namespace

TEST_CASE("check and list: one verdict per formerly disputed rule", "[cli][check]") {
    struct Rule {
        std::string variant, reason_code, fail_line;
    };
    const Rule rule = GENERATE(
        Rule{"space_name", "init_failed", "FAIL: case list: case 0 'busy loop': name contains whitespace"},
        Rule{"nan_flops", "init_failed", "FAIL: case list: case 0 'busy_loop': flops not finite and >= 0"},
        Rule{"inexact_size", "bad_table", "FAIL: table size: struct_size"},
        Rule{"short_table", "bad_table", "FAIL: table size: struct_size"});
    INFO("fixture " << rule.variant);
    Result c = host("check " + (fs::path(CALIB_FIXTURE_DIR) / ("fixture_" + rule.variant + ".so")).string());
    INFO(c.out << c.err);
    CHECK(c.exit_code == 1);
    CHECK_THAT(c.out, Catch::Contains(rule.fail_line));
    CHECK_THAT(c.out, Catch::EndsWith("-> FAIL\n"));
    auto [status, code] = listed(rule.variant);
    CHECK(status == "rejected");
    CHECK(code == rule.reason_code);
}

TEST_CASE("check and list: a newer minor passes both", "[cli][check]") {
    Result c = host("check " + (fs::path(CALIB_FIXTURE_DIR) / "fixture_newer_minor.so").string());
    INFO(c.out << c.err);
    CHECK(c.exit_code == 0);
    CHECK_THAT(c.out, Catch::Contains("PASS: table size:"));
    CHECK(listed("newer_minor").first == "loaded");
}
