// Host-side copies of what a plugin describes about itself: plain C++ values, owned by the host, so
// nothing points into a plugin library (which may live in another process or be unloaded).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace calib::core {

using ParamList = std::vector<std::pair<std::string, std::string>>;

enum class Family { compute, memory, fusion, transfer };  // transfer: ABI 1.1
enum class FusionRole { none, fused, unfused };
enum class DeviceKind { cpu, gpu, other };

const char* to_string(Family f);
const char* to_string(FusionRole r);
const char* to_string(DeviceKind k);

struct CaseInfo {
    uint32_t index = 0;  // position in the plugin's case list
    std::string name;
    Family family = Family::compute;
    std::string operation_type;
    std::string precision;
    std::vector<int64_t> shape;
    double flops = 0;
    double bytes = 0;
    std::string fusion_pattern;
    FusionRole fusion_role = FusionRole::none;
    std::string fusion_group;
    bool quick = false;
    bool sustained = false;  // ABI 1.1 CALIB_CASE_SUSTAINED
    ParamList params;
    std::vector<uint32_t> devices;  // ABI 1.1: the plugin's devices this case uses; empty means device 0
    bool operator==(const CaseInfo&) const = default;
    // The devices, device 0 when the case names none.
    std::vector<uint32_t> device_list() const { return devices.empty() ? std::vector<uint32_t>{0} : devices; }
};

struct InstanceInfo {
    std::string implementation;
    bool reference_fallback = false;
    bool verified = false;
    double max_abs_error = 0;
    double tolerance = 0;
    ParamList params;
};

struct PeakInfo {
    std::string precision;  // "fp32", ... or "memory"
    double gflops = 0;
    double bandwidth_gbps = 0;
    std::string formula;
};

// One device of a plugin (ABI 1.1: a plugin may measure several; a 1.0 plugin has one).
struct DeviceInfo {
    DeviceKind kind = DeviceKind::other;
    std::string name;
    bool available = true;
    std::string unavailable_reason;
    std::string bus_id;
    bool operator==(const DeviceInfo&) const = default;
};

// ABI 1.1: a device's conditions read now (calib_device_state); `valid` holds CALIB_STATE_* bits.
struct DeviceState {
    uint32_t valid = 0;
    double energy_joules = 0, power_watts = 0, power_limit_watts = 0;
    double sm_clock_mhz = 0, memory_clock_mhz = 0, temperature_c = 0;
    uint32_t throttle = 0;  // CALIB_THROTTLE_*
    double power_capped_seconds = 0, thermal_capped_seconds = 0;
};
// "power_cap,thermal,..." for CALIB_THROTTLE_* bits; "" for none.
std::string throttle_text(uint32_t bits);

// Why a candidate file was skipped (discovery/loading), or "" when it loaded.
enum class RejectReason {
    none,
    not_a_library,      // dlopen failed: empty, text, random bytes, wrong architecture
    no_entry_symbol,    // a library without calib_plugin_entry
    bad_table,          // entry returned NULL or a table too small / with NULL required members
    abi_major_mismatch,
    init_failed,
    crashed,            // the library crashed while loading, scanning or initialising
    timed_out,          // ... or hung
    exited,             // ... or called exit()
    insecure,           // group/world-writable file or folder
    duplicate,          // its id was loaded already from a file found earlier (PluginRecord::duplicate_of)
};
const char* to_string(RejectReason r);

struct PluginRecord {
    std::string path;
    bool loaded = false;  // status "loaded" vs "rejected" or "duplicate" (status_of below)
    RejectReason reason_code = RejectReason::none;
    std::string reason;  // human-readable; empty when loaded
    std::string duplicate_of;  // duplicate: the path of the copy that was loaded
    std::string id, name, version, vendor, description;
    uint16_t abi_major = 0, abi_minor = 0;
    DeviceKind device_kind = DeviceKind::other;
    std::string device_name;
    bool device_available = true;
    std::string unavailable_reason;
    std::vector<DeviceInfo> devices;  // every device, index 0 the one described by device_* above
    std::vector<CaseInfo> cases;
    std::vector<PeakInfo> peaks;
};

// "loaded", "duplicate" (the same id loaded from an earlier file) or "rejected".
const char* status_of(const PluginRecord& p);

}  // namespace calib::core
