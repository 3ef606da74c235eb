// The ABI rules, once (see plugin_contract.hpp and docs/abi.md).
#include "calib/core/plugin_contract.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <map>
#include <set>

#include "calib/core/plugin_client.hpp"

namespace calib::core {

namespace {

// Every status of the ABI: its C name and the case status a run records for it.
struct StatusName {
    calib_status status;
    const char* name;
    const char* case_status;
};
constexpr StatusName kStatuses[] = {
    {CALIB_OK, "CALIB_OK", "ok"},
    {CALIB_ERROR, "CALIB_ERROR", "failed"},
    {CALIB_INVALID_ARGUMENT, "CALIB_INVALID_ARGUMENT", "failed"},
    {CALIB_UNSUPPORTED, "CALIB_UNSUPPORTED", "unsupported"},
    {CALIB_OUT_OF_MEMORY, "CALIB_OUT_OF_MEMORY", "failed"},
    {CALIB_VERIFICATION_FAILED, "CALIB_VERIFICATION_FAILED", "verification_failed"},
    {CALIB_CANCELLED, "CALIB_CANCELLED", "cancelled"},
    {CALIB_UNAVAILABLE, "CALIB_UNAVAILABLE", "unavailable"},
};

const StatusName* find_status(int status) {
    for (const auto& s : kStatuses)
        if (s.status == status) return &s;
    return nullptr;
}

bool nonempty(const char* s) { return s != nullptr && s[0] != '\0'; }

// Names the host keys records by: no whitespace, no control characters.
bool has_space_or_control(const char* s) {
    for (; *s != '\0'; ++s)
        if (static_cast<unsigned char>(*s) <= ' ' || static_cast<unsigned char>(*s) == 0x7f) return true;
    return false;
}

std::string joined(const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& s : parts) out += (out.empty() ? "" : "; ") + s;
    return out;
}

std::string number_text(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

void shape_problems(const calib_case_info& c, std::vector<std::string>& p) {
    if (c.rank > CALIB_MAX_RANK) {
        p.push_back("rank " + std::to_string(c.rank) + " above CALIB_MAX_RANK");
        return;
    }
    for (uint32_t i = 0; i < c.rank; ++i)
        if (c.shape[i] <= 0) p.push_back("shape[" + std::to_string(i) + "] is not positive");
}

void param_problems(const calib_case_info& c, std::vector<std::string>& p) {
    if (c.param_count > 0 && c.params == nullptr) {
        p.push_back("param_count > 0 but params is NULL");
        return;
    }
    if (c.param_count > 4096) {
        p.push_back("implausible param_count");
        return;
    }
    for (uint32_t i = 0; i < c.param_count; ++i)
        if (!nonempty(c.params[i].key) || c.params[i].value == nullptr)
            p.push_back("param " + std::to_string(i) + " has an empty key or NULL value");
}

void fusion_problems(const calib_case_info& c, std::vector<std::string>& p) {
    if (c.family == CALIB_FAMILY_FUSION) {
        if (!nonempty(c.fusion_pattern)) p.push_back("fusion case without fusion_pattern");
        if (c.fusion_role != CALIB_ROLE_FUSED && c.fusion_role != CALIB_ROLE_UNFUSED)
            p.push_back("fusion case with role neither FUSED nor UNFUSED");
        if (!nonempty(c.fusion_group)) p.push_back("fusion case without fusion_group");
    } else if (c.fusion_role != CALIB_ROLE_NONE) {
        p.push_back("non-fusion case with a fusion role");
    }
}

}  // namespace

const char* failure_status(const WorkerFailure& f) {
    switch (f.kind) {
        case FailureKind::crashed: return "crashed";
        case FailureKind::timed_out: return "timed_out";
        case FailureKind::exited: return "exited";
        case FailureKind::protocol: return "failed";
        case FailureKind::error: break;
    }
    const StatusName* s = find_status(f.status);
    return s != nullptr && f.status != CALIB_OK ? s->case_status : "failed";
}

namespace contract {

const char* status_name(int status) {
    const StatusName* s = find_status(status);
    return s != nullptr ? s->name : "unknown status";
}

std::string status_text(int status, const std::string& message) {
    std::string out = status_name(status);
    if (!message.empty()) out += " (" + message + ")";
    return out;
}

uint32_t table_size_of_minor(uint16_t minor) {
    // One entry per minor of this major, append-only: minor m's table ends at its last member.
    static_assert(CALIB_ABI_VERSION_MINOR == 1, "add the new minor's table size here");
    if (minor == 0) return CALIB_STRUCT_SIZE(calib_plugin_api, get_peaks);
    return CALIB_STRUCT_SIZE(calib_plugin_api, read_device_state);
}

std::string version_problem(const calib_plugin_api& t) {
    if (t.struct_size < CALIB_STRUCT_SIZE(calib_plugin_api, abi_minor))
        return "struct_size " + std::to_string(t.struct_size) + " does not even cover the ABI version";
    if (t.abi_major == CALIB_ABI_VERSION_MAJOR) return {};
    const std::string host_major = std::to_string(CALIB_ABI_VERSION_MAJOR);
    return "plugin ABI major " + std::to_string(t.abi_major) + ", host ABI major " + host_major + " (plugin ABI " +
           std::to_string(t.abi_major) + "." + std::to_string(t.abi_minor) + ", host ABI " + host_major + "." +
           std::to_string(CALIB_ABI_VERSION_MINOR) + "): rebuild against SDK " + host_major + ".x";
}

std::string table_size_problem(const calib_plugin_api& t) {
    const uint32_t size = t.struct_size;
    const uint32_t minimum = table_size_of_minor(0);
    if (size < minimum)
        return "struct_size " + std::to_string(size) + " < " + std::to_string(minimum) +
               ", the ABI 1.0 table size (set it to CALIB_STRUCT_SIZE(calib_plugin_api, get_peaks))";
    if (size > 65536 || size % alignof(void*) != 0) return "implausible struct_size " + std::to_string(size);
    if (t.abi_minor <= CALIB_ABI_VERSION_MINOR && size != table_size_of_minor(t.abi_minor))
        return "struct_size " + std::to_string(size) + " differs from the ABI " + std::to_string(CALIB_ABI_VERSION_MAJOR) +
               "." + std::to_string(t.abi_minor) + " size " + std::to_string(table_size_of_minor(t.abi_minor));
    return {};
}

std::string missing_functions(const calib_plugin_api& t) {
    std::string missing;
    auto need = [&](bool present, const char* name) {
        if (!present) missing += (missing.empty() ? "" : ", ") + std::string(name);
    };
    need(t.init != nullptr, "init");
    need(t.shutdown != nullptr, "shutdown");
    need(t.get_device != nullptr, "get_device");
    need(t.case_count != nullptr, "case_count");
    need(t.get_case != nullptr, "get_case");
    need(t.prepare != nullptr, "prepare");
    need(t.get_instance_info != nullptr, "get_instance_info");
    need(t.run != nullptr, "run");
    need(t.release != nullptr, "release");
    return missing;
}

std::string metadata_problems(const calib_plugin_api& t) {
    std::vector<std::string> p;
    if (!nonempty(t.id)) {
        p.push_back("id is empty or NULL");
    } else {
        const std::string id = t.id;
        if (id.find('.') == std::string::npos || id.front() == '.' || id.back() == '.')
            p.push_back("id '" + id + "' is not reverse-DNS (e.g. com.vendor.plugin)");
        if (has_space_or_control(t.id)) p.push_back("id contains whitespace");
    }
    if (!nonempty(t.name)) p.push_back("name is empty or NULL");
    if (!nonempty(t.version)) p.push_back("version is empty or NULL");
    if (!nonempty(t.vendor)) p.push_back("vendor is empty or NULL");
    if (t.description == nullptr) p.push_back("description is NULL");
    return joined(p);
}

std::string device_problems(const calib_device_info& d) {
    if (!nonempty(d.name)) return "device name is empty or NULL";
    if (d.kind != CALIB_DEVICE_CPU && d.kind != CALIB_DEVICE_GPU && d.kind != CALIB_DEVICE_OTHER)
        return "unknown device kind " + std::to_string(d.kind);
    if (!d.available && !nonempty(d.unavailable_reason)) return "device unavailable without an unavailable_reason";
    return {};
}

std::string device_function_problems(const calib_plugin_api& t) {
    if (!CALIB_HAS_FIELD(calib_plugin_api, get_device_at, t.struct_size)) return {};
    if ((t.device_count == nullptr) != (t.get_device_at == nullptr))
        return "device_count and get_device_at must both be set or both NULL";
    return {};
}

std::string device_count_problem(uint32_t count) {
    if (count == 0 || count > kMaxDevices)
        return "device_count() returned " + std::to_string(count) + " (need 1 .. " + std::to_string(kMaxDevices) + ")";
    return {};
}

bool known_transfer(const std::string& op, uint32_t* devices) {
    static const std::map<std::string, uint32_t> ops = {{"copy_h2d", 1},   {"copy_d2h", 1},       {"copy_p2p", 2},
                                                        {"all_reduce", 0}, {"all_gather", 0},     {"reduce_scatter", 0},
                                                        {"broadcast", 0}};
    auto it = ops.find(op);
    if (it == ops.end()) return false;
    if (devices != nullptr) *devices = it->second;
    return true;
}

std::string case_device_problems(const calib_case_info& c, uint32_t struct_size, uint16_t plugin_minor,
                                 uint32_t device_count) {
    std::vector<std::string> p;
    uint32_t n = 0;
    const uint32_t* list = nullptr;
    if (CALIB_HAS_FIELD(calib_case_info, devices, struct_size)) {
        n = c.device_count;
        list = c.devices;
    }
    if (n > 0 && list == nullptr) p.push_back("device_count > 0 but devices is NULL");
    else if (n > device_count) p.push_back("names " + std::to_string(n) + " devices, the plugin has " + std::to_string(device_count));
    else {
        std::set<uint32_t> seen;
        for (uint32_t i = 0; i < n; ++i) {
            if (list[i] >= device_count) p.push_back("device " + std::to_string(list[i]) + " out of range");
            else if (!seen.insert(list[i]).second) p.push_back("device " + std::to_string(list[i]) + " named twice");
        }
    }
    if (c.family == CALIB_FAMILY_TRANSFER) {
        uint32_t need = 0;
        if (plugin_minor < 1) p.push_back("family TRANSFER needs ABI 1.1 (the plugin declares 1.0)");
        if (!nonempty(c.operation_type) || !known_transfer(c.operation_type, &need))
            p.push_back("transfer case with unknown operation_type (copy_h2d, copy_d2h, copy_p2p, all_reduce, all_gather, "
                        "reduce_scatter, broadcast)");
        else if (need != 0 && std::max<uint32_t>(n, 1) != need)
            p.push_back(std::string(c.operation_type) + " needs " + std::to_string(need) + " device(s), the case names " +
                        std::to_string(std::max<uint32_t>(n, 1)));
        if (!(c.bytes > 0)) p.push_back("transfer case with bytes not > 0");
    }
    return joined(p);
}

std::string case_problems(const calib_case_info& c) {
    std::vector<std::string> p;
    if (!nonempty(c.name)) p.push_back("empty or NULL name");
    else if (has_space_or_control(c.name)) p.push_back("name contains whitespace or control characters");
    if (!nonempty(c.operation_type)) p.push_back("empty or NULL operation_type");
    if (!nonempty(c.precision)) p.push_back("empty or NULL precision");
    if (c.family != CALIB_FAMILY_COMPUTE && c.family != CALIB_FAMILY_MEMORY && c.family != CALIB_FAMILY_FUSION &&
        c.family != CALIB_FAMILY_TRANSFER)
        p.push_back("unknown family " + std::to_string(c.family));
    shape_problems(c, p);
    if (!std::isfinite(c.flops) || c.flops < 0) p.push_back("flops not finite and >= 0");
    if (!std::isfinite(c.bytes) || c.bytes < 0) p.push_back("bytes not finite and >= 0");
    param_problems(c, p);
    fusion_problems(c, p);
    return joined(p);
}

std::string instance_problems(const calib_instance_info& i) {
    if (i.implementation == nullptr) return "implementation is NULL";
    if (i.param_count > 0 && i.params == nullptr) return "param_count > 0 but params is NULL";
    if (i.verified && !(std::isfinite(i.max_abs_error) && std::isfinite(i.tolerance) && i.max_abs_error <= i.tolerance))
        return "verified, but max_abs_error " + std::to_string(i.max_abs_error) + " exceeds tolerance " +
               std::to_string(i.tolerance);
    return {};
}

std::string peak_problems(const calib_peak_info& p) {
    if (!nonempty(p.precision) || p.formula == nullptr) return "has a NULL precision or formula";
    if (!std::isfinite(p.gflops) || p.gflops < 0 || !std::isfinite(p.bandwidth_gbps) || p.bandwidth_gbps < 0)
        return "is not finite and >= 0";
    return {};
}

std::string run_time_problem(double seconds) {
    if (!std::isfinite(seconds)) return "reported " + number_text(seconds) + " s, a non-finite time (need a finite time > 0)";
    if (seconds <= 0) return "reported " + number_text(seconds) + " s, a non-positive time (need a finite time > 0)";
    return {};
}

std::string duplicate_names(const std::vector<CaseInfo>& cases) {
    std::map<std::string, int> seen;
    std::string dup;
    for (const auto& c : cases)
        if (++seen[c.name] == 2) dup += (dup.empty() ? "" : ", ") + c.name;
    return dup.empty() ? dup : "duplicate names: " + dup;
}

std::string fusion_pair_problems(const std::vector<CaseInfo>& cases, std::size_t* pairs) {
    struct Group {
        int fused = 0, unfused = 0;
        std::set<std::string> patterns;
    };
    std::map<std::string, Group> groups;
    for (const auto& c : cases) {
        if (c.family != Family::fusion) continue;
        Group& g = groups[c.fusion_group];
        (c.fusion_role == FusionRole::fused ? g.fused : g.unfused)++;
        g.patterns.insert(c.fusion_pattern);
    }
    std::vector<std::string> bad;
    for (const auto& [name, g] : groups) {
        if (g.fused != 1 || g.unfused != 1)
            bad.push_back("group '" + name + "' has " + std::to_string(g.fused) + " fused and " +
                          std::to_string(g.unfused) + " unfused cases");
        else if (g.patterns.size() != 1)
            bad.push_back("group '" + name + "' mixes fusion patterns");
    }
    if (pairs != nullptr) *pairs = groups.size();
    return joined(bad);
}

}  // namespace contract
}  // namespace calib::core
