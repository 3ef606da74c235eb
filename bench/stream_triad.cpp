// Plain STREAM triad (a = b + q*c) with OpenMP, the textbook way: static schedule, parallel first touch,
// best of 10 passes with the first excluded. Prints one JSON line.
//   calib_bench_stream [total_bytes]   (default: max(4 x LLC, 256 MiB) over the three arrays)
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

static std::size_t llc_bytes() {
    std::size_t best = 0;
    for (int i = 0; i < 16; ++i) {
        const std::string d = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
        std::ifstream type_in(d + "type"), size_in(d + "size");
        std::string type, size;
        if (!(type_in >> type) || !(size_in >> size)) continue;
        if (type == "Instruction") continue;
        std::size_t v = std::strtoull(size.c_str(), nullptr, 10);
        if (size.back() == 'K') v <<= 10;
        if (size.back() == 'M') v <<= 20;
        best = std::max(best, v);
    }
    return best;
}

int main(int argc, char** argv) {
    std::size_t total = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : std::max(4 * llc_bytes(), std::size_t(256) << 20);
    const std::size_t n = total / (3 * sizeof(double));
    total = 3 * n * sizeof(double);
    const std::size_t alloc = (n * sizeof(double) + 63) / 64 * 64;
    auto* a = static_cast<double*>(std::aligned_alloc(64, alloc));
    auto* b = static_cast<double*>(std::aligned_alloc(64, alloc));
    auto* c = static_cast<double*>(std::aligned_alloc(64, alloc));
    if (!a || !b || !c) return 1;
    const double q = 3.0;
#pragma omp parallel for simd schedule(static)
    for (std::size_t j = 0; j < n; ++j) {
        a[j] = 1.0;
        b[j] = 2.0;
        c[j] = 0.5;
    }
    double best = 1e30;
    for (int pass = 0; pass < 10; ++pass) {
        const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel for simd schedule(static)
        for (std::size_t j = 0; j < n; ++j) a[j] = b[j] + q * c[j];
        const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (pass > 0) best = std::min(best, t);
    }
    // STREAM's check: every a[j] == b + q*c.
    std::size_t bad = 0;
    for (std::size_t j = 0; j < n; ++j) bad += a[j] != 3.5;
    std::printf("{\"kernel\":\"triad\",\"bytes\":%zu,\"gbps\":%.3f,\"threads\":%d,\"valid\":%s}\n", total,
                static_cast<double>(total) / best / 1e9, omp_get_max_threads(), bad == 0 ? "true" : "false");
    std::free(a);
    std::free(b);
    std::free(c);
    return bad == 0 ? 0 : 1;
}
