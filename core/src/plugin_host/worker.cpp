// The worker side: `calib-host --worker <in-fd> <out-fd>`. Loads one plugin library, speaks the
// framed protocol, and is the only process in which plugin code ever runs.
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

#include <dlfcn.h>
#include <unistd.h>

#include <boost/dll/shared_library.hpp>

#include "calib/core/plugin_client.hpp"
#include "calib/plugin.h"
#include "protocol.hpp"

namespace calib::core {

namespace {

// Set by SIGTERM/SIGINT; plugins poll it through host services is_cancelled.
std::atomic<int32_t> g_cancelled{0};
static_assert(std::atomic<int32_t>::is_always_lock_free, "used from a signal handler");

extern "C" void on_stop_signal(int) { g_cancelled.store(1); }

std::string str_or_empty(const char* s) { return s != nullptr ? s : ""; }

ParamList copy_params(const calib_param* p, uint32_t n) {
    ParamList out;
    for (uint32_t i = 0; p != nullptr && i < n; ++i) out.emplace_back(str_or_empty(p[i].key), str_or_empty(p[i].value));
    return out;
}

bool read_exact(int fd, char* buf, std::size_t n) {
    while (n > 0) {
        ssize_t k = ::read(fd, buf, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        buf += k;
        n -= static_cast<std::size_t>(k);
    }
    return true;
}

class Worker {
public:
    Worker(int in_fd, int out_fd) : in_(in_fd), out_(out_fd) {
        services_.struct_size = CALIB_STRUCT_SIZE(calib_host_services, is_cancelled);
        services_.reserved = 0;
        services_.host_ctx = this;
        services_.log = &Worker::log_thunk;
        services_.is_cancelled = [](void*) -> int32_t { return g_cancelled.load(); };
    }

    ~Worker() { close_plugin(); }

    // Serve until EOF or shutdown. Returns the process exit code.
    int serve() {
        std::string body;
        for (;;) {
            uint32_t n = 0;
            if (!read_exact(in_, reinterpret_cast<char*>(&n), 4)) return 0;  // host closed: done
            if (n == 0 || n > wire::max_frame) return 2;
            body.resize(n);
            if (!read_exact(in_, body.data(), n)) return 2;
            auto type = static_cast<wire::Type>(static_cast<uint8_t>(body[0]));
            wire::Reader r(std::string_view(body).substr(1));
            try {
                switch (type) {
                    case wire::Type::open: handle_open(r.str()); break;
                    case wire::Type::prepare: {
                        uint32_t id = r.u32();
                        handle_prepare(id, r.u32());
                        break;
                    }
                    case wire::Type::run: {
                        uint32_t id = r.u32();
                        handle_run(id, r.u64());
                        break;
                    }
                    case wire::Type::release:
                        handle_release(r.u32());
                        send(wire::Writer(wire::Type::ack));
                        break;
                    case wire::Type::shutdown:
                        close_plugin();
                        send(wire::Writer(wire::Type::ack));
                        return 0;
                    default: return 2;
                }
            } catch (const wire::ProtocolError&) {
                return 2;
            }
        }
    }

private:
    void send(wire::Writer&& w) {
        std::string frame = w.finish();
        std::lock_guard<std::mutex> lock(write_mutex_);  // log() may come from plugin threads
        if (!wire::write_all(out_, frame.data(), frame.size())) std::_Exit(3);  // host gone
    }

    static void log_thunk(void* ctx, calib_log_level level, const char* message) {
        auto* self = static_cast<Worker*>(ctx);
        self->send(std::move(wire::Writer(wire::Type::log).i32(level).str(str_or_empty(message))));
    }

    void open_failed(RejectReason reason, const std::string& message, calib_status status = CALIB_ERROR) {
        send(std::move(wire::Writer(wire::Type::open_failed).u8(static_cast<uint8_t>(reason)).i32(status).str(message)));
    }

    void status_error(calib_status status, const std::string& message) {
        send(std::move(wire::Writer(wire::Type::status_error).i32(status).str(message)));
    }

    static std::string with_status(const char* what, calib_status st, const char* msg) {
        std::string s = std::string(what) + " failed with status " + std::to_string(st);
        if (msg != nullptr && *msg != '\0') s += ": " + std::string(msg);
        return s;
    }

    void handle_open(const std::string& path) {
        if (lib_.is_loaded()) return status_error(CALIB_ERROR, "a plugin is already open in this worker");
        boost::dll::fs::error_code ec;
        lib_.load(path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, ec);
        if (ec || !lib_.is_loaded()) {
            const char* why = ::dlerror();
            return open_failed(RejectReason::not_a_library, why != nullptr ? why : ec.message());
        }
        if (!lib_.has(CALIB_PLUGIN_ENTRY_SYMBOL))
            return open_failed(RejectReason::no_entry_symbol, "no symbol " CALIB_PLUGIN_ENTRY_SYMBOL);
        const calib_plugin_api* table = lib_.get<const calib_plugin_api*()>(CALIB_PLUGIN_ENTRY_SYMBOL)();
        if (table == nullptr) return open_failed(RejectReason::bad_table, CALIB_PLUGIN_ENTRY_SYMBOL "() returned NULL");
        const uint32_t size = table->struct_size;
        if (size < CALIB_STRUCT_SIZE(calib_plugin_api, abi_minor))
            return open_failed(RejectReason::bad_table, "table struct_size " + std::to_string(size) + " is too small");
        // Major first: a different major may lay the rest of the table out differently.
        if (table->abi_major != CALIB_ABI_VERSION_MAJOR)
            return open_failed(RejectReason::abi_major_mismatch,
                               "plugin ABI " + std::to_string(table->abi_major) + "." + std::to_string(table->abi_minor) +
                                   ", host ABI " + std::to_string(CALIB_ABI_VERSION_MAJOR) + "." +
                                   std::to_string(CALIB_ABI_VERSION_MINOR));
        constexpr std::size_t required = CALIB_STRUCT_SIZE(calib_plugin_api, release);
        if (size < required)
            return open_failed(RejectReason::bad_table, "table struct_size " + std::to_string(size) +
                                                            " is below the ABI 1.0 minimum " + std::to_string(required));
        // Our copy: the plugin's bytes up to its struct_size, zero beyond (optional members absent).
        std::memcpy(&api_, table, std::min<std::size_t>(size, sizeof api_));
        const char* missing = first_missing_member();
        if (missing != nullptr) return open_failed(RejectReason::bad_table, std::string("required member ") + missing + " is NULL");

        char err[1024] = "";
        calib_status st = api_.init(&services_, &ctx_, calib_message{err, sizeof err});
        if (st != CALIB_OK) return open_failed(RejectReason::init_failed, with_status("init", st, err), st);
        initialised_ = true;

        PluginRecord rec;
        std::string failure = describe(rec);
        if (!failure.empty()) {
            close_plugin();
            return open_failed(RejectReason::init_failed, failure);
        }
        wire::Writer w(wire::Type::opened);
        wire::put_record(w, rec);
        send(std::move(w));
    }

    const char* first_missing_member() const {
        if (api_.id == nullptr) return "id";
        if (api_.name == nullptr) return "name";
        if (api_.version == nullptr) return "version";
        if (api_.vendor == nullptr) return "vendor";
        if (api_.description == nullptr) return "description";
        if (api_.init == nullptr) return "init";
        if (api_.shutdown == nullptr) return "shutdown";
        if (api_.get_device == nullptr) return "get_device";
        if (api_.case_count == nullptr) return "case_count";
        if (api_.get_case == nullptr) return "get_case";
        if (api_.prepare == nullptr) return "prepare";
        if (api_.get_instance_info == nullptr) return "get_instance_info";
        if (api_.run == nullptr) return "run";
        if (api_.release == nullptr) return "release";
        return nullptr;
    }

    // Copy everything the plugin says about itself into host-side values. "" on success.
    std::string describe(PluginRecord& rec) {
        rec.id = api_.id;
        rec.name = api_.name;
        rec.version = api_.version;
        rec.vendor = api_.vendor;
        rec.description = api_.description;
        rec.abi_major = api_.abi_major;
        rec.abi_minor = api_.abi_minor;

        calib_device_info dev{};
        dev.struct_size = CALIB_STRUCT_SIZE(calib_device_info, unavailable_reason);
        calib_status st = api_.get_device(ctx_, &dev);
        if (st != CALIB_OK) return with_status("get_device", st, nullptr);
        rec.device_kind = dev.kind == CALIB_DEVICE_CPU ? DeviceKind::cpu
                          : dev.kind == CALIB_DEVICE_GPU ? DeviceKind::gpu
                                                         : DeviceKind::other;
        rec.device_name = str_or_empty(dev.name);
        rec.device_available = dev.available != 0;
        if (!rec.device_available) {
            rec.unavailable_reason = str_or_empty(dev.unavailable_reason);
            if (rec.unavailable_reason.empty()) rec.unavailable_reason = "device unavailable (no reason given)";
        }

        case_count_ = api_.case_count(ctx_);
        for (uint32_t i = 0; i < case_count_; ++i) {
            calib_case_info c{};
            c.struct_size = CALIB_STRUCT_SIZE(calib_case_info, params);
            char err[1024] = "";
            st = api_.get_case(ctx_, i, &c, calib_message{err, sizeof err});
            if (st != CALIB_OK) return with_status(("get_case(" + std::to_string(i) + ")").c_str(), st, err);
            if (c.name == nullptr || *c.name == '\0') return "case " + std::to_string(i) + " has no name";
            if (c.rank > CALIB_MAX_RANK) return "case " + std::to_string(i) + " has rank above CALIB_MAX_RANK";
            if (c.family < CALIB_FAMILY_COMPUTE || c.family > CALIB_FAMILY_FUSION)
                return "case " + std::to_string(i) + " has unknown family " + std::to_string(c.family);
            CaseInfo ci;
            ci.index = i;
            ci.name = c.name;
            ci.family = static_cast<Family>(c.family);
            ci.operation_type = str_or_empty(c.operation_type);
            ci.precision = str_or_empty(c.precision);
            ci.shape.assign(c.shape, c.shape + c.rank);
            ci.flops = c.flops;
            ci.bytes = c.bytes;
            ci.fusion_pattern = str_or_empty(c.fusion_pattern);
            ci.fusion_role = c.fusion_role == CALIB_ROLE_FUSED     ? FusionRole::fused
                             : c.fusion_role == CALIB_ROLE_UNFUSED ? FusionRole::unfused
                                                                   : FusionRole::none;
            ci.fusion_group = str_or_empty(c.fusion_group);
            ci.quick = (c.flags & CALIB_CASE_QUICK) != 0;
            ci.params = copy_params(c.params, c.param_count);
            rec.cases.push_back(std::move(ci));
        }

        // get_peaks is optional: present only when the table is long enough and it is non-NULL.
        if (CALIB_HAS_FIELD(calib_plugin_api, get_peaks, std::min<std::size_t>(api_.struct_size, sizeof api_)) &&
            api_.get_peaks != nullptr) {
            uint32_t count = 0;
            if (api_.get_peaks(ctx_, nullptr, 0, &count) == CALIB_OK && count > 0) {
                count = std::min<uint32_t>(count, 256);
                std::vector<calib_peak_info> peaks(count);
                for (auto& p : peaks) p.struct_size = CALIB_STRUCT_SIZE(calib_peak_info, formula);
                uint32_t total = 0;
                if (api_.get_peaks(ctx_, peaks.data(), count, &total) == CALIB_OK) {
                    for (uint32_t i = 0; i < std::min(count, total); ++i)
                        rec.peaks.push_back({str_or_empty(peaks[i].precision), peaks[i].gflops,
                                             peaks[i].bandwidth_gbps, str_or_empty(peaks[i].formula)});
                }
            }
        }
        return {};
    }

    void handle_prepare(uint32_t id, uint32_t index) {
        if (!initialised_) return status_error(CALIB_ERROR, "no plugin is open");
        if (index >= case_count_) return status_error(CALIB_INVALID_ARGUMENT, "case index " + std::to_string(index) + " out of range");
        if (instances_.count(id) != 0) return status_error(CALIB_INVALID_ARGUMENT, "instance id in use");
        char err[1024] = "";
        void* inst = nullptr;
        calib_status st = api_.prepare(ctx_, index, &inst, calib_message{err, sizeof err});
        if (st != CALIB_OK) return status_error(st, err[0] != '\0' ? err : "prepare failed");
        calib_instance_info ii{};
        ii.struct_size = CALIB_STRUCT_SIZE(calib_instance_info, params);
        st = api_.get_instance_info(ctx_, inst, &ii);
        if (st != CALIB_OK) {
            api_.release(ctx_, inst);
            return status_error(st, "get_instance_info failed");
        }
        InstanceInfo info;
        info.implementation = str_or_empty(ii.implementation);
        info.reference_fallback = ii.reference_fallback != 0;
        info.verified = ii.verified != 0;
        info.max_abs_error = ii.max_abs_error;
        info.tolerance = ii.tolerance;
        info.params = copy_params(ii.params, ii.param_count);
        instances_[id] = inst;
        wire::Writer w(wire::Type::prepared);
        wire::put_instance(w, info);
        send(std::move(w));
    }

    void handle_run(uint32_t id, uint64_t iterations) {
        auto it = instances_.find(id);
        if (it == instances_.end()) return status_error(CALIB_INVALID_ARGUMENT, "unknown instance " + std::to_string(id));
        if (iterations == 0) return status_error(CALIB_INVALID_ARGUMENT, "iterations must be at least 1");
        char err[1024] = "";
        double seconds = 0;
        calib_status st = api_.run(ctx_, it->second, iterations, &seconds, calib_message{err, sizeof err});
        if (st != CALIB_OK) return status_error(st, err[0] != '\0' ? err : "run failed");
        send(std::move(wire::Writer(wire::Type::ran).f64(seconds)));
    }

    void handle_release(uint32_t id) {
        auto it = instances_.find(id);
        if (it == instances_.end()) return;  // e.g. an instance of a previous worker: nothing to do
        api_.release(ctx_, it->second);
        instances_.erase(it);
    }

    void close_plugin() {
        if (initialised_) {
            for (auto& [id, inst] : instances_) api_.release(ctx_, inst);
            instances_.clear();
            api_.shutdown(ctx_);
            initialised_ = false;
            ctx_ = nullptr;
        }
    }

    int in_, out_;
    std::mutex write_mutex_;
    calib_host_services services_{};
    boost::dll::shared_library lib_;
    calib_plugin_api api_{};
    void* ctx_ = nullptr;
    bool initialised_ = false;
    uint32_t case_count_ = 0;
    std::map<uint32_t, void*> instances_;
};

}  // namespace

// Measurement policy for OpenMP, unless the user chose otherwise. Threads spin between back-to-back
// parallel regions: sleeping threads (OMP_WAIT_POLICY=passive, and at times libgomp's default) made a
// small unfused 3-primitive chain 2.5x slower for a whole process. Threads are bound one per core: left
// unbound, the guest scheduler at times stacked both threads of a 2-vCPU VM on one vCPU for part of a
// case (a fused depthwise conv ran at 120 us, then 65 us, in the same measurement). But spinning stops
// after ~3 ms (GOMP_SPINCOUNT; "active" alone spins for minutes): between samples the host probes for
// microseconds, while its waits for the reference placement are tens of ms to seconds, and there
// idle vCPUs are what brings the hypervisor to put them back together (with spinning threads the AMD
// guest's far episodes under load lasted 3-56 s per minute, with sleeping ones 3-6 s).
const std::vector<EnvDefault>& worker_env_defaults() {
    static const std::vector<EnvDefault> d{{"OMP_WAIT_POLICY", "active"},
                                           {"GOMP_SPINCOUNT", "300000"},
                                           {"OMP_PROC_BIND", "close"},
                                           {"OMP_PLACES", "cores"}};
    return d;
}

std::string worker_env_value(const EnvDefault& d) {
    const char* v = std::getenv(d.name);
    return v != nullptr ? v : d.value;
}

int worker_main(int in_fd, int out_fd) {
    // Set before any plugin (so libgomp) loads.
    for (const auto& d : worker_env_defaults()) ::setenv(d.name, d.value, 0);
    // Plugins scribbling on stdout must never reach the host's stdout (or the protocol pipe).
    std::fflush(stdout);
    ::dup2(STDERR_FILENO, STDOUT_FILENO);
    std::signal(SIGPIPE, SIG_IGN);
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    ::sigaction(SIGTERM, &sa, nullptr);
    ::sigaction(SIGINT, &sa, nullptr);
    int code = 0;
    {
        Worker worker(in_fd, out_fd);
        code = worker.serve();
    }
    std::fflush(nullptr);
    return code;
}

}  // namespace calib::core
