#include <catch2/catch.hpp>
#include <cstdint>
#include <set>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <unistd.h>

#include "memory_plugin.hpp"

using namespace calib;
using namespace calib::memory;

namespace {

std::string param(const sdk::CaseSpec& c, const std::string& key) {
    for (const auto& [k, v] : c.params)
        if (k == key) return v;
    return {};
}

// A fake sysfs cache folder: one indexN/ per (level, type, size).
std::filesystem::path fake_cache_dir(const std::vector<std::tuple<int, std::string, std::string>>& entries) {
    auto root = std::filesystem::temp_directory_path() / ("calib_cache_" + std::to_string(::getpid()));
    std::filesystem::remove_all(root);
    int i = 0;
    for (const auto& [level, type, size] : entries) {
        auto d = root / ("index" + std::to_string(i++));
        std::filesystem::create_directories(d);
        std::ofstream(d / "level") << level << "\n";
        std::ofstream(d / "type") << type << "\n";
        std::ofstream(d / "size") << size << "\n";
    }
    return root;
}

constexpr Kernel k_all[] = {Kernel::copy, Kernel::scale, Kernel::add, Kernel::triad};

}  // namespace

TEST_CASE("cache sizes come from sysfs, instruction caches ignored", "[memory]") {
    auto dir = fake_cache_dir({{1, "Data", "48K"}, {1, "Instruction", "32K"}, {2, "Unified", "2048K"},
                               {3, "Unified", "105M"}});
    const CacheSizes c = read_cache_sizes(dir.string());
    CHECK(c.l1d == (48u << 10));
    CHECK(c.l2 == (2u << 20));
    CHECK(c.llc == (105u << 20));
    std::filesystem::remove_all(dir);
}

TEST_CASE("the working-set sweep starts in L1 and ends one octave past 2x the LLC", "[memory]") {
    for (std::size_t llc : {std::size_t(32) << 20, std::size_t(105) << 20, std::size_t(480) << 20,
                            read_cache_sizes().llc}) {
        INFO("llc " << llc);
        CacheSizes c;
        c.llc = llc;
        const auto sizes = sweep_sizes(c);
        REQUIRE(sizes.size() >= 2);
        CHECK(sizes.front() == (8u << 10));
        // Every point an octave above the one below it, the DRAM point included.
        for (std::size_t i = 1; i < sizes.size(); ++i) CHECK(sizes[i] == 2 * sizes[i - 1]);
        CHECK(sizes[sizes.size() - 2] <= 2 * llc);
        CHECK(sizes[sizes.size() - 2] > llc);  // the cache octaves reach past the LLC
        // The DRAM point: the next octave, past 2x the LLC and at most 4x (not STREAM's 12x).
        CHECK(sizes.back() > 2 * llc);
        CHECK(sizes.back() <= 4 * llc);
        CHECK(sizes.size() <= 20);
    }
    // A 480 MiB LLC (a 2-vCPU VM's sysfs): octaves 8 KiB .. 512 MiB, then 1 GiB, not 8 GiB.
    CacheSizes vm;
    vm.llc = std::size_t(480) << 20;
    CHECK(sweep_sizes(vm).back() == std::size_t(1) << 30);
    CHECK(sweep_sizes(vm)[sweep_sizes(vm).size() - 2] == std::size_t(512) << 20);
    // And the real case list ends there too, for every kernel.
    const CacheSizes real = read_cache_sizes();
    std::map<std::string, double> largest;
    for (const auto& c : case_list(real))
        if (c.operation_type.rfind("stream_", 0) == 0)
            largest[c.operation_type] = std::max(largest[c.operation_type], c.bytes);
    CHECK(largest.size() == 4);
    for (const auto& [op, bytes] : largest) {
        INFO(op);
        CHECK(bytes > 0.99 * 2.0 * static_cast<double>(real.llc));  // whole-line rounding only
        CHECK(bytes <= 4.0 * static_cast<double>(real.llc));
    }
}

TEST_CASE("byte counts follow the STREAM convention", "[memory]") {
    CacheSizes c;
    c.llc = 32u << 20;
    const auto cases = case_list(c);
    int stream = 0, copies = 0, quick = 0;
    for (const auto& cs : cases) {
        INFO(cs.name);
        CHECK(cs.family == CALIB_FAMILY_MEMORY);
        CHECK(cs.flops == 0);
        REQUIRE(cs.shape.size() == 1);
        const double n = static_cast<double>(cs.shape[0]);
        quick += cs.quick ? 1 : 0;
        if (param(cs, "operation") == "memory_copy") {
            ++copies;
            CHECK(cs.operation_type == "add");
            const double array = std::stod(param(cs, "size_mb")) * 1024 * 1024;
            CHECK(cs.bytes == 2 * array);
            CHECK(n * 8 == array);
            CHECK(cs.name == "memory_copy_" + param(cs, "size_mb") + "MiB");
            continue;
        }
        ++stream;
        const std::string k = param(cs, "kernel");
        const double words = (k == "copy" || k == "scale") ? 2 : 3;
        CHECK(cs.operation_type == "stream_" + k);
        CHECK(cs.bytes == words * 8 * n);
        CHECK(std::stod(param(cs, "working_set_bytes")) == cs.bytes);
        CHECK(param(cs, "convention").rfind("STREAM: " + std::to_string(int(words)) + " words", 0) == 0);
        CHECK(cs.shape[0] % 8 == 0);  // whole 64-byte lines
    }
    CHECK(copies == 4);
    // copy and triad: every octave 8 KiB .. 64 MiB plus the DRAM point (15); scale and add: two points
    // per cache level plus DRAM (7).
    CHECK(stream == 2 * 15 + 2 * 7);
    CHECK(quick > 0);
    CHECK(quick < static_cast<int>(cases.size()) / 2);
}

TEST_CASE("the static partition covers the array in whole lines", "[memory]") {
    for (std::size_t n : {std::size_t(8), std::size_t(1000), std::size_t(4096), std::size_t(12345)})
        for (int threads : {1, 2, 3, 7, 64}) {
            std::size_t next = 0;
            for (int t = 0; t < threads; ++t) {
                std::size_t lo = 0, hi = 0;
                static_chunk(n, threads, t, lo, hi);
                CHECK(lo == next);
                CHECK(hi >= lo);
                if (hi < n) CHECK(hi % 8 == 0);
                next = hi;
            }
            CHECK(next == n);
        }
}

TEST_CASE("STREAM's check passes a correct run and catches corrupted arrays", "[memory]") {
    // One set of arrays longer than the cases, reused by every kernel in turn (as the plugin's pool is):
    // each instance initialises its own prefix, whatever the one before it left there.
    auto shared = std::make_shared<ArraySet>(allocate_arrays(4000));
    for (Kernel k : k_all) {
        INFO(kernel_name(k));
        MemoryInstance inst(k, 1000, shared);
        // Before the kernel has run, the result array still holds its initial value.
        CHECK_FALSE(inst.check().passed);
        CHECK(inst.run(3) > 0);
        const Check ok = inst.check();
        CHECK(ok.passed);
        CHECK(ok.max_abs_error == 0);
        CHECK(ok.tolerance > 0);
        REQUIRE((inst.a() != nullptr || inst.b() != nullptr));

        for (double* arr : {inst.a(), inst.b(), inst.c()}) {
            if (arr == nullptr) continue;
            const double saved = arr[777];
            arr[777] += 1e-6;
            const Check bad = inst.check();
            CHECK_FALSE(bad.passed);
            CHECK(bad.max_abs_error == Approx(1e-6).epsilon(1e-3));
            arr[777] = NAN;
            CHECK_FALSE(inst.check().passed);
            arr[777] = saved;
        }
        CHECK(inst.check().passed);
    }
}

TEST_CASE("prepare verifies and times the smallest case of each kernel", "[memory]") {
    MemoryPlugin plugin;
    const auto cases = plugin.cases();
    for (Kernel k : k_all) {
        // The first case of each kernel is its smallest working set.
        const std::string prefix = std::string("stream_") + kernel_name(k) + "_";
        const auto it = std::find_if(cases.begin(), cases.end(),
                                     [&](const auto& c) { return c.name.rfind(prefix, 0) == 0; });
        REQUIRE(it != cases.end());
        auto inst = plugin.prepare(*it);
        CHECK(inst->verified);
        CHECK(inst->max_abs_error <= inst->tolerance);
        CHECK(inst->implementation.find(kernel_name(k)) != std::string::npos);
        CHECK(inst->run(10) > 0);
    }
    CHECK_FALSE(plugin.device_name().empty());
}

TEST_CASE("every case of a worker runs on one pool of arrays, re-initialised for each", "[memory]") {
    MemoryPlugin plugin;
    const auto cases = plugin.cases();
    const auto find = [&](const std::string& name) {
        const auto it = std::find_if(cases.begin(), cases.end(), [&](const auto& c) { return c.name == name; });
        REQUIRE(it != cases.end());
        return *it;
    };
    // A large case first (its kernel writes c = a), then the smallest triad on the same arrays: the
    // triad's check needs its own initial values back (a stale c from the copy would fail it).
    auto big = plugin.prepare(find("memory_copy_64MiB"));
    CHECK(big->verified);
    REQUIRE(big->run(1) > 0);
    const double* big_a = static_cast<MemoryInstance&>(*big).a();
    big.reset();
    const auto triad = std::find_if(cases.begin(), cases.end(), [](const auto& c) { return c.name.rfind("stream_triad_", 0) == 0; });
    REQUIRE(triad != cases.end());
    auto small = plugin.prepare(*triad);
    CHECK(small->verified);
    auto& m = static_cast<MemoryInstance&>(*small);
    CHECK(m.a() == big_a);
    CHECK(m.run(5) > 0);
    CHECK(m.check().passed);
}

TEST_CASE("the three arrays never share a 4 KiB page offset", "[memory]") {
    for (std::size_t n : {std::size_t(8), std::size_t(1000), std::size_t(1) << 20}) {
        auto set = allocate_arrays(n);
        std::set<std::uintptr_t> offsets;
        for (double* p : set.arrays) {
            const auto addr = reinterpret_cast<std::uintptr_t>(p);
            CHECK(addr % 64 == 0);
            offsets.insert(addr % 4096);
        }
        CHECK(offsets.size() == 3);
        // The arrays do not overlap.
        CHECK(set.arrays[1] >= set.arrays[0] + n);
        CHECK(set.arrays[2] >= set.arrays[1] + n);
    }
}
