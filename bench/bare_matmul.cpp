// Bare oneDNN matmul loop, the way a careful user would time it: weights in the layout the primitive
// wants (format_tag::any + one reorder), warm-up, then samples of back-to-back executions with one
// wait each. Prints one JSON line with the median GFLOPS.
//   calib_bench_matmul [M K N [fp32|bf16 [samples [min_seconds_per_sample]]]]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

using namespace dnnl;
using clk = std::chrono::steady_clock;

static void fill(memory& m, float v) {
    // Plain f32 source reordered into m: works for any data type and layout.
    auto dims = m.get_desc().dims();
    memory::desc plain(dims, memory::data_type::f32, dims.size() == 2 ? memory::format_tag::ab : memory::format_tag::a);
    engine eng = m.get_engine();
    memory src(plain, eng);
    std::size_t n = 1;
    for (auto d : dims) n *= static_cast<std::size_t>(d);
    float* p = static_cast<float*>(src.get_data_handle());
    for (std::size_t i = 0; i < n; ++i) p[i] = v * static_cast<float>(1 + i % 7) / 7.0f;
    stream s(eng);
    reorder(src, m).execute(s, src, m);
    s.wait();
}

int main(int argc, char** argv) {
    const memory::dim M = argc > 1 ? std::atoll(argv[1]) : 1024;
    const memory::dim K = argc > 2 ? std::atoll(argv[2]) : M;
    const memory::dim N = argc > 3 ? std::atoll(argv[3]) : M;
    const std::string precision = argc > 4 ? argv[4] : "fp32";
    const int samples = argc > 5 ? std::atoi(argv[5]) : 10;
    const double min_sample_s = argc > 6 ? std::atof(argv[6]) : 0.05;
    if (precision != "fp32" && precision != "bf16") {
        std::fprintf(stderr, "precision must be fp32 or bf16\n");
        return 2;
    }
    const auto dt = precision == "bf16" ? memory::data_type::bf16 : memory::data_type::f32;

    engine eng(engine::kind::cpu, 0);
    stream strm(eng);
    memory::desc a_md({M, K}, dt, memory::format_tag::ab);
    memory::desc b_any({K, N}, dt, memory::format_tag::any);
    memory::desc c_md({M, N}, dt, memory::format_tag::ab);
    matmul::primitive_desc pd;
    try {
        pd = matmul::primitive_desc(matmul::desc(a_md, b_any, c_md), eng);
    } catch (const dnnl::error& e) {
        std::printf("{\"m\":%lld,\"k\":%lld,\"n\":%lld,\"precision\":\"%s\",\"error\":\"%s\"}\n", (long long)M,
                    (long long)K, (long long)N, precision.c_str(), e.what());
        return 1;
    }
    matmul prim(pd);
    memory a(a_md, eng), b_plain({{K, N}, dt, memory::format_tag::ab}, eng), b(pd.weights_desc(), eng),
        c(c_md, eng);
    fill(a, 1.0f);
    fill(b_plain, -0.5f);
    reorder(b_plain, b).execute(strm, b_plain, b);
    strm.wait();
    const std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}};

    // Warm-up, and the repetition count that makes one sample last at least min_sample_s.
    long reps = 1;
    for (;;) {
        auto t0 = clk::now();
        for (long i = 0; i < reps; ++i) prim.execute(strm, args);
        strm.wait();
        if (std::chrono::duration<double>(clk::now() - t0).count() >= min_sample_s || reps >= (1L << 30)) break;
        reps *= 2;
    }
    std::vector<double> gflops;
    const double flops = 2.0 * static_cast<double>(M) * static_cast<double>(K) * static_cast<double>(N);
    for (int s = 0; s < samples; ++s) {
        auto t0 = clk::now();
        for (long i = 0; i < reps; ++i) prim.execute(strm, args);
        strm.wait();
        const double sec = std::chrono::duration<double>(clk::now() - t0).count();
        gflops.push_back(flops * static_cast<double>(reps) / sec / 1e9);
    }
    std::sort(gflops.begin(), gflops.end());
    const std::size_t h = gflops.size() / 2;
    const double median = gflops.size() % 2 ? gflops[h] : 0.5 * (gflops[h - 1] + gflops[h]);
    const char* impl = pd.impl_info_str();
    std::printf("{\"m\":%lld,\"k\":%lld,\"n\":%lld,\"precision\":\"%s\",\"gflops\":%.3f,\"impl\":\"%s\"}\n",
                (long long)M, (long long)K, (long long)N, precision.c_str(), median, impl ? impl : "unknown");
    return 0;
}
