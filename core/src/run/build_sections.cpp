// build_profile's section mergers: metadata, memory hierarchy and sweep, precision matrix and support,
// plugins, failed cases, run and policy, host and peaks.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>

#include <boost/version.hpp>

#include "build.hpp"
#include "calib/abi.h"
#include "calib/vocabulary.h"

namespace calib::core::build {

namespace json = boost::json;

namespace {

struct LevelRange {
    std::string name;
    double lo, hi;  // working-set bytes
    uint64_t size_bytes;
    bool memory = false;  // the memory behind the last cache: from 4x its size, inclusive
};

// Cache levels from the host (aggregate capacity over all instances) -> plateau ranges of the sweep.
std::vector<LevelRange> level_ranges(const HostInfo& h) {
    std::map<int, uint64_t> cap;  // level -> total bytes (data/unified caches)
    for (const auto& c : h.caches) {
        if (c.type == "Instruction") continue;
        int instances = c.shared_cpu_count > 0 ? std::max(1, h.logical_cpus / c.shared_cpu_count) : 1;
        cap[c.level] = std::max<uint64_t>(cap[c.level], c.size_bytes * static_cast<uint64_t>(instances));
    }
    std::vector<LevelRange> out;
    double prev = 0;
    for (const auto& [level, bytes] : cap) {
        std::string name = "L";
        name += std::to_string(level);
        out.push_back({name, prev * 1.5, 0.75 * static_cast<double>(bytes), bytes});
        prev = static_cast<double>(bytes);
    }
    out.push_back({"DRAM", 4.0 * prev, 1e300, 0, true});
    return out;
}

// Where the host's triad sweep has flattened: the smallest working set above the private caches from
// which every larger triad point reads within kFlat (25%) of the largest point (medians). A VM reports
// its host's last-level cache (480 MiB on the 2-vCPU guest) while its bandwidth is flat from 128-256 MiB
// on, so the sweep ends at the octave after 2 x LLC and DRAM is what the curve shows. Triad, not copy:
// copy read 17.8, 19.9 and 29.2 GB/s at 256 MiB, 512 MiB and 1 GiB there (8 GiB: 32), triad 23.0, 22.8
// and 23.3 (8 GiB). 0 when the largest point is not flat against the one below it: then only STREAM's
// 4 x LLC rule defines DRAM.
double flat_from(const std::vector<const CaseOutcome*>& sweep, double private_bytes) {
    constexpr double kFlat = 0.25;  // DRAM points of one run scatter by up to ~20% on the guest
    std::vector<std::pair<double, double>> triad;  // working set, median GB/s
    for (const auto* o : sweep) {
        const auto [k, ws] = sweep_point_of(o->info);
        if (k == "triad" && o->measurement && o->measurement->stats.median > 0)
            triad.emplace_back(static_cast<double>(ws), o->info.bytes / o->measurement->stats.median / 1e9);
    }
    std::sort(triad.begin(), triad.end());
    if (triad.size() < 3) return 0;
    const double last = triad.back().second;
    auto within = [&](double g) { return std::fabs(g / last - 1) <= kFlat; };
    if (!within(triad[triad.size() - 2].second)) return 0;
    double from = triad.back().first;
    for (std::size_t i = triad.size(); i-- > 0;) {
        if (triad[i].first <= private_bytes || !within(triad[i].second)) break;
        from = triad[i].first;
    }
    return from;
}

// A device that names its last cache (a GPU's L2) on its sweep points: that cache and the memory behind.
std::vector<LevelRange> device_ranges(const CaseInfo& point) {
    double llc = 0;
    std::string memory = "device memory";
    for (const auto& [k, v] : point.params) {
        if (k == CALIB_PARAM_LAST_CACHE_BYTES) llc = std::atof(v.c_str());
        if (k == CALIB_PARAM_DEVICE_MEMORY && !v.empty()) memory = v;
    }
    if (!(llc > 0)) return {};
    return {{"L2", 0, 0.75 * llc, static_cast<uint64_t>(llc)}, {memory, 4.0 * llc, 1e300, 0, true}};
}

// The best GB/s of `kernel` over the sweep points in `range`'s plateau (STREAM's convention: the best
// sample, interference only ever adds time); the copy kernel also lists the working sets it used, and
// `best_point` gets the point that gave the figure.
double best_in_range(const LevelRange& range, const std::string& kernel, const std::vector<const CaseOutcome*>& sweep,
                     std::vector<int64_t>* used, const CaseOutcome** best_point = nullptr) {
    double best = 0;
    for (const auto* o : sweep) {
        const auto [k, ws] = sweep_point_of(o->info);
        if (k != kernel || (range.memory ? ws < range.lo : ws <= range.lo) || ws > range.hi) continue;
        const double gbps = o->info.bytes / o->measurement->stats.min / 1e9;
        if (gbps > best && best_point != nullptr) *best_point = o;
        best = std::max(best, gbps);
        if (used != nullptr) used->push_back(static_cast<int64_t>(ws));
    }
    return best;
}

std::optional<std::string> if_set(bool cond, const std::string& v) {
    return cond ? std::optional<std::string>(v) : std::nullopt;
}

}  // namespace

PlacementFacts placement_facts(const Measurement& m, const CaseOutcome& c) {
    PlacementFacts f;
    f.discarded_samples = static_cast<int64_t>(m.discarded_samples);
    f.displaced_samples = static_cast<int64_t>(m.displaced_samples);
    f.placement_wait_seconds = m.placement_wait_seconds;
    if (!c.placement_retry.empty()) f.placement_retry = c.placement_retry;
    if (c.corunner_checked) {
        f.disturbed_discarded = static_cast<int64_t>(m.disturbed_discarded);
        f.disturbed_samples = static_cast<int64_t>(m.disturbed_samples);
        f.foreign_cpu_seconds = c.foreign_seconds;
        f.foreign_cpus = c.foreign_cpus;
        f.disturbed = c.disturbed;
    }
    return f;
}

SampleFacts sample_facts(const CaseOutcome& c) {
    const Measurement& m = *c.measurement;
    const SampleStats& s = m.stats;
    SampleFacts f;
    f.case_seconds = c.wall_seconds;  // wall time of the case: prepare, warm-up, samples, release
    f.prepare_seconds = c.prepare_seconds;
    f.steal_seconds = c.steal_seconds;
    f.median_latency_ms = ms(s.median);
    f.p10_latency_ms = ms(s.p10);
    f.p90_latency_ms = ms(s.p90);
    f.cv = s.cv;
    f.robust_cv = s.robust_cv;
    f.noise = s.noise;
    // The figure's interval from the latency median's: a rate is work / latency.
    const double work = c.info.flops > 0 ? c.info.flops : c.info.bytes;
    if (work > 0 && c.interval_factor_low > 0 && s.median > 0) {
        const double figure = work / s.median / 1e9;
        f.ci_low = figure * c.interval_factor_low;
        f.ci_high = figure * c.interval_factor_high;
        f.replicas = static_cast<int64_t>(c.replica_log.size());
        f.replica_figures.emplace();
        for (double v : c.replica_log) f.replica_figures->push_back(work / std::exp(v) / 1e9);
        f.replica_log_se = c.replica_se;
    } else if (work > 0 && s.median_ci_low > 0 && s.median_ci_high > 0) {
        f.ci_low = work / s.median_ci_high / 1e9;
        f.ci_high = work / s.median_ci_low / 1e9;
    }
    f.samples = static_cast<int64_t>(s.count);
    f.iterations_per_sample = static_cast<int64_t>(m.iterations_per_sample);
    f.stopping_reason = to_string(m.reason);
    f.placement = placement_facts(m, c);
    return f;
}

Metadata metadata(const RunResult& r, const RunOptions& o) {
    Metadata md;
    md.hardware_name = o.hardware_name.empty() ? r.host.cpu_model : o.hardware_name;
    md.calibration_date = r.started_at;
    md.calibration_tool_version = std::string("calib ") + CALIB_VERSION;
    md.cpu_model = r.host.cpu_model;
    md.cpu_count = r.host.physical_cores;
    md.total_memory_gb = static_cast<double>(r.host.total_memory_bytes) / (1024.0 * 1024.0 * 1024.0);
    md.python_version = std::string("n/a (calib-host ") + CALIB_VERSION + ", C++)";
    md.num_warmup_runs = 1;
    md.num_measurement_runs =
        static_cast<int64_t>(o.policy.fixed_samples > 0 ? o.policy.fixed_samples : o.policy.min_samples);
    md.preflight = r.preflight;
    return md;
}

namespace {

std::string instance_param(const CaseOutcome& c, const std::string& key) {
    for (const auto& [k, v] : c.instance.params)
        if (k == key) return v;
    return {};
}

// The median of an instance param over the outcomes that carry it as a number; 0 when none do.
double median_param(const std::vector<const CaseOutcome*>& outs, const std::string& key) {
    std::vector<double> v;
    for (const auto* c : outs)
        if (const std::string t = instance_param(*c, key); !t.empty()) v.push_back(std::atof(t.c_str()));
    if (v.empty()) return 0;
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
}

std::optional<int64_t> mhz(double v) { return v > 0 ? std::optional<int64_t>(std::llround(v)) : std::nullopt; }

// "onednn" from "oneDNN 2.6.3": the library's first word, letters only (the registry's file names allow
// nothing else).
std::string framework_of(const std::string& library) {
    std::string out;
    for (char ch : library) {
        if (ch == ' ') break;
        if (std::isalpha(static_cast<unsigned char>(ch))) out += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    return out;
}

std::optional<CpuClock> cpu_clock(const HostInfo& h) {
    if (!(h.sustained_clock_ghz > 0)) return std::nullopt;
    CpuClock c;
    c.current_freq_mhz = h.sustained_clock_ghz * 1e3;
    c.query_method = "calib: dependent integer-add chain on every CPU at once under load, best of 3, at the "
                     "start and the end of the run (the higher reading)";
    if (!h.cpufreq_governor.empty()) c.governor = h.cpufreq_governor;
    // Per core as the OS reports them at the run's start (cpufreq, else /proc/cpuinfo), and the limits.
    const CpuConditions& k = h.conditions;
    for (const auto& one : k.cores)
        if (one.cur_mhz > 0) c.per_core_freq_mhz.push_back(one.cur_mhz);
    if (c.per_core_freq_mhz.size() != k.cores.size()) c.per_core_freq_mhz.clear();
    c.min_freq_mhz = k.min_mhz();
    c.max_freq_mhz = k.max_mhz();
    c.base_freq_mhz = k.base_mhz();
    if (!c.per_core_freq_mhz.empty()) c.query_method += "; per_core_freq_mhz: " + k.clock_source + " at the run's start";
    return c;
}

// From the clocks the primary device's instances report (CALIB_PARAM sm_clock_mhz, ...): the median.
std::optional<GpuClock> gpu_clock(const std::vector<const CaseOutcome*>& outs) {
    const auto sm = mhz(median_param(outs, "sm_clock_mhz"));
    if (!sm) return std::nullopt;
    GpuClock g;
    g.sm_clock_mhz = *sm;
    g.mem_clock_mhz = mhz(median_param(outs, "mem_clock_mhz"));
    g.max_sm_clock_mhz = mhz(median_param(outs, "max_sm_clock_mhz"));
    g.max_mem_clock_mhz = mhz(median_param(outs, "max_mem_clock_mhz"));
    if (const double w = median_param(outs, "power_limit_watts"); w > 0) g.power_limit_watts = w;
    g.query_method = "median over the cases";
    for (const auto* c : outs)
        if (const std::string q = instance_param(*c, "clock_query"); !q.empty()) {
            g.query_method = "median over the cases of: " + q;
            break;
        }
    return g;
}

}  // namespace

void consumer_metadata(Metadata& md, const RunResult& r, const Outcomes& parts, const std::string& primary) {
    std::vector<const CaseOutcome*> own;  // the primary device's measured compute cases
    for (const auto* c : parts.compute)
        if (c->plugin_id == primary) own.push_back(c);
    DeviceKind kind = DeviceKind::cpu;
    std::string device_name;
    for (const auto& p : r.plugins)
        if (p.id == primary) kind = p.device_kind, device_name = p.device_name;
    md.device_type = kind == DeviceKind::cpu ? "cpu"
                     : kind == DeviceKind::gpu ? (device_name.rfind("NVIDIA", 0) == 0 ? "cuda" : "gpu")
                                               : "accelerator";
    if (const auto sp = r.host.kernel.rfind(' '); sp != std::string::npos) md.platform_architecture = r.host.kernel.substr(sp + 1);
    for (const auto* c : own)
        if (std::string f = framework_of(instance_param(*c, CALIB_PARAM_LIBRARY)); !f.empty()) {
            md.framework = f;
            break;
        }
    md.cpu_clock = cpu_clock(r.host);
    if (kind != DeviceKind::cpu && !own.empty()) md.gpu_clock = gpu_clock(own);
}

MemoryResult memory_hierarchy(const HostInfo& host, const std::vector<const CaseOutcome*>& all_points,
                              const std::string& device) {
    MemoryResult res;
    res.hierarchy.convention =
        "STREAM: bytes counted without write-allocate traffic (copy, scale: 2 x 8 bytes per element; add, "
        "triad: 3 x 8); GB/s = 1e9 bytes/s of the best sample (STREAM's best-of rule); per level the best of "
        "the sweep points in its plateau; working set = all arrays of the kernel, over all cores; DRAM: every "
        "array >= 4 x the last-level cache";
    std::vector<const CaseOutcome*> sweep;  // the device's own points (no primary: the first point's device)
    const std::string& dev = device.empty() && !all_points.empty() ? all_points.front()->device_name : device;
    for (const auto* o : all_points)
        if (o->device_name == dev) sweep.push_back(o);
    if (sweep.empty()) return res;
    res.hierarchy.device = sweep.front()->device_name;
    std::vector<LevelRange> ranges = device_ranges(sweep.front()->info);
    if (ranges.empty()) {
        ranges = level_ranges(host);
        // DRAM from where the curve flattened, when that comes before 4 x LLC (a level list always ends
        // with it; the level before it, the LLC, holds the private caches' total as its own lower bound).
        const double private_bytes = ranges.size() >= 2 ? ranges[ranges.size() - 2].lo / 1.5 : 0;
        if (const double flat = flat_from(sweep, private_bytes); flat > 0 && flat < ranges.back().lo) {
            ranges.back().lo = flat;
            res.hierarchy.convention +=
                "; here the sweep's triad bandwidth is flat (within 25% of its largest point) from " +
                std::to_string(static_cast<int64_t>(flat)) + " bytes on, so DRAM starts there";
        }
    }
    const auto& kernels = sweep_kernels();  // copy, scale, add, triad
    for (const auto& range : ranges) {
        MemoryLevel lvl;
        lvl.name = range.name;
        lvl.size_bytes = static_cast<int64_t>(range.size_bytes);
        const CaseOutcome* best_copy = nullptr;
        double* figure[] = {&lvl.copy_gbps, &lvl.scale_gbps, &lvl.add_gbps, &lvl.triad_gbps};
        for (std::size_t i = 0; i < kernels.size() && i < 4; ++i)
            *figure[i] = best_in_range(range, kernels[i], sweep, i == 0 ? &lvl.working_sets_bytes : nullptr,
                                       i == 0 ? &best_copy : nullptr);
        if (lvl.copy_gbps <= 0 && lvl.scale_gbps <= 0 && lvl.add_gbps <= 0 && lvl.triad_gbps <= 0) continue;
        if (range.memory) {
            res.memory_copy_gbps = lvl.copy_gbps;
            res.memory_triad_gbps = lvl.triad_gbps;
            res.memory_copy_point = best_copy;
        }
        res.hierarchy.levels.push_back(std::move(lvl));
    }
    return res;
}

std::vector<json::object> memory_sweep(const std::vector<const CaseOutcome*>& sweep) {
    std::vector<json::object> out;
    for (const auto* c : sweep) {
        json::object j;
        for (const auto& [k, v] : c->info.params) j[k] = param_value(v);
        SweepPointFacts f;
        f.operation = c->info.operation_type;
        f.gbps = c->info.bytes / c->measurement->stats.median / 1e9;
        f.best_gbps = c->info.bytes / c->measurement->stats.min / 1e9;
        f.bytes = c->info.bytes;
        f.samples = sample_facts(*c);
        f.case_name = c->info.name;
        append(j, f);
        out.push_back(std::move(j));
    }
    return out;
}

std::vector<FailedCase> failed_cases(const std::vector<const CaseOutcome*>& failed) {
    std::vector<FailedCase> out;
    for (const auto* c : failed) {
        FailedCase f;
        f.plugin = c->plugin_id;
        f.plugin_path = c->plugin_path;
        f.case_name = c->info.name;
        if (c->unfused) f.unfused_case = c->unfused->name;
        f.family = to_string(c->info.family);
        f.precision = c->info.precision;
        f.status = ending_of(*c).name;
        f.message = c->message;
        out.push_back(std::move(f));
    }
    return out;
}

}  // namespace calib::core::build

namespace calib::core {

PluginEntry plugin_entry(const PluginRecord& pl) {
    PluginEntry j;
    j.path = pl.path;
    j.status = status_of(pl);
    using build::if_set;
    j.reason_code = if_set(!pl.loaded, to_string(pl.reason_code));
    j.reason = if_set(!pl.loaded, pl.reason);
    j.duplicate_of = if_set(!pl.duplicate_of.empty(), pl.duplicate_of);
    j.id = pl.id;
    j.name = pl.name;
    j.version = pl.version;
    j.vendor = pl.vendor;
    j.abi = {pl.abi_major, pl.abi_minor};
    j.device = {to_string(pl.device_kind), pl.device_name, pl.device_available};
    j.unavailable_reason = if_set(!pl.device_available, pl.unavailable_reason);
    j.cases = static_cast<int64_t>(pl.cases.size());
    return j;
}

}  // namespace calib::core

namespace calib::core::build {

std::vector<PluginEntry> plugin_entries(const RunResult& r) {
    std::vector<PluginEntry> out;
    for (const auto& pl : r.plugins) {
        PluginEntry j = plugin_entry(pl);
        auto it = r.plugin_seconds.find(pl.id);
        if (pl.loaded && it != r.plugin_seconds.end()) j.seconds = it->second;
        out.push_back(std::move(j));
    }
    return out;
}

json::object host_section(const HostInfo& h) {
    json::object host = to_json(h);
    // Library versions: the host's own; plugins report theirs (e.g. oneDNN) in each record's extra_params.
    host["libraries"] = {{"calib", CALIB_VERSION}, {"boost", BOOST_LIB_VERSION},
                         {"plugin_abi", std::to_string(CALIB_ABI_VERSION_MAJOR) + "." +
                                            std::to_string(CALIB_ABI_VERSION_MINOR)}};
    return host;
}

PeaksSection peaks_section(const PeakTable& t) {
    PeaksSection s;
    for (const auto& p : t.compute) {
        PeakEntry e{p.gflops, p.source, p.formula, std::nullopt, std::nullopt};
        if (p.ceiling_gflops > 0) e.ceiling_gflops = p.ceiling_gflops, e.ceiling_source = p.ceiling_source;
        s.compute.emplace_back(p.precision, std::move(e));
    }
    s.bandwidth = BandwidthEntry{t.bandwidth.gbps, t.bandwidth.source, t.bandwidth.formula};
    return s;
}

}  // namespace calib::core::build
