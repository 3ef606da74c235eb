// CPU conditions (cpu_conditions.hpp): cpufreq trees, the /proc/cpuinfo fallback, turbo from
// intel_pstate or boost, and this machine (whatever it exposes, or the reason it does not).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "../../scratch.hpp"
#include "calib/core/cpu_conditions.hpp"
#include "calib/core/host_info.hpp"

using namespace calib::core;
namespace fs = std::filesystem;

namespace {

void put(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text << "\n";
}

ConditionsPaths fake(const calib::test::Scratch& s) {
    ConditionsPaths p;
    p.cpu_root = (s / "cpu").string();
    p.cpuinfo = (s / "cpuinfo").string();
    p.powercap_root = (s / "powercap").string();
    return p;
}

void cpufreq(const fs::path& cpu_root, int cpu, int cur_khz, int max_khz, const std::string& governor) {
    const fs::path f = cpu_root / ("cpu" + std::to_string(cpu)) / "cpufreq";
    put(f / "scaling_cur_freq", std::to_string(cur_khz));
    put(f / "cpuinfo_max_freq", std::to_string(max_khz));
    put(f / "cpuinfo_min_freq", "800000");
    put(f / "base_frequency", "2400000");
    put(f / "scaling_governor", governor);
}

}  // namespace

TEST_CASE("cpu conditions from cpufreq: clock per core, limits, governor, turbo from intel_pstate", "[conditions]") {
    calib::test::Scratch s;
    const ConditionsPaths p = fake(s);
    put(fs::path(p.cpu_root) / "online", "0-1");
    cpufreq(p.cpu_root, 0, 3500000, 3600000, "performance");
    cpufreq(p.cpu_root, 1, 1200000, 3800000, "powersave");
    put(fs::path(p.cpu_root) / "intel_pstate" / "no_turbo", "0");
    const CpuConditions c = read_cpu_conditions(p);
    REQUIRE(c.cores.size() == 2);
    CHECK(c.clock_source == "cpufreq scaling_cur_freq");
    CHECK(c.cpufreq_reason.empty());
    CHECK(c.cores[0].cur_mhz == Approx(3500));
    CHECK(c.cores[1].cur_mhz == Approx(1200));
    CHECK(c.cores[1].governor == "powersave");
    CHECK(c.governor == "performance");
    CHECK(*c.max_mhz() == Approx(3800));
    CHECK(*c.min_mhz() == Approx(800));
    CHECK(*c.base_mhz() == Approx(2400));
    CHECK(c.turbo == "on");
    CHECK(c.turbo_source.find("no_turbo") != std::string::npos);
    CHECK_FALSE(c.rapl_available);
    CHECK(c.rapl_reason.find("RAPL not exposed") != std::string::npos);

    boost::json::object host;
    add_to_json(host, c);
    CHECK(host.at("cpu_clocks").at("per_core_mhz").as_array().size() == 2);
    CHECK(host.at("cpu_clocks").at("max_mhz").as_double() == Approx(3800));
    CHECK(host.at("turbo").at("state") == "on");
    CHECK_FALSE(host.at("rapl").at("available").as_bool());
    CHECK(host.at("rapl").as_object().contains("reason"));
}

TEST_CASE("cpu conditions without cpufreq: /proc/cpuinfo clocks, turbo from boost or unknown, reasons", "[conditions]") {
    calib::test::Scratch s;
    const ConditionsPaths p = fake(s);
    put(fs::path(p.cpu_root) / "online", "0-1");
    put(p.cpuinfo, "processor\t: 0\ncpu MHz\t\t: 2600.000\n\nprocessor\t: 1\ncpu MHz\t\t: 2599.500\n");
    CpuConditions c = read_cpu_conditions(p);
    REQUIRE(c.cores.size() == 2);
    CHECK(c.cores[1].cur_mhz == Approx(2599.5));
    CHECK(c.clock_source == p.cpuinfo + " cpu MHz");
    CHECK(c.cpufreq_reason.find("no cpufreq driver") != std::string::npos);
    CHECK(c.governor.empty());
    CHECK_FALSE(c.max_mhz());
    CHECK(c.turbo == "unknown");
    CHECK(c.turbo_reason.find("boost") != std::string::npos);

    put(fs::path(p.cpu_root) / "cpufreq" / "boost", "0");  // acpi-cpufreq / amd-pstate
    c = read_cpu_conditions(p);
    CHECK(c.turbo == "off");
    CHECK(c.turbo_reason.empty());
}

TEST_CASE("parse_cpu_list reads the kernel's CPU lists", "[conditions]") {
    CHECK(parse_cpu_list("0-3,8,10-11\n") == std::vector<int>{0, 1, 2, 3, 8, 10, 11});
    CHECK(parse_cpu_list("5") == std::vector<int>{5});
    CHECK(parse_cpu_list("x").empty());
    CHECK(parse_cpu_list("3-1").empty());
}

TEST_CASE("cpu conditions on this machine: clocks and governor, or why not", "[conditions]") {
    const HostInfo h = detect_host();
    const CpuConditions& c = h.conditions;
    REQUIRE(static_cast<int>(c.cores.size()) == h.logical_cpus);
    INFO("clock source '" << c.clock_source << "', cpufreq: '" << c.cpufreq_reason << "', turbo " << c.turbo << " "
                          << c.turbo_reason << ", rapl: " << c.rapl_reason);
    if (c.clock_source.empty()) CHECK_FALSE(c.cpufreq_reason.empty());
    else
        for (const auto& k : c.cores) CHECK(k.cur_mhz > 0);
    // The governor, or the reason there is none (this VM: no cpufreq driver).
    CHECK((!c.governor.empty() || !c.cpufreq_reason.empty()));
    CHECK(c.governor == h.cpufreq_governor);
    CHECK((c.turbo == "on" || c.turbo == "off" || c.turbo == "unknown"));
    if (c.turbo == "unknown") CHECK_FALSE(c.turbo_reason.empty());
    if (!c.rapl_available) CHECK_FALSE(c.rapl_reason.empty());
    const auto j = to_json(h);
    CHECK(j.contains("cpu_clocks"));
    CHECK(j.contains("turbo"));
    CHECK(j.at("rapl").as_object().contains("available"));
}
