// Peak arithmetic on synthetic hosts (clock and pipes given, so nothing is measured).
#include <catch2/catch.hpp>

#include <string>

#include "calib/core/host_info.hpp"

using namespace calib::core;
using Approx = Catch::Detail::Approx;

namespace {

HostInfo synthetic(std::vector<std::string> isa, int cores, double ghz, int pipes) {
    HostInfo h;
    h.cpu_model = "synthetic";
    h.physical_cores = cores;
    h.logical_cpus = cores;
    h.isa = std::move(isa);
    h.sustained_clock_ghz = ghz;
    h.fma_pipes = pipes;
    return h;
}

double gflops(const PeakTable& t, const std::string& precision) {
    const Peak* p = t.find(precision);
    REQUIRE(p != nullptr);
    return p->gflops;
}

}  // namespace

TEST_CASE("AVX-512 with avx512_bf16 and vnni, no fp16 (the EPYC dev box shape)", "[peaks]") {
    const PeakTable t = detect_cpu_peaks(synthetic({"avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni"}, 2, 3.0, 2));
    CHECK(gflops(t, "fp32") == Approx(384));  // 2 x 3 x 2 x 16 x 2
    CHECK(gflops(t, "fp64") == Approx(192));
    CHECK(gflops(t, "bf16") == Approx(768));
    CHECK(gflops(t, "int8") == Approx(1536));
    CHECK(t.find("fp16") == nullptr);  // no native half
    const Peak* fp32 = t.find("fp32");
    CHECK(fp32->source == "detected");
    CHECK(fp32->formula ==
          "2 cores x 3.00 GHz x 2 FMA pipes x 16 lanes x 2 = 384.0 GFLOPS (AVX-512, integer-add clock)");
    CHECK(t.find("bf16")->formula.find("vdpbf16ps") != std::string::npos);
    CHECK(t.bandwidth.gbps == 0);
    CHECK(t.bandwidth.source == "unknown");
}

TEST_CASE("the zmm formulas use the zmm-loaded clock, the AMX and ymm ones the integer-add clock", "[peaks]") {
    HostInfo h = synthetic({"avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "avx512_vnni"}, 2, 3.0, 2);
    h.avx512_clock_ghz = 2.5;
    PeakTable t = detect_cpu_peaks(h);
    CHECK(gflops(t, "fp32") == Approx(320));  // 2 x 2.5 x 2 x 16 x 2
    CHECK(gflops(t, "fp64") == Approx(160));
    CHECK(gflops(t, "bf16") == Approx(640));
    CHECK(gflops(t, "fp16") == Approx(640));
    CHECK(gflops(t, "int8") == Approx(1280));
    CHECK(t.find("fp32")->formula ==
          "2 cores x 2.50 GHz x 2 FMA pipes x 16 lanes x 2 = 320.0 GFLOPS (AVX-512, zmm-loaded clock)");

    h.isa = {"avx2", "fma", "avx512f", "avx_vnni", "amx_tile", "amx_bf16"};
    t = detect_cpu_peaks(h);
    CHECK(gflops(t, "fp32") == Approx(320));
    CHECK(gflops(t, "bf16") == Approx(6144));  // 2 x 3.0 x 1024: the tiles at the integer-add clock
    CHECK(gflops(t, "int8") == Approx(768));   // 2 x 3.0 x 2 x 8 x 2 x 4: ymm vpdpbusd
    CHECK(t.find("bf16")->formula.find(", integer-add clock)") != std::string::npos);
    CHECK(t.find("int8")->formula.find(", integer-add clock)") != std::string::npos);
}

TEST_CASE("AVX2 with one pipe and no bf16 or int8 dot product", "[peaks]") {
    const PeakTable t = detect_cpu_peaks(synthetic({"avx", "avx2", "fma"}, 4, 2.5, 1));
    CHECK(gflops(t, "fp32") == Approx(4 * 2.5 * 1 * 8 * 2));
    CHECK(gflops(t, "fp64") == Approx(4 * 2.5 * 1 * 4 * 2));
    CHECK(t.find("bf16") == nullptr);
    CHECK(t.find("int8") == nullptr);
    // avx_vnni (256-bit) gives int8 = 4x fp32.
    const PeakTable v = detect_cpu_peaks(synthetic({"avx", "avx2", "fma", "avx_vnni"}, 4, 2.5, 1));
    CHECK(gflops(v, "int8") == Approx(4 * gflops(v, "fp32")));
}

TEST_CASE("AMX (Sapphire Rapids shape): tiles for bf16 and int8, avx512_fp16 for fp16", "[peaks]") {
    const PeakTable t = detect_cpu_peaks(synthetic({"avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni",
                                                    "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8"},
                                                   8, 2.0, 2));
    CHECK(gflops(t, "fp32") == Approx(8 * 2.0 * 2 * 16 * 2));
    CHECK(gflops(t, "bf16") == Approx(8 * 2.0 * 1024));
    CHECK(gflops(t, "int8") == Approx(8 * 2.0 * 2048));
    CHECK(gflops(t, "fp16") == Approx(2 * gflops(t, "fp32")));
    CHECK(t.find("bf16")->formula.find("AMX") != std::string::npos);
}

TEST_CASE("user overrides set source user and scale the other precisions", "[peaks]") {
    PeakTable t = detect_cpu_peaks(synthetic({"avx512f", "avx512_bf16"}, 2, 3.0, 2));
    apply_overrides(t, 1000.0, 50.0);
    CHECK(gflops(t, "fp32") == Approx(1000));
    CHECK(t.find("fp32")->source == "user");
    CHECK(gflops(t, "fp64") == Approx(500));
    CHECK(gflops(t, "bf16") == Approx(2000));
    CHECK(t.find("bf16")->source == "user");
    CHECK(t.find("bf16")->formula.find("ratio") != std::string::npos);
    CHECK(t.bandwidth.gbps == Approx(50));
    CHECK(t.bandwidth.source == "user");

    PeakTable only_bw = detect_cpu_peaks(synthetic({"avx512f"}, 2, 3.0, 1));
    apply_overrides(only_bw, std::nullopt, 20.0);
    CHECK(only_bw.find("fp32")->source == "detected");
    CHECK(only_bw.bandwidth.source == "user");
}

TEST_CASE("PeakTable::to_json lists every precision and the bandwidth", "[peaks]") {
    PeakTable t = detect_cpu_peaks(synthetic({"avx512f", "avx512_bf16"}, 2, 3.0, 1));
    const boost::json::object j = t.to_json();
    const auto& c = j.at("compute").as_object();
    CHECK(c.size() == t.compute.size());
    CHECK(c.at("fp32").as_object().at("gflops").as_double() == Approx(192));
    CHECK(c.at("bf16").as_object().at("source").as_string() == "detected");
    CHECK(j.at("bandwidth").as_object().at("source").as_string() == "unknown");
}

TEST_CASE("detect_cpu_peaks on this machine measures what is missing", "[peaks][hardware]") {
    const HostInfo h = detect_host();
    const PeakTable t = detect_cpu_peaks(h);
    const Peak* fp32 = t.find("fp32");
    REQUIRE(fp32 != nullptr);
    // At least one 4-lane FMA per cycle at 0.5 GHz; at most 2 x 16 lanes at 7 GHz.
    CHECK(fp32->gflops >= h.physical_cores * 0.5 * 4 * 2);
    CHECK(fp32->gflops <= h.physical_cores * 7.0 * 2 * 16 * 2);
    CHECK(fp32->formula.find(" GHz x ") != std::string::npos);
}
