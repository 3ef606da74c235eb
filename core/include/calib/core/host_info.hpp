// What the host machine is (CPU, caches, ISA, OS) and what its CPU can do at most (theoretical peaks).
// Peaks are derived from measured facts (sustained clock, FMA pipes) and ISA flags, never typed in,
// unless the user overrides them.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "calib/core/cpu_conditions.hpp"

namespace calib::core {

struct CacheInfo {
    int level = 0;
    std::string type;          // "Data", "Instruction", "Unified"
    uint64_t size_bytes = 0;
    int shared_cpu_count = 0;       // logical CPUs sharing this cache
};

// A measured compute ceiling: one instruction loop (independent vector FMAs or dot products, or AMX
// tile ops) on every logical CPU at once, one pinned thread per CPU (measure_cpu_ceilings).
struct Ceiling {
    std::string precision;     // "fp32", "fp64", "bf16", "fp16", "int8"
    std::string instruction;   // the loop's instruction and width, e.g. "vdpbf16ps zmm", "tdpbf16ps tmm"
    double gflops = 0;         // all threads together (GOPS for int8); 0 = not measured (see source)
    double flops_per_instruction = 0;  // FLOP (ops for int8) one instruction does, as counted
    int threads = 0;           // threads that ran it at once
    double seconds = 0;        // wall time of this probe, all repetitions
    std::string source;        // "measured: vdpbf16ps zmm loop, 2 threads, best of 3" or "not measured: why"
};

struct HostInfo {
    std::string hostname;
    std::string cpu_model;     // "model name" from /proc/cpuinfo; never empty ("unknown")
    std::string cpu_vendor;    // e.g. "AuthenticAMD", "GenuineIntel"
    int physical_cores = 0;    // distinct (package, core) pairs
    int logical_cpus = 0;      // online CPUs
    std::vector<CacheInfo> caches;  // cpu0's view, sorted by level then type
    std::vector<std::string> isa;   // flags of interest present on this CPU (see isa_flags_of_interest)
    uint64_t total_memory_bytes = 0;
    std::string os;            // PRETTY_NAME from /etc/os-release
    std::string kernel;        // uname: sysname release machine
    std::string compiler;      // compiler that built calib
    std::array<double, 3> load_average{};
    std::string cpufreq_governor;  // empty where not readable (VMs)
    // Clock per core and its limits, governors, turbo, RAPL: read by detect_host() at the run's start
    // (before any measurement), written into the host section (add_to_json) and metadata.cpu_clock.
    CpuConditions conditions;
    // Filled by measurement, 0 = not measured yet (detect_cpu_peaks measures what is missing).
    double sustained_clock_ghz = 0;
    // The same chain with a zmm FMA beside each add: the clock under AVX-512 load (its frequency licence),
    // used by the AVX-512 formulas. 0 = not measured or no AVX-512 (they use sustained_clock_ghz).
    double avx512_clock_ghz = 0;
    std::vector<double> clock_readings_ghz;  // every reading taken (a run: at its start and its end)
    int fma_pipes = 0;
    // Filled by measure_cpu_ceilings (never by detect_cpu_peaks: it costs ~1 s); empty = not measured.
    // detect_cpu_peaks copies them into its PeakTable. Serialised with the peaks, not in to_json(HostInfo).
    std::vector<Ceiling> ceilings;

    bool has(const std::string& flag) const;
};

// The ISA flags detect_host() looks for, in /proc/cpuinfo spelling.
const std::vector<std::string>& isa_flags_of_interest();

// Reads /proc and /sys only (fast); does not measure the clock or FMA pipes.
HostInfo detect_host();
boost::json::object to_json(const HostInfo& host);

// Clock under load: a chain of dependent integer adds (1 cycle each) on `threads` threads at once for
// ~60 ms, best of 3; timed by thread CPU time, so preemption does not lower it. Returns GHz, or 0 on
// an architecture without the chain (neither x86-64 nor aarch64).
double measure_sustained_clock_ghz(int threads);

// The clock while the cores run zmm FMAs: the add chain with an independent vfmadd231ps zmm beside each
// add (it sets the AVX-512 licence without lengthening the chain; two per add did), on every
// logical CPU at once, best of 3. Returns GHz, or 0 where the host or CPU lacks AVX-512F.
double measure_avx512_clock_ghz(const HostInfo& host);

// FMA pipes per core on the widest vector ISA (AVX-512, else AVX2+FMA): independent FMAs per cycle,
// cycles counted by the dependent-add chain on the same thread; rounded to 1 or 2. Returns 1 where
// no FMA ISA is available.
int measure_fma_pipes(const HostInfo& host);

struct CeilingOptions {
    double seconds = 0.02;  // thread CPU time of one repetition, per probe and thread
    int repetitions = 5;    // each thread keeps its best repetition (short and many: a clean window)
    // Whether the CPU itself (cpuid) has an ISA flag, /proc/cpuinfo spelling; empty = ask cpuid. A probe
    // runs only when both the host's flags and this say yes (a test injects a CPU that lacks one).
    std::function<bool(const std::string&)> cpu_has;
};

// Per precision the host's flags allow, the widest instruction loop: vfmadd231ps/pd (zmm with avx512f,
// else ymm with avx2+fma), vdpbf16ps zmm (avx512_bf16), vfmadd231ph zmm (avx512_fp16), vpdpbusd (zmm
// with avx512_vnni, else ymm with avx_vnni), and with AMX tdpbf16ps (amx_bf16) and tdpbusd (amx_int8)
// beside the vector ones. Every logical CPU this process may use runs one pinned thread; a thread's
// rate is its operations over its CPU time (preemption does not lower it), best of the repetitions;
// the ceiling is the sum over threads. A precision the host or CPU lacks has no entry; AMX the kernel
// refuses (arch_prctl) gets an entry with gflops 0 and the reason. Default cost: about
// 7 probes x 5 x 20 ms on 2 CPUs: 0.7 s wall on idle CPUs, ~1.5 s while others share them.
std::vector<Ceiling> measure_cpu_ceilings(const HostInfo& host, const CeilingOptions& options = {});

struct Peak {
    std::string precision;     // "fp32", "fp64", "bf16", "fp16", "int8"
    double gflops = 0;         // GFLOPS (GOPS for int8)
    std::string source;        // "detected", "user" or "plugin"
    std::string formula;       // how gflops was obtained, human-readable
    // The highest measured ceiling of this precision (host.ceilings); 0 = not measured. The formula
    // stays the peak; the ceiling is what an instruction loop reached on all CPUs at once.
    double ceiling_gflops = 0;
    std::string ceiling_source = "not measured";  // the Ceiling's source
};

// Memory bandwidth peak: its own unit (GB/s), so it never reads as FLOPS.
struct BandwidthPeak {
    double gbps = 0;
    std::string source = "unknown";  // "unknown", "user", "plugin" or (set by the run) "measured"
    std::string formula = "no reliable detection (VMs hide the memory system)";
};

struct PeakTable {
    std::vector<Peak> compute;  // precisions without native support are absent
    BandwidthPeak bandwidth;
    std::vector<Ceiling> ceilings;  // every probe measured (host.ceilings), the lower ones too

    const Peak* find(const std::string& precision) const;  // nullptr when absent
    // {"compute": {precision: {gflops, source, formula, ceiling_gflops, ceiling_source}},
    //  "bandwidth": {gbps, source, formula},
    //  "ceilings": [{precision, instruction, gflops, flops_per_instruction, threads, seconds, source}]}
    boost::json::object to_json() const;
};

// Per precision: physical cores x sustained clock x FLOP/cycle/core (vector lanes x FMA pipes x 2,
// times the instruction's factor; AMX tiles for bf16/int8). Measures the clock and FMA pipes when
// host.sustained_clock_ghz / host.fma_pipes are 0. Copies host.ceilings (measured beforehand, not here)
// into the table and each precision's best one into its Peak.
PeakTable detect_cpu_peaks(const HostInfo& host);

// User-given peaks win: source "user". A user fp32 peak scales the other precisions by their detected
// ratio to fp32 (kept in the formula).
void apply_overrides(PeakTable& table, std::optional<double> peak_gflops_fp32,
                     std::optional<double> peak_bandwidth_gbps);

}  // namespace calib::core
