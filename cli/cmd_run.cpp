// `calib-host run` (the default): discover, calibrate, write the profile, print the summary.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <sstream>

#include "calib/core/compare.hpp"
#include "calib/core/history.hpp"
#include "calib/core/preflight.hpp"
#include "calib/core/run.hpp"
#include "calib/plugin.h"
#include "calib/vocabulary.h"
#include "comparison.hpp"
#include "options.hpp"
#include "summary.hpp"

namespace calib::cli {

namespace fs = std::filesystem;

// Why `out` cannot be written, or empty: checked before any work, creating nothing (commands.hpp).
std::string check_output_path(const std::string& out) {
    fs::path p(out);
    if (fs::is_directory(p)) return "output path is a directory: " + out;
    fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
    if (!fs::is_directory(dir)) return "output folder does not exist: " + dir.string();
    // Try it (access() says yes to root even on read-only or virtual file systems); leave nothing behind.
    std::string probe = (dir / ".calib-write-test-XXXXXX").string();
    int fd = ::mkstemp(probe.data());
    if (fd < 0) return "output folder is not writable: " + dir.string();
    ::close(fd);
    ::unlink(probe.c_str());
    if (fs::exists(p) && ::access(p.c_str(), W_OK) != 0) return "output file is not writable: " + out;
    return {};
}

namespace {

std::atomic<bool> g_cancel{false};
std::atomic<int> g_signals{0};

extern "C" void on_interrupt(int) {
    // First signal: finish the current case. Second: stop at once (kill the workers).
    if (g_signals.fetch_add(1) == 0) {
        g_cancel.store(true);
    } else {
        core::kill_all_workers();
    }
}

std::vector<std::string> split_list(const std::vector<std::string>& values) {
    std::vector<std::string> out;
    for (const auto& v : values) {
        std::stringstream ss(v);
        std::string item;
        while (std::getline(ss, item, ','))
            if (!item.empty()) out.push_back(item);
    }
    return out;
}

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) {
        if (!s.empty()) s += ", ";
        s += x;
    }
    return s;
}

class Progress : public core::ProgressSink {
public:
    Progress(int verbosity, bool live) : verbosity_(verbosity), live_(live) {
        t0_ = std::chrono::steady_clock::now();
    }
    ~Progress() override { clear(); }
    // Ends the live line so that what follows (the summary on stdout) starts on a clean line.
    void finish() { clear(); }

    void plugin_scanned(const core::PluginRecord& p) override {
        if (verbosity_ < 2) return;
        std::cerr << (p.loaded ? "loaded   " : "rejected ") << p.path
                  << (p.loaded ? "" : ": " + p.reason) << "\n";
    }
    void case_started(const std::string& plugin, const std::string& name, std::size_t index,
                      std::size_t total) override {
        if (verbosity_ < 1 || !live_) return;
        double elapsed = seconds();
        std::string eta = index > 0 ? " eta " + fmt(elapsed / static_cast<double>(index) *
                                                    static_cast<double>(total - index)) + "s"
                                    : "";
        std::string line = "[" + std::to_string(index + 1) + "/" + std::to_string(total) + "] " + plugin +
                           " " + name + " (" + fmt(elapsed) + "s" + eta + ")";
        if (line.size() > 110) line = line.substr(0, 110);
        std::cerr << "\r\033[K" << line << std::flush;
        dirty_ = true;
    }
    void case_finished(const core::CaseOutcome& o, std::size_t done, std::size_t total) override {
        if (verbosity_ < 1) return;
        if (live_ && o.status == "ok" && verbosity_ < 2) return;
        clear();
        std::cerr << "[" << done << "/" << total << "] " << o.plugin_id << " " << o.info.name << ": " << o.status;
        if (o.measurement)
            std::cerr << " median " << fmt(o.measurement->stats.median * 1e3) << " ms, noise "
                      << fmt(o.measurement->stats.noise * 100) << "%, " << o.measurement->stats.count << " samples";
        if (o.pair)
            std::cerr << " speedup " << fmt(o.pair->speedup) << " [" << fmt(o.pair->speedup_ci_low) << ", "
                      << fmt(o.pair->speedup_ci_high) << "]";
        if (!o.message.empty()) std::cerr << " (" << o.message << ")";
        std::cerr << "\n";
    }

    void retry_started(std::size_t cases) override {
        if (verbosity_ < 1) return;
        clear();
        std::cerr << "end of run: " << cases
                  << " case(s) deferred or timed partly outside the reference CPU placement\n";
    }

private:
    double seconds() const {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    }
    static std::string fmt(double v) {
        char b[32];
        std::snprintf(b, sizeof b, v < 10 ? "%.3g" : "%.0f", v);
        return b;
    }
    void clear() {
        if (dirty_) std::cerr << "\r\033[K" << std::flush;
        dirty_ = false;
    }
    int verbosity_;
    bool live_;
    bool dirty_ = false;
    std::chrono::steady_clock::time_point t0_;
};

// The command line of a run, as given.
struct RunArgs {
    DiscoveryArgs disc;
    std::string hardware, output, filter, policy_name = "adaptive";
    double scan_timeout = 30, case_timeout = -1;
    double peak_gflops = -1, peak_bandwidth = -1, time_budget = -1, max_noise = -1, warmup = -1;
    double placement_wait = -1, placement_retry = -1, sustained = -1, energy_window = -1;
    int repetitions = 0;
    std::vector<std::string> operations, fusion, precisions;
    bool quick = false, as_json = false, quiet = false, verbose = false, no_guard = false;
    bool no_corunner = false, no_history = false;
    bool strict = false, no_preflight = false;
    std::size_t replicas = 0;
    std::string history;
};

po::options_description run_options(RunArgs& a) {
    po::options_description desc(
        "calib-host [run] [options]: calibrate this machine with every discovered plugin\n"
        "Exit codes: 0 ok; 1 some cases failed (results kept); 2 usage or input error (nothing written);\n"
        "3 internal error; 4 a preflight check failed under --strict (nothing written);\n"
        "130 interrupted (<output>.partial written)");
    desc.add_options()("help,h", "this help")("hardware", po::value(&a.hardware), "hardware name for the profile")(
        "peak-gflops", po::value(&a.peak_gflops), "theoretical fp32 peak GFLOPS (overrides detection)")(
        "peak-bandwidth", po::value(&a.peak_bandwidth), "theoretical memory bandwidth GB/s")(
        "output,o", po::value(&a.output), "write the profile here (atomically)")(
        "quick", po::bool_switch(&a.quick), "quick shapes and budgets")(
        "operations", po::value(&a.operations)->composing(), "comma list of: matmul, memory, transfer")(
        "fusion-patterns", po::value(&a.fusion)->composing(),
        "comma list of fusion categories (linear, conv, attention), pattern names, or all")(
        "filter", po::value(&a.filter), "only cases whose name matches this regular expression")(
        "precision", po::value(&a.precisions)->composing(), "comma list of precisions (fp32, bf16, ...)")(
        "time-budget", po::value(&a.time_budget), "seconds per case (default 0.15; quick 0.08)")(
        "max-noise", po::value(&a.max_noise), "target noise in percent (default 1)")(
        "warmup", po::value(&a.warmup), "warm-up seconds per case (default 0.02)")(
        "repetitions", po::value(&a.repetitions), "fixed number of samples per case (reproducible mode)")(
        "policy", po::value(&a.policy_name), "measurement policy: adaptive (default) or fixed")(
        "no-placement-guard", po::bool_switch(&a.no_guard),
        "keep samples taken while the CPUs sat elsewhere (see docs/measurement.md)")(
        "replicas", po::value(&a.replicas),
        "measure each case N times, each in a fresh worker and pass, the budget shared; intervals then "
        "cover the spread between them (default 2; 1: one worker's interval only; see docs/measurement.md)")(
        "sustained", po::value(&a.sustained),
        "seconds a plugin's sustained cases (its headline ones) also run back to back, energy and clocks read "
        "around them (default 10; 0: not; never with --quick)")(
        "energy-window", po::value(&a.energy_window),
        "shortest measurement, in seconds, whose energy is reported (default 1: the energy counter's steps "
        "make shorter windows meaningless)")(
        "no-corunner-check", po::bool_switch(&a.no_corunner),
        "keep samples timed while other processes used calib's CPUs (see docs/measurement.md)")(
        "placement-wait", po::value(&a.placement_wait),
        "seconds per plugin and per case to wait for the reference CPU placement (default 1 per plugin, 0.5 per case)")(
        "placement-retry", po::value(&a.placement_retry),
        "seconds the end-of-run pass waits for the reference CPU placement, for deferred cases and to "
        "re-measure displaced ones (default 10, 3 with --quick; 0: no deferral or retry)")(
        "scan-timeout", po::value(&a.scan_timeout), "seconds to load and list one plugin (default 30)")(
        "case-timeout", po::value(&a.case_timeout),
        "seconds one run call may take before the case is timed_out (default 10 x budget + 10)")(
        "json", po::bool_switch(&a.as_json), "write the profile to stdout")(
        "quiet,q", po::bool_switch(&a.quiet), "no progress output")(
        "verbose,v", po::bool_switch(&a.verbose), "one line per case and per plugin")(
        "history", po::value(&a.history),
        "record the run in this history database (default $XDG_DATA_HOME/calib/history.sqlite, else "
        "~/.local/share/calib/history.sqlite; see calib-host history)")(
        "no-history", po::bool_switch(&a.no_history), "do not record the run in the history")(
        "strict", po::bool_switch(&a.strict),
        "refuse to run when a preflight check fails (exit 4, nothing written; see docs/measurement.md)")(
        "no-preflight", po::bool_switch(&a.no_preflight),
        "skip the preflight checks (governor, clocks, load, co-runners, RAPL); the profile then has no "
        "metadata.preflight");
    a.disc.add_to(desc);
    return desc;
}

// Placement, peaks and timeouts onto `o`; the usage error, or empty.
std::string apply_host_args(const RunArgs& a, const po::variables_map& vm, core::RunOptions& o) {
    o.placement_guard = !a.no_guard;
    o.corunner_check = !a.no_corunner;
    if (vm.count("replicas")) {
        if (a.replicas < 1 || a.replicas > 16) return "--replicas must be between 1 and 16";
        o.replicas = a.replicas;
    }
    if (vm.count("sustained")) {
        if (!(a.sustained >= 0 && a.sustained <= 600)) return "--sustained must be between 0 and 600 seconds";
        o.sustained_seconds = a.sustained;
    }
    if (vm.count("energy-window")) {
        if (!(a.energy_window >= 0)) return "--energy-window must be >= 0 seconds";
        o.min_energy_window_seconds = a.energy_window;
    }
    if (vm.count("placement-wait")) {
        if (!(a.placement_wait >= 0)) return "--placement-wait must be >= 0 seconds";
        o.placement.max_wait_per_case = o.placement.max_wait_per_plugin = a.placement_wait;
    }
    if (vm.count("placement-retry")) {
        if (!(a.placement_retry >= 0)) return "--placement-retry must be >= 0 seconds";
        o.placement.retry_seconds = a.placement_retry;
    }
    o.hardware_name = a.hardware;
    if (vm.count("peak-gflops")) {
        if (!(a.peak_gflops > 0)) return "--peak-gflops must be a positive number";
        o.peak_gflops = a.peak_gflops;
    }
    if (vm.count("peak-bandwidth")) {
        if (!(a.peak_bandwidth > 0)) return "--peak-bandwidth must be a positive number";
        o.peak_bandwidth = a.peak_bandwidth;
    }
    if (!(a.scan_timeout > 0)) return "--scan-timeout must be a positive number of seconds";
    o.worker.scan_timeout_seconds = a.scan_timeout;
    if (vm.count("case-timeout")) {
        if (!(a.case_timeout > 0)) return "--case-timeout must be a positive number of seconds";
        o.run_timeout_seconds = a.case_timeout;
    }
    return {};
}

// The measurement policy's options onto `o`; the usage error, or empty.
std::string apply_policy_args(const RunArgs& a, const po::variables_map& vm, core::RunOptions& o) {
    if (vm.count("time-budget")) {
        if (!(a.time_budget > 0)) return "--time-budget must be a positive number of seconds";
        o.policy.time_budget_seconds = a.time_budget;
    }
    if (vm.count("max-noise")) {
        if (!(a.max_noise > 0 && a.max_noise < 100)) return "--max-noise must be a percentage in (0, 100)";
        o.policy.target_noise = a.max_noise / 100.0;
    }
    if (vm.count("warmup")) {
        if (!(a.warmup >= 0)) return "--warmup must be >= 0";
        o.policy.warmup_seconds = a.warmup;
    }
    if (vm.count("repetitions")) {
        if (a.repetitions < 1) return "--repetitions must be at least 1";
        o.policy.fixed_samples = static_cast<std::size_t>(a.repetitions);
        o.policy_name = "fixed";
    }
    if (vm.count("policy")) {
        auto names = core::policy_names();
        if (std::find(names.begin(), names.end(), a.policy_name) == names.end())
            return "unknown policy '" + a.policy_name + "' (valid: " + join(names) + ")";
        o.policy_name = a.policy_name;
    }
    return {};
}

// Which cases run (all but fusion patterns, which need the scanned plugins); the usage error, or empty.
std::string apply_selection_args(const RunArgs& a, const po::variables_map& vm, core::RunOptions& o) {
    if (!a.filter.empty()) {
        try {
            o.filter = std::regex(a.filter);
        } catch (const std::regex_error&) {
            return "--filter is not a valid regular expression: " + a.filter;
        }
    }
    o.precisions = split_list(a.precisions);
#define CALIB_NAME(name, origin) name,
    static const std::vector<std::string> known_precisions = {CALIB_PRECISIONS(CALIB_NAME)};  // calib/vocabulary.h
#undef CALIB_NAME
    for (const auto& p : o.precisions)
        if (std::find(known_precisions.begin(), known_precisions.end(), p) == known_precisions.end())
            return "unknown precision '" + p + "' (valid: " + join(known_precisions) + ")";
    o.operations = split_list(a.operations);
    o.operations_given = vm.count("operations") > 0;
    for (const auto& op : o.operations) {
        auto valid = core::operation_names();
        if (std::find(valid.begin(), valid.end(), op) == valid.end())
            return "unknown operation '" + op + "' (valid: " + join(valid) + ")";
    }
    o.fusion_patterns = split_list(a.fusion);
    o.fusion_given = vm.count("fusion-patterns") > 0;
    if (!a.output.empty()) return check_output_path(a.output);
    return {};
}

// Scans the plugins and checks what needed them; the usage error, or empty.
std::string scan_plugins(const core::RunOptions& o, Progress& progress, std::vector<core::PluginRecord>& plugins) {
    try {
        plugins = core::scan_all(o.discovery, o.worker, &progress);
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    if (o.fusion_given) {
        auto valid = core::fusion_pattern_names(plugins);
        for (const auto& f : o.fusion_patterns)
            if (std::find(valid.begin(), valid.end(), f) == valid.end())
                return "unknown fusion pattern '" + f + "' (valid: " + join(valid) + ")";
    }
    std::size_t loaded = 0;
    for (const auto& p : plugins) loaded += p.loaded ? 1 : 0;
    if (loaded == 0) return "no plugin could be loaded (try calib-host list)";
    return {};
}

// One check per device of each GPU plugin that reads its device state (ABI 1.1): clocks, power and
// temperature before the run; a warning when the idle device is already held down (power cap, heat,
// hardware slowdown) or hot. A plugin whose worker cannot say is skipped with the reason.
std::vector<core::PreflightCheck> gpu_checks(const std::vector<core::PluginRecord>& plugins, const core::WorkerOptions& w) {
    std::vector<core::PreflightCheck> out;
    for (const auto& p : plugins) {
        if (!p.loaded || p.abi_minor < 1 || p.device_kind != core::DeviceKind::gpu || !p.device_available) continue;
        core::PluginClient client(p.path, w);
        for (uint32_t d = 0; d < std::max<std::size_t>(1, p.devices.size()); ++d) {
            core::PreflightCheck c;
            c.name = "gpu_state:" + p.id + ":" + std::to_string(d);
            std::optional<core::DeviceState> s;
            try {
                s = client.read_state(d, 30);
            } catch (const std::exception& e) {
                c.status = "skip";
                c.message = std::string("the plugin's worker failed: ") + e.what();
                out.push_back(c);
                break;
            }
            if (!s || s->valid == 0) {
                c.status = "skip";
                c.message = "the plugin reads no device state";
                out.push_back(c);
                break;
            }
            char text[256];
            std::snprintf(text, sizeof text, "%s: SM %.0f MHz, memory %.0f MHz, %.0f W (limit %.0f W), %.0f C, throttle: %s",
                          d < p.devices.size() ? p.devices[d].name.c_str() : p.device_name.c_str(), s->sm_clock_mhz,
                          s->memory_clock_mhz, s->power_watts, s->power_limit_watts, s->temperature_c,
                          s->throttle == 0 ? "none" : core::throttle_text(s->throttle).c_str());
            c.message = text;
            const uint32_t held = s->throttle & (CALIB_THROTTLE_POWER_CAP | CALIB_THROTTLE_THERMAL | CALIB_THROTTLE_HW_SLOWDOWN);
            const bool hot = (s->valid & CALIB_STATE_TEMPERATURE) != 0 && s->temperature_c >= 80;
            c.status = held != 0 || hot ? "warn" : "pass";
            if ((s->valid & CALIB_STATE_TEMPERATURE) != 0) {
                c.value = s->temperature_c;
                c.threshold = 80;
                c.unit = "C";
            }
            out.push_back(c);
        }
    }
    return out;
}

// The preflight checks (preflight.hpp), printed on stderr: each warn and fail (--quiet: fails only).
// Under --strict a failure ends the run here: the failures are printed and nothing is written.
// GPU checks (clocks, power state) come from the scanned plugins' devices (gpu_checks).
std::optional<core::Preflight> preflight(const RunArgs& a, const core::RunOptions& o,
                                         const std::vector<core::PluginRecord>& plugins, bool& refused) {
    refused = false;
    if (a.no_preflight) return std::nullopt;
    core::PreflightOptions opts;
    opts.config.corunner = o.corunner;
    opts.corunner = o.corunner_check;  // --no-corunner-check: the run does not care, nor does the preflight
    opts.cpu_times = o.cpu_times_probe;
    opts.extra = gpu_checks(plugins, o.worker);
    core::Preflight p = core::run_preflight(opts);
    for (const auto& c : p.checks)
        if (c.status == "fail" || (c.status == "warn" && !a.quiet))
            std::cerr << "calib-host: preflight: " << core::describe(c) << "\n";
    if (!p.passed && a.strict) {
        std::cerr << "calib-host: preflight failed under --strict: nothing measured, nothing written"
                  << (a.output.empty() ? "" : " (" + a.output + " left as it was)") << "\n";
        refused = true;
        return p;
    }
    p.forced = !p.passed;
    if (p.forced && !a.quiet)
        std::cerr << "calib-host: preflight failed; measuring anyway (recorded in metadata.preflight; --strict "
                     "refuses)\n";
    return p;
}

// Records the run in the history and names the records SLOWER than in the last comparable run (same
// fingerprints). The history never changes the run's outcome: any failure is one warning line.
void record_history(const RunArgs& a, const core::Profile& profile, const std::string& text,
                    const std::string& written, bool complete) {
    if (a.no_history) return;
    try {
        core::HistoryDb db(a.history.empty() ? core::default_history_path() : fs::path(a.history));
        const std::string where = written.empty() ? std::string() : fs::absolute(written).string();
        const int64_t id = db.record(profile, text, where, core::nvidia_driver_version());
        if (!a.quiet) std::cerr << "run recorded as history run " << id << " (" << db.path().string() << ")\n";
        const auto prev = db.previous_comparable(id);
        if (!complete || !prev) return;
        const core::Profile before = core::parse_profile(db.profile_text(*prev));
        std::vector<core::RecordComparison> slower;
        for (auto& c : core::compare_profiles(before, profile))
            if (std::string(c.verdict) == "SLOWER") slower.push_back(std::move(c));
        if (slower.empty()) {
            if (!a.quiet) std::cerr << "no regression against history run " << *prev << "\n";
            return;
        }
        std::cerr << "calib-host: " << slower.size() << " regression(s) against history run " << *prev
                  << " (same hardware and software; calib-host history compare for every record):\n";
        for (const auto& c : slower) std::cerr << comparison_line(c);
    } catch (const std::exception& e) {
        std::string msg = e.what();
        for (char& ch : msg)
            if (ch == '\n') ch = ' ';
        std::cerr << "calib-host: warning: history: " << msg << "\n";
    }
}

std::string target_of(const RunArgs& a, const core::RunResult& result) {
    return result.complete ? a.output : a.output + ".partial";
}

// Writes the profile (atomically; <output>.partial when interrupted), prints it or its summary, and
// returns the run's exit code.
int finish(const RunArgs& a, const core::RunResult& result, const core::RunOptions& o) {
    core::Profile profile = core::build_profile(result, o);
    const std::string text = core::to_json_text(profile);
    if (!a.output.empty()) {
        const std::string target = target_of(a, result);
        try {
            core::save_text_atomic(target, text);
        } catch (const std::exception& e) {
            std::cerr << "calib-host: error: " << e.what() << "\n";
            return kExitUsage;
        }
        if (!a.quiet) std::cerr << "profile written to " << target << "\n";
    }
    if (a.as_json) std::cout << text << "\n";
    else if (!a.quiet) print_summary(std::cout, profile);
    std::cout.flush();
    record_history(a, profile, text, a.output.empty() ? std::string() : target_of(a, result), result.complete);

    if (!result.complete) {
        std::cerr << "calib-host: interrupted; "
                  << (a.output.empty() ? "nothing written" : a.output + ".partial written") << "\n";
        return kExitInterrupted;
    }
    for (const auto& c : result.outcomes)
        if (c.status != "ok" && c.status != "unsupported" && c.status != "unavailable") return kExitCaseFailures;
    return kExitOk;
}

}  // namespace

int cmd_run(const Args& args) {
    RunArgs a;
    const po::options_description desc = run_options(a);
    po::variables_map vm;
    if (int code = 0; !parse_command(args, desc, vm, code)) return code;

    core::RunOptions o = core::run_preset(a.quick ? core::Preset::quick : core::Preset::standard);
    o.discovery = a.disc.options();
    for (auto apply : {apply_host_args, apply_policy_args, apply_selection_args})
        if (auto err = apply(a, vm, o); !err.empty()) return usage_error(err);

    const int verbosity = a.quiet ? 0 : (a.verbose ? 2 : 1);
    o.worker.verbosity = verbosity;
    Progress progress(verbosity, ::isatty(STDERR_FILENO) == 1);
    std::vector<core::PluginRecord> plugins;
    if (auto err = scan_plugins(o, progress, plugins); !err.empty()) return usage_error(err);
    bool refused = false;
    std::optional<core::Preflight> checks = preflight(a, o, plugins, refused);
    if (refused) return kExitPreflight;

    std::signal(SIGINT, on_interrupt);
    std::signal(SIGTERM, on_interrupt);
    core::RunResult result = core::run_calibration(o, plugins, g_cancel, &progress);
    result.preflight = std::move(checks);
    progress.finish();
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    return finish(a, result, o);
}

}  // namespace calib::cli
