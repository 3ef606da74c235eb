#include "stream_kernels.hpp"

#include <omp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <new>

// The per-thread loops are cloned for AVX-512, AVX2 and baseline x86-64 and picked at load time, so the
// module needs no -march flag. The clones live outside the parallel regions on purpose: GCC outlines an
// OpenMP region into its own function, which target_clones on the enclosing function would not reach.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CALIB_STREAM_CLONES __attribute__((target_clones("avx512f", "avx2", "default"), noinline))
#else
#define CALIB_STREAM_CLONES
#endif

namespace calib::memory {

const char* kernel_name(Kernel k) {
    switch (k) {
        case Kernel::copy: return "copy";
        case Kernel::scale: return "scale";
        case Kernel::add: return "add";
        case Kernel::triad: return "triad";
    }
    return "?";
}

int arrays_used(Kernel k) { return k == Kernel::copy || k == Kernel::scale ? 2 : 3; }

void FreeDeleter::operator()(double* p) const noexcept { std::free(p); }

ArraySet allocate_arrays(std::size_t n) {
    constexpr std::size_t page = 4096, stagger = 17 * 64;
    const std::size_t bytes = (n * sizeof(double) + 63) / 64 * 64;
    const std::size_t stride = (bytes + stagger * 2 + page - 1) / page * page;  // room for the offsets
    void* p = std::aligned_alloc(page, 3 * stride);
    if (p == nullptr) throw std::bad_alloc();
    ArraySet set;
    set.block = Array(static_cast<double*>(p));
    for (std::size_t i = 0; i < 3; ++i)
        set.arrays[i] = reinterpret_cast<double*>(static_cast<char*>(p) + i * stride + i * stagger);
    return set;
}

void static_chunk(std::size_t n, int threads, int t, std::size_t& begin, std::size_t& end) {
    const std::size_t lines = (n + 7) / 8, T = static_cast<std::size_t>(threads), i = static_cast<std::size_t>(t);
    const std::size_t base = lines / T, rem = lines % T;
    const std::size_t first = i * base + std::min(i, rem);
    const std::size_t count = base + (i < rem ? 1 : 0);
    begin = std::min(n, first * 8);
    end = std::min(n, (first + count) * 8);
}

namespace {

CALIB_STREAM_CLONES void copy_part(const double* __restrict a, double* __restrict c, std::size_t lo, std::size_t hi) {
#pragma omp simd
    for (std::size_t j = lo; j < hi; ++j) c[j] = a[j];
}

CALIB_STREAM_CLONES void scale_part(double* __restrict b, const double* __restrict c, double q, std::size_t lo,
                                    std::size_t hi) {
#pragma omp simd
    for (std::size_t j = lo; j < hi; ++j) b[j] = q * c[j];
}

CALIB_STREAM_CLONES void add_part(const double* __restrict a, const double* __restrict b, double* __restrict c,
                                  std::size_t lo, std::size_t hi) {
#pragma omp simd
    for (std::size_t j = lo; j < hi; ++j) c[j] = a[j] + b[j];
}

CALIB_STREAM_CLONES void triad_part(double* __restrict a, const double* __restrict b, const double* __restrict c,
                                    double q, std::size_t lo, std::size_t hi) {
#pragma omp simd
    for (std::size_t j = lo; j < hi; ++j) a[j] = b[j] + q * c[j];
}

}  // namespace

namespace {

// Maps the pages under [p, p + bytes) in one call where the kernel can (MADV_POPULATE_WRITE, Linux 5.14)
// instead of one fault per page as the loop below writes them: ~0.26 against ~0.4 s per GiB on the
// 2-vCPU guest. Called by the thread that then writes the range, so the pages still land on its node.
void populate(double* p, std::size_t bytes) {
#ifdef MADV_POPULATE_WRITE
    if (p == nullptr || bytes == 0) return;
    static const std::uintptr_t page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
    const auto lo = reinterpret_cast<std::uintptr_t>(p) / page * page;
    const auto hi = (reinterpret_cast<std::uintptr_t>(p) + bytes + page - 1) / page * page;
    madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_POPULATE_WRITE);  // on failure the writes fault
#else
    (void)p;
    (void)bytes;
#endif
}

}  // namespace

void first_touch(double* a, double* b, double* c, std::size_t n) {
#pragma omp parallel
    {
        std::size_t lo = 0, hi = 0;
        static_chunk(n, omp_get_num_threads(), omp_get_thread_num(), lo, hi);
        for (double* x : {a, b, c})
            if (x != nullptr) populate(x + lo, (hi - lo) * sizeof(double));
        for (std::size_t j = lo; j < hi; ++j) {
            if (a != nullptr) a[j] = k_init_a;
            if (b != nullptr) b[j] = k_init_b;
            if (c != nullptr) c[j] = k_init_c;
        }
    }
}

void run_kernel(Kernel k, double* a, double* b, double* c, std::size_t n, uint64_t passes) {
#pragma omp parallel
    {
        std::size_t lo = 0, hi = 0;
        static_chunk(n, omp_get_num_threads(), omp_get_thread_num(), lo, hi);
        // Every pass reads only this thread's own chunk, which no other thread writes: no barrier needed.
        for (uint64_t p = 0; p < passes; ++p) {
            switch (k) {
                case Kernel::copy: copy_part(a, c, lo, hi); break;
                case Kernel::scale: scale_part(b, c, k_scalar, lo, hi); break;
                case Kernel::add: add_part(a, b, c, lo, hi); break;
                case Kernel::triad: triad_part(a, b, c, k_scalar, lo, hi); break;
            }
        }
    }
}

Check check_arrays(Kernel k, const double* a, const double* b, const double* c, std::size_t n) {
    // Each kernel writes one array from the others, which it never changes: the result is the same
    // after any number of passes.
    double ea = k_init_a, eb = k_init_b, ec = k_init_c;
    switch (k) {
        case Kernel::copy: ec = ea; break;
        case Kernel::scale: eb = k_scalar * ec; break;
        case Kernel::add: ec = ea + eb; break;
        case Kernel::triad: ea = eb + k_scalar * ec; break;
    }
    Check out;
    // Every element, over all threads (a 1 GiB working set is 0.1 s on one core); NaN counts as infinite.
    const auto scan = [&](const double* x, double expected) {
        if (x == nullptr) return;
        out.tolerance = std::max(out.tolerance, k_relative_tolerance * std::fabs(expected));
        double worst = out.max_abs_error;
        const auto count = static_cast<std::ptrdiff_t>(n);
#pragma omp parallel for reduction(max : worst) schedule(static)
        for (std::ptrdiff_t j = 0; j < count; ++j) {
            const double e = std::fabs(x[j] - expected);
            if (!(e <= worst)) worst = std::isnan(e) ? INFINITY : e;
        }
        out.max_abs_error = worst;
    };
    scan(a, ea);
    scan(b, eb);
    scan(c, ec);
    out.passed = out.max_abs_error <= out.tolerance;
    return out;
}

}  // namespace calib::memory
