// The placement guard: samples taken while the CPUs are displaced (a probe latency far above the run's
// best) are discarded and waited out, within an allowance; driven by a fake clock and a fake probe.
#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <vector>

#include "calib/core/measure.hpp"
#include "policy_test_util.hpp"

using namespace calib::core;
using Approx = Catch::Detail::Approx;

namespace {

// A machine whose CPUs are displaced during [from, to) seconds of fake time: the probe then reads
// 160 ns instead of 25, and every execution takes `slow` times longer.
struct Machine {
    double now = 0;
    double from = 1e9, to = 1e9;
    double base = 1e-4, slow = 2.0;
    bool displaced() const { return now >= from && now < to; }
    ClockFn clock() {
        return [this] { return now; };
    }
    PlacementGuard::ProbeFn probe() {
        return [this] { return displaced() ? 160.0 : 25.0; };
    }
    PlacementGuard::SleepFn sleep() {
        return [this](double s) { now += s; };
    }
    // Executions jitter by up to 3% (so the noise target is never met: every case runs to its budget).
    RunFn run(double factor = 1.0) {
        return [this, factor, k = 0](uint64_t iters) mutable {
            const double jitter = 1.0 + 0.01 * (k++ % 4);
            const double t = base * factor * jitter * (displaced() ? slow : 1.0) * static_cast<double>(iters);
            now += t;
            return t;
        };
    }
};

// The guard's configuration for the Machine tests: fine polling, so settle(0.01) takes ten probes.
PlacementConfig guard_config() {
    PlacementConfig pc;
    pc.poll_seconds = 0.001;
    return pc;
}

PolicyConfig config() {
    PolicyConfig c = calib::core::test::base_config();
    c.warmup_seconds = 0.005;
    c.target_noise = 0.001;
    c.time_budget_seconds = 0.2;
    return c;
}

}  // namespace

TEST_CASE("the reference is the lowest median of a window of probes, above twice that is displaced",
          "[placement]") {
    PlacementConfig pc;
    pc.reference_window = 5;
    // settle() sees 30, 24, 60, 28, 26: median 28 (the single 24 does not become the reference).
    std::vector<double> seq{30, 24, 60, 28, 26, 50, 57, 0, 20};
    std::size_t i = 0;
    double now = 0;
    PlacementGuard g([&] { return seq[i++]; }, pc, [&] { return now; }, [&](double s) { now += s; });
    g.settle(0.045);  // five polls of 10 ms
    CHECK(g.reference_ns() == 28);
    CHECK(g.in_reference());        // 50 <= 56
    CHECK_FALSE(g.in_reference());  // 57 > 56
    CHECK(g.in_reference());        // 0: the probe knows nothing
    CHECK(g.in_reference());        // 20: faster than the reference is never displaced ...
    CHECK(g.reference_ns() == 28);  // ... and one fast probe does not move it
    CHECK(g.probes() == 3);
    CHECK(g.displaced_probes() == 1);
}

TEST_CASE("a run that starts displaced moves to the near placement once it holds", "[placement]") {
    PlacementConfig pc;
    pc.reference_window = 5;
    // Far (160 ns) through settle, then near (30 ns) for good, then far again; a probe every 10 ms.
    std::vector<double> seq{160, 158, 162, 161, 159, 30, 31, 29, 30, 30, 30, 160};
    std::size_t i = 0;
    double now = 0;
    PlacementGuard g([&] { now += 0.01; return seq[i++]; }, pc, [&] { return now; }, [&](double s) { now += s; });
    g.settle(0.09);  // five probes
    CHECK(g.reference_ns() == 160);
    CHECK(g.in_reference());  // 30
    CHECK(g.in_reference());  // 31: window 158..31, median still 159
    CHECK(g.reference_ns() > 150);
    CHECK(g.in_reference());  // 29: three of five near (median 31), but near held only 31% of the time
    CHECK(g.reference_ns() > 150);
    CHECK(g.in_reference());  // 30: 36% of the time -> near is the reference
    CHECK(g.reference_ns() == 30);
    for (int k = 0; k < 2; ++k) CHECK(g.in_reference());
    CHECK_FALSE(g.in_reference());  // 160 is now displaced
}

TEST_CASE("a fast state that holds only briefly stops being the reference", "[placement]") {
    PlacementConfig pc;
    pc.reference_window = 5;
    // Settle sees the 28 ns state (two vCPUs on one core) for a window; then the usual 94 ns placement
    // holds, with the fast state back now and then (1 probe in 10).
    std::vector<double> seq{28, 27, 29, 28, 28};
    for (int k = 0; k < 200; ++k) seq.push_back(k % 10 == 9 ? 28 : 94);
    std::size_t i = 0;
    double now = 0;
    auto clock = [&] { return now; };
    auto sleep = [&](double s) { now += s; };
    PlacementGuard g([&] { now += 0.01; return seq[i++]; }, pc, clock, sleep);  // a probe every 10 ms
    g.settle(0.09);  // five probes
    CHECK(g.reference_ns() == 28);
    std::size_t displaced_late = 0;
    for (int k = 0; k < 200; ++k) {
        const bool ok = g.in_reference();
        if (k >= 40) displaced_late += !ok;  // the fast state's share falls below 35% by k = 24
    }
    CHECK(g.reference_ns() == 94);
    CHECK(displaced_late == 0);
    // The AMD guest: near (30 ns) most of the time, a long far (160 ns) episode of 40% of the probes
    // later: near stays the reference and the episode is displaced throughout.
    std::vector<double> amd(150, 30.0);
    amd.insert(amd.end(), 100, 160.0);
    std::size_t j = 0;
    PlacementGuard h([&] { now += 0.01; return amd[j++]; }, pc, clock, sleep);
    h.settle(0.09);
    std::size_t far = 0;
    for (std::size_t k = 5; k < amd.size(); ++k) far += !h.in_reference();
    CHECK(h.reference_ns() == 30);
    CHECK(far == 100);
}

TEST_CASE("a reference held for 10 s does not move up when the far placement takes over", "[placement]") {
    PlacementConfig pc;
    auto run = [&](int near_probes) {
        double now = 0;
        int k = 0;
        // Near (30 ns) for near_probes probes, then far (155 ns) for 60 s; a probe every 10 ms.
        PlacementGuard g([&] { now += 0.01; return k++ < near_probes ? 30.0 : 155.0; }, pc,
                         [&] { return now; }, [&](double s) { now += s; });
        g.settle(0.3);
        std::size_t far_displaced = 0;
        while (now < near_probes * 0.01 + 60) far_displaced += !g.in_reference() && k > near_probes;
        return std::make_pair(g.reference_ns(), far_displaced);
    };
    // 12 s near: confirmed; the 60 s far episode (83% of the run) stays displaced throughout.
    const auto [held, displaced] = run(1200);
    CHECK(held == 30);
    CHECK(displaced >= 5900);
    // 2 s near: near falls below 35% of the run's time at ~6.5 s, before it is confirmed, so far
    // becomes the reference.
    const auto [moved, _] = run(200);
    CHECK(moved == 155);
}

TEST_CASE("samples across a displacement are discarded and the wait is not charged to the budget",
          "[placement]") {
    Machine m;
    PlacementGuard g(m.probe(), guard_config(), m.clock(), m.sleep());
    g.settle(0.5);  // the reference placement holds most of the run
    m.from = m.now + 0.05;
    m.to = m.now + 0.4;  // longer than the whole time budget
    auto policy = make_policy("adaptive", config(), m.clock());
    const Measurement r = policy->measure(m.run(), {}, &g);
    CHECK(r.discarded_samples >= 1);
    CHECK(r.displaced_samples == 0);
    CHECK(r.placement_wait_seconds >= 0.3);
    CHECK(r.stats.max < 1.05e-4);  // no slow sample kept
    CHECK(r.reason == StopReason::time_budget);
    CHECK(r.samples.size() >= 50);       // the wait did not eat the 0.2 s budget
    CHECK(g.displaced_probes() >= 1);
}

TEST_CASE("without a guard the same machine mixes both placements", "[placement]") {
    Machine m;
    m.from = 0.05;
    m.to = 0.4;
    auto policy = make_policy("adaptive", config(), m.clock());
    const Measurement r = policy->measure(m.run());
    CHECK(r.stats.max > 1.9e-4);
    CHECK(r.discarded_samples == 0);
}

TEST_CASE("once the allowance is spent, displaced samples are kept and counted", "[placement]") {
    Machine m;
    PlacementConfig pc = guard_config();
    pc.max_wait_per_case = 0.1;
    PlacementGuard g(m.probe(), pc, m.clock(), m.sleep());
    g.settle(0.5);
    m.from = m.now + 0.02;  // displaced for good
    auto policy = make_policy("adaptive", config(), m.clock());
    const Measurement r = policy->measure(m.run(), {}, &g);
    CHECK(r.displaced_samples >= 1);
    const auto slow = std::count_if(r.samples.begin(), r.samples.end(), [](double s) { return s > 1.5e-4; });
    CHECK(r.displaced_samples == static_cast<std::size_t>(slow));
    CHECK(r.placement_wait_seconds == Approx(0.1).margin(0.02));

    // The per-plugin allowance: spent here, so a second case does not wait at all ...
    pc.max_wait_per_case = 10;
    pc.max_wait_per_plugin = 0.15;
    m.now = 0;
    m.from = 1e9;
    PlacementGuard g2(m.probe(), pc, m.clock(), m.sleep());
    g2.settle(1.0);  // before the displacement: reference 25 ns
    REQUIRE(g2.reference_ns() == 25);
    m.from = m.now;
    policy->measure(m.run(), {}, &g2);
    const Measurement second = policy->measure(m.run(), {}, &g2);
    CHECK(second.placement_wait_seconds == 0);
    CHECK(second.displaced_samples == second.samples.size());
    // ... until a new plugin starts.
    g2.new_allowance();
    const Measurement third = policy->measure(m.run(), {}, &g2);
    CHECK(third.placement_wait_seconds > 0.1);
}

TEST_CASE("a pair keeps only A-B samples taken in the reference placement", "[placement]") {
    Machine m;
    PlacementGuard g(m.probe(), guard_config(), m.clock(), m.sleep());
    g.settle(0.5);
    m.from = m.now + 0.06;
    m.to = m.now + 0.3;
    auto policy = make_policy("adaptive", config(), m.clock());
    const PairMeasurement p = policy->measure_pair(m.run(1.0), m.run(3.0), {}, &g);
    CHECK(p.a.discarded_samples >= 1);
    CHECK(p.speedup == Approx(3.0).epsilon(0.03));
    CHECK(p.a.stats.max < 1.05e-4);
    CHECK(p.b.stats.max < 3.15e-4);
}

TEST_CASE("settle waits past its minimum for a faster placement seen in it to come back", "[placement]") {
    PlacementConfig pc;  // window of 15 probes, a probe every 10 ms
    // latency(t): the placement over fake time; settle(1, 6) on it, returning (duration, reference).
    auto settle = [&](const std::function<double(double)>& latency) {
        double now = 0;
        PlacementGuard g([&] { return latency(now); }, pc, [&] { return now; }, [&](double s) { now += s; });
        g.settle(1.0, 6.0);
        return std::make_pair(g.settle_seconds(), g.reference_ns());
    };
    // Near for 0.3 s, far until 2.5 s, near again: settle goes on until near holds a window again.
    const auto [back_after, back_ref] = settle([](double t) { return t < 0.3 || t >= 2.5 ? 30.0 : 160.0; });
    CHECK(back_ref == 30);
    CHECK(back_after > 2.5);
    CHECK(back_after < 2.7);
    // Far throughout: no faster placement was seen, so settle stops at its minimum.
    const auto [far_after, far_ref] = settle([](double) { return 160.0; });
    CHECK(far_ref == 160);
    CHECK(far_after == Approx(1.0).margin(0.011));
    // Near at first, never again: settle gives up at its maximum and measuring starts far.
    const auto [gave_up, gave_ref] = settle([](double t) { return t < 0.3 ? 30.0 : 160.0; });
    CHECK(gave_ref == 160);
    CHECK(gave_up == Approx(6.0).margin(0.011));
    // Near throughout (bare metal): the minimum, and the settle counts as near time, so a far episode
    // right after it is displaced rather than taken as the reference.
    double now = 0;
    PlacementGuard g([&] { return now < 1.1 || now >= 2.0 ? 30.0 : 160.0; }, pc, [&] { return now; },
                     [&](double s) { now += s; });
    g.settle(1.0, 6.0);
    CHECK(g.settle_seconds() == Approx(1.0).margin(0.011));
    std::size_t displaced = 0;
    while (now < 2.0) {
        displaced += !g.in_reference();
        now += 0.02;
    }
    CHECK(g.reference_ns() == 30);
    CHECK(displaced >= 40);
}
