#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <string>

#include "calib/core/host_info.hpp"

using namespace calib::core;

TEST_CASE("detect_host reads a plausible, fast description", "[host]") {
    const auto t0 = std::chrono::steady_clock::now();
    const HostInfo h = detect_host();
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    CHECK(dt < 0.3);
    CHECK(h.physical_cores >= 1);
    CHECK(h.logical_cpus >= h.physical_cores);
    CHECK_FALSE(h.cpu_model.empty());
    CHECK_FALSE(h.kernel.empty());
    CHECK(h.total_memory_bytes > (64ull << 20));
    CHECK(h.sustained_clock_ghz == 0);  // detection does not measure
    for (const auto& f : h.isa) CHECK(h.has(f));
    CHECK_FALSE(h.has("not_a_flag"));

    // Caches: each level larger than (or as large as) the one below; sizes and sharing sane.
    REQUIRE_FALSE(h.caches.empty());
    std::map<int, uint64_t> largest;
    for (const auto& c : h.caches) {
        CHECK(c.level >= 1);
        CHECK(c.size_bytes >= 1024);
        CHECK(c.shared_cpu_count >= 1);
        largest[c.level] = std::max(largest[c.level], c.size_bytes);
    }
    for (auto it = std::next(largest.begin()); it != largest.end(); ++it)
        CHECK(it->second >= std::prev(it)->second);
    CHECK(largest.begin()->first == 1);
}

TEST_CASE("to_json(HostInfo) carries every field", "[host]") {
    HostInfo h;
    h.cpu_model = "Test CPU";
    h.physical_cores = 4;
    h.logical_cpus = 8;
    h.caches = {{1, "Data", 32768, 2}, {2, "Unified", 1 << 20, 2}};
    h.isa = {"avx2", "fma"};
    h.sustained_clock_ghz = 3.5;
    h.clock_readings_ghz = {3.4, 3.5};
    const boost::json::object j = to_json(h);
    CHECK(j.at("cpu_model").as_string() == "Test CPU");
    CHECK(j.at("physical_cores").as_int64() == 4);
    CHECK(j.at("logical_cpus").as_int64() == 8);
    REQUIRE(j.at("caches").as_array().size() == 2);
    CHECK(j.at("caches").as_array()[1].as_object().at("size_bytes").to_number<uint64_t>() == (1u << 20));
    CHECK(j.at("isa").as_array().size() == 2);
    CHECK(j.at("sustained_clock_ghz").as_double() == 3.5);
    CHECK(j.at("avx512_clock_ghz").as_double() == 0);  // not measured
    REQUIRE(j.at("clock_readings_ghz").as_array().size() == 2);
    CHECK(j.at("clock_readings_ghz").as_array()[0].as_double() == 3.4);
    for (const char* key : {"hostname", "cpu_vendor", "total_memory_bytes", "os", "kernel", "compiler", "load_average",
                            "cpufreq_governor", "fma_pipes"})
        CHECK(j.contains(key));
}

TEST_CASE("the sustained clock is plausible", "[host][hardware]") {
    const HostInfo h = detect_host();
    const double ghz = measure_sustained_clock_ghz(h.logical_cpus);
    CHECK(ghz > 0.5);
    CHECK(ghz < 7.0);
}

TEST_CASE("the FMA pipe count is 1 or 2", "[host][hardware]") {
    const int pipes = measure_fma_pipes(detect_host());
    CHECK(pipes >= 1);
    CHECK(pipes <= 2);
}
