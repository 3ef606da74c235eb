// calib-bench: the benchmark command behind docs/performance.md. Not part of ctest.
//   calib-bench [--build DIR] [--output docs/performance.md] [--runs 3] [--skip-ceilings] [--skip-runs]
//               [--skip-drift]
// 1. Ceilings: calib's fp32 matmul (square sizes) against a bare oneDNN loop, and calib's DRAM triad
//    against a plain OpenMP STREAM triad (-O3 -march=native), alternating calib / yardstick twice and
//    keeping each side's best, so drift hits both.
// 2. Stability: N full default calibrations back to back (and N --quick ones): wall time of each, and the
//    spread of every headline figure (best fp32/bf16 GFLOPS, DRAM copy/triad, each fusion speedup).
// 3. Drift: how much the machine itself moves, with calib's run around it taken away: the bare triad's
//    spread over its turns, and fusion pairs prepared once in one worker and measured again and again
//    under calib's policy for several seconds.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "calib/core/measure.hpp"
#include "calib/core/placement.hpp"
#include "calib/core/plugin_client.hpp"
#include "calib/core/profile.hpp"

namespace fs = std::filesystem;
namespace json = boost::json;
using calib::core::Profile;

namespace {

std::string run_capture(const std::string& cmd) {
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) throw std::runtime_error("cannot run " + cmd);
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int rc = ::pclose(p);
    if (rc != 0 && !(WIFEXITED(rc) && WEXITSTATUS(rc) == 1))
        throw std::runtime_error("command failed (" + std::to_string(rc) + "): " + cmd);
    return out;
}

double num(const json::value& v) { return v.is_double() ? v.as_double() : v.is_int64() ? double(v.as_int64()) : 0; }

const json::object* obj(const json::object& o, const char* k) {
    auto* v = o.if_contains(k);
    return v != nullptr && v->is_object() ? &v->as_object() : nullptr;
}

// The bare loops run under the same OpenMP environment as calib's workers, and only count when the CPUs
// sat in the reference placement before and after (the same guard calib's policy applies per sample).
struct BareRunner {
    calib::core::PlacementProbe probe;
    calib::core::PlacementGuard guard{[this] { return probe.probe_ns(); }};
    std::string env;
    int discarded = 0;
    BareRunner() {
        guard.settle(guard.config().settle_min_seconds, guard.config().settle_max_seconds);
        env = "env";
        for (const auto& d : calib::core::worker_env_defaults())
            env += std::string(" ") + d.name + "=" + calib::core::worker_env_value(d);
    }
    // A calib turn counts only when calib's own run measured in this placement: a turn whose settle
    // ended with the vCPUs spread took that as its reference (a DRAM triad turn read 41 GB/s against
    // the bare loop's 33).
    bool same_placement(const Profile& p) {
        const double mine = guard.reference_ns();
        double theirs = 0;
        if (auto* run = obj(p.extensions, "run"))
            if (auto* pol = obj(*run, "policy"))
                if (auto* pl = obj(*pol, "placement"); pl != nullptr && pl->contains("reference_ns"))
                    theirs = num(pl->at("reference_ns"));
        const double ratio = guard.config().displaced_ratio;
        const bool same = mine <= 0 || theirs <= 0 || (theirs <= ratio * mine && mine <= ratio * theirs);
        if (!same) ++calib_discarded;
        return same;
    }
    int calib_discarded = 0;
    std::string run(const std::string& cmd) {
        std::string out;
        for (int attempt = 0; attempt < 5; ++attempt) {
            double used = 0;
            guard.new_allowance();
            const bool before = guard.wait_for_reference(used);
            out = run_capture(env + " " + cmd);
            if (before && guard.in_reference()) return out;
            ++discarded;
        }
        return out;  // five displaced turns in a row: keep the last
    }
};

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::string f(double v, int p = 1) {
    char b[48];
    std::snprintf(b, sizeof b, "%.*f", p, v);
    return b;
}


// Headline figures of one profile.
std::map<std::string, double> headlines(const Profile& p) {
    std::map<std::string, double> h;
    if (p.precision_matrix.is_object())
        if (auto* pk = obj(p.precision_matrix.as_object(), "peak_gflops_by_precision"))
            for (const char* pr : {"fp32", "bf16"})
                if (auto* v = pk->if_contains(pr)) h[std::string("best ") + pr + " GFLOPS"] = num(*v);
    if (auto* mh = obj(p.extensions, "memory_hierarchy"))
        if (auto* lv = mh->if_contains("levels"); lv != nullptr && lv->is_array())
            for (const auto& l : lv->as_array())
                if (l.is_object() && l.as_object().at("name") == "DRAM") {
                    h["DRAM copy GB/s"] = num(l.as_object().at("copy_gbps"));
                    h["DRAM triad GB/s"] = num(l.as_object().at("triad_gbps"));
                }
    for (const auto& [key, r] : p.fusion_profiles)
        if (key.find('@') != std::string::npos) h["speedup " + key] = r.speedup_factor;
    return h;
}

struct Options {
    fs::path build = "build";
    fs::path output = "docs/performance.md";
    int runs = 3;
    bool ceilings = true, stability = true, drift = true;
};

// The case indexes of a fusion pair (`pattern_case` + "_fused" / "_unfused"); -1 when missing.
std::pair<int, int> pair_cases(const calib::core::WorkerOptions& wo, const fs::path& library,
                               const std::string& pattern_case) {
    std::pair<int, int> ids{-1, -1};
    for (const auto& c : calib::core::scan_plugin(library, wo).cases) {
        if (c.name == pattern_case + "_fused") ids.first = static_cast<int>(c.index);
        if (c.name == pattern_case + "_unfused") ids.second = static_cast<int>(c.index);
    }
    return ids;
}

// One fusion pair prepared once in a fresh worker, measured `times` times back to back under calib's
// default policy and placement guard: the speedup of each measurement, in order.
std::vector<double> pair_drift(const calib::core::WorkerOptions& wo, const fs::path& library,
                               std::pair<int, int> ids, int times, calib::core::PlacementGuard& guard) {
    using namespace calib::core;
    PluginClient client(library, wo);
    auto policy = make_policy("adaptive", policy_preset(Preset::standard));  // calib-host's default
    auto a = client.prepare(static_cast<uint32_t>(ids.first), 120);
    auto b = client.prepare(static_cast<uint32_t>(ids.second), 120);
    RunFn ra = [&](uint64_t n) { return client.run(a.instance, n, 60); };
    RunFn rb = [&](uint64_t n) { return client.run(b.instance, n, 60); };
    std::vector<double> out;
    for (int i = 0; i < times; ++i) {
        guard.new_allowance();
        out.push_back(policy->measure_pair(ra, rb, {}, &guard).speedup);
    }
    client.release(a.instance);
    client.release(b.instance);
    return out;
}

double median_of(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}
double spread_of(const std::vector<double>& v) {
    if (v.empty()) return 0;
    return (*std::max_element(v.begin(), v.end()) - *std::min_element(v.begin(), v.end())) / median_of(v);
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--build" && i + 1 < argc) o.build = argv[++i];
        else if (a == "--output" && i + 1 < argc) o.output = argv[++i];
        else if (a == "--runs" && i + 1 < argc) o.runs = std::atoi(argv[++i]);
        else if (a == "--skip-ceilings") o.ceilings = false;
        else if (a == "--skip-runs") o.stability = false;
        else if (a == "--skip-drift") o.drift = false;
        else {
            std::cerr << "usage: calib-bench [--build DIR] [--output FILE] [--runs N] [--skip-ceilings] [--skip-runs] [--skip-drift]\n";
            return 2;
        }
    }
    const std::string host = (o.build / "bin/calib-host").string();
    const std::string plugins = (o.build / "plugins").string();
    const std::string bare_mm = (o.build / "bin/calib_bench_matmul").string();
    const std::string bare_stream = (o.build / "bin/calib_bench_stream").string();
    const fs::path tmp = fs::temp_directory_path() / ("calib-bench-" + std::to_string(::getpid()));
    fs::create_directories(tmp);
    std::ostringstream md;
    Profile any;
    bool have_any = false;

    md << "# Performance\n\nWritten by `build/bin/calib-bench` (source `bench/calib_bench.cpp`); rerun it to "
          "refresh this page. Not part of the test suite. GPU figures (CUDA plugin against PyTorch on an "
          "H100): `docs/performance-gpu.md`. Whether intervals hold when someone measures again, and runs beside a "
          "co-runner (`bench/agreement_bench.sh`): `docs/performance-agreement.md`.\n\n";

    if (o.ceilings) {
        // calib against the yardsticks, alternating so that machine drift hits both sides.
        std::map<int, double> calib_mm, bare;
        double calib_triad = 0, bare_triad = 0, triad_bytes = 0;
        std::vector<double> calib_triad_turns, bare_triad_turns;
        std::string impl;
        BareRunner bare_runner;
        // matmul: calib's square fp32 sizes then the bare loop, three rounds.
        for (int round = 0; round < 3; ++round) {
            std::string out = (tmp / "ceil.json").string();
            run_capture(host + " --plugins " + plugins + " --no-default-plugins --operations matmul"
                        " --filter '^matmul_fp32_[0-9]+$' --time-budget 2 --quiet --output " + out);
            Profile p = calib::core::load_profile(out);
            any = p;
            have_any = true;
            if (!bare_runner.same_placement(p)) continue;
            for (const auto& [key, r] : p.operation_profiles)
                if (r.operation_type == "matmul" && r.extra_params.contains("matrix_size")) {
                    int n = static_cast<int>(num(r.extra_params.at("matrix_size")));
                    calib_mm[n] = std::max(calib_mm[n], r.measured_gflops);
                    impl = std::string(r.extra_params.at("implementation").as_string());
                }
            for (auto& [n, g] : calib_mm) {
                std::string s = bare_runner.run(bare_mm + " " + std::to_string(n) + " " + std::to_string(n) + " " +
                                            std::to_string(n) + " fp32 20 0.05");
                auto j = json::parse(s.substr(0, s.find('\n'))).as_object();
                bare[n] = std::max(bare[n], num(j.at("gflops")));
            }
        }
        // DRAM triad: DRAM bandwidth on a shared host drifts by 10% over seconds, so the two sides alternate
        // in short turns (calib's DRAM triad case alone, then the bare loop), seven times.
        for (int round = 0; round < 7; ++round) {
            std::string out = (tmp / "triad.json").string();
            run_capture(host + " --plugins " + plugins + " --no-default-plugins --operations memory"
                        " --filter '^stream_triad_' --time-budget 0.5 --quiet --output " + out);
            Profile p = calib::core::load_profile(out);
            if (!bare_runner.same_placement(p)) continue;
            if (auto* sw = p.extensions.if_contains("memory_sweep"); sw != nullptr && sw->is_array()) {
                double best_ws = 0, gbps = 0;
                for (const auto& e : sw->as_array()) {
                    const auto& eo = e.as_object();
                    double ws = num(eo.at("working_set_bytes"));
                    if (ws > best_ws) best_ws = ws, gbps = num(eo.at("best_gbps"));
                }
                calib_triad = std::max(calib_triad, gbps);
                calib_triad_turns.push_back(gbps);
                triad_bytes = best_ws;
            }
            if (triad_bytes > 0) {
                std::string s = bare_runner.run(bare_stream + " " + f(triad_bytes, 0));
                auto j = json::parse(s.substr(0, s.find('\n'))).as_object();
                bare_triad = std::max(bare_triad, num(j.at("gbps")));
                bare_triad_turns.push_back(num(j.at("gbps")));
            }
        }
        md << "## Ceilings against bare loops\n\nEach side run in alternation, best of the turns: matmul three "
              "turns (calib: `calib-host --operations matmul --filter '^matmul_fp32_[0-9]+$' --time-budget 2`), "
              "DRAM triad seven turns (calib: the triad sweep, its largest working set). Bare matmul: "
              "`calib_bench_matmul N N N fp32` (oneDNN primitive, weights reordered once, 20 samples, median); "
              "bare triad: `calib_bench_stream BYTES` (OpenMP, -O3 -march=native, best of 10 passes). Both "
              "triad figures are best-sample GB/s (STREAM's rule), calib's from its DRAM sweep point. The bare "
              "loops run with calib's worker environment (`OMP_WAIT_POLICY`, `GOMP_SPINCOUNT`, `OMP_PROC_BIND`, `OMP_PLACES`) "
              "and a turn counts only when the CPUs sat in the reference placement before and after it "
              "(docs/measurement.md, placement guard); calib applies the same guard per sample.\n\n"
              "| case | calib | bare | ratio |\n|---|---|---|---|\n";
        for (auto& [n, g] : calib_mm)
            md << "| matmul fp32 " << n << "^3 (GFLOPS) | " << f(g) << " | " << f(bare[n]) << " | "
               << f(g / bare[n] * 100, 1) << "% |\n";
        md << "| DRAM triad " << f(triad_bytes / 1048576.0, 0) << " MiB (GB/s) | " << f(calib_triad) << " | "
           << f(bare_triad) << " | " << f(calib_triad / bare_triad * 100, 1) << "% |\n\n";
        md << "oneDNN implementation: `" << impl << "`. Bare turns discarded as displaced: "
           << bare_runner.discarded << "; calib turns discarded (their run's reference placement was not the "
           << "bare loops'): " << bare_runner.calib_discarded << ".\n\n";
        auto turns = [](const std::vector<double>& v) {
            std::string t;
            for (double x : v) t += (t.empty() ? "" : ", ") + f(x);
            return t;
        };
        md << "DRAM triad turn by turn (GB/s), the machine's own run-to-run spread beside calib's: bare "
           << turns(bare_triad_turns) << " (spread " << f(spread_of(bare_triad_turns) * 100, 2) << "%); calib "
           << turns(calib_triad_turns) << " (spread " << f(spread_of(calib_triad_turns) * 100, 2) << "%).\n\n";
    }

    if (o.stability) {
        std::vector<std::map<std::string, double>> figs;
        std::vector<double> walls, quick_walls;
        std::vector<std::string> placements;
        for (int i = 0; i < o.runs; ++i) {
            std::string out = (tmp / ("full" + std::to_string(i) + ".json")).string();
            double t0 = now();
            run_capture(host + " --plugins " + plugins + " --no-default-plugins --quiet --output " + out);
            walls.push_back(now() - t0);
            Profile p = calib::core::load_profile(out);
            if (const char* keep = std::getenv("CALIB_BENCH_KEEP"))  // keep the full profiles for analysis
                fs::copy_file(out, fs::path(keep) / ("full" + std::to_string(i) + ".json"),
                              fs::copy_options::overwrite_existing);
            any = p;
            have_any = true;
            figs.push_back(headlines(p));
            if (auto* run = obj(p.extensions, "run"))
                if (auto* pol = obj(*run, "policy"))
                    if (auto* pl = obj(*pol, "placement"))
                        placements.push_back(f(num(pl->at("displaced_probes")), 0) + " / " +
                                             f(num(pl->at("probes")), 0) + ", " + f(num(pl->at("wait_seconds"))) + " s");
            std::cerr << "full run " << i + 1 << ": " << f(walls.back()) << " s\n";
        }
        for (int i = 0; i < o.runs; ++i) {
            double t0 = now();
            run_capture(host + " --plugins " + plugins + " --no-default-plugins --quick --quiet --output " +
                        (tmp / "quick.json").string());
            quick_walls.push_back(now() - t0);
        }
        md << "## Run time and run-to-run spread\n\n" << o.runs
           << " full default calibrations back to back (`calib-host --output ...`), then " << o.runs
           << " `--quick` ones.\n\n| run | full wall (s) | quick wall (s) |\n|---|---|---|\n";
        for (int i = 0; i < o.runs; ++i)
            md << "| " << i + 1 << " | " << f(walls[i]) << " | " << f(quick_walls[i]) << " |\n";
        md << "| median | " << f(median_of(walls)) << " | " << f(median_of(quick_walls)) << " |\n\n";
        md << "Spread = (max - min) / median across the runs.\n\n| figure |";
        for (int i = 0; i < o.runs; ++i) md << " run " << i + 1 << " |";
        md << " spread |\n|---|";
        for (int i = 0; i < o.runs; ++i) md << "---|";
        md << "---|\n";
        double worst_headline = 0, worst_fusion = 0;
        int fusion_total = 0, fusion_over = 0;
        for (const auto& [name, v0] : figs[0]) {
            std::vector<double> vals;
            for (const auto& fg : figs)
                if (fg.count(name)) vals.push_back(fg.at(name));
            if (vals.size() != figs.size()) continue;
            const double spread = spread_of(vals);
            (name.rfind("speedup", 0) == 0 ? worst_fusion : worst_headline) =
                std::max(name.rfind("speedup", 0) == 0 ? worst_fusion : worst_headline, spread);
            if (name.rfind("speedup", 0) == 0) {
                ++fusion_total;
                fusion_over += spread > 0.05;
            }
            md << "| " << name << " |";
            for (double v : vals) md << " " << f(v, name.rfind("speedup", 0) == 0 ? 3 : 1) << " |";
            md << " " << f(spread * 100, 2) << "% |\n";
        }
        md << "\nWorst spread: headline GFLOPS/GB/s " << f(worst_headline * 100, 2) << "%, fusion speedups "
           << f(worst_fusion * 100, 2) << "%; " << fusion_over << " of " << fusion_total
           << " fusion speedups spread more than 5%.\n\n";
        md << "Placement guard per full run (probes displaced / probes, seconds waited): ";
        for (std::size_t i = 0; i < placements.size(); ++i) md << (i ? "; " : "") << placements[i];
        md << ".\n\n";
    }

    if (o.drift) {
        // The fusion pairs that spread most across full runs: each prepared once, in one worker, and
        // measured 24 times back to back (~6 s) as calib-host would measure it once.
        const std::vector<std::pair<std::string, std::string>> pairs{
            {"calib_fused_attention.so", "QK_AttentionScores_fp32_8x512x64"},
            {"calib_fused_attention.so", "QK_Softmax_fp32_1x128x64"},
            {"calib_fused_conv.so", "DWConv2d_BN_ReLU_fp32_4x128x28x28"}};
        constexpr int kTimes = 24;
        BareRunner runner;  // its settled guard
        md << "## Drift: the machine without calib's run around it\n\nEach pair prepared once in one worker "
              "(same buffers, same primitives) and measured " << kTimes << " times back to back under calib's "
              "default policy (0.25 s budget each, placement guard on): the speedup of each measurement in "
              "order. What moves here moves in no calibration's code, and a full run measures each pair once. Then "
              "the same in three fresh workers, 8 measurements each (a new process: new addresses, as each "
              "calibration gets): the median of each.\n\n"
              "| pair | min | max | median, first half | median, second half | spread | fresh workers' medians |\n"
              "|---|---|---|---|---|---|---|\n";
        calib::core::WorkerOptions wo;
        wo.host_executable = host;  // the workers are calib-host --worker
        for (const auto& [lib, name] : pairs) {
            const fs::path library = fs::path(plugins) / lib;
            const auto ids = pair_cases(wo, library, name);
            if (ids.first < 0 || ids.second < 0) continue;
            auto v = pair_drift(wo, library, ids, kTimes, runner.guard);
            std::vector<double> first(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2)),
                second(v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
            md << "| " << name << " | " << f(*std::min_element(v.begin(), v.end()), 3) << " | "
               << f(*std::max_element(v.begin(), v.end()), 3) << " | " << f(median_of(first), 3) << " | "
               << f(median_of(second), 3) << " | " << f(spread_of(v) * 100, 1) << "% |";
            std::vector<double> medians;
            for (int w = 0; w < 3; ++w) {
                medians.push_back(median_of(pair_drift(wo, library, ids, 8, runner.guard)));
                md << (w ? ", " : " ") << f(medians.back(), 3);
            }
            md << " (spread " << f(spread_of(medians) * 100, 1) << "%) |\n";
        }
        md << "\n";
    }

    if (have_any) {
        auto& h = any.metadata;
        md << "## Machine\n\n" << h.cpu_model << ", " << h.cpu_count << " cores, " << f(h.total_memory_gb)
           << " GiB; measured " << h.calibration_date << " with " << h.calibration_tool_version << ".\n";
        if (auto* host_json = obj(any.extensions, "host"))
            md << "\n```\n" << calib::core::pretty_print(*host_json) << "\n```\n";
    }
    calib::core::save_text_atomic(o.output, md.str());
    std::cout << md.str();
    fs::remove_all(tmp);
    return 0;
}
