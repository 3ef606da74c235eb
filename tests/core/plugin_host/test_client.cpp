#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include <fcntl.h>
#include <unistd.h>

#include "calib/plugin.h"
#include "fixtures.hpp"

using calib::core::FailureKind;
using calib::core::PluginClient;
using calib::core::WorkerFailure;
using calib::test::fixture;
using calib::test::worker_options;

namespace {

constexpr double kTimeout = 10;

// The failure a call throws; fails the test when it does not throw one.
template <class F>
WorkerFailure failure_of(F&& f) {
    try {
        f();
    } catch (const WorkerFailure& e) {
        return e;
    }
    FAIL("expected a WorkerFailure");
    throw;  // unreachable
}

double run_case(PluginClient& c, uint32_t index, uint64_t iterations) {
    auto p = c.prepare(index, kTimeout);
    double s = c.run(p.instance, iterations, kTimeout);
    c.release(p.instance);
    return s;
}

}  // namespace

TEST_CASE("client: prepare, run and release on the good fixture", "[client]") {
    PluginClient c(fixture("good"), worker_options());
    auto p0 = c.prepare(0, kTimeout);
    CHECK(p0.info.implementation == "busy:reference");
    CHECK(p0.info.reference_fallback);
    CHECK(p0.info.verified);
    CHECK(p0.info.max_abs_error == 1e-7);
    CHECK(p0.info.tolerance == 1e-5);
    CHECK(p0.info.params == calib::core::ParamList{{"impl_detail", "busy"}});
    auto p1 = c.prepare(1, kTimeout);  // several instances at once
    CHECK(p1.instance != p0.instance);
    CHECK(p1.info.implementation == "busy:jit");
    CHECK_FALSE(p1.info.reference_fallback);

    // The busy loop has a fixed cost per iteration: 200 iterations take far longer than 1.
    double one = 1e9, many = 1e9;
    for (int i = 0; i < 3; ++i) {
        one = std::min(one, c.run(p0.instance, 1, kTimeout));
        many = std::min(many, c.run(p0.instance, 200, kTimeout));
    }
    CHECK(one > 0);
    CHECK(many > 10 * one);
    CHECK(c.run(p1.instance, 2, kTimeout) > 0);
    c.release(p0.instance);
    c.release(p1.instance);

    // A released instance is gone.
    auto e = failure_of([&] { c.run(p0.instance, 1, kTimeout); });
    CHECK(e.kind == FailureKind::error);
    CHECK(e.status == CALIB_INVALID_ARGUMENT);
}

TEST_CASE("client: bad arguments are errors, not failures of the worker", "[client]") {
    PluginClient c(fixture("good"), worker_options());
    auto e = failure_of([&] { c.prepare(99, kTimeout); });
    CHECK(e.kind == FailureKind::error);
    CHECK(e.status == CALIB_INVALID_ARGUMENT);
    auto p = c.prepare(0, kTimeout);
    e = failure_of([&] { c.run(p.instance, 0, kTimeout); });
    CHECK(e.kind == FailureKind::error);
    CHECK(e.status == CALIB_INVALID_ARGUMENT);
    CHECK(c.run(p.instance, 1, kTimeout) > 0);  // same worker, same instance
}

TEST_CASE("client: a segfault in run is reported and the next call gets a fresh worker", "[client]") {
    PluginClient c(fixture("segv_run"), worker_options());
    auto p = c.prepare(0, kTimeout);
    auto e = failure_of([&] { c.run(p.instance, 1, kTimeout); });
    CHECK(e.kind == FailureKind::crashed);
    CHECK(e.signal == 11);
    CHECK(std::string(e.what()) == "killed by signal 11 (SIGSEGV)");

    // The old instance died with its worker; a new one works.
    auto stale = failure_of([&] { c.run(p.instance, 1, kTimeout); });
    CHECK(stale.kind == FailureKind::error);
    CHECK(run_case(c, 1, 3) > 0);
}

TEST_CASE("client: a segfault in prepare, then the next case works", "[client]") {
    PluginClient c(fixture("segv_prepare"), worker_options());
    auto e = failure_of([&] { c.prepare(0, kTimeout); });
    CHECK(e.kind == FailureKind::crashed);
    CHECK(e.signal == 11);
    CHECK(run_case(c, 1, 1) > 0);
}

TEST_CASE("client: abort is a crash with SIGABRT", "[client]") {
    PluginClient c(fixture("abort_run"), worker_options());
    auto p = c.prepare(0, kTimeout);
    auto e = failure_of([&] { c.run(p.instance, 1, kTimeout); });
    CHECK(e.kind == FailureKind::crashed);
    CHECK(e.signal == 6);
    CHECK_THAT(e.what(), Catch::Contains("SIGABRT"));
}

TEST_CASE("client: a hang in run times out, the worker is killed, the next call works", "[client]") {
    PluginClient c(fixture("hang_run"), worker_options());
    auto p = c.prepare(0, kTimeout);
    auto t0 = std::chrono::steady_clock::now();
    auto e = failure_of([&] { c.run(p.instance, 1, 0.3); });
    double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    CHECK(e.kind == FailureKind::timed_out);
    CHECK(took >= 0.3);
    CHECK(took < 3.0);
    CHECK(run_case(c, 2, 1) > 0);
}

TEST_CASE("client: exit() in run is reported as exited", "[client]") {
    PluginClient c(fixture("exit_run"), worker_options());
    auto p = c.prepare(0, kTimeout);
    auto e = failure_of([&] { c.run(p.instance, 1, kTimeout); });
    CHECK(e.kind == FailureKind::exited);
    CHECK(std::string(e.what()) == "exited with status 0");
    CHECK(run_case(c, 1, 1) > 0);
}

TEST_CASE("client: NaN, negative and zero times are errors", "[client]") {
    auto [variant, text] = GENERATE(std::pair<std::string, std::string>{"nan_run", "non-finite"},
                                    std::pair<std::string, std::string>{"negative_run", "non-positive"},
                                    std::pair<std::string, std::string>{"zero_run", "non-positive"});
    INFO(variant);
    PluginClient c(fixture(variant), worker_options());
    auto p = c.prepare(0, kTimeout);
    auto e = failure_of([&] { c.run(p.instance, 5, kTimeout); });
    CHECK(e.kind == FailureKind::error);
    CHECK_THAT(e.what(), Catch::Contains(text));
    CHECK(c.run(c.prepare(1, kTimeout).instance, 1, kTimeout) > 0);
}

TEST_CASE("client: exceptions in a C++ plugin come back as status and message", "[client]") {
    PluginClient c(fixture("cpp"), worker_options());
    auto p = c.prepare(0, kTimeout);
    auto e = failure_of([&] { c.run(p.instance, 1, kTimeout); });
    CHECK(e.kind == FailureKind::error);
    CHECK(e.status == CALIB_ERROR);
    CHECK(std::string(e.what()) == "fixture: kernel exploded");

    e = failure_of([&] { c.prepare(1, kTimeout); });
    CHECK(e.kind == FailureKind::error);
    CHECK(e.status == CALIB_UNSUPPORTED);
    CHECK(std::string(e.what()) == "bf16 is not supported here");

    e = failure_of([&] { c.prepare(3, kTimeout); });
    CHECK(e.status == CALIB_ERROR);
    CHECK(std::string(e.what()) == "unknown exception");

    CHECK(run_case(c, 2, 10) > 0);
}

TEST_CASE("client: garbage written to stdout does not disturb the protocol nor reach our stdout", "[client]") {
    // Point our fd 1 at a file while the worker lives: whatever the plugin prints must not land there.
    calib::test::TempDir dir;
    std::string out_path = (dir / "stdout").string();
    std::fflush(stdout);
    int saved = ::dup(STDOUT_FILENO);
    int file = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    REQUIRE(saved >= 0);
    REQUIRE(file >= 0);
    ::dup2(file, STDOUT_FILENO);
    ::close(file);
    std::vector<double> times;
    {
        PluginClient c(fixture("garbage_stdout"), worker_options());
        for (uint32_t i = 0; i < 3; ++i) times.push_back(run_case(c, i, 2));
    }
    std::fflush(stdout);
    ::dup2(saved, STDOUT_FILENO);
    ::close(saved);
    for (double t : times) CHECK(t > 0);
    CHECK(std::filesystem::file_size(out_path) == 0);
}

TEST_CASE("client: a plugin that cannot load is an error on the first call", "[client]") {
    PluginClient c(fixture("init_error"), worker_options());
    auto e = failure_of([&] { c.prepare(0, kTimeout); });
    CHECK(e.kind == FailureKind::error);
    CHECK(e.status == CALIB_UNAVAILABLE);
    CHECK_THAT(e.what(), Catch::Contains("init_failed") && Catch::Contains("no widget attached"));
}

TEST_CASE("client: terminate kills the worker, the next call starts another", "[client]") {
    PluginClient c(fixture("good"), worker_options());
    auto p = c.prepare(0, kTimeout);
    c.terminate();
    c.release(p.instance);  // never throws, nothing to release
    auto e = failure_of([&] { c.run(p.instance, 1, kTimeout); });
    CHECK(e.kind == FailureKind::error);  // the instance died with the old worker
    CHECK(run_case(c, 0, 1) > 0);
}

TEST_CASE("client: kill_all_workers kills live workers, they are reported and restarted", "[client]") {
    PluginClient a(fixture("good"), worker_options());
    PluginClient b(fixture("cpp"), worker_options());
    auto pa = a.prepare(0, kTimeout);
    auto pb = b.prepare(2, kTimeout);
    calib::core::kill_all_workers();
    auto e = failure_of([&] { a.run(pa.instance, 1, kTimeout); });
    CHECK(e.kind == FailureKind::crashed);
    CHECK(e.signal == 9);
    e = failure_of([&] { b.run(pb.instance, 1, kTimeout); });
    CHECK(e.kind == FailureKind::crashed);
    CHECK(run_case(a, 0, 1) > 0);
    CHECK(run_case(b, 2, 1) > 0);
}
