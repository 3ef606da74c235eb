// Merges a run's outcomes into a HardwareCalibration profile (docs/profile-format.md): one merger per
// section (build_*.cpp), in the order their results depend on each other.
#include <algorithm>

#include "build.hpp"
#include "calib/vocabulary.h"

namespace calib::core {

Profile build_profile(const RunResult& r, const RunOptions& o) {
    using namespace build;
    Profile p;
    p.metadata = metadata(r, o);
    const Outcomes parts = partition(r);

    // Memory first: the primary device's measured DRAM (HBM, ...) figure stands in for an unknown
    // bandwidth peak. measured_bandwidth_gbps is that level's copy figure, never a cache's: 0 when the
    // sweep did not reach it.
    const std::string primary = primary_device(parts);
    consumer_metadata(p.metadata, r, parts, primary);
    const MemoryResult memory = memory_hierarchy(r.host, parts.sweep, device_of(r, primary));
    const Judge judge =
        make_judge(r, primary, std::max(memory.memory_triad_gbps, memory.memory_copy_gbps));
    p.theoretical_peak_gflops = judge.formula(judge.primary, CALIB_PRECISION_REFERENCE).first;
    p.theoretical_bandwidth_gbps = judge.bandwidth_gbps;
    p.measured_bandwidth_gbps = memory.memory_copy_gbps;

    std::set<std::string> used_keys;
    BestByPrecision best;
    add_compute_records(p, parts, judge, best, used_keys);
    add_precision_results(p, parts);
    add_copy_records(p, parts, memory, judge, used_keys);
    add_fusion_records(p, parts.fusion);
    compute_aggregates(p);

    PrecisionResult prec = precisions(r, p.metadata.hardware_name, judge, best);
    p.precision_matrix = prec.matrix ? boost::json::value(to_json(*prec.matrix)) : boost::json::value(nullptr);

    CalibSections s;
    s.calib_version = CALIB_VERSION;
    s.host = host_section(r.host);
    s.peaks = peaks_section(judge.peaks);
    s.plugins = plugin_entries(r);
    s.memory_hierarchy = memory.hierarchy;
    s.memory_sweep = memory_sweep(parts.sweep);
    s.failed_cases = failed_cases(parts.failed);
    s.run = run_section(r, o);
    s.precision_support = std::move(prec.support);
    s.efficiency_curves = efficiency_curves(parts, judge);
    write_sections(s, p);
    if (Topology t = topology(r, parts.transfers); !t.empty()) p.extensions["topology"] = to_json(t);
    if (!r.devices.empty()) p.extensions["device_conditions"] = device_conditions(r.devices);
    return p;
}

}  // namespace calib::core
