#include "protocol.hpp"

#include <cerrno>
#include <unistd.h>

namespace calib::core::wire {

namespace {

void put_params(Writer& w, const ParamList& p) {
    w.u32(static_cast<uint32_t>(p.size()));
    for (const auto& [k, v] : p) w.str(k).str(v);
}

ParamList get_params(Reader& r) {
    ParamList p;
    uint32_t n = r.u32();
    for (uint32_t i = 0; i < n; ++i) {
        std::string k = r.str();
        p.emplace_back(std::move(k), r.str());
    }
    return p;
}

template <class E>
E get_enum(Reader& r, E last) {
    uint8_t v = r.u8();
    if (v > static_cast<uint8_t>(last)) throw ProtocolError("enum value out of range");
    return static_cast<E>(v);
}

}  // namespace

void put_record(Writer& w, const PluginRecord& r) {
    w.str(r.id).str(r.name).str(r.version).str(r.vendor).str(r.description);
    w.u16(r.abi_major).u16(r.abi_minor);
    w.u8(static_cast<uint8_t>(r.device_kind)).str(r.device_name);
    w.u8(r.device_available ? 1 : 0).str(r.unavailable_reason);
    w.u32(static_cast<uint32_t>(r.devices.size()));
    for (const DeviceInfo& d : r.devices)
        w.u8(static_cast<uint8_t>(d.kind)).str(d.name).u8(d.available ? 1 : 0).str(d.unavailable_reason).str(d.bus_id);
    w.u32(static_cast<uint32_t>(r.cases.size()));
    for (const CaseInfo& c : r.cases) {
        w.u32(c.index).str(c.name).u8(static_cast<uint8_t>(c.family));
        w.str(c.operation_type).str(c.precision);
        w.u32(static_cast<uint32_t>(c.shape.size()));
        for (int64_t d : c.shape) w.i64(d);
        w.f64(c.flops).f64(c.bytes).str(c.fusion_pattern);
        w.u8(static_cast<uint8_t>(c.fusion_role)).str(c.fusion_group).u8((c.quick ? 1 : 0) | (c.sustained ? 2 : 0));
        put_params(w, c.params);
        w.u32(static_cast<uint32_t>(c.devices.size()));
        for (uint32_t d : c.devices) w.u32(d);
    }
    w.u32(static_cast<uint32_t>(r.peaks.size()));
    for (const PeakInfo& p : r.peaks) w.str(p.precision).f64(p.gflops).f64(p.bandwidth_gbps).str(p.formula);
}

void get_record(Reader& r, PluginRecord& out) {
    out.id = r.str();
    out.name = r.str();
    out.version = r.str();
    out.vendor = r.str();
    out.description = r.str();
    out.abi_major = r.u16();
    out.abi_minor = r.u16();
    out.device_kind = get_enum(r, DeviceKind::other);
    out.device_name = r.str();
    out.device_available = r.u8() != 0;
    out.unavailable_reason = r.str();
    uint32_t n = r.u32();
    if (n > 4096) throw ProtocolError("device count out of range");
    out.devices.clear();
    for (uint32_t i = 0; i < n; ++i) {
        DeviceInfo d;
        d.kind = get_enum(r, DeviceKind::other);
        d.name = r.str();
        d.available = r.u8() != 0;
        d.unavailable_reason = r.str();
        d.bus_id = r.str();
        out.devices.push_back(std::move(d));
    }
    n = r.u32();
    out.cases.clear();
    for (uint32_t i = 0; i < n; ++i) {
        CaseInfo c;
        c.index = r.u32();
        c.name = r.str();
        c.family = get_enum(r, Family::transfer);
        c.operation_type = r.str();
        c.precision = r.str();
        uint32_t rank = r.u32();
        if (rank > 64) throw ProtocolError("shape rank out of range");
        for (uint32_t d = 0; d < rank; ++d) c.shape.push_back(r.i64());
        c.flops = r.f64();
        c.bytes = r.f64();
        c.fusion_pattern = r.str();
        c.fusion_role = get_enum(r, FusionRole::unfused);
        c.fusion_group = r.str();
        const uint8_t flags = r.u8();
        c.quick = (flags & 1) != 0;
        c.sustained = (flags & 2) != 0;
        c.params = get_params(r);
        uint32_t nd = r.u32();
        if (nd > 4096) throw ProtocolError("case device count out of range");
        for (uint32_t d = 0; d < nd; ++d) c.devices.push_back(r.u32());
        out.cases.push_back(std::move(c));
    }
    n = r.u32();
    out.peaks.clear();
    for (uint32_t i = 0; i < n; ++i) {
        PeakInfo p;
        p.precision = r.str();
        p.gflops = r.f64();
        p.bandwidth_gbps = r.f64();
        p.formula = r.str();
        out.peaks.push_back(std::move(p));
    }
}

void put_instance(Writer& w, const InstanceInfo& info) {
    w.str(info.implementation).u8(info.reference_fallback ? 1 : 0).u8(info.verified ? 1 : 0);
    w.f64(info.max_abs_error).f64(info.tolerance);
    put_params(w, info.params);
}

InstanceInfo get_instance(Reader& r) {
    InstanceInfo info;
    info.implementation = r.str();
    info.reference_fallback = r.u8() != 0;
    info.verified = r.u8() != 0;
    info.max_abs_error = r.f64();
    info.tolerance = r.f64();
    info.params = get_params(r);
    return info;
}

void put_state(Writer& w, const DeviceState& s) {
    w.u32(s.valid).f64(s.energy_joules).f64(s.power_watts).f64(s.power_limit_watts).f64(s.sm_clock_mhz);
    w.f64(s.memory_clock_mhz).f64(s.temperature_c).u32(s.throttle).f64(s.power_capped_seconds).f64(s.thermal_capped_seconds);
}

DeviceState get_state(Reader& r) {
    DeviceState s;
    s.valid = r.u32();
    s.energy_joules = r.f64();
    s.power_watts = r.f64();
    s.power_limit_watts = r.f64();
    s.sm_clock_mhz = r.f64();
    s.memory_clock_mhz = r.f64();
    s.temperature_c = r.f64();
    s.throttle = r.u32();
    s.power_capped_seconds = r.f64();
    s.thermal_capped_seconds = r.f64();
    return s;
}

bool write_all(int fd, const void* data, std::size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
        ssize_t k = ::write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        p += k;
        n -= static_cast<std::size_t>(k);
    }
    return true;
}

}  // namespace calib::core::wire
