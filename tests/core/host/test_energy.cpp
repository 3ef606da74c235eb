// RAPL through powercap sysfs (energy.hpp): a fake tree with two packages and their DRAM, a counter that
// wraps, an unreadable counter, none at all; and what this machine says.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "../../scratch.hpp"
#include "calib/core/energy.hpp"

using namespace calib::core;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t kRange = 262143328850;  // a real max_energy_range_uj

void put(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text << "\n";
}

// intel-rapl:<id> with its name, counter and range.
void domain(const fs::path& root, const std::string& id, const std::string& name, uint64_t energy_uj) {
    put(root / ("intel-rapl:" + id) / "name", name);
    put(root / ("intel-rapl:" + id) / "energy_uj", std::to_string(energy_uj));
    put(root / ("intel-rapl:" + id) / "max_energy_range_uj", std::to_string(kRange));
}

void set_energy(const fs::path& root, const std::string& id, uint64_t energy_uj) {
    put(root / ("intel-rapl:" + id) / "energy_uj", std::to_string(energy_uj));
}

double joules_of(const RaplEnergy& e, const std::string& label) {
    for (const auto& [k, v] : e.domains)
        if (k == label) return v;
    return -1;
}

}  // namespace

TEST_CASE("rapl: two packages with core and dram subdomains, joules per domain and totals", "[energy]") {
    calib::test::Scratch s;
    const fs::path root = s.path();
    domain(root, "0", "package-0", 1'000'000);
    domain(root, "0:0", "core", 500'000);
    domain(root, "0:1", "dram", 100'000);
    domain(root, "1", "package-1", 2'000'000);
    domain(root, "1:0", "dram", 0);
    put(root / "intel-rapl-mmio:0" / "name", "package-0");  // the MMIO copy of package 0: not a domain

    RaplReader r(root);
    REQUIRE(r.available());
    CHECK(r.unavailable_reason().empty());
    REQUIRE(r.domains().size() == 5);
    CHECK(r.domains()[0].label == "package-0");
    CHECK(r.domains()[1].label == "package-0/core");
    CHECK(r.domains()[2].label == "package-0/dram");
    CHECK(r.domains()[3].label == "package-1");
    CHECK(r.domains()[4].label == "package-1/dram");
    CHECK(r.domains()[2].kind == "dram");
    CHECK(r.domains()[2].subdomain);
    CHECK(r.domains()[3].package == 1);
    CHECK(r.domains()[0].max_energy_range_uj == kRange);

    const RaplSnapshot a = r.snapshot();
    set_energy(root, "0", 31'000'000);   // +30 J
    set_energy(root, "0:0", 20'500'000); // +20 J (inside package-0)
    set_energy(root, "0:1", 5'100'000);  // +5 J
    set_energy(root, "1", 12'000'000);   // +10 J
    set_energy(root, "1:0", 2'000'000);  // +2 J
    const RaplSnapshot b = r.snapshot();
    const RaplEnergy e = r.joules_between(a, b);
    CHECK(e.wraps == 0);
    CHECK(joules_of(e, "package-0") == Approx(30));
    CHECK(joules_of(e, "package-0/core") == Approx(20));
    CHECK(joules_of(e, "package-1/dram") == Approx(2));
    REQUIRE(e.package_joules);
    CHECK(*e.package_joules == Approx(40));  // packages only: core is inside package-0
    REQUIRE(e.dram_joules);
    CHECK(*e.dram_joules == Approx(7));
    CHECK(e.seconds >= 0);
    const auto j = to_json(e);
    CHECK(j.at("package_joules").as_double() == Approx(40));
    CHECK(j.at("domains").as_object().size() == 5);
    CHECK(r.status_json().at("available").as_bool());
}

TEST_CASE("rapl: a counter that wrapped between two snapshots counts once past the range", "[energy]") {
    CHECK(rapl_delta_uj(100, 300, kRange) == 200);
    CHECK(rapl_delta_uj(kRange - 1'000'000, 2'000'000, kRange) == 3'000'000);
    CHECK(rapl_delta_uj(5, 5, kRange) == 0);

    calib::test::Scratch s;
    const fs::path root = s.path();
    domain(root, "0", "package-0", kRange - 4'000'000);
    domain(root, "0:0", "dram", 10);
    RaplReader r(root);
    REQUIRE(r.available());
    const RaplSnapshot a = r.snapshot();
    set_energy(root, "0", 1'000'000);  // wrapped: 4 J to the end of the range, 1 J after it
    set_energy(root, "0:0", 1'000'010);
    const RaplEnergy e = r.joules_between(a, r.snapshot());
    CHECK(e.wraps == 1);
    CHECK(*e.package_joules == Approx(5));
    CHECK(*e.dram_joules == Approx(1));
    CHECK(to_json(e).at("wraps").as_int64() == 1);
}

TEST_CASE("rapl: an unreadable energy_uj makes RAPL unavailable, with the reason", "[energy]") {
    calib::test::Scratch s;
    const fs::path root = s.path();
    domain(root, "0", "package-0", 1000);
    const fs::path counter = root / "intel-rapl:0" / "energy_uj";
    if (::geteuid() == 0) {
        // root reads any mode: a counter that cannot be read, as a folder (read() fails, EISDIR)
        fs::remove(counter);
        fs::create_directory(counter);
    } else {
        fs::permissions(counter, fs::perms::owner_write);  // 0200: what Linux >= 5.10 gives non-root
    }
    RaplReader r(root);
    CHECK_FALSE(r.available());
    CHECK(r.unavailable_reason().find("energy_uj not readable (root only since Linux 5.10") != std::string::npos);
    CHECK(r.unavailable_reason().find(counter.string()) != std::string::npos);
    const auto j = r.status_json();
    CHECK_FALSE(j.at("available").as_bool());
    CHECK(j.at("reason").as_string().size() > 10);
}

TEST_CASE("rapl: no intel-rapl entries, RAPL not exposed", "[energy]") {
    calib::test::Scratch s;
    RaplReader empty(s.path());
    CHECK_FALSE(empty.available());
    CHECK(empty.unavailable_reason() ==
          "no " + (s.path() / "intel-rapl*").string() + " (RAPL not exposed: a VM, or a CPU without it)");
    RaplReader missing(s.path() / "absent");
    CHECK_FALSE(missing.available());
    CHECK(missing.domains().empty());
    CHECK(missing.snapshot().energy_uj.empty());
}

TEST_CASE("rapl on this machine: readable domains, or the reason they are not", "[energy]") {
    RaplReader r;
    INFO(r.unavailable_reason());
    if (r.available()) {
        CHECK_FALSE(r.domains().empty());
        const RaplSnapshot a = r.snapshot();
        const RaplEnergy e = r.joules_between(a, r.snapshot());
        CHECK(e.package_joules.has_value());
    } else {
        CHECK(r.unavailable_reason().size() > 10);
        if (!fs::exists("/sys/class/powercap"))  // this VM: no powercap at all
            CHECK(r.unavailable_reason() ==
                  "no /sys/class/powercap/intel-rapl* (RAPL not exposed: a VM, or a CPU without it)");
    }
}
