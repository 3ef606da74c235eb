// Measured compute ceilings: per precision, a tight loop of independent vector FMAs / dot products (or
// AMX tile ops) on every logical CPU at once, chosen at run time by the ISA the host and the CPU report.
// The library builds for generic x86-64: each ISA-specific loop is inline asm (vector) or intrinsics in
// a function compiled with __attribute__((target(...))) (AMX), and runs only after both checks say yes.
//
// Operations counted per instruction (FMA = multiply + add = 2; int8 ops likewise):
//   vfmadd231ps zmm  16 fp32 lanes x 2                         =    32 FLOP   (ymm: 16)
//   vfmadd231pd zmm   8 fp64 lanes x 2                         =    16 FLOP   (ymm: 8)
//   vdpbf16ps   zmm  16 fp32 lanes x 2 bf16 pairs x 2          =    64 FLOP
//   vfmadd231ph zmm  32 fp16 lanes x 2                         =    64 FLOP
//   vpdpbusd    zmm  16 int32 lanes x 4 u8*s8 products x 2     =   128 ops    (ymm, AVX-VNNI: 64)
//   tdpbf16ps   tmm  16 x 16 fp32 outputs x 32 bf16 (K) x 2    = 16384 FLOP
//   tdpbusd     tmm  16 x 16 int32 outputs x 64 int8 (K) x 2   = 32768 ops
#include "calib/core/host_info.hpp"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "kernels.hpp"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace calib::core {
namespace {

using detail::thread_cpu_seconds;

struct Kernel {
    const char* precision;
    const char* instruction;
    std::array<const char*, 2> needs;  // /proc/cpuinfo flags, all required (nullptr = none)
    const char* unless;                // skipped when the host has this flag (a wider loop runs instead)
    double flops_per_instruction;
    int instructions_per_trip;
    void (*loop)(uint64_t trips);
    bool amx;
};

#if defined(__x86_64__)
using detail::kVecLoopChains;

// One function per loop; the target attribute documents (and allows) the ISA each one needs.
#define CALIB_VEC_KERNEL(NAME, TARGET, INSN, R) \
    __attribute__((target(TARGET))) void NAME(uint64_t trips) { CALIB_VEC_LOOP(INSN, R, trips); }
CALIB_VEC_KERNEL(fp32_zmm, "avx512f", "vfmadd231ps", "zmm")
CALIB_VEC_KERNEL(fp32_ymm, "avx2,fma", "vfmadd231ps", "ymm")
CALIB_VEC_KERNEL(fp64_zmm, "avx512f", "vfmadd231pd", "zmm")
CALIB_VEC_KERNEL(fp64_ymm, "avx2,fma", "vfmadd231pd", "ymm")
CALIB_VEC_KERNEL(bf16_zmm, "avx512f,avx512bf16", "vdpbf16ps", "zmm")
CALIB_VEC_KERNEL(fp16_zmm, "avx512f,avx512fp16", "vfmadd231ph", "zmm")
CALIB_VEC_KERNEL(int8_zmm, "avx512f,avx512vnni", "vpdpbusd", "zmm")
CALIB_VEC_KERNEL(int8_ymm, "avx2,avxvnni", "%{vex%} vpdpbusd", "ymm")
#undef CALIB_VEC_KERNEL

// AMX: palette 1, tiles 0-7 of 16 rows x 64 bytes. Accumulators 0-3 take A in tiles 4-5 and B in tiles
// 6-7 (a 2 x 2 block, as oneDNN's brgemm does): 4 independent tile ops per trip cover their latency.
struct alignas(64) TileConfig {
    uint8_t palette = 1;
    uint8_t start_row = 0;
    uint8_t reserved[14] = {};
    uint16_t colsb[16] = {64, 64, 64, 64, 64, 64, 64, 64};
    uint8_t rows[16] = {16, 16, 16, 16, 16, 16, 16, 16};
};

// Operands: bf16 1.0 (0x3f80) everywhere, read as int8 by tdpbusd; the values do not change the timing.
struct alignas(64) TileData {
    uint16_t v[16 * 32];
    TileData() { std::fill(std::begin(v), std::end(v), uint16_t{0x3f80}); }
};

__attribute__((target("amx-tile"))) void load_tiles(const TileConfig& cfg, const TileData& d) {
    _tile_loadconfig(&cfg);
    _tile_loadd(4, d.v, 64);
    _tile_loadd(5, d.v, 64);
    _tile_loadd(6, d.v, 64);
    _tile_loadd(7, d.v, 64);
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
}

// OP is the tile intrinsic (a macro of dst, A, B tiles); 4 independent accumulators per trip.
#define CALIB_AMX_KERNEL(NAME, TARGET, OP)                         \
    __attribute__((target(TARGET))) void NAME(uint64_t trips) {    \
        static const TileConfig cfg;                               \
        static const TileData data;                                \
        load_tiles(cfg, data);                                     \
        for (uint64_t i = 0; i < trips; ++i) {                     \
            OP(0, 4, 6);                                           \
            OP(1, 4, 7);                                           \
            OP(2, 5, 6);                                           \
            OP(3, 5, 7);                                           \
        }                                                          \
        _tile_release();                                           \
    }
CALIB_AMX_KERNEL(bf16_amx, "amx-tile,amx-bf16", _tile_dpbf16ps)
CALIB_AMX_KERNEL(int8_amx, "amx-tile,amx-int8", _tile_dpbusd)
#undef CALIB_AMX_KERNEL

// Linux (5.16+) hands out the AMX tile state only on request, once per process.
bool request_amx(std::string& why) {
    constexpr long kArchReqXcompPerm = 0x1023;
    constexpr long kXfeatureXtiledata = 18;
    if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0) return true;
    why = std::string("arch_prctl(ARCH_REQ_XCOMP_PERM, XTILEDATA) refused: ") + std::strerror(errno);
    return false;
}

constexpr int V = kVecLoopChains;
const std::array<Kernel, 10> kKernels{{
    {"fp32", "vfmadd231ps zmm", {"avx512f", nullptr}, nullptr, 32, V, fp32_zmm, false},
    {"fp32", "vfmadd231ps ymm", {"avx2", "fma"}, "avx512f", 16, V, fp32_ymm, false},
    {"fp64", "vfmadd231pd zmm", {"avx512f", nullptr}, nullptr, 16, V, fp64_zmm, false},
    {"fp64", "vfmadd231pd ymm", {"avx2", "fma"}, "avx512f", 8, V, fp64_ymm, false},
    {"bf16", "vdpbf16ps zmm", {"avx512f", "avx512_bf16"}, nullptr, 64, V, bf16_zmm, false},
    {"bf16", "tdpbf16ps tmm", {"amx_tile", "amx_bf16"}, nullptr, 16384, 4, bf16_amx, true},
    {"fp16", "vfmadd231ph zmm", {"avx512f", "avx512_fp16"}, nullptr, 64, V, fp16_zmm, false},
    {"int8", "vpdpbusd zmm", {"avx512f", "avx512_vnni"}, nullptr, 128, V, int8_zmm, false},
    {"int8", "vpdpbusd ymm", {"avx2", "avx_vnni"}, "avx512_vnni", 64, V, int8_ymm, false},
    {"int8", "tdpbusd tmm", {"amx_tile", "amx_int8"}, nullptr, 32768, 4, int8_amx, true},
}};

// cpuid bits (and the OS's XCR0 state bits) of the flags the kernels need, by /proc/cpuinfo name. Own
// table rather than __builtin_cpu_supports: compilers disagree on its names (clang 14 lacks the AMX ones).
struct CpuidFlag {
    const char* name;
    unsigned leaf, subleaf;
    int reg, bit;     // reg: 0 eax, 1 ebx, 2 ecx, 3 edx
    uint64_t xcr0;    // state the OS must save: 0x6 SSE+AVX, 0xe6 + opmask/ZMM, 0x60000 tile config/data
};
constexpr std::array<CpuidFlag, 10> kCpuidFlags{{
    {"fma", 1, 0, 2, 12, 0x6},
    {"avx2", 7, 0, 1, 5, 0x6},
    {"avx512f", 7, 0, 1, 16, 0xe6},
    {"avx512_vnni", 7, 0, 2, 11, 0xe6},
    {"avx512_fp16", 7, 0, 3, 23, 0xe6},
    {"avx512_bf16", 7, 1, 0, 5, 0xe6},
    {"avx_vnni", 7, 1, 0, 4, 0x6},
    {"amx_bf16", 7, 0, 3, 22, 0x60000},
    {"amx_tile", 7, 0, 3, 24, 0x60000},
    {"amx_int8", 7, 0, 3, 25, 0x60000},
}};

bool cpuid_bit(unsigned leaf, unsigned subleaf, int reg, int bit) {
    unsigned r[4] = {};
    if (!__get_cpuid_count(leaf, subleaf, &r[0], &r[1], &r[2], &r[3])) return false;
    return ((r[reg] >> bit) & 1U) != 0;
}

bool os_saves(uint64_t mask) {
    if (!cpuid_bit(1, 0, 2, 27)) return false;  // OSXSAVE: xgetbv allowed
    uint32_t lo = 0, hi = 0;
    asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((static_cast<uint64_t>(hi) << 32 | lo) & mask) == mask;
}

bool cpuid_has(const std::string& flag) {
    for (const CpuidFlag& f : kCpuidFlags)
        if (flag == f.name) return cpuid_bit(f.leaf, f.subleaf, f.reg, f.bit) && os_saves(f.xcr0);
    return false;
}
#else
constexpr std::array<Kernel, 0> kKernels{};
bool cpuid_has(const std::string&) { return false; }
bool request_amx(std::string& why) {
    why = "not x86-64";
    return false;
}
#endif

bool usable(const Kernel& k, const HostInfo& host, const std::function<bool(const std::string&)>& cpu_has) {
    if (k.unless && host.has(k.unless) && cpu_has(k.unless)) return false;
    for (const char* f : k.needs)
        if (f && !(host.has(f) && cpu_has(f))) return false;
    return true;
}

// The thread's best rate (operations per CPU-second) over the repetitions: trips in chunks that grow
// until one takes 1/64 of the repetition, so the clock is read rarely and the overshoot stays small.
double best_rate(const Kernel& k, const CeilingOptions& o) {
    double best = 0;
    for (int r = 0; r < std::max(1, o.repetitions); ++r) {
        uint64_t trips = 0, chunk = 64;
        const double t0 = thread_cpu_seconds();
        double dt = 0;
        while (dt < o.seconds || trips == 0) {
            k.loop(chunk);
            trips += chunk;
            dt = thread_cpu_seconds() - t0;
            if (dt < o.seconds / 64) chunk *= 2;
        }
        if (dt > 0)
            best = std::max(best, static_cast<double>(trips) * k.instructions_per_trip * k.flops_per_instruction / dt);
    }
    return best;
}

std::vector<int> allowed_cpus() {
    std::vector<int> cpus;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        for (int c = 0; c < CPU_SETSIZE; ++c)
            if (CPU_ISSET(c, &set)) cpus.push_back(c);
    if (cpus.empty()) cpus.push_back(-1);  // unknown: one unpinned thread
    return cpus;
}

double wall_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Runs every kernel on one pinned thread per CPU, all threads on the same kernel at once (a barrier
// before each), and sums the threads' best rates into each kernel's Ceiling.
void run_kernels(const std::vector<const Kernel*>& ks, std::vector<Ceiling>& out, const CeilingOptions& o) {
    const std::vector<int> cpus = allowed_cpus();
    const std::size_t n = cpus.size();
    std::vector<std::vector<double>> rates(ks.size(), std::vector<double>(n, 0.0));
    std::vector<double> started(ks.size(), 0.0), ended(ks.size(), 0.0);
    std::barrier sync(static_cast<std::ptrdiff_t>(n));
    auto body = [&](std::size_t t) {
        if (cpus[t] >= 0) detail::pin_self(cpus[t]);
        for (std::size_t i = 0; i < ks.size(); ++i) {
            sync.arrive_and_wait();
            if (t == 0) started[i] = wall_seconds();
            rates[i][t] = best_rate(*ks[i], o);
            sync.arrive_and_wait();
            if (t == 0) ended[i] = wall_seconds();
        }
    };
    std::vector<std::thread> pool;  // new threads only: pinning the caller would outlive the probe
    for (std::size_t t = 0; t < n; ++t) pool.emplace_back(body, t);
    for (auto& th : pool) th.join();
    for (std::size_t i = 0; i < ks.size(); ++i) {
        Ceiling& c = out.emplace_back();
        c.precision = ks[i]->precision;
        c.instruction = ks[i]->instruction;
        c.flops_per_instruction = ks[i]->flops_per_instruction;
        c.threads = static_cast<int>(n);
        for (double r : rates[i]) c.gflops += r / 1e9;
        c.seconds = ended[i] - started[i];
        c.source = "measured: " + c.instruction + " loop, " + std::to_string(n) + " threads, best of " +
                   std::to_string(std::max(1, o.repetitions));
    }
}

}  // namespace

std::vector<Ceiling> measure_cpu_ceilings(const HostInfo& host, const CeilingOptions& options) {
    const std::function<bool(const std::string&)> cpu_has = options.cpu_has ? options.cpu_has : cpuid_has;
    std::vector<Ceiling> out;
    std::vector<const Kernel*> run;
    std::string amx_refused;
    bool amx_asked = false;
    for (const Kernel& k : kKernels) {
        if (!usable(k, host, cpu_has)) continue;
        if (k.amx && !amx_asked) {
            amx_asked = true;
            if (!request_amx(amx_refused) && amx_refused.empty()) amx_refused = "refused";
        }
        if (k.amx && !amx_refused.empty()) {
            out.push_back(Ceiling{k.precision, k.instruction, 0, k.flops_per_instruction, 0, 0,
                                  "not measured: " + amx_refused});
            continue;
        }
        run.push_back(&k);
    }
    if (!run.empty()) run_kernels(run, out, options);
    return out;
}

}  // namespace calib::core
