// Measured compute ceilings: the probe on this CPU against the formula, precisions the host or CPU
// lacks left out, and how ceilings ride in the PeakTable. Run `test_host "[ceilings]"` to see them.
#include <catch2/catch.hpp>

#include <cmath>

#include <algorithm>
#include <cstdio>
#include <string>

#include "calib/core/host_info.hpp"

using namespace calib::core;
using Approx = Catch::Detail::Approx;

namespace {

bool has_precision(const std::vector<Ceiling>& cs, const std::string& precision) {
    return std::any_of(cs.begin(), cs.end(), [&](const Ceiling& c) { return c.precision == precision; });
}

CeilingOptions quick() {
    CeilingOptions o;
    o.seconds = 0.002;
    o.repetitions = 1;
    return o;
}

HostInfo without(HostInfo h, const std::vector<std::string>& flags) {
    std::erase_if(h.isa, [&](const std::string& f) { return std::find(flags.begin(), flags.end(), f) != flags.end(); });
    return h;
}

}  // namespace

TEST_CASE("ceilings on this CPU: fp32 within 10% of the formula, each below 1.3x its formula",
          "[ceilings][hardware][slow]") {
    HostInfo h = detect_host();
    h.sustained_clock_ghz = measure_sustained_clock_ghz(h.logical_cpus);
    h.avx512_clock_ghz = measure_avx512_clock_ghz(h);
    h.fma_pipes = measure_fma_pipes(h);
    h.ceilings = measure_cpu_ceilings(h);
    const PeakTable t = detect_cpu_peaks(h);
    std::printf("clock %.2f GHz (zmm-loaded %.2f), %d FMA pipes, %d cores\n", h.sustained_clock_ghz,
                h.avx512_clock_ghz, h.fma_pipes, h.physical_cores);
    for (const Ceiling& c : t.ceilings)
        std::printf("  %-5s %-16s %9.1f GFLOPS in %.3f s  (%s)\n", c.precision.c_str(), c.instruction.c_str(),
                    c.gflops, c.seconds, c.source.c_str());
    for (const Peak& p : t.compute) {
        std::printf("  %-5s formula %9.1f  ceiling %9.1f  (%.2f of the formula)\n", p.precision.c_str(), p.gflops,
                    p.ceiling_gflops, p.gflops > 0 ? p.ceiling_gflops / p.gflops : 0);
        if (p.ceiling_gflops == 0) continue;  // a CPU without this loop's ISA
        INFO(p.precision << ": " << p.ceiling_source);
        CHECK(p.ceiling_gflops > 0);
        CHECK(p.ceiling_gflops < 1.3 * p.gflops);
    }
    for (const Ceiling& c : t.ceilings) {
        INFO(c.instruction << ": " << c.source);
        CHECK(c.gflops > 0);
        CHECK(c.threads >= 1);
        CHECK(c.source.rfind("measured: ", 0) == 0);
    }
    // cpuid agrees with /proc/cpuinfo: each loop the host's flags name ran.
    auto ran = [&](const std::string& instruction) {
        return std::any_of(t.ceilings.begin(), t.ceilings.end(),
                           [&](const Ceiling& c) { return c.instruction == instruction && c.gflops > 0; });
    };
    if (h.has("avx512f")) CHECK(ran("vfmadd231ps zmm"));
    if (h.has("avx512_bf16")) CHECK(ran("vdpbf16ps zmm"));
    if (h.has("avx512_fp16")) CHECK(ran("vfmadd231ph zmm"));
    if (h.has("avx512_vnni")) CHECK(ran("vpdpbusd zmm"));
    if (h.has("amx_tile") && h.has("amx_bf16")) CHECK(ran("tdpbf16ps tmm"));
    if (h.has("amx_tile") && h.has("amx_int8")) CHECK(ran("tdpbusd tmm"));
    const Peak* fp32 = t.find("fp32");
    REQUIRE(fp32 != nullptr);
    if (fp32->ceiling_gflops == 0) {
        WARN("no fp32 FMA loop on this CPU (neither AVX-512 nor AVX2+FMA)");
        return;
    }
    // A ceiling is a best case: a reading depressed by a neighbour's load (host-level, which thread CPU
    // time does not see) is retried with the fp32/fp64 loops alone, up to twice, keeping the best.
    double best = fp32->ceiling_gflops;
    HostInfo vector_only = h;
    vector_only.isa = {"avx512f", "avx2", "fma"};
    // The formula's clock is measured under the zmm FMAs' own licence where AVX-512 runs: 5% there. The
    // clocks are best cases too (a run takes the higher of its start and end readings): a retry re-reads
    // them beside the loops, keeping the higher, since a neighbour's load moves the all-core clock.
    const bool zmm = h.avx512_clock_ghz > 0;
    const double within = zmm ? 0.05 : 0.10;
    double formula = fp32->gflops;
    for (int retry = 0; retry < 2 && std::abs(best / formula - 1) > within; ++retry) {
        for (const Ceiling& c : measure_cpu_ceilings(vector_only))
            if (c.precision == "fp32") best = std::max(best, c.gflops);
        h.sustained_clock_ghz = std::max(h.sustained_clock_ghz, measure_sustained_clock_ghz(h.logical_cpus));
        h.avx512_clock_ghz = std::max(h.avx512_clock_ghz, measure_avx512_clock_ghz(h));
        formula = detect_cpu_peaks(h).find("fp32")->gflops;
    }
    std::printf("fp32 best ceiling %.1f of formula %.1f: %.3f\n", best, formula, best / formula);
    CHECK(best == Approx(formula).epsilon(0.10));
    if (zmm) CHECK(best == Approx(formula).epsilon(0.05));
}

TEST_CASE("precisions the host does not report have no ceiling", "[ceilings][hardware]") {
    const HostInfo h = detect_host();
    const HostInfo plain = without(h, {"avx512_bf16", "avx512_fp16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8"});
    const std::vector<Ceiling> cs = measure_cpu_ceilings(plain, quick());
    CHECK_FALSE(has_precision(cs, "bf16"));
    CHECK_FALSE(has_precision(cs, "fp16"));
    CHECK_FALSE(has_precision(cs, "int8"));
    CHECK(has_precision(cs, "fp32") == (h.has("avx512f") || (h.has("avx2") && h.has("fma"))));

    HostInfo bare = h;
    bare.isa.clear();
    CHECK(measure_cpu_ceilings(bare, quick()).empty());
}

TEST_CASE("a flag the host claims but the CPU lacks runs no loop (no illegal instruction)", "[ceilings]") {
    // Every flag the probes look at, claimed; the CPU (cpuid, injected) has none of the wide ones.
    HostInfo h;
    h.isa = {"avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "avx512_vnni", "avx_vnni", "amx_tile",
             "amx_bf16", "amx_int8"};
    CeilingOptions o = quick();
    o.cpu_has = [](const std::string&) { return false; };
    CHECK(measure_cpu_ceilings(h, o).empty());

    // An AVX2 CPU under a host that claims AVX-512 too: the ymm loops only, no zmm or tile loop.
    o.cpu_has = [](const std::string& f) { return f == "avx2" || f == "fma" || f == "avx_vnni"; };
    const HostInfo real = detect_host();
    if (!(real.has("avx2") && real.has("fma") && real.has("avx_vnni"))) return;  // the ymm loops need them here
    const std::vector<Ceiling> cs = measure_cpu_ceilings(h, o);
    REQUIRE(cs.size() == 3);
    for (const Ceiling& c : cs) CHECK(c.instruction.find("ymm") != std::string::npos);
}

TEST_CASE("detect_cpu_peaks carries the best ceiling per precision and to_json lists every probe", "[ceilings]") {
    HostInfo h;
    h.physical_cores = 2;
    h.logical_cpus = 2;
    h.isa = {"avx512f", "avx512_bf16", "amx_tile", "amx_bf16"};
    h.sustained_clock_ghz = 3.0;
    h.fma_pipes = 2;
    h.ceilings = {
        {"fp32", "vfmadd231ps zmm", 360, 32, 2, 0.1, "measured: vfmadd231ps zmm loop, 2 threads, best of 3"},
        {"bf16", "vdpbf16ps zmm", 190, 64, 2, 0.1, "measured: vdpbf16ps zmm loop, 2 threads, best of 3"},
        {"bf16", "tdpbf16ps tmm", 5600, 16384, 2, 0.1, "measured: tdpbf16ps tmm loop, 2 threads, best of 3"},
    };
    const PeakTable t = detect_cpu_peaks(h);
    CHECK(t.find("fp32")->gflops == Approx(384));
    CHECK(t.find("fp32")->ceiling_gflops == Approx(360));
    CHECK(t.find("bf16")->ceiling_gflops == Approx(5600));
    CHECK(t.find("bf16")->ceiling_source.find("tdpbf16ps") != std::string::npos);
    CHECK(t.find("fp64")->ceiling_gflops == 0);
    CHECK(t.find("fp64")->ceiling_source == "not measured");

    const boost::json::object j = t.to_json();
    const auto& bf16 = j.at("compute").as_object().at("bf16").as_object();
    CHECK(bf16.at("gflops").as_double() == Approx(6144));  // the formula stays: 2 x 3 x 1024
    CHECK(bf16.at("ceiling_gflops").as_double() == Approx(5600));
    CHECK(bf16.at("ceiling_source").as_string().starts_with("measured: tdpbf16ps"));
    const auto& probes = j.at("ceilings").as_array();
    REQUIRE(probes.size() == 3);
    CHECK(probes[1].as_object().at("instruction").as_string() == "vdpbf16ps zmm");
    CHECK(probes[1].as_object().at("flops_per_instruction").as_double() == Approx(64));

    PeakTable user = t;
    apply_overrides(user, 1000.0, std::nullopt);  // a user peak leaves the measured ceiling alone
    CHECK(user.find("fp32")->ceiling_gflops == Approx(360));
}
