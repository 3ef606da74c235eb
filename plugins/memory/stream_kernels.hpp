// STREAM kernels over double arrays, parallel over all OpenMP threads with one fixed static partition
// (the same one for first touch and for every kernel, so each thread works on the pages it touched).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace calib::memory {

enum class Kernel { copy, scale, add, triad };

const char* kernel_name(Kernel k);
// Arrays a kernel touches (copy/scale 2, add/triad 3) and words moved per element by the STREAM
// convention (reads + writes, no write-allocate traffic): the same numbers.
int arrays_used(Kernel k);

struct FreeDeleter {
    void operator()(double* p) const noexcept;
};
using Array = std::unique_ptr<double[], FreeDeleter>;

// Three arrays of n doubles in one page-aligned block, untouched after allocation (first touch is the
// caller's). Array i starts i x 17 cache lines past a page boundary, so that a[j], b[j] and c[j] never
// share a 4 KiB page offset (no 4K aliasing between the streams), whatever offsets a heap would give:
// the placement is the same in every run (STREAM pads its arrays with OFFSET for the same reason).
struct ArraySet {
    Array block;
    double* arrays[3] = {nullptr, nullptr, nullptr};
};
ArraySet allocate_arrays(std::size_t n);

// Thread t's share [begin, end) of n elements in whole 64-byte lines, for `threads` threads.
void static_chunk(std::size_t n, int threads, int t, std::size_t& begin, std::size_t& end);

// STREAM's scalar and initial values (all non-zero; a = 1, b = 2, c = 0.5, q = 3).
inline constexpr double k_scalar = 3.0;
inline constexpr double k_init_a = 1.0, k_init_b = 2.0, k_init_c = 0.5;

// First touch and initialisation in parallel with the kernels' partition; warms the thread team.
void first_touch(double* a, double* b, double* c, std::size_t n);
// `passes` passes of the kernel over n elements: copy c=a, scale b=q*c, add c=a+b, triad a=b+q*c.
// One parallel region for all passes, so a cache-resident working set measures the caches rather
// than the fork/join cost (which STREAM's large arrays amortise anyway).
void run_kernel(Kernel k, double* a, double* b, double* c, std::size_t n, uint64_t passes = 1);

// STREAM's relative tolerance for doubles.
inline constexpr double k_relative_tolerance = 1e-13;

struct Check {
    double max_abs_error = 0;
    double tolerance = 0;  // k_relative_tolerance x the largest expected value
    bool passed = false;
};
// STREAM's check after one or more passes of kernel k from the initial values, over every array the
// kernel uses (pass nullptr for the others): each element against its analytic value.
Check check_arrays(Kernel k, const double* a, const double* b, const double* c, std::size_t n);

}  // namespace calib::memory
