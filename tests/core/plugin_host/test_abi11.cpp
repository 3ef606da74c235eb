// ABI 1.1: several devices per plugin, cases naming their devices, transfer cases; what a 1.0 host sees
// of a 1.1 plugin (the C++ helper hides what it cannot know), and what the host judges.
#include <catch2/catch.hpp>

#include <dlfcn.h>

#include <set>
#include <utility>

#include "calib/core/plugin_contract.hpp"
#include "calib/plugin.h"
#include "fixtures.hpp"

using calib::core::Family;
using calib::core::PluginRecord;
using calib::core::scan_plugin;
using calib::test::fixture;
using calib::test::worker_options;
namespace contract = calib::core::contract;

TEST_CASE("abi 1.1: a plugin's devices and each case's devices reach the host", "[abi11]") {
    PluginRecord r = scan_plugin(fixture("links"), worker_options());
    INFO(r.reason);
    REQUIRE(r.loaded);
    CHECK(r.abi_minor == CALIB_ABI_VERSION_MINOR);
    REQUIRE(r.devices.size() == 3);
    CHECK(r.devices[2].name == "fixture gpu 2");
    CHECK(r.devices[2].bus_id == "0000:02:00.0");
    CHECK(r.device_name == "fixture gpu 0");
    // Every ordered pair of devices has its P2P cases, a collective per group size 2..3.
    std::set<std::pair<uint32_t, uint32_t>> pairs;
    std::set<std::size_t> groups;
    int transfers = 0;
    for (const auto& c : r.cases) {
        if (c.family != Family::transfer) continue;
        ++transfers;
        if (c.operation_type == "copy_p2p") pairs.insert({c.devices.at(0), c.devices.at(1)});
        if (c.operation_type == "all_reduce") groups.insert(c.devices.size());
        CHECK(c.bytes > 0);
    }
    CHECK(pairs.size() == 6);
    CHECK(groups == std::set<std::size_t>{2, 3});
    CHECK(transfers == 6 * (3 * 4 + 6 + 2 * 2));
}

namespace {

// Calls the fixture's table in this process with host services of a given minor.
struct DirectPlugin {
    void* lib = nullptr;
    const calib_plugin_api* api = nullptr;
    void* ctx = nullptr;
    calib_host_services services{};
    explicit DirectPlugin(uint32_t services_size, uint32_t minor) {
        lib = ::dlopen(fixture("links").c_str(), RTLD_NOW | RTLD_LOCAL);
        REQUIRE(lib != nullptr);
        auto entry = reinterpret_cast<calib_plugin_entry_fn>(::dlsym(lib, CALIB_PLUGIN_ENTRY_SYMBOL));
        REQUIRE(entry != nullptr);
        api = entry();
        services.struct_size = services_size;
        services.log = [](void*, calib_log_level, const char*) {};
        services.is_cancelled = [](void*) -> int32_t { return 0; };
        services.abi_minor = minor;
        char err[256] = "";
        REQUIRE(api->init(&services, &ctx, calib_message{err, sizeof err}) == CALIB_OK);
    }
    ~DirectPlugin() {
        api->shutdown(ctx);
        ::dlclose(lib);
    }
};

}  // namespace

TEST_CASE("abi 1.1: a 1.0 host sees no transfer case and no case off device 0", "[abi11]") {
    const uint32_t v10 = CALIB_STRUCT_SIZE(calib_host_services, is_cancelled);
    DirectPlugin old_host(v10, 77);  // the size says 1.0: abi_minor lies beyond it and is not read
    REQUIRE(old_host.api->case_count(old_host.ctx) == 1);
    calib_case_info c{};
    c.struct_size = CALIB_STRUCT_SIZE(calib_case_info, params);  // the 1.0 layout
    c.device_count = 99;                                        // beyond the struct: must stay untouched
    char err[128] = "";
    REQUIRE(old_host.api->get_case(old_host.ctx, 0, &c, calib_message{err, sizeof err}) == CALIB_OK);
    CHECK(std::string(c.name) == "matmul_64_dev0");
    CHECK(c.device_count == 99);

    DirectPlugin new_host(CALIB_STRUCT_SIZE(calib_host_services, abi_minor), CALIB_ABI_VERSION_MINOR);
    CHECK(new_host.api->case_count(new_host.ctx) > 100);
    CHECK(new_host.api->device_count(new_host.ctx) == 3);
}

TEST_CASE("abi 1.1: the contract judges device lists and transfer cases", "[abi11][contract]") {
    const uint32_t size = CALIB_STRUCT_SIZE(calib_case_info, devices);
    calib_case_info c{};
    c.struct_size = size;
    c.name = "x";
    c.operation_type = "copy_p2p";
    c.precision = "fp32";
    c.family = CALIB_FAMILY_TRANSFER;
    c.bytes = 4096;
    uint32_t two[] = {0, 1};
    c.device_count = 2;
    c.devices = two;
    CHECK(contract::case_problems(c).empty());
    CHECK(contract::case_device_problems(c, size, 1, 2).empty());
    CHECK_THAT(contract::case_device_problems(c, size, 0, 2), Catch::Contains("needs ABI 1.1"));
    CHECK_THAT(contract::case_device_problems(c, size, 1, 1), Catch::Contains("the plugin has 1"));
    uint32_t same[] = {1, 1};
    c.devices = same;
    CHECK_THAT(contract::case_device_problems(c, size, 1, 2), Catch::Contains("named twice"));
    uint32_t far[] = {0, 5};
    c.devices = far;
    CHECK_THAT(contract::case_device_problems(c, size, 1, 4), Catch::Contains("out of range"));
    c.devices = two;
    c.device_count = 1;
    CHECK_THAT(contract::case_device_problems(c, size, 1, 2), Catch::Contains("needs 2 device(s)"));
    c.operation_type = "teleport";
    CHECK_THAT(contract::case_device_problems(c, size, 1, 2), Catch::Contains("unknown operation_type"));
    c.operation_type = "all_reduce";
    c.bytes = 0;
    CHECK_THAT(contract::case_device_problems(c, size, 1, 2), Catch::Contains("bytes"));
    // A 1.0 layout has no device list: its fields are never read.
    c.family = CALIB_FAMILY_COMPUTE;
    c.devices = nullptr;
    c.device_count = 3;
    CHECK(contract::case_device_problems(c, CALIB_STRUCT_SIZE(calib_case_info, params), 0, 1).empty());
    CHECK_THAT(contract::device_count_problem(0), Catch::Contains("need 1"));
    CHECK_THAT(contract::device_count_problem(65), Catch::Contains("need 1"));
    CHECK(contract::device_count_problem(8).empty());
    calib_plugin_api t{};
    t.struct_size = CALIB_STRUCT_SIZE(calib_plugin_api, read_device_state);
    t.device_count = [](void*) -> uint32_t { return 1; };
    CHECK_THAT(contract::device_function_problems(t), Catch::Contains("both"));
}
