// Preflight end to end through calib-host: a real co-runner (two spinning processes) fails the corunner
// check; --strict then exits 4 and leaves an existing output byte for byte; without --strict the run
// records the checks (passed false, forced true) and the profile validates; --no-preflight records none.
// The profile also says why RAPL is unavailable and carries the clocks and governor (or why not).
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <csignal>
#include <sys/wait.h>

#include "cli_util.hpp"
#include "../spinners.hpp"

using namespace calib::test;
namespace json = boost::json;

namespace {

// The good fixture (FixtureDir), no history; Spinners (spinners.hpp) are the co-runners.
std::string run_args(const FixtureDir& plugins, const fs::path& out) {
    return "--no-default-plugins --plugins " + plugins.dir.path().string() +
           " --no-history --no-placement-guard --replicas 1 --time-budget 0.05 --placement-wait 0.02 "
           "--placement-retry 0 --output " + out.string();
}

const json::object* check_named(const json::array& checks, const std::string& name) {
    for (const auto& c : checks)
        if (c.at("name") == name.c_str()) return &c.as_object();
    return nullptr;
}

std::size_t entries(const fs::path& dir) {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
    return n;
}

}  // namespace

TEST_CASE("preflight: --strict with a co-runner: exit 4, the failed check named, the existing output untouched",
          "[cli][preflight]") {
    FixtureDir plugins;
    Scratch dir;
    const fs::path out = dir / "profile.json";
    const std::string previous = "{\"previous\": \"profile, must survive byte for byte\"}\n";
    std::ofstream(out, std::ios::binary) << previous;
    Spinners spin(2);
    const auto r = host(run_args(plugins, out) + " --strict");
    INFO(r.err);
    CHECK(r.exit_code == 4);
    CHECK(slurp(out) == previous);
    CHECK_FALSE(fs::exists(dir / "profile.json.partial"));
    CHECK(entries(dir.path()) == 1);  // no temporary file left either
    CHECK(r.out.empty());
    CHECK(r.err.find("calib-host: preflight: FAIL corunner: ") != std::string::npos);
    CHECK(r.err.find("preflight failed under --strict") != std::string::npos);
}

TEST_CASE("preflight: without --strict a failed one is recorded (passed false, forced true) and validates",
          "[cli][preflight]") {
    FixtureDir plugins;
    Scratch dir;
    const fs::path out = dir / "profile.json";
    Result r;
    {
        Spinners spin(2);
        r = host(run_args(plugins, out) + " --quiet");
    }
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.err.find("calib-host: preflight: FAIL corunner: ") != std::string::npos);  // --quiet: fails only
    const json::value doc = json::parse(slurp(out));
    const auto& md = doc.at("metadata").as_object();
    REQUIRE(md.contains("preflight"));
    const auto& pf = md.at("preflight").as_object();
    CHECK(pf.at("passed") == false);
    CHECK(pf.at("forced") == true);
    CHECK(std::string(pf.at("timestamp").as_string()).substr(19) == "+00:00");
    const auto& checks = pf.at("checks").as_array();
    for (const char* name : {"governor", "cpu_clock", "system_load", "corunner", "rapl"})
        CHECK(check_named(checks, name) != nullptr);
    REQUIRE(check_named(checks, "corunner") != nullptr);
    CHECK(check_named(checks, "corunner")->at("status") == "fail");
    for (const auto& c : checks) {
        const std::string s(c.at("status").as_string());
        CHECK((s == "pass" || s == "warn" || s == "fail" || s == "skip"));
        CHECK(c.at("message").as_string().size() > 0);
    }

    // Clocks and governor where the profile carries CPU clocks; RAPL's state with its reason.
    const auto& host_section = doc.at("host").as_object();
    REQUIRE(md.contains("cpu_clock"));
    const auto& clock = md.at("cpu_clock").as_object();
    CHECK(clock.contains("per_core_freq_mhz"));
    const auto& clocks = host_section.at("cpu_clocks").as_object();
    if (!clock.contains("governor")) CHECK(clocks.contains("cpufreq_unavailable"));
    CHECK(host_section.at("turbo").as_object().contains("state"));
    const auto& rapl = host_section.at("rapl").as_object();
    if (!rapl.at("available").as_bool()) {
        CHECK(rapl.at("reason").as_string().size() > 10);
        const auto* rc = check_named(checks, "rapl");
        REQUIRE(rc != nullptr);
        CHECK(rc->at("status") == "skip");
        CHECK(rc->at("message").as_string() == ("CPU energy not measured: " + std::string(rapl.at("reason").as_string())).c_str());
    }

    const auto v = host("validate " + out.string());
    INFO(v.out << v.err);
    CHECK(v.exit_code == 0);
    // The 2025 file has no preflight (its loader takes eleven metadata keys).
    const auto e = host("export --format origin-2025 " + out.string() + " " + (dir / "2025.json").string());
    REQUIRE(e.exit_code == 0);
    CHECK_FALSE(json::parse(slurp(dir / "2025.json")).at("metadata").as_object().contains("preflight"));
}

TEST_CASE("preflight: --no-preflight, no checks, no metadata.preflight, --strict has nothing to refuse", "[cli][preflight]") {
    FixtureDir plugins;
    Scratch dir;
    const fs::path out = dir / "profile.json";
    const auto r = host(run_args(plugins, out) + " --no-corunner-check --no-preflight --strict");
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.err.find("preflight") == std::string::npos);
    const json::value doc = json::parse(slurp(out));
    CHECK_FALSE(doc.at("metadata").as_object().contains("preflight"));
    CHECK(host("validate " + out.string()).exit_code == 0);
}

TEST_CASE("preflight: calib-host --help and run --help document --strict and exit code 4", "[cli][preflight]") {
    const auto top = host("--help");
    CHECK(top.out.find("4 a preflight check failed") != std::string::npos);
    const auto run = host("run --help");
    CHECK(run.out.find("--strict") != std::string::npos);
    CHECK(run.out.find("--no-preflight") != std::string::npos);
}
