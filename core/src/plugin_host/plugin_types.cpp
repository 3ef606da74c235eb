#include "calib/core/plugin_types.hpp"

namespace calib::core {

const char* to_string(Family f) {
    switch (f) {
        case Family::compute: return "compute";
        case Family::memory: return "memory";
        case Family::fusion: return "fusion";
        case Family::transfer: return "transfer";
    }
    return "unknown";
}

std::string throttle_text(uint32_t bits) {
    static const std::pair<uint32_t, const char*> names[] = {
        {0x1u, "power_cap"}, {0x2u, "thermal"}, {0x4u, "hw_slowdown"}, {0x8u, "clock_limit"}, {0x10u, "other"}};
    std::string out;
    for (const auto& [bit, name] : names)
        if ((bits & bit) != 0) {
            if (!out.empty()) out += ',';
            out += name;
        }
    return out;
}

const char* to_string(FusionRole r) {
    switch (r) {
        case FusionRole::none: return "none";
        case FusionRole::fused: return "fused";
        case FusionRole::unfused: return "unfused";
    }
    return "unknown";
}

const char* to_string(DeviceKind k) {
    switch (k) {
        case DeviceKind::cpu: return "cpu";
        case DeviceKind::gpu: return "gpu";
        case DeviceKind::other: return "other";
    }
    return "other";
}

const char* to_string(RejectReason r) {
    switch (r) {
        case RejectReason::none: return "none";
        case RejectReason::not_a_library: return "not_a_library";
        case RejectReason::no_entry_symbol: return "no_entry_symbol";
        case RejectReason::bad_table: return "bad_table";
        case RejectReason::abi_major_mismatch: return "abi_major_mismatch";
        case RejectReason::init_failed: return "init_failed";
        case RejectReason::crashed: return "crashed";
        case RejectReason::timed_out: return "timed_out";
        case RejectReason::exited: return "exited";
        case RejectReason::insecure: return "insecure";
        case RejectReason::duplicate: return "duplicate";
    }
    return "unknown";
}

const char* status_of(const PluginRecord& p) {
    if (p.loaded) return "loaded";
    return p.reason_code == RejectReason::duplicate ? "duplicate" : "rejected";
}

}  // namespace calib::core
