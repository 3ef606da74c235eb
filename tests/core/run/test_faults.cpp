// A run over a folder holding a good plugin and every fault fixture: the run completes, each fault is
// recorded with its kind, and every good result is present and valid.
#include <catch2/catch.hpp>
#include <filesystem>
#include <functional>
#include <map>

#include "calib/core/run.hpp"
#include "fixture_run.hpp"

using namespace calib::core;
namespace fs = std::filesystem;

namespace {

using run_test::Folder;
using run_test::fixture_options;

std::string stem_of(const std::string& path) { return fs::path(path).stem().string(); }

// Counts retry passes; the test flips the injected placement when the pass starts.
struct RetrySink : ProgressSink {
    std::function<void()> on_retry;
    std::size_t passes = 0;
    void retry_started(std::size_t) override {
        ++passes;
        if (on_retry) on_retry();
    }
};

}  // namespace

TEST_CASE("every fault costs only its own results", "[run][faults]") {
    Folder f;
    const std::vector<std::string> variants = {
        "good", "segv_prepare", "segv_run", "abort_run", "hang_run", "exit_run", "garbage_stdout", "nan_run",
        "negative_run", "zero_run", "cpp", "ctor_crash", "ctor_hang", "ctor_exit", "init_error"};
    for (const auto& v : variants)
        fs::copy_file(fs::path(CALIB_FIXTURE_DIR) / ("fixture_" + v + ".so"), f.dir / ("fixture_" + v + ".so"));

    RunOptions o = fixture_options(f.dir);

    auto plugins = scan_all(o.discovery, o.worker);
    REQUIRE(plugins.size() == variants.size());
    std::map<std::string, const PluginRecord*> by_stem;
    for (const auto& p : plugins) by_stem[stem_of(p.path)] = &p;
    CHECK(by_stem["fixture_ctor_crash"]->reason_code == RejectReason::crashed);
    CHECK(by_stem["fixture_ctor_hang"]->reason_code == RejectReason::timed_out);
    CHECK(by_stem["fixture_ctor_exit"]->reason_code == RejectReason::exited);
    CHECK(by_stem["fixture_init_error"]->reason_code == RejectReason::init_failed);

    std::atomic<bool> cancel{false};
    RunResult r = run_calibration(o, plugins, cancel);
    CHECK(r.complete);

    // status of (plugin file, case name)
    std::map<std::pair<std::string, std::string>, const CaseOutcome*> st;
    for (const auto& c : r.outcomes) st[{stem_of(c.plugin_path), c.info.name}] = &c;
    auto status = [&](const std::string& plugin, const std::string& name) {
        auto it = st.find({"fixture_" + plugin, name});
        return it == st.end() ? std::string("missing") : it->second->status;
    };
    CHECK(status("good", "busy_loop") == "ok");
    CHECK(status("good", "lbr_fused") == "ok");
    CHECK(status("segv_prepare", "busy_loop") == "crashed");
    CHECK(status("segv_run", "busy_loop") == "crashed");
    CHECK(st.at({"fixture_segv_run", "busy_loop"})->message.find("SIGSEGV") != std::string::npos);
    CHECK(status("abort_run", "busy_loop") == "crashed");
    CHECK(status("hang_run", "busy_loop") == "timed_out");
    CHECK(status("exit_run", "busy_loop") == "exited");
    CHECK(status("nan_run", "busy_loop") == "failed");
    CHECK(status("negative_run", "busy_loop") == "failed");
    CHECK(status("zero_run", "busy_loop") == "failed");
    CHECK(status("garbage_stdout", "busy_loop") == "ok");
    CHECK(status("cpp", "throws_in_run") == "failed");
    CHECK(st.at({"fixture_cpp", "throws_in_run"})->message.find("kernel exploded") != std::string::npos);
    CHECK(status("cpp", "unsupported_bf16") == "unsupported");
    CHECK(status("cpp", "throws_non_std") == "failed");
    CHECK(status("cpp", "ok") == "ok");
    // After each fault the same plugin's next comparison still ran in a fresh worker.
    for (const char* v : {"segv_prepare", "segv_run", "abort_run", "hang_run", "exit_run", "nan_run"})
        CHECK(status(v, "lbr_fused") == "ok");

    Profile p = build_profile(r, o);
    auto problems = validate(to_json(p));
    for (const auto& pr : problems) UNSCOPED_INFO(pr);
    CHECK(problems.empty());
    std::size_t failures = p.extensions.at("failed_cases").as_array().size();
    CHECK(failures == 11);
    bool good_fusion = false;
    for (const auto& [k, rec] : p.fusion_profiles) good_fusion |= rec.fusion_pattern == "Linear_Bias_ReLU";
    CHECK(good_fusion);
    const auto& plist = p.extensions.at("plugins").as_array();
    std::size_t rejected = 0;
    for (const auto& j : plist) rejected += j.at("status") == "rejected";
    CHECK(rejected == 4);
}

// The end-of-run pass. The placement turns displaced when the first case starts; the 10 ms allowances
// run out in it, so it keeps displaced samples, and the cases after it are deferred unmeasured.
TEST_CASE("displaced cases are deferred or measured again at the end of the run", "[run][placement]") {
    Folder f;
    fs::copy_file(fs::path(CALIB_FIXTURE_DIR) / "fixture_good.so", f.dir / "fixture_good.so");
    RunOptions o = fixture_options(f.dir);
    o.placement.max_wait_per_case = o.placement.max_wait_per_plugin = 0.01;
    o.placement.poll_seconds = 0.001;
    std::atomic<bool> far{false};
    o.placement_probe = [&] { return far.load() ? 200.0 : 30.0; };
    auto plugins = scan_all(o.discovery, o.worker);
    REQUIRE(plugins.size() == 1);
    std::atomic<bool> cancel{false};

    struct FarFromFirstCase : RetrySink {
        std::atomic<bool>* far;
        void case_started(const std::string&, const std::string&, std::size_t, std::size_t) override {
            if (passes == 0) *far = true;
        }
    };
    FarFromFirstCase sink;
    sink.far = &far;
    auto displaced = [](const CaseOutcome& c) { return (c.pair ? c.pair->a : *c.measurement).displaced_samples; };
    // One pass, one case measured again and replaced; returns the ok outcomes marked "replaced".
    auto one_replaced = [](const RunResult& r, const RetrySink& s) {
        CHECK(s.passes == 1);
        CHECK(r.placement.retried_cases == 1);
        CHECK(r.placement.replaced_cases == 1);
        std::vector<const CaseOutcome*> out;
        for (const auto& c : r.outcomes)
            if (c.status == "ok" && c.placement_retry == "replaced") out.push_back(&c);
        CHECK(out.size() == 1);
        return out;
    };

    SECTION("the placement returns when the pass starts: all ok results are clean") {
        o.placement.retry_seconds = 5;
        sink.on_retry = [&] { far = false; };
        RunResult r = run_calibration(o, plugins, cancel, &sink);
        CHECK(sink.passes == 1);
        CHECK(r.placement.deferred_cases >= 1);
        CHECK(r.placement.retried_cases == 1);  // the first case
        CHECK(r.placement.replaced_cases == 1);
        std::map<std::string, std::size_t> how;
        for (const auto& c : r.outcomes) {
            if (c.status != "ok") continue;
            ++how[c.placement_retry];
            CHECK(displaced(c) == 0);
            CHECK((c.pair ? c.pair->a : *c.measurement).samples.size() >= 3);
        }
        CHECK(how["replaced"] == 1);
        CHECK(how["deferred"] == r.placement.deferred_cases);
        CHECK(how[""] == 0);
        Profile p = build_profile(r, o);
        CHECK(validate(to_json(p)).empty());
        const auto& place = p.extensions.at("run").at("policy").at("placement").as_object();
        CHECK(place.at("deferred_cases").as_int64() == static_cast<int64_t>(r.placement.deferred_cases));
        // The rule's parameters travel with the numbers.
        CHECK(place.at("reference_min_share").as_double() == o.placement.reference_min_share);
        CHECK(place.at("settle_min_seconds").as_double() == o.placement.settle_min_seconds);
        CHECK(place.at("settle_seconds").as_double() >= o.placement.settle_min_seconds);
        std::size_t marked = 0;
        for (const auto& [k, rec] : p.fusion_profiles) marked += rec.extra_params.contains("placement_retry");
        CHECK(marked >= 1);
    }
    SECTION("the placement never returns: deferred cases are measured anyway, nothing is retried") {
        o.placement.retry_seconds = 0.05;
        o.placement.max_wait_per_case = o.placement.max_wait_per_plugin = 0.1;
        RunResult r = run_calibration(o, plugins, cancel, &sink);
        CHECK(sink.passes == 1);
        CHECK(r.placement.retried_cases == 0);
        CHECK(r.placement.deferred_cases >= 1);
        // Waiting: the main pass's allowance, the pass's own wait and one allowance for the pass.
        INFO("deferred " << r.placement.deferred_cases << ", waited " << r.placement.wait_seconds);
        CHECK(r.placement.wait_seconds > 0.1);
        CHECK(r.placement.wait_seconds < 0.1 + 0.05 + 0.1 + 0.1);
        std::size_t deferred = 0;
        for (const auto& c : r.outcomes) {
            if (c.status != "ok") continue;
            CHECK(displaced(c) > 0);  // timed displaced, and the record says so
            deferred += c.placement_retry == "deferred";
        }
        CHECK(deferred == r.placement.deferred_cases);
    }
    SECTION("the pass's time is spent: a retry still runs when one probe finds the reference placement") {
        o.placement.retry_seconds = 1e-6;
        sink.on_retry = [&] { far = false; };
        RunResult r = run_calibration(o, plugins, cancel, &sink);
        CHECK(r.placement.deferred_cases >= 1);
        CHECK(r.placement.retried_cases == 1);
        CHECK(r.placement.replaced_cases == 1);
    }
    SECTION("a run that starts far and moves to near: the cases measured far are measured again") {
        struct NearFromSecondCase : RetrySink {
            std::atomic<bool>* far;
            int started = 0;
            void case_started(const std::string&, const std::string&, std::size_t, std::size_t) override {
                if (++started == 2) *far = false;
            }
        };
        NearFromSecondCase near_sink;
        near_sink.far = &far;
        far = true;  // the settle and the first case: far is all the run has seen, so the reference
        o.placement.retry_seconds = 5;
        o.placement.settle_min_seconds = o.placement.settle_max_seconds = 0.02;
        // Near must hold reference_min_share of the run's time to become the reference; under load the
        // far part (worker start, first case) can stretch past 65% of this short run, so ask for 10%.
        o.placement.reference_min_share = 0.1;
        RunResult r = run_calibration(o, plugins, cancel, &near_sink);
        CHECK(r.placement.initial_reference_ns == 200);
        CHECK(r.placement.reference_ns == 30);
        CHECK(r.placement.stale_cases == 1);
        one_replaced(r, near_sink);
        for (const auto& c : r.outcomes)
            if (c.status == "ok") CHECK(displaced(c) == 0);
        // Without the pass the first case stays, counted displaced throughout.
        far = true;
        near_sink.started = 0;
        near_sink.passes = 0;
        o.placement.retry_seconds = 0;
        RunResult kept = run_calibration(o, plugins, cancel, &near_sink);
        CHECK(kept.placement.stale_cases == 0);  // no pass, no listing
    }
    SECTION("a case whose CPU the hypervisor stole from is measured again") {
        struct StealDuringFirstCase : RetrySink {
            std::atomic<bool>* stealing;
            int started = 0;
            void case_started(const std::string&, const std::string&, std::size_t, std::size_t) override {
                *stealing = ++started == 1 && passes == 0;
            }
        };
        std::atomic<bool> stealing{false};
        StealDuringFirstCase steal_sink;
        steal_sink.stealing = &stealing;
        // CPU 1 loses 90% of its time while the first case runs; CPU 0 never does. Every case runs to
        // its 0.05 s budget, so the first loses > 20 ms.
        o.policy.target_noise = 0;
        double stolen = 0, last = 0;
        o.steal_probe = [&] {
            const double t = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
            if (stealing.load() && last > 0) stolen += 0.9 * (t - last);
            last = t;
            return std::vector<double>{0.0, stolen};
        };
        o.placement.retry_seconds = 5;
        RunResult r = run_calibration(o, plugins, cancel, &steal_sink);
        CHECK(r.placement.steal_cases == 1);
        for (const CaseOutcome* c : one_replaced(r, steal_sink)) CHECK(c->steal_seconds == 0);
        Profile p = build_profile(r, o);
        CHECK(p.extensions.at("run").at("policy").at("placement").at("steal_cases").as_int64() == 1);
    }
    SECTION("retry_seconds = 0: no deferral and no pass") {
        o.placement.retry_seconds = 0;
        RunResult r = run_calibration(o, plugins, cancel, &sink);
        CHECK(sink.passes == 0);
        CHECK(r.placement.deferred_cases == 0);
        for (const auto& c : r.outcomes)
            if (c.status == "ok") CHECK(c.placement_retry.empty());
    }
}

// One record per case: the same plugin id found in two folders is loaded from the first only (the search
// order: --plugins folders in order, then CALIB_PLUGIN_PATH, then the built-in folder); the other copy is
// listed as a duplicate naming the path it lost to, and runs nothing.
TEST_CASE("the same plugin id in two folders runs once: the first found wins", "[run][duplicates]") {
    Folder first, second;
    fs::copy_file(fs::path(CALIB_FIXTURE_DIR) / "fixture_good.so", first.dir / "fixture_good.so");
    fs::copy_file(fs::path(CALIB_FIXTURE_DIR) / "fixture_good.so", second.dir / "a_copy.so");
    RunOptions o = fixture_options(first.dir);
    o.discovery.plugin_dirs = {second.dir, first.dir};  // the copy's folder is searched first
    o.placement_guard = false;
    auto plugins = scan_all(o.discovery, o.worker);
    REQUIRE(plugins.size() == 2);
    CHECK(plugins[0].loaded);
    CHECK(plugins[0].path == (second.dir / "a_copy.so").string());
    CHECK_FALSE(plugins[1].loaded);
    CHECK(plugins[1].reason_code == RejectReason::duplicate);
    CHECK(plugins[1].duplicate_of == plugins[0].path);
    CHECK(std::string(status_of(plugins[1])) == "duplicate");
    CHECK(plugins[1].reason.find(plugins[0].path) != std::string::npos);

    std::atomic<bool> cancel{false};
    RunResult r = run_calibration(o, plugins, cancel);
    REQUIRE_FALSE(r.outcomes.empty());
    for (const auto& c : r.outcomes) CHECK(c.plugin_path == plugins[0].path);
    Profile p = build_profile(r, o);
    for (const auto& [key, rec] : p.operation_profiles) CHECK(key.find('#') == std::string::npos);
    for (const auto& [key, rec] : p.fusion_profiles) CHECK(key.find('#') == std::string::npos);
}
