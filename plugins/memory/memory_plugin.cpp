#include "memory_plugin.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "calib_onednn/common.hpp"

namespace calib::memory {

namespace {

std::string read_line(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::string s;
    std::getline(in, s);
    return s;
}

// "32K", "1024K", "32M" -> bytes; 0 when unparsable.
std::size_t parse_size(const std::string& s) {
    std::size_t pos = 0;
    unsigned long long v = 0;
    try {
        v = std::stoull(s, &pos);
    } catch (...) {
        return 0;
    }
    const char unit = pos < s.size() ? s[pos] : ' ';
    if (unit == 'K') v <<= 10;
    if (unit == 'M') v <<= 20;
    if (unit == 'G') v <<= 30;
    return static_cast<std::size_t>(v);
}

constexpr std::size_t k_min_working_set = 8 << 10;

}  // namespace

CacheSizes read_cache_sizes(const std::string& root) {
    CacheSizes out, found{0, 0, 0};
    int llc_level = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(root, ec)) {
        if (e.path().filename().string().rfind("index", 0) != 0) continue;
        const std::string type = read_line(e.path() / "type");
        if (type != "Data" && type != "Unified") continue;
        const int level = std::atoi(read_line(e.path() / "level").c_str());
        const std::size_t size = parse_size(read_line(e.path() / "size"));
        if (size == 0) continue;
        if (level == 1) found.l1d = size;
        if (level == 2) found.l2 = size;
        if (level >= llc_level) {
            llc_level = level;
            found.llc = size;
        }
    }
    if (found.l1d != 0) out.l1d = found.l1d;
    if (found.l2 != 0) out.l2 = found.l2;
    if (found.llc != 0) out.llc = found.llc;
    out.cores = static_cast<std::size_t>(std::max(1, omp_get_max_threads()));  // the STREAM team
    return out;
}

std::vector<std::size_t> sweep_sizes(const CacheSizes& caches) {
    std::vector<std::size_t> out;
    // Octaves through the cache levels up to 2x the LLC, then the DRAM point: the next octave (the
    // header says why not STREAM's 4x-LLC-per-array rule).
    std::size_t s = k_min_working_set;
    for (; s <= 2 * caches.llc; s *= 2) out.push_back(s);
    out.push_back(s);
    return out;
}

std::string size_label(std::size_t bytes) {
    if (bytes >= (1u << 30) && bytes % (1u << 30) == 0) return std::to_string(bytes >> 30) + "GiB";
    if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + "MiB";
    return std::to_string(bytes >> 10) + "KiB";
}

static std::string convention(Kernel k) {
    return arrays_used(k) == 2 ? "STREAM: 2 words/element (1 read, 1 write), no write-allocate traffic"
                               : "STREAM: 3 words/element (2 reads, 1 write), no write-allocate traffic";
}

std::vector<sdk::CaseSpec> case_list(const CacheSizes& caches) {
    const auto sizes = sweep_sizes(caches);
    // Level points: the sweep point nearest to half of each cache level, and the largest (DRAM).
    std::vector<std::size_t> level_sizes{sizes.back()}, second_sizes;
    auto nearest = [&](std::size_t target) {
        return *std::min_element(sizes.begin(), sizes.end(), [&](std::size_t x, std::size_t y) {
            return std::fabs(std::log2(double(x) / double(target))) < std::fabs(std::log2(double(y) / double(target)));
        });
    };
    // The sweep splits its arrays over all cores, so a private level holds cores x its size.
    for (std::size_t cap : {caches.l1d * caches.cores, caches.l2 * caches.cores, caches.llc}) {
        level_sizes.push_back(nearest(cap / 2));
        second_sizes.push_back(nearest(cap / 4));  // a second point: one noisy case cannot decide a level
    }

    std::vector<sdk::CaseSpec> out;
    for (Kernel k : {Kernel::copy, Kernel::scale, Kernel::add, Kernel::triad}) {
        const std::size_t arrays = static_cast<std::size_t>(arrays_used(k));
        const bool full_sweep = k == Kernel::copy || k == Kernel::triad;
        for (std::size_t ws : sizes) {
            // copy and triad sweep every octave (the roofline's slopes); scale and add are measured at
            // two points per cache level (a half and a quarter of it) and at DRAM: the hierarchy table.
            const bool level_point = std::find(level_sizes.begin(), level_sizes.end(), ws) != level_sizes.end();
            const bool second_point = std::find(second_sizes.begin(), second_sizes.end(), ws) != second_sizes.end();
            if (!full_sweep && !level_point && !second_point) continue;
            // Whole 64-byte lines per array, so each array starts aligned and splits into whole lines.
            const std::size_t n = std::max<std::size_t>(8, ws / (arrays * sizeof(double)) / 8 * 8);
            const std::size_t bytes = n * arrays * sizeof(double);
            sdk::CaseSpec c;
            c.name = std::string("stream_") + kernel_name(k) + "_" + size_label(ws);
            c.family = CALIB_FAMILY_MEMORY;
            c.operation_type = std::string("stream_") + kernel_name(k);
            c.precision = "fp64";
            c.shape = {static_cast<int64_t>(n)};
            c.flops = 0;
            c.bytes = static_cast<double>(bytes);
            c.quick = full_sweep && level_point;
            c.params = {{"kernel", kernel_name(k)},
                        {"working_set_bytes", std::to_string(bytes)},
                        {"convention", convention(k)}};
            out.push_back(std::move(c));
        }
    }
    // The origin's copy test: one array of size_mb MiB copied into another, stored as "add".
    for (std::size_t mb : {64, 128, 256, 512}) {
        const std::size_t n = (mb << 20) / sizeof(double);
        sdk::CaseSpec c;
        c.name = "memory_copy_" + std::to_string(mb) + "MiB";
        c.family = CALIB_FAMILY_MEMORY;
        c.operation_type = "add";
        c.precision = "fp64";
        c.shape = {static_cast<int64_t>(n)};
        c.bytes = 2.0 * static_cast<double>(mb << 20);
        c.quick = mb == 128 || mb == 256;
        c.params = {{"operation", "memory_copy"}, {"size_mb", std::to_string(mb)}};
        out.push_back(std::move(c));
    }
    return out;
}

Kernel kernel_of(const sdk::CaseSpec& spec) {
    for (const auto& [key, value] : spec.params) {
        if (key == "operation" && value == "memory_copy") return Kernel::copy;
        if (key != "kernel") continue;
        for (Kernel k : {Kernel::copy, Kernel::scale, Kernel::add, Kernel::triad})
            if (value == kernel_name(k)) return k;
    }
    sdk::fail(CALIB_INVALID_ARGUMENT, "case " + spec.name + " names no STREAM kernel");
}

MemoryInstance::MemoryInstance(Kernel k, std::size_t n, std::shared_ptr<ArraySet> arrays)
    : k_(k), n_(n), arrays_(std::move(arrays)) {
    const bool uses_a = k != Kernel::scale, uses_b = k != Kernel::copy, uses_c = true;
    if (uses_a) a_ = arrays_->arrays[0];
    if (uses_b) b_ = arrays_->arrays[1];
    if (uses_c) c_ = arrays_->arrays[2];
    first_touch(a_, b_, c_, n);  // also starts the persistent OpenMP team
}

double MemoryInstance::run(uint64_t iterations) {
    double* a = a_;
    double* b = b_;
    double* c = c_;
    const auto t0 = std::chrono::steady_clock::now();
    run_kernel(k_, a, b, c, n_, iterations);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string MemoryPlugin::device_name() const { return onednn::cpu_model_name(); }

static const char* dispatched_isa() {
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512f")) return "avx512f";
    if (__builtin_cpu_supports("avx2")) return "avx2";
#endif
    return "default";
}

std::shared_ptr<ArraySet> MemoryPlugin::arrays_for(std::size_t n) {
    if (largest_n_ == 0)
        for (const auto& c : cases())
            if (c.shape.size() == 1 && c.shape[0] > 0) largest_n_ = std::max(largest_n_, static_cast<std::size_t>(c.shape[0]));
    if (pool_ == nullptr || pool_n_ < n) {
        pool_.reset();  // the old block goes first (an instance still holding it keeps it alive)
        pool_n_ = std::max(n, largest_n_);
        pool_ = std::make_shared<ArraySet>(allocate_arrays(pool_n_));
    }
    return pool_;
}

std::unique_ptr<sdk::Instance> MemoryPlugin::prepare(const sdk::CaseSpec& spec) {
    if (spec.shape.size() != 1 || spec.shape[0] <= 0) sdk::fail(CALIB_INVALID_ARGUMENT, "memory case needs shape {n}");
    const Kernel k = kernel_of(spec);
    const auto n = static_cast<std::size_t>(spec.shape[0]);
    auto inst = std::make_unique<MemoryInstance>(k, n, arrays_for(n));
    run_kernel(k, inst->a(), inst->b(), inst->c(), inst->size());
    const Check chk = inst->check();
    if (!chk.passed)
        sdk::fail(CALIB_VERIFICATION_FAILED, std::string("stream ") + kernel_name(k) + ": max abs error " +
                                                 std::to_string(chk.max_abs_error) + " above " +
                                                 std::to_string(chk.tolerance));
    const int threads = omp_get_max_threads();
    inst->implementation = std::string("stream_") + kernel_name(k) + ":omp_static:" + dispatched_isa();
    inst->verified = true;
    inst->max_abs_error = chk.max_abs_error;
    inst->tolerance = chk.tolerance;
    inst->params = {{"threads", std::to_string(threads)},
                    {"isa", dispatched_isa()},
                    {"timing", "all passes in one parallel region, static partition, no barrier between passes"},
                    {"arrays", "one set per worker, sized for the largest case, reused (first-touch faults paid once)"}};
    return inst;
}

}  // namespace calib::memory
