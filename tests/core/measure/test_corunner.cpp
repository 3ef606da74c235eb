// The co-runner monitor (corunner.hpp): foreign CPUs from injected readings, and a real busy process
// seen as a co-runner unless it is one of calib's own.
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

#include "calib/core/corunner.hpp"

using namespace calib::core;

namespace {

// A child process spinning until killed: a real co-runner.
struct Spinner {
    pid_t pid = -1;
    Spinner() {
        pid = ::fork();
        if (pid == 0) {
            volatile unsigned long x = 0;
            for (;;) x = x + 1;
        }
    }
    ~Spinner() {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
    }
};

}  // namespace

TEST_CASE("co-runner monitor: foreign CPUs are busy time minus calib's own, over the window", "[corunner]") {
    double t = 0, foreign_rate = 0, foreign = 0, self = 0, worker = 0;
    bool worker_alive = true;
    auto advance = [&](double dt, double self_rate, double worker_rate) {
        t += dt;
        foreign += foreign_rate * dt;
        self += self_rate * dt;
        worker += worker_rate * dt;
    };
    CoRunnerConfig cfg;
    cfg.window_seconds = 0.2;
    cfg.min_interval_seconds = 0;
    CoRunnerMonitor m(
        cfg, [&] { return CpuTimes{foreign + self + worker, 0, 2, true}; },
        [&] { return worker_alive ? std::vector<pid_t>{42} : std::vector<pid_t>{}; },
        [&](pid_t p) { return p == 0 ? self : worker; }, [&] { return t; });
    REQUIRE(m.available());
    // calib alone, its worker busy on both CPUs: nothing foreign.
    for (int i = 0; i < 30; ++i) {
        advance(0.01, 0.05, 1.9);
        CHECK(m.foreign_cpus_now() == Approx(0).margin(1e-9));
    }
    CHECK(m.quiet());
    // A co-runner takes 0.7 CPU: read as such once the window covers it.
    foreign_rate = 0.7;
    for (int i = 0; i < 30; ++i) advance(0.01, 0.05, 1.2), m.foreign_cpus_now();
    CHECK(m.foreign_cpus_now() == Approx(0.7).epsilon(0.01));
    CHECK_FALSE(m.quiet());
    CHECK(m.last().foreign == Approx(0.7 * 0.3).epsilon(0.01));
    // It stops: quiet again one window later.
    foreign_rate = 0;
    for (int i = 0; i < 25; ++i) advance(0.01, 0.05, 1.9), m.foreign_cpus_now();
    CHECK(m.quiet());
    // A window too short to read ticks from says nothing.
    CoRunnerMonitor fresh(
        cfg, [&] { return CpuTimes{foreign + self + worker + 5.0, 0, 2, true}; }, {},
        [&](pid_t p) { return p == 0 ? self : worker; }, [&] { return t; });
    t += 0.05;
    CHECK(fresh.foreign_cpus_now() == 0);
}

TEST_CASE("co-runner monitor: unreadable /proc/stat makes it unavailable and always quiet", "[corunner]") {
    CoRunnerMonitor m({}, [] { return CpuTimes{}; });
    CHECK_FALSE(m.available());
    CHECK(m.quiet());
    CHECK(m.description().rfind("unavailable", 0) == 0);
    CHECK_FALSE(read_cpu_times("/nonexistent/stat").ok);
}

TEST_CASE("co-runner monitor: a real busy process is a co-runner unless it is calib's own", "[corunner]") {
    REQUIRE(read_cpu_times().ok);
    Spinner spinner;
    REQUIRE(spinner.pid > 0);
    CoRunnerConfig cfg;
    cfg.window_seconds = 0.5;
    const pid_t child = spinner.pid;
    CoRunnerMonitor outsider(cfg);                                              // the spinner is foreign
    CoRunnerMonitor own(cfg, {}, [child] { return std::vector<pid_t>{child}; });  // the spinner is a worker
    double seen_outsider = 0, seen_own = 0;
    for (int i = 0; i < 40; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        seen_outsider = outsider.foreign_cpus_now();
        seen_own = own.foreign_cpus_now();
    }
    INFO("outsider " << seen_outsider << " CPUs, own " << seen_own << " CPUs");
    // The spinner holds about one CPU (less when the parallel tests compete for it); the difference
    // between the two monitors is its CPU time alone, whatever else runs.
    CHECK(seen_outsider > outsider.config().max_foreign_cpus);
    CHECK(seen_outsider - seen_own > 0.4);
    CHECK(process_cpu_seconds(child) > 0.3);
    CHECK(process_cpu_seconds(0) >= 0);
}
