// The worker process (internal to plugin_host): loads one plugin library, speaks the framed protocol,
// and is the only process in which plugin code ever runs. It judges the plugin by the rules of
// plugin_contract.hpp, for a scan or run (worker.cpp) and for `calib-host check` (worker_check.cpp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <boost/dll/shared_library.hpp>

#include "calib/core/plugin_client.hpp"
#include "calib/plugin.h"
#include "protocol.hpp"

namespace calib::core::detail {

// A struct the plugin fills, placed at the start of a larger buffer of sentinel bytes: the plugin may
// write only within the struct_size the host declares, so every byte past it must stay the sentinel.
template <class T, std::size_t Count = 1>
class Guarded {
public:
    static constexpr unsigned char kSentinel = 0xA5;
    // Sets struct_size in the first `entries` elements only, their other bytes up to struct_size zero (what
    // a plugin of an older minor does not fill reads as absent); the rest stays pure sentinel.
    explicit Guarded(uint32_t struct_size, std::size_t entries = Count) {
        std::memset(buf_, kSentinel, sizeof buf_);
        for (std::size_t i = 0; i < std::min(entries, Count); ++i) {
            std::memset(buf_ + i * sizeof(T), 0, std::min<std::size_t>(struct_size, sizeof(T)));
            std::memcpy(buf_ + i * sizeof(T), &struct_size, sizeof struct_size);
        }
    }
    T* ptr() { return reinterpret_cast<T*>(buf_); }
    // Copy out (no aliasing games with the raw buffer).
    T value(std::size_t i = 0) const {
        T v;
        std::memcpy(&v, buf_ + i * sizeof(T), sizeof(T));
        return v;
    }
    // First byte at or after `from` that is no longer the sentinel; -1 when all are intact.
    long touched_from(std::size_t from) const {
        for (std::size_t i = from; i < sizeof buf_; ++i)
            if (buf_[i] != kSentinel) return static_cast<long>(i);
        return -1;
    }

private:
    alignas(alignof(std::max_align_t)) unsigned char buf_[Count * sizeof(T) + 256];
};

// The sizes the host declares in the structs the plugin fills.
constexpr uint32_t kDeviceSize = CALIB_STRUCT_SIZE(calib_device_info, bus_id);
constexpr uint32_t kCaseSize = CALIB_STRUCT_SIZE(calib_case_info, devices);
constexpr uint32_t kInstanceSize = CALIB_STRUCT_SIZE(calib_instance_info, params);
constexpr uint32_t kPeakSize = CALIB_STRUCT_SIZE(calib_peak_info, formula);
constexpr uint32_t kStateSize = CALIB_STRUCT_SIZE(calib_device_state, thermal_capped_seconds);

class Worker {
public:
    Worker(int in_fd, int out_fd);
    ~Worker() { close_plugin(); }
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // Serve until EOF or shutdown. Returns the process exit code.
    int serve();

private:
    // Handles one request; false when the worker should exit (with `code`).
    bool dispatch(wire::Type type, wire::Reader& r, int& code);
    void send(wire::Writer&& w);
    static void log_thunk(void* ctx, calib_log_level level, const char* message);
    void open_failed(RejectReason reason, const std::string& message, calib_status status = CALIB_ERROR);
    void status_error(calib_status status, const std::string& message);

    // Loading, shared by open and check_open. Each returns "" on success, else why.
    std::string load(const std::string& path);
    std::string find_table(const calib_plugin_api*& table, RejectReason& reason);
    // The table rules in the order the host reads them; `reason` says which failed.
    std::string judge_table(const calib_plugin_api& t, RejectReason& reason) const;
    void adopt_table(const calib_plugin_api& t);
    bool has_get_peaks() const;
    bool has_devices() const;  // ABI 1.1 device_count/get_device_at present

    // One device read through get_device (index -1) or get_device_at.
    std::string read_one_device(int index, DeviceInfo& out);

    // What the plugin describes, read through guarded buffers and judged by the contract.
    std::string read_device(PluginRecord& rec);
    std::string read_case(uint32_t index, CaseInfo& out);
    std::string read_cases(std::vector<CaseInfo>& out);
    std::string read_peaks(std::vector<PeakInfo>& out);
    std::string read_instance(void* instance, InstanceInfo& out);
    std::string describe(PluginRecord& rec);
    // The run path: `iterations` executions of an instance; the time as the plugin reported it.
    calib_status run_instance(void* instance, uint64_t iterations, double& seconds, std::string& message);

    void handle_open(const std::string& path);
    void handle_prepare(uint32_t id, uint32_t index);
    void handle_run(uint32_t id, uint64_t iterations);
    void handle_release(uint32_t id);
    void handle_read_state(uint32_t device);
    void close_plugin();

    // ---- `calib-host check` (worker_check.cpp) ----
    void begin(const std::string& check);
    void verdict(CheckEventKind kind, const std::string& detail = "");
    void handle_check_open(const std::string& path);
    const calib_plugin_api* check_load(const std::string& path);
    bool check_table(const calib_plugin_api& t);
    bool check_init();
    void check_device();
    uint8_t check_case_list(PluginRecord& rec);
    void check_case_list_rules(const std::vector<CaseInfo>& cases);
    void handle_check_case(uint32_t id, uint32_t index, bool check_zero);
    bool check_lifecycle(void* inst);
    void check_run_zero(void* inst);
    void handle_check_tail();
    void check_out_of_range();
    void check_peaks();

    int in_, out_;
    std::mutex write_mutex_;
    calib_host_services services_{};
    boost::dll::shared_library lib_;
    calib_plugin_api api_{};
    void* ctx_ = nullptr;
    bool initialised_ = false;
    uint32_t case_count_ = 0;
    uint32_t device_count_ = 1;
    std::vector<CaseInfo> cases_;  // as read at open (check: the first listing)
    bool listed_ = false;          // check: the case list could be read
    std::string check_;            // check: the check under way
    std::map<uint32_t, void*> instances_;
};

std::string with_status(const char* what, calib_status st, const char* msg);

}  // namespace calib::core::detail
