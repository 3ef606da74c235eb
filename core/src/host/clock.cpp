// Microbenchmarks that turn the CPU's facts into numbers: the sustained clock (dependent integer adds,
// one per cycle) and the FMA pipe count (independent FMAs per such cycle). The kernels are inline asm:
// the library builds without -march=native, and they run only when the CPU has the ISA.
#include "calib/core/host_info.hpp"

#include "kernels.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <thread>
#include <vector>


namespace calib::core {
namespace {

using detail::kVecLoopChains;
using detail::thread_cpu_seconds;

constexpr int kChainAdds = 100;                 // adds per loop trip (the .rept count below)
constexpr uint64_t kClockLoops = 2'000'000;     // 2e8 cycles: ~60 ms at 3 GHz
constexpr uint64_t kPipeLoops = 400'000;        // short runs for the pipe ratio
constexpr int kRepetitions = 3;

constexpr bool kHaveChain =
#if defined(__x86_64__) || defined(__aarch64__)
    true;
#else
    false;
#endif

// kChainAdds dependent adds per trip: each waits for the previous, so a trip costs kChainAdds cycles
// (the loop counter runs in parallel). Inline asm: the compiler cannot fold the chain. Register-register
// adds: Intel Golden Cove (Sapphire Rapids) folds chains of add-immediate in its renamer and ran them at
// ~3.7 per cycle, which read as a 13 GHz clock.
void add_chain(uint64_t loops) {
    uint64_t x = 0;
    uint64_t one = 1;
#if defined(__x86_64__)
    asm volatile("1:\n\t"
                 ".rept 100\n\t"
                 "add %[one], %[x]\n\t"
                 ".endr\n\t"
                 "dec %[n]\n\t"
                 "jnz 1b\n\t"
                 : [x] "+r"(x), [n] "+r"(loops)
                 : [one] "r"(one)
                 : "cc");
#elif defined(__aarch64__)
    asm volatile("1:\n\t"
                 ".rept 100\n\t"
                 "add %[x], %[x], %[one]\n\t"
                 ".endr\n\t"
                 "subs %[n], %[n], #1\n\t"
                 "b.ne 1b\n\t"
                 : [x] "+r"(x), [n] "+r"(loops)
                 : [one] "r"(one)
                 : "cc");
#else
    (void)loops;
    (void)one;
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
// The add chain with one independent zmm FMA beside each add (12 accumulators cover the FMA latency):
// the FMAs hold the core at its AVX-512 frequency licence while the chain still costs 1 cycle per add,
// so the reading is the clock zmm code runs at. Two FMAs per add lengthened the chain here (Xeon guest:
// 2.90-2.92 GHz against 3.05-3.12 from the FMA loop's own rate); one per add read 3.09-3.16.
#define CALIB_ADD_FMA(A) "add %[one], %[x]\n\tvfmadd231ps %%zmm12, %%zmm13, %%zmm" #A "\n\t"
constexpr int kLoadedChainAdds = 96;  // 8 x 12 adds per trip
__attribute__((target("avx512f"))) void add_chain_zmm(uint64_t loops) {
    uint64_t x = 0;
    uint64_t one = 1;
    asm volatile("vxorps %%xmm0, %%xmm0, %%xmm0\n\t"
                 ".irp r, 1,2,3,4,5,6,7,8,9,10,11,12,13\n\t"
                 "vmovaps %%zmm0, %%zmm\\r\n\t"
                 ".endr\n\t"
                 "1:\n\t"
                 ".rept 8\n\t" CALIB_ADD_FMA(0) CALIB_ADD_FMA(1) CALIB_ADD_FMA(2) CALIB_ADD_FMA(3) CALIB_ADD_FMA(4)
                     CALIB_ADD_FMA(5) CALIB_ADD_FMA(6) CALIB_ADD_FMA(7) CALIB_ADD_FMA(8) CALIB_ADD_FMA(9)
                         CALIB_ADD_FMA(10) CALIB_ADD_FMA(11) ".endr\n\t"
                 "dec %[n]\n\t"
                 "jnz 1b\n\t"
                 "vzeroupper\n\t"
                 : [x] "+r"(x), [n] "+r"(loops)
                 : [one] "r"(one)
                 : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
                   "xmm12", "xmm13", "cc");
    (void)x;
}
#undef CALIB_ADD_FMA

double loaded_chain_hz(uint64_t loops) {
    const double t0 = thread_cpu_seconds();
    add_chain_zmm(loops);
    const double dt = thread_cpu_seconds() - t0;
    return dt > 0 ? static_cast<double>(loops) * kLoadedChainAdds / dt : 0;
}

// Returns FMA instructions per CPU-second (kVecLoopChains independent chains cover FMA latency x 2
// pipes). Run only when the CPU has the ISA.
double fma_rate_avx512(uint64_t loops) {
    const uint64_t n0 = loops;
    const double t0 = thread_cpu_seconds();
    CALIB_VEC_LOOP("vfmadd231ps", "zmm", loops);
    const double dt = thread_cpu_seconds() - t0;
    return dt > 0 ? static_cast<double>(n0) * kVecLoopChains / dt : 0;
}

double fma_rate_avx2(uint64_t loops) {
    const uint64_t n0 = loops;
    const double t0 = thread_cpu_seconds();
    CALIB_VEC_LOOP("vfmadd231ps", "ymm", loops);
    const double dt = thread_cpu_seconds() - t0;
    return dt > 0 ? static_cast<double>(n0) * kVecLoopChains / dt : 0;
}
#endif

// Mean over `threads` threads (started together, so every core is loaded while any is timed) of each
// thread's best of kRepetitions readings of rate(loops), in GHz.
double all_threads_ghz(int threads, double (*rate)(uint64_t), uint64_t loops) {
    threads = std::max(1, threads);
    std::vector<double> best(static_cast<std::size_t>(threads), 0.0);
    std::atomic<int> ready{0};
    auto body = [&](int i) {
        ready.fetch_add(1);
        while (ready.load() < threads) std::this_thread::yield();
        for (int r = 0; r < kRepetitions; ++r)
            best[static_cast<std::size_t>(i)] = std::max(best[static_cast<std::size_t>(i)], rate(loops));
    };
    std::vector<std::thread> pool;
    for (int i = 1; i < threads; ++i) pool.emplace_back(body, i);
    body(0);
    for (auto& t : pool) t.join();
    double sum = 0;
    for (double b : best) sum += b;
    return sum / threads / 1e9;
}

}  // namespace

double measure_sustained_clock_ghz(int threads) {
    return kHaveChain ? all_threads_ghz(threads, chain_hz, kClockLoops) : 0;
}

double measure_avx512_clock_ghz(const HostInfo& host) {
#if defined(__x86_64__)
    if (!(host.has("avx512f") && __builtin_cpu_supports("avx512f"))) return 0;
    // Same cycle count per call as the plain chain (kClockLoops x kChainAdds).
    return all_threads_ghz(host.logical_cpus, loaded_chain_hz, kClockLoops * kChainAdds / kLoadedChainAdds);
#else
    (void)host;
    return 0;
#endif
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
