// Header-only C++ helper for plugin authors. Write a class derived from calib::sdk::Plugin, return
// Instances from prepare(), and declare the entry with CALIB_CPP_PLUGIN. Every exception thrown by
// plugin code is turned into a status code here, in one place (guard()), so none crosses the C ABI.
// Nothing from this header appears in the ABI: the host only ever sees the C table.
#ifndef CALIB_PLUGIN_HPP
#define CALIB_PLUGIN_HPP

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "calib/plugin.h"

namespace calib::sdk {

using Params = std::vector<std::pair<std::string, std::string>>;

// Throw to return a specific status with a message.
struct Error : std::runtime_error {
    calib_status status;
    Error(calib_status s, const std::string& what) : std::runtime_error(what), status(s) {}
};
[[noreturn]] inline void fail(calib_status status, const std::string& message) {
    throw Error(status, message);
}

struct CaseSpec {
    std::string name;
    calib_case_family family = CALIB_FAMILY_COMPUTE;
    std::string operation_type;
    std::string precision = "fp32";
    std::vector<int64_t> shape;
    double flops = 0;
    double bytes = 0;
    std::string fusion_pattern;  // fusion cases only
    calib_fusion_role fusion_role = CALIB_ROLE_NONE;
    std::string fusion_group;
    bool quick = false;  // part of the --quick selection
    bool sustained = false;  // ABI 1.1: also measured over a sustained window (CALIB_CASE_SUSTAINED)
    Params params;       // origin key params, e.g. {"matrix_size", "1024"}
    // ABI 1.1: indices into Plugin::devices() this case uses; empty means device 0. Transfer cases
    // (CALIB_FAMILY_TRANSFER) and cases off device 0 are hidden from a 1.0 host.
    std::vector<uint32_t> devices;
};

// ABI 1.1: one device of a plugin that measures several.
struct DeviceSpec {
    calib_device_kind kind = CALIB_DEVICE_CPU;
    std::string name;
    std::string unavailable_reason;  // empty: it can be measured
    std::string bus_id;
};

// ABI 1.1: conditions read now (calib_device_state); `valid` holds CALIB_STATE_* bits.
struct DeviceState {
    uint32_t valid = 0;
    double energy_joules = 0, power_watts = 0, power_limit_watts = 0;
    double sm_clock_mhz = 0, memory_clock_mhz = 0, temperature_c = 0;
    uint32_t throttle = 0;  // CALIB_THROTTLE_*
    double power_capped_seconds = 0, thermal_capped_seconds = 0;  // CALIB_STATE_THROTTLE_TIME
};

// One prepared case. run() executes the kernel `iterations` times and returns elapsed seconds.
class Instance {
public:
    virtual ~Instance() = default;
    virtual double run(uint64_t iterations) = 0;

    std::string implementation = "unknown";
    bool reference_fallback = false;
    bool verified = false;
    double max_abs_error = 0;
    double tolerance = 0;
    Params params;  // extra facts for the record's extra_params
};

struct Peak {
    std::string precision;  // "fp32", ... or "memory"
    double gflops = 0;
    double bandwidth_gbps = 0;
    std::string formula;
};

class Plugin {
public:
    virtual ~Plugin() = default;

    virtual calib_device_kind device_kind() const { return CALIB_DEVICE_CPU; }
    virtual std::string device_name() const { return "cpu"; }
    // Empty when the device can be measured; otherwise why not.
    virtual std::string unavailable_reason() const { return {}; }
    // Called once after construction; the list must not change afterwards.
    virtual std::vector<CaseSpec> cases() = 0;
    virtual std::unique_ptr<Instance> prepare(const CaseSpec& spec) = 0;
    virtual std::vector<Peak> peaks() { return {}; }
    // ABI 1.1: every device, index 0 first. The default is the one device described above.
    virtual std::vector<DeviceSpec> devices() const {
        return {DeviceSpec{device_kind(), device_name(), unavailable_reason(), {}}};
    }
    // ABI 1.1: fill `out` for device `device` and return true; false when nothing can be read.
    virtual bool read_state(uint32_t device, DeviceState& out) {
        (void)device;
        (void)out;
        return false;
    }

    void log(calib_log_level level, const std::string& message) const {
        if (host_ != nullptr) host_->log(host_->host_ctx, level, message.c_str());
    }
    bool cancelled() const { return host_ != nullptr && host_->is_cancelled(host_->host_ctx) != 0; }

    // Set by the helper before cases() is called.
    void attach_host(const calib_host_services* host) { host_ = host; }

private:
    const calib_host_services* host_ = nullptr;
};

// Time `iterations` calls of f with the steady clock.
template <class F>
double time_loop(uint64_t iterations, F&& f) {
    auto t0 = std::chrono::steady_clock::now();
    for (uint64_t i = 0; i < iterations; ++i) f();
    auto t1 = std::chrono::steady_clock::now();
    return std::chrono::duration<double>(t1 - t0).count();
}

namespace detail {

inline void write_message(calib_message err, const char* text) {
    if (err.data == nullptr || err.capacity == 0) return;
    std::size_t n = std::min<std::size_t>(std::strlen(text), err.capacity - 1);
    std::memcpy(err.data, text, n);
    err.data[n] = '\0';
}

// The one place where C++ exceptions become status codes.
template <class F>
calib_status guard(calib_message err, F&& f) noexcept {
    try {
        return f();
    } catch (const Error& e) {
        write_message(err, e.what());
        return e.status;
    } catch (const std::bad_alloc&) {
        write_message(err, "out of memory");
        return CALIB_OUT_OF_MEMORY;
    } catch (const std::exception& e) {
        write_message(err, e.what());
        return CALIB_ERROR;
    } catch (...) {
        write_message(err, "unknown exception");
        return CALIB_ERROR;
    }
}

inline std::vector<calib_param> c_params(const Params& p) {
    std::vector<calib_param> out;
    out.reserve(p.size());
    for (const auto& kv : p) out.push_back({kv.first.c_str(), kv.second.c_str()});
    return out;
}

struct Context {
    std::unique_ptr<Plugin> plugin;
    std::vector<CaseSpec> cases;  // those the host's minor knows, in the plugin's order
    std::vector<std::vector<calib_param>> case_params;
    std::vector<DeviceSpec> devices;  // at least one
    std::vector<Peak> peaks;
};

// A host of ABI 1.0 passes a calib_host_services without abi_minor.
inline uint32_t host_minor(const calib_host_services* host) {
    if (host == nullptr || !CALIB_HAS_FIELD(calib_host_services, abi_minor, host->struct_size)) return 0;
    return host->abi_minor;
}

// What a host of `minor` understands: 1.0 knows neither transfers nor devices beyond 0.
inline bool visible_to(const CaseSpec& s, uint32_t minor) {
    if (minor >= 1) return true;
    if (s.family == CALIB_FAMILY_TRANSFER) return false;
    for (uint32_t d : s.devices)
        if (d != 0) return false;
    return true;
}

struct InstanceBox {
    std::unique_ptr<Instance> instance;
    std::vector<calib_param> params;
};

template <class P>
struct Adapter {
    static calib_status init(const calib_host_services* host, void** ctx, calib_message err) {
        return guard(err, [&] {
            if (ctx == nullptr) fail(CALIB_INVALID_ARGUMENT, "ctx is NULL");
            auto c = std::make_unique<Context>();
            c->plugin = std::make_unique<P>();
            c->plugin->attach_host(host);
            c->devices = c->plugin->devices();
            if (c->devices.empty()) fail(CALIB_ERROR, "devices() returned no device");
            const uint32_t minor = host_minor(host);
            for (auto& cs : c->plugin->cases()) {
                for (uint32_t d : cs.devices)
                    if (d >= c->devices.size()) fail(CALIB_ERROR, "case " + cs.name + " names device " + std::to_string(d));
                if (visible_to(cs, minor)) c->cases.push_back(std::move(cs));
            }
            for (const auto& cs : c->cases) c->case_params.push_back(c_params(cs.params));
            c->peaks = c->plugin->peaks();
            *ctx = c.release();
            return CALIB_OK;
        });
    }
    static void shutdown(void* ctx) noexcept { delete static_cast<Context*>(ctx); }

    static calib_status get_device(void* ctx, calib_device_info* out) { return get_device_at(ctx, 0, out); }

    static uint32_t device_count(void* ctx) {
        return static_cast<uint32_t>(static_cast<Context*>(ctx)->devices.size());
    }

    static calib_status get_device_at(void* ctx, uint32_t device, calib_device_info* out) {
        auto* c = static_cast<Context*>(ctx);
        if (out == nullptr || device >= c->devices.size() ||
            !CALIB_HAS_FIELD(calib_device_info, unavailable_reason, out->struct_size))
            return CALIB_INVALID_ARGUMENT;
        const DeviceSpec& d = c->devices[device];
        out->kind = d.kind;
        out->name = d.name.c_str();
        out->available = d.unavailable_reason.empty() ? 1 : 0;
        out->unavailable_reason = d.unavailable_reason.c_str();
        if (CALIB_HAS_FIELD(calib_device_info, bus_id, out->struct_size)) out->bus_id = d.bus_id.c_str();
        return CALIB_OK;
    }

    static calib_status read_device_state(void* ctx, uint32_t device, calib_device_state* out) {
        auto* c = static_cast<Context*>(ctx);
        if (out == nullptr || device >= c->devices.size() ||
            !CALIB_HAS_FIELD(calib_device_state, thermal_capped_seconds, out->struct_size))
            return CALIB_INVALID_ARGUMENT;
        calib_message none{nullptr, 0};
        return guard(none, [&] {
            DeviceState st;
            if (!c->plugin->read_state(device, st)) return CALIB_UNSUPPORTED;
            out->valid = st.valid;
            out->energy_joules = st.energy_joules;
            out->power_watts = st.power_watts;
            out->power_limit_watts = st.power_limit_watts;
            out->sm_clock_mhz = st.sm_clock_mhz;
            out->memory_clock_mhz = st.memory_clock_mhz;
            out->temperature_c = st.temperature_c;
            out->throttle = st.throttle;
            out->power_capped_seconds = st.power_capped_seconds;
            out->thermal_capped_seconds = st.thermal_capped_seconds;
            return CALIB_OK;
        });
    }

    static uint32_t case_count(void* ctx) {
        return static_cast<uint32_t>(static_cast<Context*>(ctx)->cases.size());
    }

    static calib_status get_case(void* ctx, uint32_t index, calib_case_info* out, calib_message err) {
        return guard(err, [&] {
            auto* c = static_cast<Context*>(ctx);
            if (out == nullptr || index >= c->cases.size()) fail(CALIB_INVALID_ARGUMENT, "bad case index");
            if (!CALIB_HAS_FIELD(calib_case_info, params, out->struct_size))
                fail(CALIB_INVALID_ARGUMENT, "calib_case_info too small");
            const CaseSpec& s = c->cases[index];
            if (s.shape.size() > CALIB_MAX_RANK) fail(CALIB_ERROR, "shape rank above CALIB_MAX_RANK");
            out->flags = (s.quick ? CALIB_CASE_QUICK : 0u) | (s.sustained ? CALIB_CASE_SUSTAINED : 0u);
            out->name = s.name.c_str();
            out->family = s.family;
            out->operation_type = s.operation_type.c_str();
            out->precision = s.precision.c_str();
            out->rank = static_cast<uint32_t>(s.shape.size());
            for (std::size_t i = 0; i < CALIB_MAX_RANK; ++i) out->shape[i] = i < s.shape.size() ? s.shape[i] : 0;
            out->flops = s.flops;
            out->bytes = s.bytes;
            out->fusion_pattern = s.fusion_pattern.empty() ? nullptr : s.fusion_pattern.c_str();
            out->fusion_role = s.fusion_role;
            out->fusion_group = s.fusion_group.empty() ? nullptr : s.fusion_group.c_str();
            out->param_count = static_cast<uint32_t>(c->case_params[index].size());
            out->params = c->case_params[index].data();
            if (CALIB_HAS_FIELD(calib_case_info, devices, out->struct_size)) {
                out->device_count = static_cast<uint32_t>(s.devices.size());
                out->devices = s.devices.empty() ? nullptr : s.devices.data();
            }
            return CALIB_OK;
        });
    }

    static calib_status prepare(void* ctx, uint32_t index, void** instance, calib_message err) {
        return guard(err, [&] {
            auto* c = static_cast<Context*>(ctx);
            if (instance == nullptr || index >= c->cases.size()) fail(CALIB_INVALID_ARGUMENT, "bad case index");
            const CaseSpec& s = c->cases[index];
            if (s.devices.empty() && !c->devices[0].unavailable_reason.empty())
                fail(CALIB_UNAVAILABLE, c->devices[0].unavailable_reason);
            for (uint32_t d : s.devices)
                if (!c->devices[d].unavailable_reason.empty()) fail(CALIB_UNAVAILABLE, c->devices[d].unavailable_reason);
            auto box = std::make_unique<InstanceBox>();
            box->instance = c->plugin->prepare(c->cases[index]);
            if (!box->instance) fail(CALIB_ERROR, "prepare returned no instance");
            box->params = c_params(box->instance->params);
            *instance = box.release();
            return CALIB_OK;
        });
    }

    static calib_status get_instance_info(void*, void* instance, calib_instance_info* out) {
        if (instance == nullptr || out == nullptr || !CALIB_HAS_FIELD(calib_instance_info, params, out->struct_size))
            return CALIB_INVALID_ARGUMENT;
        auto* b = static_cast<InstanceBox*>(instance);
        const Instance& in = *b->instance;
        out->implementation = in.implementation.c_str();
        out->reference_fallback = in.reference_fallback ? 1 : 0;
        out->verified = in.verified ? 1 : 0;
        out->max_abs_error = in.max_abs_error;
        out->tolerance = in.tolerance;
        out->param_count = static_cast<uint32_t>(b->params.size());
        out->params = b->params.data();
        return CALIB_OK;
    }

    static calib_status run(void*, void* instance, uint64_t iterations, double* seconds, calib_message err) {
        return guard(err, [&] {
            if (instance == nullptr || seconds == nullptr || iterations == 0)
                fail(CALIB_INVALID_ARGUMENT, "run: NULL instance/seconds or zero iterations");
            *seconds = static_cast<InstanceBox*>(instance)->instance->run(iterations);
            return CALIB_OK;
        });
    }

    static void release(void*, void* instance) noexcept { delete static_cast<InstanceBox*>(instance); }

    static calib_status get_peaks(void* ctx, calib_peak_info* out, uint32_t capacity, uint32_t* count) {
        auto* c = static_cast<Context*>(ctx);
        if (count == nullptr) return CALIB_INVALID_ARGUMENT;
        *count = static_cast<uint32_t>(c->peaks.size());
        for (uint32_t i = 0; out != nullptr && i < capacity && i < c->peaks.size(); ++i) {
            if (!CALIB_HAS_FIELD(calib_peak_info, formula, out[i].struct_size)) return CALIB_INVALID_ARGUMENT;
            out[i].precision = c->peaks[i].precision.c_str();
            out[i].gflops = c->peaks[i].gflops;
            out[i].bandwidth_gbps = c->peaks[i].bandwidth_gbps;
            out[i].formula = c->peaks[i].formula.c_str();
        }
        return CALIB_OK;
    }
};

}  // namespace detail

template <class P>
const calib_plugin_api* make_api(const char* id, const char* name, const char* version,
                                 const char* vendor, const char* description) {
    using A = detail::Adapter<P>;
    static const calib_plugin_api api = {
        CALIB_STRUCT_SIZE(calib_plugin_api, read_device_state),
        CALIB_ABI_VERSION_MAJOR,
        CALIB_ABI_VERSION_MINOR,
        id,
        name,
        version,
        vendor,
        description,
        &A::init,
        &A::shutdown,
        &A::get_device,
        &A::case_count,
        &A::get_case,
        &A::prepare,
        &A::get_instance_info,
        &A::run,
        &A::release,
        &A::get_peaks,
        &A::device_count,
        &A::get_device_at,
        &A::read_device_state,
    };
    return &api;
}

}  // namespace calib::sdk

// Defines the plugin's one exported symbol for a Plugin subclass.
#define CALIB_CPP_PLUGIN(Class, id, name, version, vendor, description) \
    CALIB_PLUGIN_ENTRY { return ::calib::sdk::make_api<Class>(id, name, version, vendor, description); }

#endif  // CALIB_PLUGIN_HPP
