// The CUDA plugin's devices and transfer cases (ABI 1.1): the enumeration for N GPUs without a GPU, the
// plugin without a GPU, and (only where a GPU is present) one pinned copy and one collective for real.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "calib/host.h"
#include "cuda_plugin.hpp"
#include "nccl.hpp"

using namespace calib::cuda;

namespace {

constexpr std::size_t KiB = 1024, MiB = KiB * KiB, GiB = MiB * KiB;

std::string param(const calib::sdk::CaseSpec& c, const std::string& key) {
    for (const auto& [k, v] : c.params)
        if (k == key) return v;
    return {};
}

std::vector<CaseEntry> of_op(const std::vector<CaseEntry>& all, const std::string& op) {
    std::vector<CaseEntry> out;
    for (const auto& e : all)
        if (e.spec.operation_type == op) out.push_back(e);
    return out;
}

const std::vector<std::size_t> kSizes = {4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, 1 * MiB,
                                         4 * MiB, 16 * MiB, 64 * MiB, 256 * MiB, 1 * GiB};

// A host of ABI 1.1 for make_api: logs nothing, never cancels.
void no_log(void*, calib_log_level, const char*) {}
int32_t never(void*) { return 0; }
calib_host_services host_11() {
    calib_host_services h{};
    h.struct_size = CALIB_STRUCT_SIZE(calib_host_services, abi_minor);
    h.log = &no_log;
    h.is_cancelled = &never;
    h.abi_minor = 1;
    return h;
}

struct Env {
    std::string key;
    std::string old;
    bool had;
    Env(const char* k, const char* v) : key(k) {
        const char* o = std::getenv(k);
        had = o != nullptr;
        if (had) old = o;
        if (v != nullptr) setenv(k, v, 1);
        else unsetenv(k);
    }
    ~Env() {
        if (had) setenv(key.c_str(), old.c_str(), 1);
        else unsetenv(key.c_str());
    }
};

}  // namespace

TEST_CASE("transfer sizes run from 4 KiB to 1 GiB by x4, quick on 64 KiB and 16 MiB", "[cuda][transfer]") {
    CHECK(transfer_sizes() == kSizes);
    std::set<std::size_t> quick;
    for (std::size_t s : transfer_sizes())
        if (transfer_quick(s)) quick.insert(s);
    CHECK(quick == std::set<std::size_t>{64 * KiB, 16 * MiB});
}

TEST_CASE("collective groups: 2..N up to 4 GPUs, powers of two and N above", "[cuda][transfer]") {
    CHECK(collective_groups(1) == std::vector<uint32_t>{1});
    CHECK(collective_groups(2) == std::vector<uint32_t>{2});
    CHECK(collective_groups(3) == std::vector<uint32_t>{2, 3});
    CHECK(collective_groups(4) == std::vector<uint32_t>{2, 3, 4});
    CHECK(collective_groups(6) == std::vector<uint32_t>{2, 4, 6});
    CHECK(collective_groups(8) == std::vector<uint32_t>{2, 4, 8});
}

TEST_CASE("every ordered pair is enumerated once per size, host copies per device and memory", "[cuda][transfer]") {
    for (uint32_t n : {2u, 3u, 8u}) {
        INFO("gpus " << n);
        const auto all = transfer_cases(n);
        std::map<std::pair<uint32_t, uint32_t>, std::set<std::size_t>> pairs;
        for (const auto& e : of_op(all, "copy_p2p")) {
            REQUIRE(e.spec.devices.size() == 2);
            const uint32_t a = e.spec.devices[0], b = e.spec.devices[1];
            CHECK(a != b);
            CHECK(a < n);
            CHECK(b < n);
            CHECK(pairs[{a, b}].insert(e.def.xfer.bytes).second);
            CHECK(e.spec.name == "copy_p2p_" + std::to_string(a) + "to" + std::to_string(b) + "_" +
                                     std::to_string(e.def.xfer.bytes));
            CHECK(param(e.spec, "peer_access") == "0");  // no facts given: no access, pcie
            CHECK(param(e.spec, "link") == "pcie");
            CHECK(e.def.xfer.devices == e.spec.devices);
        }
        CHECK(pairs.size() == n * (n - 1));
        for (const auto& [pair, sizes] : pairs) CHECK(sizes.size() == kSizes.size());
        for (const char* op : {"copy_h2d", "copy_d2h"}) {
            std::map<std::pair<uint32_t, std::string>, int> per;
            for (const auto& e : of_op(all, op)) {
                REQUIRE(e.spec.devices.size() == 1);
                const std::string memory = param(e.spec, "memory");
                CHECK((memory == "pinned" || memory == "pageable"));
                CHECK(e.def.xfer.pinned == (memory == "pinned"));
                CHECK(param(e.spec, "link") == "pcie");
                ++per[{e.spec.devices[0], memory}];
            }
            CHECK(per.size() == 2 * n);
            for (const auto& [k, count] : per) CHECK(count == static_cast<int>(kSizes.size()));
        }
    }
}

TEST_CASE("link facts reach the P2P and host-copy params", "[cuda][transfer]") {
    LinkFacts l;
    l.host_link = {"c2c", "pcie"};
    l.peer = {{{}, {true, "nvlink"}}, {{true, "pcie"}, {}}};
    for (const auto& e : transfer_cases(2, l)) {
        const auto& c = e.spec;
        if (c.operation_type == "copy_p2p") {
            CHECK(param(c, "peer_access") == "1");
            CHECK(param(c, "link") == (c.devices[0] == 0 ? "nvlink" : "pcie"));
        } else if (c.operation_type == "copy_h2d" || c.operation_type == "copy_d2h") {
            CHECK(param(c, "link") == (c.devices[0] == 0 ? "c2c" : "pcie"));
        }
    }
}

TEST_CASE("collectives over the first k devices, bytes as nccl-tests counts them", "[cuda][transfer]") {
    const auto all = transfer_cases(8);
    for (const char* op : {"all_reduce", "all_gather", "reduce_scatter", "broadcast"}) {
        INFO(op);
        std::map<std::size_t, int> by_group;
        for (const auto& e : of_op(all, op)) {
            const auto& d = e.spec.devices;
            for (uint32_t i = 0; i < d.size(); ++i) CHECK(d[i] == i);
            ++by_group[d.size()];
            const auto& t = e.def.xfer;
            const std::size_t k = d.size();
            CHECK(e.spec.family == CALIB_FAMILY_TRANSFER);
            CHECK(e.spec.shape == std::vector<int64_t>{static_cast<int64_t>(t.bytes)});
            CHECK(e.spec.bytes == static_cast<double>(t.bytes));
            CHECK(e.spec.params.empty());
            CHECK(e.spec.name.rfind(std::string(op) + "_ranks" + std::to_string(k) + "_", 0) == 0);
            if (std::string(op) == "all_gather" || std::string(op) == "reduce_scatter") {
                CHECK(t.bytes == t.count * k * 4);  // the gathered output / the scattered input
            } else {
                CHECK(t.bytes == t.count * 4);  // the buffer
            }
        }
        CHECK(by_group == std::map<std::size_t, int>{{2, 10}, {4, 10}, {8, 10}});
    }
    // Sizes divide evenly by powers of two: bytes is the nominal size. With 3 ranks all_gather's 4 KiB
    // rounds the per-rank count down, as nccl-tests does.
    for (const auto& e : all) CHECK(e.def.xfer.bytes == std::stoull(e.spec.name.substr(e.spec.name.rfind('_') + 1)));
    for (const auto& e : of_op(transfer_cases(3), "all_gather"))
        if (e.spec.devices.size() == 3 && e.spec.name.size() > 5 && e.spec.name.substr(e.spec.name.size() - 5) == "_4096")
            CHECK(e.def.xfer.bytes == 341 * 3 * 4);
}

TEST_CASE("one GPU: host copies, no P2P, collectives over {0} listed for later unavailability", "[cuda][transfer]") {
    const auto all = transfer_cases(1);
    CHECK(of_op(all, "copy_p2p").empty());
    CHECK(of_op(all, "copy_h2d").size() == 2 * kSizes.size());
    CHECK(of_op(all, "copy_d2h").size() == 2 * kSizes.size());
    for (const char* op : {"all_reduce", "all_gather", "reduce_scatter", "broadcast"}) {
        const auto cs = of_op(all, op);
        REQUIRE(cs.size() == kSizes.size());
        for (const auto& e : cs) CHECK(e.spec.devices == std::vector<uint32_t>{0});
    }
    CHECK(all.size() == 80);
    CHECK(transfer_cases(2).size() == 140);
    CHECK(transfer_cases(8).size() == 1000);
    std::size_t quick = 0;
    for (const auto& e : transfer_cases(8)) quick += e.spec.quick ? 1 : 0;
    CHECK(quick == 200);
}

TEST_CASE("case names are unique across the primary device's cases and the transfers", "[cuda][transfer]") {
    DeviceFacts d;
    d.available = true;
    d.cc_major = 9;
    d.l2_bytes = 50 << 20;
    for (uint32_t n : {1u, 2u, 3u, 8u}) {
        std::set<std::string> names;
        auto all = build_cases(d);
        const std::size_t primary = all.size();
        for (auto& e : transfer_cases(n)) all.push_back(e);
        for (const auto& e : all) {
            CHECK(names.insert(e.spec.name).second);
            CHECK(e.spec.name.find_first_of(" \t;") == std::string::npos);
        }
        // The primary device's cases name no device (device 0) and carry no transfer.
        for (std::size_t i = 0; i < primary; ++i) {
            CHECK(all[i].spec.devices.empty());
            CHECK(all[i].spec.family != CALIB_FAMILY_TRANSFER);
        }
    }
    // The committed profiles' keys: a few primary cases as they were.
    std::set<std::string> names;
    for (const auto& e : build_cases(d)) names.insert(e.spec.name);
    for (const char* n : {"matmul_fp32_1024", "matmul_bf16_8192", "matmul_fp16_128x4096x4096",
                          "Linear_Bias_GELU_bf16_8192x4096x4096_fused", "FullAttention_bf16_4x256x64_unfused"})
        CHECK(names.count(n) == 1);
}

TEST_CASE("CALIB_CUDA_DEVICES and CALIB_CUDA_DEVICE select the ordinals, the primary first", "[cuda][transfer]") {
    CHECK(select_ordinals(4, nullptr, nullptr) == std::vector<int>{0, 1, 2, 3});
    CHECK(select_ordinals(4, "all", nullptr) == std::vector<int>{0, 1, 2, 3});
    CHECK(select_ordinals(4, "", nullptr) == std::vector<int>{0, 1, 2, 3});
    CHECK(select_ordinals(4, "2,0", nullptr) == std::vector<int>{2, 0});
    CHECK(select_ordinals(4, " 3 , 1,3,x", nullptr) == std::vector<int>{3, 1});
    CHECK(select_ordinals(4, nullptr, "2") == std::vector<int>{2, 0, 1, 3});
    CHECK(select_ordinals(4, "0,1", "3") == std::vector<int>{3, 0, 1});
    CHECK(select_ordinals(1, nullptr, "5") == std::vector<int>{5, 0});  // device 0 probed as unavailable
    CHECK(select_ordinals(0, nullptr, nullptr) == std::vector<int>{0});
    CHECK(select_ordinals(2, "x", nullptr) == std::vector<int>{0});
}

TEST_CASE("without a GPU the plugin shows a 1.1 host one unavailable device and its transfer cases", "[cuda][transfer]") {
    const DeviceFacts d = probe_device();
    if (d.available) {
        SUCCEED("a usable GPU is present; the unavailable path is not exercised");
        return;
    }
    const calib_plugin_api* api = calib::sdk::make_api<CudaPlugin>("t", "t", "0", "t", "t");
    const calib_host_services host = host_11();
    char buf[512] = {};
    calib_message err{buf, sizeof buf};
    void* ctx = nullptr;
    REQUIRE(api->init(&host, &ctx, err) == CALIB_OK);
    REQUIRE(api->device_count(ctx) == 1);
    calib_device_info info{};
    info.struct_size = sizeof info;
    REQUIRE(api->get_device_at(ctx, 0, &info) == CALIB_OK);
    CHECK(info.available == 0);
    CHECK(std::string(info.unavailable_reason) == d.reason);
    uint32_t transfers = 0, first_transfer = 0;
    for (uint32_t i = 0; i < api->case_count(ctx); ++i) {
        calib_case_info c{};
        c.struct_size = sizeof c;
        REQUIRE(api->get_case(ctx, i, &c, err) == CALIB_OK);
        if (c.family == CALIB_FAMILY_TRANSFER && transfers++ == 0) first_transfer = i;
    }
    CHECK(transfers == 80);  // one device: host copies and the one-rank collectives
    void* inst = nullptr;
    CHECK(api->prepare(ctx, first_transfer, &inst, err) == CALIB_UNAVAILABLE);
    CHECK(inst == nullptr);
    api->shutdown(ctx);
}

TEST_CASE("on a GPU: a 1 MiB pinned H2D copy and a one-rank all_reduce run through the plugin", "[cuda][transfer][gpu]") {
    if (!probe_device().available) {
        SUCCEED("no usable GPU here: skipped");
        return;
    }
    Env single("CALIB_CUDA_SINGLE_RANK", "1");
    Env nvls_unset("NCCL_NVLS_ENABLE", nullptr);  // unset: the plugin must set it to 0 before NCCL initialises
    const calib_plugin_api* api = calib::sdk::make_api<CudaPlugin>("t", "t", "0", "t", "t");
    const calib_host_services host = host_11();
    char buf[1024] = {};
    calib_message err{buf, sizeof buf};
    void* ctx = nullptr;
    REQUIRE(api->init(&host, &ctx, err) == CALIB_OK);
    std::map<std::string, uint32_t> index;
    for (uint32_t i = 0; i < api->case_count(ctx); ++i) {
        calib_case_info c{};
        c.struct_size = sizeof c;
        REQUIRE(api->get_case(ctx, i, &c, err) == CALIB_OK);
        index[c.name] = i;
    }
    // The smallest group: {0} on one GPU (run for real with CALIB_CUDA_SINGLE_RANK=1), else {0, 1}.
    const std::string all_reduce = api->device_count(ctx) == 1 ? "all_reduce_ranks1_1048576" : "all_reduce_ranks2_1048576";
    // The collective twice: timed from CUDA graphs (the default), then eagerly (CALIB_CUDA_EAGER).
    const std::vector<std::pair<std::string, bool>> runs{{"copy_h2d_pinned0_1048576", false}, {all_reduce, false}, {all_reduce, true}};
    for (const auto& [name, eager_pass] : runs) {
        Env eager("CALIB_CUDA_EAGER", eager_pass ? "1" : nullptr);
        INFO(name << (eager_pass ? " eager" : ""));
        REQUIRE(index.count(name) == 1);
        void* inst = nullptr;
        const calib_status st = api->prepare(ctx, index[name], &inst, err);
        INFO("prepare: " << buf);
        REQUIRE(st == CALIB_OK);
        calib_instance_info ii{};
        ii.struct_size = sizeof ii;
        REQUIRE(api->get_instance_info(ctx, inst, &ii) == CALIB_OK);
        CHECK(ii.verified == 1);
        CHECK(ii.max_abs_error == 0);
        INFO("implementation: " << ii.implementation);
        std::string timing;
        for (uint32_t p = 0; p < ii.param_count; ++p)
            if (std::string(ii.params[p].key) == "timing") timing = ii.params[p].value;
        if (name == all_reduce) CHECK((timing.find("CUDA graph") != std::string::npos) == !eager_pass);
        double t1 = 0, t10 = 0, t3 = 0, t10b = 0;
        REQUIRE(api->run(ctx, inst, 1, &t1, err) == CALIB_OK);
        REQUIRE(api->run(ctx, inst, 10, &t10, err) == CALIB_OK);
        REQUIRE(api->run(ctx, inst, 3, &t3, err) == CALIB_OK);    // a graph of 3 replaces the one of 10
        REQUIRE(api->run(ctx, inst, 10, &t10b, err) == CALIB_OK);
        CHECK(t1 > 0);
        CHECK(t10 > t1);
        CHECK(t3 < t10b);
        api->release(ctx, inst);
    }
    const char* nvls = std::getenv("NCCL_NVLS_ENABLE");
    CHECK((nvls != nullptr && std::string(nvls) == "0"));  // set by the plugin before NCCL initialised
    api->shutdown(ctx);
}

#ifdef CALIB_CUDA_HAVE_NCCL
TEST_CASE("without NCCL the reason names the library, and NVLink multicast is off first", "[cuda][transfer]") {
    if (probe_device().available) {
        SUCCEED("a usable GPU is present: NCCL is loaded for real by the GPU test, not poisoned here");
        return;
    }
    Env path("CALIB_NCCL_LIBRARY", "/nonexistent/libnccl.so.2");
    Env nvls("NCCL_NVLS_ENABLE", nullptr);
    std::string why;
    CHECK(load_nccl(&why) == nullptr);  // once per process: ctest runs each test case in its own
    CHECK(why.find("CALIB_NCCL_LIBRARY=/nonexistent/libnccl.so.2 not found") == 0);
    const char* v = std::getenv("NCCL_NVLS_ENABLE");
    CHECK((v != nullptr && std::string(v) == "0"));
}
#endif
