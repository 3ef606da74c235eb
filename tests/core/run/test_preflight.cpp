// Preflight (preflight.hpp): each check against its threshold, a whole preflight over a fake machine,
// and a real co-runner (two spinning processes) failing the corunner check.
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>

#include <sys/wait.h>
#include <unistd.h>

#include "../../scratch.hpp"
#include "calib/core/preflight.hpp"
#include "../../spinners.hpp"

using calib::test::Spinners;

using namespace calib::core;
namespace fs = std::filesystem;

namespace {

void put(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text << "\n";
}

CoreClock core(int cpu, double cur, double max, const std::string& governor) {
    CoreClock k;
    k.cpu = cpu;
    k.cur_mhz = cur;
    k.max_mhz = max;
    k.governor = governor;
    return k;
}

const PreflightCheck* find(const Preflight& p, const std::string& name) {
    for (const auto& c : p.checks)
        if (c.name == name) return &c;
    return nullptr;
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace

TEST_CASE("preflight governor: performance passes, another warns, none readable skips with the reason", "[preflight]") {
    CpuConditions c;
    c.cores = {core(0, 3000, 3000, "performance"), core(1, 3000, 3000, "performance")};
    CHECK(governor_check(c, {0, 1}).status == "pass");
    c.cores[1].governor = "powersave";
    const auto w = governor_check(c, {0, 1});
    CHECK(w.status == "warn");
    CHECK(w.message.find("powersave on CPU 1") != std::string::npos);
    CHECK(governor_check(c, {0}).status == "pass");  // only calib's CPUs count
    c.cores = {core(0, 2600, 0, "")};
    c.cpufreq_reason = "no /sys/devices/system/cpu/cpu0/cpufreq (no cpufreq driver: a VM, or a kernel without one)";
    const auto s = governor_check(c, {0});
    CHECK(s.status == "skip");
    CHECK(s.message.find("no cpufreq driver") != std::string::npos);
}

TEST_CASE("preflight cpu_clock: the lowest CPU against its maximum, warn below 90%", "[preflight]") {
    PreflightConfig cfg;
    CpuConditions c;
    c.cores = {core(0, 3500, 3600, "performance"), core(1, 3400, 3600, "performance")};
    auto ok = cpu_clock_check(c, {0, 1}, cfg);
    CHECK(ok.status == "pass");
    CHECK(*ok.value == Approx(3400.0 / 3600));
    CHECK(*ok.threshold == Approx(0.9));
    c.cores[1].cur_mhz = 1200;
    const auto w = cpu_clock_check(c, {0, 1}, cfg);
    CHECK(w.status == "warn");
    CHECK(w.message.find("CPU 1 at 1200 of 3600 MHz") != std::string::npos);
    CHECK(cpu_clock_check(c, {0}, cfg).status == "pass");
    CpuConditions vm;
    vm.cores = {core(0, 2600, 0, "")};
    vm.cores[0].max_mhz.reset();
    vm.clock_source = "/proc/cpuinfo cpu MHz";
    vm.cpufreq_reason = "no cpufreq";
    const auto s = cpu_clock_check(vm, {0}, cfg);
    CHECK(s.status == "skip");
    CHECK(s.message.find("no maximum clock known") != std::string::npos);
    CHECK(s.message.find("2600 MHz") != std::string::npos);
}

TEST_CASE("preflight system_load: per online CPU, warn above 0.5, fail above 1.0", "[preflight]") {
    PreflightConfig cfg;
    CHECK(system_load_check(0.4, 2, cfg).status == "pass");
    CHECK(system_load_check(1.5, 2, cfg).status == "warn");
    const auto f = system_load_check(2.5, 2, cfg);
    CHECK(f.status == "fail");
    CHECK(*f.value == Approx(1.25));
    CHECK(*f.threshold == Approx(1.0));
    CHECK(system_load_check(-1, 2, cfg).status == "skip");
}

TEST_CASE("preflight corunner and rapl checks", "[preflight]") {
    PreflightConfig cfg;
    CHECK(corunner_check(0.02, 2, cfg).status == "pass");
    const auto f = corunner_check(1.3, 2, cfg);
    CHECK(f.status == "fail");
    CHECK(f.unit == "CPUs");
    CHECK(corunner_check(-1, 2, cfg).status == "skip");
    CpuConditions c;
    c.rapl_reason = "no /sys/class/powercap/intel-rapl* (RAPL not exposed: a VM, or a CPU without it)";
    const auto r = rapl_check(c);
    CHECK(r.status == "skip");
    CHECK(r.message.find("RAPL not exposed") != std::string::npos);
    c.rapl_available = true;
    c.rapl_domains = {"package-0", "package-0/dram"};
    CHECK(rapl_check(c).status == "pass");
}

TEST_CASE("preflight over a quiet fake machine passes, an extra (GPU) failure fails it", "[preflight]") {
    calib::test::Scratch s;
    PreflightOptions o;
    o.paths.cpu_root = (s / "cpu").string();
    o.paths.cpuinfo = (s / "cpuinfo").string();
    o.paths.powercap_root = (s / "powercap").string();
    o.loadavg = (s / "loadavg").string();
    put(s / "cpu" / "online", "0-1");
    for (int cpu : {0, 1}) {
        const fs::path f = s / "cpu" / ("cpu" + std::to_string(cpu)) / "cpufreq";
        put(f / "scaling_cur_freq", "3500000");
        put(f / "cpuinfo_max_freq", "3600000");
        put(f / "scaling_governor", "performance");
    }
    put(s / "loadavg", "0.10 0.20 0.30 1/100 1234");
    o.cpus = [] { return std::vector<int>{0, 1}; };
    double busy = 0;
    o.cpu_times = [&busy] { return CpuTimes{busy += 0.001, 0, 2, true}; };  // 1 ms per reading: quiet
    o.config.corunner_window_seconds = 0.1;
    const double t0 = now();
    Preflight p = run_preflight(o);
    CHECK(now() - t0 < 1.0);
    CHECK(p.passed);
    CHECK_FALSE(p.forced);
    CHECK(p.timestamp.size() == 25);
    CHECK(p.timestamp.substr(19) == "+00:00");
    for (const char* name : {"governor", "cpu_clock", "system_load", "corunner", "rapl"}) {
        const auto* c = find(p, name);
        REQUIRE(c != nullptr);
        INFO(name << ": " << c->status << " " << c->message);
        CHECK(c->status == (std::string(name) == "rapl" ? "skip" : "pass"));
    }

    PreflightCheck gpu;
    gpu.name = "gpu0_clock";
    gpu.status = "fail";
    gpu.message = "SM clock 210 of 1980 MHz";
    o.extra = {gpu};
    p = run_preflight(o);
    CHECK_FALSE(p.passed);
    CHECK(p.checks.back().name == "gpu0_clock");
    Preflight q;
    add_check(q, PreflightCheck{"gpu0_power", "warn", "P8", std::nullopt, std::nullopt, std::nullopt});
    CHECK(q.passed);
    add_check(q, gpu);
    CHECK_FALSE(q.passed);
    CHECK(describe(gpu) == "FAIL gpu0_clock: SM clock 210 of 1980 MHz");
}

TEST_CASE("preflight: two real spinning processes fail the corunner check", "[preflight][corunner]") {
    Spinners spin(2);
    const double t0 = now();
    const Preflight p = run_preflight();  // the real /proc/stat, calib's real CPUs, 0.5 s window
    const double dt = now() - t0;
    CHECK(dt < 1.5);
    const auto* c = find(p, "corunner");
    REQUIRE(c != nullptr);
    INFO(c->message);
    CHECK(c->status == "fail");
    CHECK(*c->value > 0.5);
    CHECK(*c->threshold == Approx(CoRunnerConfig{}.max_foreign_cpus));
    CHECK_FALSE(p.passed);
    CHECK(find(p, "governor") != nullptr);
    CHECK(find(p, "rapl") != nullptr);
}
