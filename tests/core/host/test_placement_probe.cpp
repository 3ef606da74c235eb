// The real placement probe on this machine: two pinned threads bounce a cache line.
#include <catch2/catch.hpp>

#include <sched.h>

#include "calib/core/placement.hpp"

using namespace calib::core;

TEST_CASE("the placement probe measures a plausible cache-line latency, or says why it cannot",
          "[placement]") {
    cpu_set_t set;
    CPU_ZERO(&set);
    REQUIRE(sched_getaffinity(0, sizeof set, &set) == 0);
    PlacementProbe probe;
    if (CPU_COUNT(&set) < 2) {
        CHECK_FALSE(probe.available());
        CHECK(probe.probe_ns() == 0);
        CHECK(probe.description().find("fewer than two CPUs") != std::string::npos);
        return;
    }
    REQUIRE(probe.available());
    CHECK(probe.description().rfind("cache-line ping-pong between CPU ", 0) == 0);
    for (int i = 0; i < 20; ++i) {  // repeated probes reuse the same sleeping threads
        const double ns = probe.probe_ns();
        CHECK(ns > 1);      // a transfer between cores is never free
        CHECK(ns < 1e5);    // nor 100 us, even on a loaded VM
    }
}

TEST_CASE("a probe restricted to one CPU is unavailable", "[placement]") {
    cpu_set_t old, one;
    REQUIRE(sched_getaffinity(0, sizeof old, &old) == 0);
    CPU_ZERO(&one);
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &old)) {
            CPU_SET(c, &one);
            break;
        }
    REQUIRE(sched_setaffinity(0, sizeof one, &one) == 0);
    {
        PlacementProbe probe;
        CHECK_FALSE(probe.available());
        CHECK(probe.probe_ns() == 0);
        CHECK(probe.description() == "unavailable: fewer than two CPUs");
    }
    REQUIRE(sched_setaffinity(0, sizeof old, &old) == 0);
}
