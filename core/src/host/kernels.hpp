// Pieces the host microbenchmarks share (clock.cpp, ceilings.cpp, placement.cpp): thread CPU time,
// pinning, and the inline-asm loop of 12 independent vector instructions. Internal to core/src/host.
#pragma once

#include <pthread.h>
#include <sched.h>
#include <time.h>

namespace calib::core::detail {

inline double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

inline bool pin_self(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

}  // namespace calib::core::detail

#if defined(__x86_64__)
// 12 independent accumulators (registers 0-11) take `INSN R12, R13, Rr` once per loop trip, so the
// loop is bound by throughput, not latency (4-6 cycles x 2 pipes). Inline asm, so the count holds at
// any optimisation level and with a generic -march. Registers start at zero: no denormal assists.
// R is "zmm", "ymm"; INSN may carry a pseudo-prefix, braces escaped ("%{vex%} vpdpbusd").
namespace calib::core::detail {
constexpr int kVecLoopChains = 12;
}
#define CALIB_VEC_LOOP(INSN, R, LOOPS)                                                                   \
    asm volatile("vxorps %%xmm0, %%xmm0, %%xmm0\n\t"                                                     \
                 ".irp r, 1,2,3,4,5,6,7,8,9,10,11,12,13\n\t"                                             \
                 "vmovaps %%" R "0, %%" R "\\r\n\t"                                                       \
                 ".endr\n\t"                                                                              \
                 "1:\n\t"                                                                                 \
                 ".irp r, 0,1,2,3,4,5,6,7,8,9,10,11\n\t" INSN " %%" R "12, %%" R "13, %%" R "\\r\n\t"    \
                 ".endr\n\t"                                                                              \
                 "dec %[n]\n\t"                                                                           \
                 "jnz 1b\n\t"                                                                             \
                 "vzeroupper\n\t"                                                                         \
                 : [n] "+r"(LOOPS)                                                                        \
                 :                                                                                        \
                 : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", \
                   "xmm11", "xmm12", "xmm13", "cc")
#endif
