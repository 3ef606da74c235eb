// STREAM memory plugin: copy/scale/add/triad over a working-set sweep from L1 to beyond the last-level
// cache, plus the origin's large "memory_copy" records (stored as operation_type "add").
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "calib/plugin.hpp"
#include "stream_kernels.hpp"

namespace calib::memory {

struct CacheSizes {
    std::size_t l1d = 32 << 10, l2 = 1 << 20, llc = 32 << 20;  // used where sysfs is unreadable
    std::size_t cores = 1;  // threads sharing the sweep: L1 and L2 are per core, the LLC is shared
};
// Data/unified cache sizes of cpu0 from /sys/devices/system/cpu/cpu0/cache/index*/ (`root` for tests).
CacheSizes read_cache_sizes(const std::string& root = "/sys/devices/system/cpu/cpu0/cache");

// Working-set sizes (total bytes of a kernel's arrays): powers of two from 8 KiB up to 2 x LLC, then one
// more octave, the DRAM point (above 2 x and at most 4 x LLC). Not STREAM's rule (each array >= 4 x LLC,
// a working set >= 12 x LLC): with the large LLCs that virtual machines report (480 MiB on a 2-vCPU VM)
// that point was 8 GiB, ~7 s a case (mostly first-touch page faults) and 8.4 GB of resident memory,
// while the measured bandwidth was already flat from 256 MiB on (copy 256 MiB 18.9 GB/s, 512 MiB 20.1;
// scale/add/triad at 256 MiB within 3% of 8 GiB). Two octaves past the LLC's half the working set no
// longer fits in it; whether the DRAM point is indeed flat against the point below it is the host's
// check, not the plugin's.
std::vector<std::size_t> sweep_sizes(const CacheSizes& caches);

// "256KiB", "8MiB".
std::string size_label(std::size_t bytes);

std::vector<sdk::CaseSpec> case_list(const CacheSizes& caches);

// Elements per array of a case (its shape[0]) and the kernel it runs (from its params).
Kernel kernel_of(const sdk::CaseSpec& spec);

class MemoryInstance : public sdk::Instance {
public:
    // The kernel's arrays: the first n elements of each of `arrays` (at least n long), initialised here.
    MemoryInstance(Kernel k, std::size_t n, std::shared_ptr<ArraySet> arrays);
    double run(uint64_t iterations) override;
    // The arrays this kernel uses (nullptr for the one it does not).
    double* a() { return a_; }
    double* b() { return b_; }
    double* c() { return c_; }
    std::size_t size() const { return n_; }
    Kernel kernel() const { return k_; }
    Check check() const { return check_arrays(k_, a_, b_, c_, n_); }

private:
    Kernel k_;
    std::size_t n_;
    std::shared_ptr<ArraySet> arrays_;
    double* a_ = nullptr;  // nullptr where the kernel does not use the array
    double* b_ = nullptr;
    double* c_ = nullptr;
};

// One ArraySet per worker, sized for the plugin's largest case and reused by every case (as STREAM runs
// all four kernels on one set of arrays): each case initialises the prefix it uses, and pages once
// touched stay mapped, so a sweep pays the first-touch page faults of its largest working set once
// instead of once per case (on this 2-vCPU guest ~1.5 GB/s: 1.2 s of every 1 GiB case's prepare).
class MemoryPlugin : public sdk::Plugin {
public:
    std::string device_name() const override;
    std::vector<sdk::CaseSpec> cases() override { return case_list(read_cache_sizes()); }
    std::unique_ptr<sdk::Instance> prepare(const sdk::CaseSpec& spec) override;

private:
    std::shared_ptr<ArraySet> arrays_for(std::size_t n);
    std::shared_ptr<ArraySet> pool_;
    std::size_t pool_n_ = 0;      // elements per array of pool_
    std::size_t largest_n_ = 0;   // the largest case's, read from cases() on first use
};

}  // namespace calib::memory
