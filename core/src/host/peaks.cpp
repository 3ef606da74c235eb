// Theoretical CPU peaks per precision: cores x measured clock (zmm-loaded for AVX-512) x FLOP/cycle/core, with the formula
// kept next to the number so a reader can check it.
#include "calib/core/host_info.hpp"

#include <algorithm>
#include <cstdio>
#include <string>

namespace calib::core {
namespace {

std::string fmt(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

// The vector unit used for fp32/fp64 FMAs.
struct VectorUnit {
    int fp32_lanes;
    const char* name;
};

VectorUnit widest_vector(const HostInfo& h) {
    if (h.has("avx512f")) return {16, "AVX-512"};
    if (h.has("avx2") || h.has("avx")) return {8, h.has("fma") ? "AVX2+FMA" : "AVX"};
    return {4, "128-bit SIMD"};
}

// Each precision's highest measured ceiling into its Peak (AMX beside vdpbf16ps: the tiles win).
void attach_ceilings(PeakTable& t, const std::vector<Ceiling>& ceilings) {
    t.ceilings = ceilings;
    for (auto& p : t.compute)
        for (const Ceiling& c : ceilings)
            if (c.precision == p.precision && c.gflops > p.ceiling_gflops) {
                p.ceiling_gflops = c.gflops;
                p.ceiling_source = c.source;
            }
}

boost::json::object ceiling_json(const Ceiling& c) {
    return boost::json::object{{"precision", c.precision},
                               {"instruction", c.instruction},
                               {"gflops", c.gflops},
                               {"flops_per_instruction", c.flops_per_instruction},
                               {"threads", c.threads},
                               {"seconds", c.seconds},
                               {"source", c.source}};
}

}  // namespace

const Peak* PeakTable::find(const std::string& precision) const {
    for (const auto& p : compute)
        if (p.precision == precision) return &p;
    return nullptr;
}

boost::json::object PeakTable::to_json() const {
    boost::json::object c;
    for (const auto& p : compute)
        c[p.precision] = boost::json::object{{"gflops", p.gflops},
                                             {"source", p.source},
                                             {"formula", p.formula},
                                             {"ceiling_gflops", p.ceiling_gflops},
                                             {"ceiling_source", p.ceiling_source}};
    boost::json::array probes;
    for (const Ceiling& x : ceilings) probes.push_back(ceiling_json(x));
    return boost::json::object{
        {"compute", std::move(c)},
        {"bandwidth",
         boost::json::object{{"gbps", bandwidth.gbps}, {"source", bandwidth.source}, {"formula", bandwidth.formula}}},
        {"ceilings", std::move(probes)},
    };
}

PeakTable detect_cpu_peaks(const HostInfo& host) {
    HostInfo h = host;
    if (h.sustained_clock_ghz <= 0) {
        h.sustained_clock_ghz = measure_sustained_clock_ghz(h.logical_cpus);
        if (h.avx512_clock_ghz <= 0) h.avx512_clock_ghz = measure_avx512_clock_ghz(h);
    }
    if (h.fma_pipes <= 0) h.fma_pipes = measure_fma_pipes(h);
    const double cores = h.physical_cores > 0 ? h.physical_cores : std::max(1, h.logical_cpus);
    const VectorUnit vu = widest_vector(h);
    const int pipes = h.fma_pipes;
    // zmm instructions run at the AVX-512 licence clock where it was measured; the rest (ymm, AMX tiles)
    // at the integer-add clock. Each formula names its clock: "... = 397.0 GFLOPS (AVX-512, zmm-loaded clock)".
    const bool zmm_clock = h.avx512_clock_ghz > 0;
    auto base = [&](bool zmm) {
        return fmt("%.0f cores", cores) + fmt(" x %.2f GHz", zmm ? h.avx512_clock_ghz : h.sustained_clock_ghz);
    };
    auto clock_name = [](bool zmm) { return zmm ? ", zmm-loaded clock)" : ", integer-add clock)"; };
    // zmm: the instruction runs on 512-bit registers.
    auto simd = [&](const std::string& precision, int lanes, double factor, const std::string& why, bool zmm_insn) {
        const bool zmm = zmm_clock && zmm_insn;
        const double g = cores * (zmm ? h.avx512_clock_ghz : h.sustained_clock_ghz) * pipes * lanes * 2 * factor;
        std::string f = base(zmm) + " x " + std::to_string(pipes) + " FMA pipes x " + std::to_string(lanes) + " lanes x 2";
        if (factor != 1) f += fmt(" x %g", factor);
        f += fmt(" = %.1f GFLOPS", g) + " (" + why + clock_name(zmm);
        return Peak{precision, g, "detected", f};
    };
    auto amx = [&](const std::string& precision, double per_cycle, const std::string& what) {
        const double g = cores * h.sustained_clock_ghz * per_cycle;
        return Peak{precision, g, "detected",
                    base(false) + fmt(" x %.0f FLOP/cycle/core", per_cycle) + fmt(" = %.1f GFLOPS", g) + " (" + what +
                        clock_name(false)};
    };

    PeakTable t;
    const bool z = vu.fp32_lanes == 16;
    t.compute.push_back(simd("fp32", vu.fp32_lanes, 1, vu.name, z));
    t.compute.push_back(simd("fp64", vu.fp32_lanes / 2, 1, vu.name, z));
    if (h.has("amx_bf16"))
        t.compute.push_back(amx("bf16", 1024, "AMX-BF16 tiles"));
    else if (h.has("avx512_bf16"))
        t.compute.push_back(simd("bf16", vu.fp32_lanes, 2, "avx512_bf16 vdpbf16ps", z));
    if (h.has("amx_fp16"))
        t.compute.push_back(amx("fp16", 1024, "AMX-FP16 tiles"));
    else if (h.has("avx512_fp16"))
        t.compute.push_back(simd("fp16", vu.fp32_lanes, 2, "avx512_fp16 native half", z));
    if (h.has("amx_int8"))
        t.compute.push_back(amx("int8", 2048, "AMX-INT8 tiles, ops"));
    else if (h.has("avx512_vnni") && vu.fp32_lanes == 16)
        t.compute.push_back(simd("int8", 16, 4, "avx512_vnni vpdpbusd, ops", true));
    else if (h.has("avx_vnni"))
        t.compute.push_back(simd("int8", 8, 4, "avx_vnni vpdpbusd, ops", false));
    attach_ceilings(t, h.ceilings);
    return t;
}

void apply_overrides(PeakTable& table, std::optional<double> peak_gflops_fp32,
                     std::optional<double> peak_bandwidth_gbps) {
    if (peak_gflops_fp32) {
        const double user = *peak_gflops_fp32;
        const Peak* fp32 = table.find("fp32");
        const double detected = fp32 ? fp32->gflops : 0;
        for (auto& p : table.compute) {
            if (p.precision == "fp32") continue;
            if (detected <= 0) continue;  // no ratio to scale by: keep the detected value
            const double ratio = p.gflops / detected;
            p.gflops = user * ratio;
            p.source = "user";
            p.formula = fmt("user fp32 peak %.1f GFLOPS", user) + fmt(" x %.3g", ratio) + " (detected " +
                        p.precision + "/fp32 ratio)" + fmt(" = %.1f GFLOPS", p.gflops);
        }
        Peak u{"fp32", user, "user", fmt("user-supplied %.1f GFLOPS", user)};
        auto it = std::find_if(table.compute.begin(), table.compute.end(),
                               [](const Peak& p) { return p.precision == "fp32"; });
        if (it != table.compute.end()) {
            u.ceiling_gflops = it->ceiling_gflops;  // the measured ceiling stays beside the user's peak
            u.ceiling_source = it->ceiling_source;
            *it = u;
        } else
            table.compute.insert(table.compute.begin(), u);
    }
    if (peak_bandwidth_gbps)
        table.bandwidth = BandwidthPeak{*peak_bandwidth_gbps, "user", fmt("user-supplied %.1f GB/s", *peak_bandwidth_gbps)};
}

}  // namespace calib::core
