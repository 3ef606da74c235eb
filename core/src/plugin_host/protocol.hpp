// The framed protocol between the host and a worker (internal to plugin_host).
//
// Frame: u32 body length, then the body: one type byte and the payload. Integers and doubles are
// raw native-endian bytes (both ends are the same binary on the same machine); strings are a u32
// length and the bytes. Requests flow host -> worker, replies worker -> host; any number of `log`
// frames may precede a reply.
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

#include "calib/core/plugin_types.hpp"

namespace calib::core::wire {

enum class Type : uint8_t {
    // host -> worker
    open = 1,      // str path
    prepare = 2,   // u32 instance id (chosen by the host), u32 case index
    run = 3,       // u32 instance id, u64 iterations
    release = 4,   // u32 instance id
    shutdown = 5,  // (empty)
    // host -> worker, `calib-host check` only (replies: check_event frames, then check_reply)
    check_open = 6,  // str path: load, judge the table, init, judge device and case list
    check_case = 7,  // u32 instance id, u32 case index, u8 also check run(0): the case's lifecycle
    check_tail = 8,  // (empty): out-of-range indices, peaks, shutdown
    read_state = 9,  // u32 device (ABI 1.1 read_device_state); reply `state` or status_error
    // worker -> host
    log = 32,           // i32 level, str message
    opened = 33,        // plugin metadata, device, cases, peaks (put_record)
    open_failed = 34,   // u8 RejectReason, i32 status, str message
    prepared = 35,      // InstanceInfo (put_instance)
    ran = 36,           // f64 seconds
    status_error = 37,  // i32 calib_status, str message
    ack = 38,           // (empty)
    check_event = 39,   // u8 CheckEventKind, str check, str detail
    state = 41,         // DeviceState (put_state)
    check_reply = 40,   // check_open: u8 go on, then if 1 the record (put_record);
                        // check_case: u8 prepared (the instance lives), u8 ran (go on to timing)
                        // check_tail: (empty)
};

// Larger frames are garbage, not data: no plugin describes itself in 16 MiB.
constexpr uint32_t max_frame = 16u << 20;

struct ProtocolError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class Writer {
public:
    explicit Writer(Type t) : buf_(4, '\0') { u8(static_cast<uint8_t>(t)); }
    Writer& u8(uint8_t v) { return raw(&v, 1); }
    Writer& u16(uint16_t v) { return raw(&v, 2); }
    Writer& u32(uint32_t v) { return raw(&v, 4); }
    Writer& i32(int32_t v) { return raw(&v, 4); }
    Writer& u64(uint64_t v) { return raw(&v, 8); }
    Writer& i64(int64_t v) { return raw(&v, 8); }
    Writer& f64(double v) { return raw(&v, 8); }
    Writer& str(std::string_view s) {
        u32(static_cast<uint32_t>(s.size()));
        buf_.append(s.data(), s.size());
        return *this;
    }
    // The whole frame, length prefix included.
    std::string finish() {
        auto n = static_cast<uint32_t>(buf_.size() - 4);
        std::memcpy(buf_.data(), &n, 4);
        return std::move(buf_);
    }

private:
    Writer& raw(const void* p, std::size_t n) {
        buf_.append(static_cast<const char*>(p), n);
        return *this;
    }
    std::string buf_;
};

// Reads a frame body (after the type byte). Every underrun is a ProtocolError.
class Reader {
public:
    explicit Reader(std::string_view body) : data_(body) {}
    uint8_t u8() { return get<uint8_t>(); }
    uint16_t u16() { return get<uint16_t>(); }
    uint32_t u32() { return get<uint32_t>(); }
    int32_t i32() { return get<int32_t>(); }
    uint64_t u64() { return get<uint64_t>(); }
    int64_t i64() { return get<int64_t>(); }
    double f64() { return get<double>(); }
    std::string str() {
        uint32_t n = u32();
        need(n);
        std::string s(data_.substr(0, n));
        data_.remove_prefix(n);
        return s;
    }
    void expect_end() const {
        if (!data_.empty()) throw ProtocolError("trailing bytes in message");
    }

private:
    template <class T>
    T get() {
        need(sizeof(T));
        T v;
        std::memcpy(&v, data_.data(), sizeof(T));
        data_.remove_prefix(sizeof(T));
        return v;
    }
    void need(std::size_t n) const {
        if (data_.size() < n) throw ProtocolError("truncated message");
    }
    std::string_view data_;
};

// Plugin description (everything in PluginRecord except path / loaded / reason).
void put_record(Writer& w, const PluginRecord& r);
void get_record(Reader& r, PluginRecord& out);
void put_instance(Writer& w, const InstanceInfo& info);
InstanceInfo get_instance(Reader& r);
void put_state(Writer& w, const DeviceState& s);
DeviceState get_state(Reader& r);

// Write the whole buffer, retrying on EINTR. False on any error (EPIPE: the peer is gone).
bool write_all(int fd, const void* data, std::size_t n);

}  // namespace calib::core::wire
