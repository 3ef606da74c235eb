// Microbenchmarks that turn the CPU's facts into numbers: the sustained clock (dependent integer adds,
// one per cycle) and the FMA pipe count (independent FMAs per such cycle). The vector kernels carry
// target attributes so the library builds without -march=native; they run only when the CPU has the ISA.
#include "calib/core/host_info.hpp"

#include <time.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace calib::core {
namespace {

constexpr int kChainAdds = 100;                 // adds per loop trip (the .rept count below)
constexpr uint64_t kClockLoops = 2'000'000;     // 2e8 cycles: ~60 ms at 3 GHz
constexpr uint64_t kPipeLoops = 400'000;        // short runs for the pipe ratio
constexpr int kRepetitions = 3;

double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

constexpr bool kHaveChain =
#if defined(__x86_64__) || defined(__aarch64__)
    true;
#else
    false;
#endif

// kChainAdds dependent adds per trip: each waits for the previous, so a trip costs kChainAdds cycles
// (the loop counter runs in parallel). Inline asm: the compiler cannot fold the chain.
void add_chain(uint64_t loops) {
    uint64_t x = 0;
#if defined(__x86_64__)
    asm volatile("1:\n\t"
                 ".rept 100\n\t"
                 "add $1, %[x]\n\t"
                 ".endr\n\t"
                 "dec %[n]\n\t"
                 "jnz 1b\n\t"
                 : [x] "+r"(x), [n] "+r"(loops)
                 :
                 : "cc");
#elif defined(__aarch64__)
    asm volatile("1:\n\t"
                 ".rept 100\n\t"
                 "add %[x], %[x], #1\n\t"
                 ".endr\n\t"
                 "subs %[n], %[n], #1\n\t"
                 "b.ne 1b\n\t"
                 : [x] "+r"(x), [n] "+r"(loops)
                 :
                 : "cc");
#else
    (void)loops;
#endif
    (void)x;
}

// Cycles per CPU-second of the calling thread, from one run of the chain.
double chain_hz(uint64_t loops) {
    const double t0 = thread_cpu_seconds();
    add_chain(loops);
    const double dt = thread_cpu_seconds() - t0;
    return dt > 0 ? static_cast<double>(loops) * kChainAdds / dt : 0;
}

#if defined(__x86_64__)
// 12 independent accumulators cover FMA latency (4-5 cycles) x 2 pipes, and with the two operands
// still fit the 16 registers of AVX2 (a spill would turn this into a load/store benchmark).
constexpr int kFmaChains = 12;
#define CALIB_FMA12(fma)                                                                               \
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);                     \
    a4 = fma(a4, m, c); a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c);                     \
    a8 = fma(a8, m, c); a9 = fma(a9, m, c); a10 = fma(a10, m, c); a11 = fma(a11, m, c)

// Returns FMA instructions per CPU-second.
__attribute__((target("avx512f"))) double fma_rate_avx512(uint64_t loops) {
    // Distinct starting values: equal ones would let the compiler merge the chains into one.
#define CALIB_V(i) _mm512_set1_ps(1.0f + 0.01f * (i))
    __m512 a0 = CALIB_V(0), a1 = CALIB_V(1), a2 = CALIB_V(2), a3 = CALIB_V(3), a4 = CALIB_V(4), a5 = CALIB_V(5),
           a6 = CALIB_V(6), a7 = CALIB_V(7), a8 = CALIB_V(8), a9 = CALIB_V(9), a10 = CALIB_V(10), a11 = CALIB_V(11);
#undef CALIB_V
    const __m512 m = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(0.001f);
    const double t0 = thread_cpu_seconds();
    for (uint64_t i = 0; i < loops; ++i) {
        CALIB_FMA12(_mm512_fmadd_ps);
    }
    const double dt = thread_cpu_seconds() - t0;
    const __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                                   _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    const __m512 t = _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11));
    alignas(64) float out[16];
    _mm512_store_ps(out, _mm512_add_ps(s, t));
    volatile float sink = out[0];  // keeps the loop alive
    (void)sink;
    return dt > 0 ? static_cast<double>(loops) * kFmaChains / dt : 0;
}

__attribute__((target("avx2,fma"))) double fma_rate_avx2(uint64_t loops) {
#define CALIB_V(i) _mm256_set1_ps(1.0f + 0.01f * (i))
    __m256 a0 = CALIB_V(0), a1 = CALIB_V(1), a2 = CALIB_V(2), a3 = CALIB_V(3), a4 = CALIB_V(4), a5 = CALIB_V(5),
           a6 = CALIB_V(6), a7 = CALIB_V(7), a8 = CALIB_V(8), a9 = CALIB_V(9), a10 = CALIB_V(10), a11 = CALIB_V(11);
#undef CALIB_V
    const __m256 m = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(0.001f);
    const double t0 = thread_cpu_seconds();
    for (uint64_t i = 0; i < loops; ++i) {
        CALIB_FMA12(_mm256_fmadd_ps);
    }
    const double dt = thread_cpu_seconds() - t0;
    const __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                                   _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    const __m256 t = _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11));
    alignas(32) float out[8];
    _mm256_store_ps(out, _mm256_add_ps(s, t));
    volatile float sink = out[0];
    (void)sink;
    return dt > 0 ? static_cast<double>(loops) * kFmaChains / dt : 0;
}
#undef CALIB_FMA12
#endif

}  // namespace

double measure_sustained_clock_ghz(int threads) {
    if (!kHaveChain) return 0;
    threads = std::max(1, threads);
    std::vector<double> best(static_cast<std::size_t>(threads), 0.0);
    std::atomic<int> ready{0};
    auto body = [&](int i) {
        // Start together so every core is loaded while any of them is timed.
        ready.fetch_add(1);
        while (ready.load() < threads) std::this_thread::yield();
        for (int r = 0; r < kRepetitions; ++r)
            best[static_cast<std::size_t>(i)] = std::max(best[static_cast<std::size_t>(i)], chain_hz(kClockLoops));
    };
    std::vector<std::thread> pool;
    for (int i = 1; i < threads; ++i) pool.emplace_back(body, i);
    body(0);
    for (auto& t : pool) t.join();
    double sum = 0;
    for (double b : best) sum += b;
    return sum / threads / 1e9;
}

int measure_fma_pipes(const HostInfo& host) {
#if defined(__x86_64__)
    double (*kernel)(uint64_t) = nullptr;
    if (host.has("avx512f") && __builtin_cpu_supports("avx512f"))
        kernel = fma_rate_avx512;
    else if (host.has("avx2") && host.has("fma") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        kernel = fma_rate_avx2;
    if (!kernel) return 1;
    // Cycles from the add chain on this same thread, before and after (AVX frequency licences may
    // lower the clock under heavy vector load; the best of each keeps the ratio honest).
    double hz = 0, fma = 0;
    for (int r = 0; r < kRepetitions; ++r) {
        hz = std::max(hz, chain_hz(kPipeLoops));
        fma = std::max(fma, kernel(4 * kPipeLoops));
    }
    if (hz <= 0) return 1;
    // One pipe cannot exceed 1 per cycle; 2 pipes at a licence-lowered clock still read > 1.3.
    return fma / hz > 1.3 ? 2 : 1;
#else
    (void)host;
    return 1;
#endif
}

}  // namespace calib::core
