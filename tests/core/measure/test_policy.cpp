// The stopping rule driven by synthetic streams: each RunFn advances a fake clock by the synthetic
// time it reports, so the tests are exact and take no wall time.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "calib/core/measure.hpp"
#include "policy_test_util.hpp"

using namespace calib::core;
using Approx = Catch::Detail::Approx;

namespace {

struct FakeClock {
    double now = 100.0;
    ClockFn fn() {
        return [this] { return now; };
    }
    // A case whose per-execution time for the k-th call (0-based) is per_exec(k).
    RunFn stream(std::function<double(std::size_t)> per_exec, std::size_t* calls = nullptr) {
        return [this, per_exec = std::move(per_exec), calls, k = std::size_t{0}](uint64_t iters) mutable {
            const double t = per_exec(k++) * static_cast<double>(iters);
            now += t;
            if (calls) ++*calls;
            return t;
        };
    }
};

// Per-execution time base * (1 + rel * N(0,1)), deterministic.
std::function<double(std::size_t)> gaussian(double base, double rel, unsigned seed) {
    auto rng = std::make_shared<std::mt19937>(seed);
    return [=](std::size_t) {
        std::normal_distribution<double> d(0.0, rel);
        return base * std::max(0.05, 1 + d(*rng));
    };
}

PolicyConfig test_config() { return calib::core::test::base_config(); }

}  // namespace

TEST_CASE("make_policy knows adaptive and fixed, rejects the rest", "[policy]") {
    FakeClock clk;
    CHECK(make_policy("adaptive", test_config(), clk.fn())->name() == "adaptive");
    CHECK(make_policy("fixed", test_config(), clk.fn())->name() == "fixed");
    CHECK(make_policy("fixed", test_config(), clk.fn())->config().fixed_samples == 10);
    PolicyConfig c = test_config();
    c.fixed_samples = 7;
    CHECK(make_policy("adaptive", c, clk.fn())->name() == "fixed");  // fixed_samples > 0 selects fixed
    CHECK_THROWS_AS(make_policy("bogus", test_config()), std::invalid_argument);
    c.max_samples = 0;
    CHECK_THROWS_AS(make_policy("adaptive", c), std::invalid_argument);
    CHECK(policy_names() == std::vector<std::string>{"adaptive", "fixed"});
}

TEST_CASE("adaptive: a clean stream converges after at least min_samples", "[policy]") {
    FakeClock clk;
    const PolicyConfig cfg = test_config();
    auto policy = make_policy("adaptive", cfg, clk.fn());
    const double start = clk.now;
    const Measurement m = policy->measure(clk.stream(gaussian(1e-5, 0.001, 1)));
    CHECK(m.reason == StopReason::converged);
    CHECK(m.samples.size() >= cfg.min_samples);
    CHECK(m.stats.count == m.samples.size());
    CHECK(m.stats.noise <= cfg.target_noise);
    CHECK(m.stats.median == Approx(1e-5).epsilon(0.01));  // samples are per execution
    // One sample lasts at least min_sample_seconds, without gross overshoot.
    const double sample_s = static_cast<double>(m.iterations_per_sample) * 1e-5;
    CHECK(sample_s >= cfg.min_sample_seconds * 0.99);
    CHECK(sample_s <= cfg.min_sample_seconds * 3);
    CHECK(m.warmup_seconds >= cfg.warmup_seconds);
    CHECK(m.elapsed_seconds == Approx(clk.now - start));
}

TEST_CASE("adaptive: warm-up makes at least one call and a slow case runs once per sample", "[policy]") {
    FakeClock clk;
    PolicyConfig cfg = test_config();
    cfg.warmup_seconds = 0;
    std::size_t calls = 0;
    const Measurement m =
        make_policy("adaptive", cfg, clk.fn())->measure(clk.stream([](std::size_t) { return 0.05; }, &calls));
    CHECK(m.iterations_per_sample == 1);
    CHECK(m.warmup_seconds == Approx(0.05));  // exactly one warm-up call
    CHECK(calls == m.samples.size() + 1);
}

TEST_CASE("adaptive: a noisy stream gives up at the time budget", "[policy]") {
    FakeClock clk;
    PolicyConfig cfg = test_config();
    cfg.time_budget_seconds = 0.5;
    const double start = clk.now;
    const Measurement m = make_policy("adaptive", cfg, clk.fn())->measure(clk.stream(gaussian(1e-4, 0.3, 2)));
    CHECK(m.reason == StopReason::time_budget);
    CHECK(m.stats.noise > cfg.target_noise);
    // Stops at the first check past the budget: overshoot at most one sample.
    const double sample_s = static_cast<double>(m.iterations_per_sample) * 1e-4 * 3;
    CHECK(clk.now - start >= cfg.time_budget_seconds);
    CHECK(clk.now - start <= cfg.time_budget_seconds + sample_s);
    CHECK(m.samples.size() < cfg.max_samples);
}

TEST_CASE("adaptive: a drifting stream does not pass as converged", "[policy]") {
    FakeClock clk;
    PolicyConfig cfg = test_config();
    cfg.time_budget_seconds = 0.3;
    // Each call 2% slower than the last (e.g. thermal throttling): the median interval never tightens.
    const Measurement m = make_policy("adaptive", cfg, clk.fn())->measure(
        clk.stream([](std::size_t k) { return 1e-3 * std::pow(1.02, static_cast<double>(k)); }));
    CHECK(m.reason == StopReason::time_budget);
    CHECK(m.stats.noise > cfg.target_noise);
    CHECK(m.samples.front() < m.stats.median);
    CHECK(m.stats.median < m.samples.back());
}

TEST_CASE("adaptive: max_samples caps a slow-converging stream", "[policy]") {
    FakeClock clk;
    PolicyConfig cfg = test_config();
    cfg.max_samples = 15;
    cfg.time_budget_seconds = 1e9;
    const Measurement m = make_policy("adaptive", cfg, clk.fn())->measure(clk.stream(gaussian(1e-3, 0.3, 3)));
    CHECK(m.reason == StopReason::max_samples);
    CHECK(m.samples.size() == 15);
}

TEST_CASE("fixed: exactly N samples regardless of noise and budget", "[policy]") {
    FakeClock clk;
    PolicyConfig cfg = test_config();
    cfg.time_budget_seconds = 0.001;  // ignored in fixed mode
    SECTION("explicit count") {
        cfg.fixed_samples = 23;
        const Measurement m = make_policy("fixed", cfg, clk.fn())->measure(clk.stream(gaussian(1e-3, 0.3, 4)));
        CHECK(m.reason == StopReason::fixed_count);
        CHECK(m.samples.size() == 23);
    }
    SECTION("default count") {
        const Measurement m =
            make_policy("fixed", cfg, clk.fn())->measure(clk.stream(gaussian(1e-3, 0.001, 5)));
        CHECK(m.reason == StopReason::fixed_count);
        CHECK(m.samples.size() == 10);
    }
}

TEST_CASE("cancel stops between samples", "[policy]") {
    FakeClock clk;
    PolicyConfig cfg = test_config();
    cfg.time_budget_seconds = 1e9;
    cfg.target_noise = 0;  // would never converge on its own
    int polls = 0;
    const Measurement m = make_policy("adaptive", cfg, clk.fn())
                              ->measure(clk.stream(gaussian(1e-3, 0.05, 6)), [&] { return ++polls > 4; });
    CHECK(m.reason == StopReason::cancelled);
    CHECK(m.samples.size() == 4);  // polled before each sample
}

TEST_CASE("an exception from the case propagates", "[policy]") {
    FakeClock clk;
    auto policy = make_policy("adaptive", test_config(), clk.fn());
    RunFn failing = [&](uint64_t) -> double { throw std::runtime_error("worker died"); };
    CHECK_THROWS_WITH(policy->measure(failing), "worker died");
    RunFn fine = clk.stream(gaussian(1e-3, 0.001, 7));
    CHECK_THROWS_AS(policy->measure_pair(fine, failing), std::runtime_error);
}

TEST_CASE("pair: known 2x ratio gives a narrow interval around 2", "[policy][pair]") {
    FakeClock clk;
    PolicyConfig cfg = test_config();
    cfg.time_budget_seconds = 5;
    auto policy = make_policy("adaptive", cfg, clk.fn());
    std::vector<char> order;
    RunFn a0 = clk.stream(gaussian(1e-4, 0.01, 8)), b0 = clk.stream(gaussian(2e-4, 0.01, 9));
    RunFn a = [&](uint64_t n) { order.push_back('a'); return a0(n); };
    RunFn b = [&](uint64_t n) { order.push_back('b'); return b0(n); };
    const PairMeasurement p = policy->measure_pair(a, b);
    CHECK(p.reason == StopReason::converged);
    CHECK(p.a.samples.size() == p.b.samples.size());
    CHECK(p.a.samples.size() >= cfg.min_samples);
    CHECK(p.speedup == Approx(2.0).epsilon(0.02));
    CHECK(p.speedup_ci_low <= 2.0);
    CHECK(p.speedup_ci_high >= 2.0);
    CHECK(p.speedup_ci_low <= p.speedup);
    CHECK(p.speedup <= p.speedup_ci_high);
    CHECK((p.speedup_ci_high - p.speedup_ci_low) / 2 / p.speedup <= cfg.target_noise);
    // Each side got its own iteration count (b is twice as slow).
    CHECK(p.a.iterations_per_sample >= p.b.iterations_per_sample);
    // After the warm-ups the calls alternate a b a b ...
    const std::size_t n = p.a.samples.size();
    REQUIRE(order.size() >= 2 * n);
    for (std::size_t i = order.size() - 2 * n; i < order.size(); i += 2) {
        REQUIRE(order[i] == 'a');
        REQUIRE(order[i + 1] == 'b');
    }
}

TEST_CASE("pair: common drift cancels out of the speedup", "[policy][pair]") {
    FakeClock clk;
    PolicyConfig cfg = test_config();
    cfg.fixed_samples = 60;
    // Both sides slow down together by 1% per call; the ratio stays 3.
    auto drift = [](double base, unsigned seed) {
        auto g = gaussian(base, 0.01, seed);
        return [g](std::size_t k) { return g(k) * std::pow(1.01, static_cast<double>(k)); };
    };
    const PairMeasurement p =
        make_policy("fixed", cfg, clk.fn())->measure_pair(clk.stream(drift(1e-4, 10)), clk.stream(drift(3e-4, 11)));
    CHECK(p.reason == StopReason::fixed_count);
    CHECK(p.a.samples.size() == 60);
    CHECK(p.speedup_ci_low <= 3.0);
    CHECK(p.speedup_ci_high >= 3.0);
    CHECK(p.a.stats.noise > 0.05);  // each side alone is far from converged
}

TEST_CASE("pair: the bootstrap interval is deterministic", "[policy][pair]") {
    PolicyConfig cfg = test_config();
    cfg.fixed_samples = 30;
    auto run_once = [&] {
        FakeClock clk;
        return make_policy("fixed", cfg, clk.fn())
            ->measure_pair(clk.stream(gaussian(1e-4, 0.05, 12)), clk.stream(gaussian(1.5e-4, 0.05, 13)));
    };
    const PairMeasurement p1 = run_once(), p2 = run_once();
    CHECK(p1.speedup_ci_low == p2.speedup_ci_low);
    CHECK(p1.speedup_ci_high == p2.speedup_ci_high);
    CHECK(p1.speedup_ci_low < p1.speedup_ci_high);
}

TEST_CASE("pair: cancel and budget stop the pair", "[policy][pair]") {
    FakeClock clk;
    PolicyConfig cfg = test_config();
    cfg.time_budget_seconds = 0.2;
    cfg.target_noise = 0;
    auto policy = make_policy("adaptive", cfg, clk.fn());
    const PairMeasurement budget =
        policy->measure_pair(clk.stream(gaussian(1e-4, 0.05, 14)), clk.stream(gaussian(1e-4, 0.05, 15)));
    CHECK(budget.reason == StopReason::time_budget);
    CHECK(budget.a.reason == StopReason::time_budget);
    int polls = 0;
    const PairMeasurement cancelled = policy->measure_pair(clk.stream(gaussian(1e-4, 0.05, 16)),
                                                           clk.stream(gaussian(1e-4, 0.05, 17)),
                                                           [&] { return ++polls > 3; });
    CHECK(cancelled.reason == StopReason::cancelled);
    CHECK(cancelled.a.samples.size() == 3);
    CHECK(cancelled.b.samples.size() == 3);
}

TEST_CASE("a pair still too uncertain at its budget gets up to the extension, then stops", "[policy]") {
    PolicyConfig cfg = test_config();
    cfg.time_budget_seconds = 0.05;
    cfg.pair_max_halfwidth = 0.05;
    cfg.pair_budget_extension = 2.0;
    cfg.pair_min_samples = 3;  // the floor has its own test
    {
        FakeClock clk;
        auto policy = make_policy("adaptive", cfg, clk.fn());
        const PairMeasurement p =
            policy->measure_pair(clk.stream(gaussian(1e-4, 0.4, 11)), clk.stream(gaussian(2e-4, 0.4, 12)));
        CHECK(p.reason == StopReason::time_budget);
        CHECK(p.a.elapsed_seconds > 1.5 * cfg.time_budget_seconds);   // extended ...
        CHECK(p.a.elapsed_seconds < 2.2 * cfg.time_budget_seconds);   // ... but not past the cap
    }
    cfg.pair_budget_extension = 1.0;
    {
        FakeClock clk;
        auto policy = make_policy("adaptive", cfg, clk.fn());
        const PairMeasurement p =
            policy->measure_pair(clk.stream(gaussian(1e-4, 0.4, 11)), clk.stream(gaussian(2e-4, 0.4, 12)));
        CHECK(p.a.elapsed_seconds < 1.2 * cfg.time_budget_seconds);
    }
    cfg.pair_budget_extension = 2.0;
    {
        // Quiet streams: the interval is narrow at the budget, so no extension.
        FakeClock clk;
        cfg.target_noise = 0.0001;  // never converges on its own
        auto policy = make_policy("adaptive", cfg, clk.fn());
        const PairMeasurement p =
            policy->measure_pair(clk.stream(gaussian(1e-4, 0.01, 13)), clk.stream(gaussian(2e-4, 0.01, 14)));
        CHECK(p.reason == StopReason::time_budget);
        CHECK(p.a.elapsed_seconds < 1.2 * cfg.time_budget_seconds);
    }
}

TEST_CASE("a pair stops at its budget only with pair_min_samples pairs, a single case with 3", "[policy]") {
    PolicyConfig cfg = test_config();
    cfg.time_budget_seconds = 0.005;  // about one 2 ms sample, or half a pair
    cfg.target_noise = 0.0001;        // never converges on its own
    cfg.pair_min_samples = 6;
    FakeClock clk;
    auto policy = make_policy("adaptive", cfg, clk.fn());
    const Measurement m = policy->measure(clk.stream(gaussian(1e-4, 0.01, 21)));
    CHECK(m.reason == StopReason::time_budget);
    CHECK(m.samples.size() == 3);
    const PairMeasurement p =
        policy->measure_pair(clk.stream(gaussian(1e-4, 0.01, 22)), clk.stream(gaussian(2e-4, 0.01, 23)));
    CHECK(p.reason == StopReason::time_budget);
    CHECK(p.a.samples.size() == 6);
    CHECK(p.b.samples.size() == 6);
    cfg.min_samples = 4;  // the floor never exceeds min_samples
    auto capped = make_policy("adaptive", cfg, clk.fn());
    CHECK(capped->measure_pair(clk.stream(gaussian(1e-4, 0.01, 24)), clk.stream(gaussian(2e-4, 0.01, 25)))
              .a.samples.size() == 4);
}
