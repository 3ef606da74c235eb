// The worker side: `calib-host --worker <in-fd> <out-fd>`. Loads one plugin library, speaks the
// framed protocol, and is the only process in which plugin code ever runs. Opening a library judges
// it by the contract (plugin_contract.hpp), as `calib-host check` does (worker_check.cpp).
#include "worker.hpp"

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include <dlfcn.h>
#include <unistd.h>

#include "calib/core/plugin_contract.hpp"

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

CaseInfo case_of(uint32_t index, const calib_case_info& c) {
    CaseInfo ci;
    ci.index = index;
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
    return ci;
}

std::string message_of(const char* buf, std::size_t capacity) { return std::string(buf, ::strnlen(buf, capacity)); }

}  // namespace

namespace detail {

using contract::status_name;

std::string with_status(const char* what, calib_status st, const char* msg) {
    std::string s = std::string(what) + " failed with status " + std::to_string(st);
    if (msg != nullptr && *msg != '\0') s += ": " + std::string(msg);
    return s;
}

Worker::Worker(int in_fd, int out_fd) : in_(in_fd), out_(out_fd) {
    services_.struct_size = CALIB_STRUCT_SIZE(calib_host_services, abi_minor);
    services_.abi_minor = CALIB_ABI_VERSION_MINOR;
    services_.reserved = 0;
    services_.host_ctx = this;
    services_.log = &Worker::log_thunk;
    services_.is_cancelled = [](void*) -> int32_t { return g_cancelled.load(); };
}

int Worker::serve() {
    std::string body;
    for (;;) {
        uint32_t n = 0;
        if (!read_exact(in_, reinterpret_cast<char*>(&n), 4)) return 0;  // host closed: done
        if (n == 0 || n > wire::max_frame) return 2;
        body.resize(n);
        if (!read_exact(in_, body.data(), n)) return 2;
        auto type = static_cast<wire::Type>(static_cast<uint8_t>(body[0]));
        wire::Reader r(std::string_view(body).substr(1));
        int code = 0;
        try {
            if (!dispatch(type, r, code)) return code;
        } catch (const wire::ProtocolError&) {
            return 2;
        } catch (const std::exception& e) {
            if (check_.empty()) throw;  // outside check: as before, the worker dies of it
            // check: a FAIL, and a reply that ends the check (every check reply reads 0 as "stop").
            verdict(CheckEventKind::fail, std::string("an exception crossed the ABI boundary: ") + e.what());
            send(std::move(wire::Writer(wire::Type::check_reply).u8(0).u8(0)));
        }
    }
}

bool Worker::dispatch(wire::Type type, wire::Reader& r, int& code) {
    switch (type) {
        case wire::Type::open: handle_open(r.str()); return true;
        case wire::Type::prepare: {
            uint32_t id = r.u32();
            handle_prepare(id, r.u32());
            return true;
        }
        case wire::Type::run: {
            uint32_t id = r.u32();
            handle_run(id, r.u64());
            return true;
        }
        case wire::Type::release:
            handle_release(r.u32());
            send(wire::Writer(wire::Type::ack));
            return true;
        case wire::Type::shutdown:
            close_plugin();
            send(wire::Writer(wire::Type::ack));
            code = 0;
            return false;
        case wire::Type::read_state: handle_read_state(r.u32()); return true;
        case wire::Type::check_open: handle_check_open(r.str()); return true;
        case wire::Type::check_case: {
            uint32_t id = r.u32();
            uint32_t index = r.u32();
            handle_check_case(id, index, r.u8() != 0);
            return true;
        }
        case wire::Type::check_tail: handle_check_tail(); return true;
        default: code = 2; return false;
    }
}

void Worker::send(wire::Writer&& w) {
    std::string frame = w.finish();
    std::lock_guard<std::mutex> lock(write_mutex_);  // log() may come from plugin threads
    if (!wire::write_all(out_, frame.data(), frame.size())) std::_Exit(3);  // host gone
}

void Worker::log_thunk(void* ctx, calib_log_level level, const char* message) {
    auto* self = static_cast<Worker*>(ctx);
    self->send(std::move(wire::Writer(wire::Type::log).i32(level).str(str_or_empty(message))));
}

void Worker::open_failed(RejectReason reason, const std::string& message, calib_status status) {
    send(std::move(wire::Writer(wire::Type::open_failed).u8(static_cast<uint8_t>(reason)).i32(status).str(message)));
}

void Worker::status_error(calib_status status, const std::string& message) {
    send(std::move(wire::Writer(wire::Type::status_error).i32(status).str(message)));
}

std::string Worker::load(const std::string& path) {
    boost::dll::fs::error_code ec;
    lib_.load(path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, ec);
    if (!ec && lib_.is_loaded()) return {};
    const char* why = ::dlerror();
    return "dlopen failed: " + (why != nullptr ? std::string(why) : ec.message());
}

std::string Worker::find_table(const calib_plugin_api*& table, RejectReason& reason) {
    table = nullptr;
    reason = RejectReason::no_entry_symbol;
    if (!lib_.has(CALIB_PLUGIN_ENTRY_SYMBOL)) return CALIB_PLUGIN_ENTRY_SYMBOL " is not exported";
    auto& entry = lib_.get<const calib_plugin_api*()>(CALIB_PLUGIN_ENTRY_SYMBOL);
    reason = RejectReason::bad_table;
    const calib_plugin_api* t = entry();
    if (t == nullptr) return CALIB_PLUGIN_ENTRY_SYMBOL "() returned NULL";
    if (entry() != t) return CALIB_PLUGIN_ENTRY_SYMBOL "() returns a different table on each call";
    table = t;
    reason = RejectReason::none;
    return {};
}

std::string Worker::judge_table(const calib_plugin_api& t, RejectReason& reason) const {
    reason = RejectReason::bad_table;
    if (std::string why = contract::version_problem(t); !why.empty()) {
        if (t.struct_size >= CALIB_STRUCT_SIZE(calib_plugin_api, abi_minor)) reason = RejectReason::abi_major_mismatch;
        return why;
    }
    if (std::string why = contract::table_size_problem(t); !why.empty()) return why;
    if (std::string missing = contract::missing_functions(t); !missing.empty()) return "NULL: " + missing;
    if (std::string why = contract::device_function_problems(t); !why.empty()) return why;
    if (std::string why = contract::metadata_problems(t); !why.empty()) return why;
    reason = RejectReason::none;
    return {};
}

void Worker::adopt_table(const calib_plugin_api& t) {
    // Our copy: the plugin's bytes up to its struct_size, zero beyond (optional members absent).
    api_ = calib_plugin_api{};
    std::memcpy(&api_, &t, std::min<std::size_t>(t.struct_size, sizeof api_));
}

bool Worker::has_devices() const {
    return CALIB_HAS_FIELD(calib_plugin_api, get_device_at, std::min<std::size_t>(api_.struct_size, sizeof api_)) &&
           api_.device_count != nullptr && api_.get_device_at != nullptr;
}

bool Worker::has_get_peaks() const {
    return CALIB_HAS_FIELD(calib_plugin_api, get_peaks, std::min<std::size_t>(api_.struct_size, sizeof api_)) &&
           api_.get_peaks != nullptr;
}

void Worker::handle_open(const std::string& path) {
    if (lib_.is_loaded()) return status_error(CALIB_ERROR, "a plugin is already open in this worker");
    if (std::string why = load(path); !why.empty()) return open_failed(RejectReason::not_a_library, why);
    const calib_plugin_api* table = nullptr;
    RejectReason reason = RejectReason::none;
    if (std::string why = find_table(table, reason); !why.empty()) return open_failed(reason, why);
    if (std::string why = judge_table(*table, reason); !why.empty()) return open_failed(reason, why);
    adopt_table(*table);

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

std::string Worker::read_one_device(int index, DeviceInfo& out) {
    auto get = [&](calib_device_info* p) {
        return index < 0 ? api_.get_device(ctx_, p) : api_.get_device_at(ctx_, static_cast<uint32_t>(index), p);
    };
    Guarded<calib_device_info> g(kDeviceSize);
    calib_status s = get(g.ptr());
    // A host of an older minor may pass a smaller struct: nothing past its size may change.
    Guarded<calib_device_info> small(sizeof(uint32_t));
    get(small.ptr());
    const calib_device_info d = g.value();
    if (s != CALIB_OK) return "returned " + std::string(status_name(s));
    if (long at = g.touched_from(kDeviceSize); at >= 0)
        return "wrote byte " + std::to_string(at) + ", beyond struct_size " + std::to_string(kDeviceSize);
    if (long at = small.touched_from(sizeof(uint32_t)); at >= 0)
        return "with struct_size 4 it still wrote byte " + std::to_string(at);
    if (d.struct_size != kDeviceSize) return "changed struct_size";
    if (std::string why = contract::device_problems(d); !why.empty()) return why;
    out.kind = d.kind == CALIB_DEVICE_CPU ? DeviceKind::cpu : d.kind == CALIB_DEVICE_GPU ? DeviceKind::gpu : DeviceKind::other;
    out.name = d.name;
    out.available = d.available != 0;
    out.unavailable_reason = out.available ? "" : d.unavailable_reason;
    out.bus_id = api_.abi_minor >= 1 ? str_or_empty(d.bus_id) : "";
    return {};
}

std::string Worker::read_device(PluginRecord& rec) {
    DeviceInfo first;
    if (std::string why = read_one_device(-1, first); !why.empty()) return why;
    rec.device_kind = first.kind;
    rec.device_name = first.name;
    rec.device_available = first.available;
    rec.unavailable_reason = first.unavailable_reason;
    rec.devices = {first};
    device_count_ = 1;
    if (!has_devices()) return {};
    const uint32_t n = api_.device_count(ctx_);
    if (std::string why = contract::device_count_problem(n); !why.empty()) return why;
    for (uint32_t i = 0; i < n; ++i) {
        DeviceInfo d;
        if (std::string why = read_one_device(static_cast<int>(i), d); !why.empty())
            return "get_device_at(" + std::to_string(i) + ") " + why;
        if (i == 0 && !(d == first)) return "get_device_at(0) differs from get_device()";
        if (i > 0) rec.devices.push_back(std::move(d));
    }
    device_count_ = n;
    return {};
}

std::string Worker::read_case(uint32_t i, CaseInfo& out) {
    Guarded<calib_case_info> g(kCaseSize);
    char err[512] = "";
    calib_status s = api_.get_case(ctx_, i, g.ptr(), calib_message{err, sizeof err});
    const std::string at_i = "get_case(" + std::to_string(i) + ")";
    if (s != CALIB_OK) return at_i + " returned " + contract::status_text(s, message_of(err, sizeof err));
    if (long at = g.touched_from(kCaseSize); at >= 0)
        return at_i + " wrote byte " + std::to_string(at) + ", beyond struct_size " + std::to_string(kCaseSize);
    const calib_case_info c = g.value();
    std::string why = contract::case_problems(c);
    if (why.empty())
        why = contract::case_device_problems(c, api_.abi_minor >= 1 ? kCaseSize : CALIB_STRUCT_SIZE(calib_case_info, params),
                                             api_.abi_minor, device_count_);
    if (!why.empty())
        return "case " + std::to_string(i) + (c.name != nullptr && *c.name != '\0' ? " '" + std::string(c.name) + "'" : "") +
               ": " + why;
    out = case_of(i, c);
    if (api_.abi_minor >= 1 && c.device_count > 0) out.devices.assign(c.devices, c.devices + c.device_count);
    out.sustained = api_.abi_minor >= 1 && (c.flags & CALIB_CASE_SUSTAINED) != 0;
    return {};
}

std::string Worker::read_cases(std::vector<CaseInfo>& out) {
    out.clear();
    const uint32_t count = api_.case_count(ctx_);
    if (count > contract::kMaxCases) return "implausible case_count " + std::to_string(count);
    for (uint32_t i = 0; i < count; ++i) {
        CaseInfo c;
        if (std::string why = read_case(i, c); !why.empty()) return why;
        out.push_back(std::move(c));
    }
    return {};
}

std::string Worker::read_peaks(std::vector<PeakInfo>& out) {
    out.clear();
    uint32_t count = UINT32_MAX;
    calib_status s = api_.get_peaks(ctx_, nullptr, 0, &count);
    if (s != CALIB_OK) return "get_peaks(NULL, 0) returned " + std::string(status_name(s));
    if (count > contract::kMaxPeaks) return "implausible peak count " + std::to_string(count);
    Guarded<calib_peak_info, contract::kMaxPeaks> g(kPeakSize, count);
    uint32_t again = 0;
    s = api_.get_peaks(ctx_, g.ptr(), count, &again);
    if (s != CALIB_OK) return "get_peaks returned " + std::string(status_name(s));
    if (again != count) return "peak count changed between calls";
    for (uint32_t i = 0; i < count; ++i) {
        const calib_peak_info p = g.value(i);
        if (std::string why = contract::peak_problems(p); !why.empty()) return "peak " + std::to_string(i) + " " + why;
        out.push_back({p.precision, p.gflops, p.bandwidth_gbps, p.formula});
    }
    if (long at = g.touched_from(count * sizeof(calib_peak_info)); at >= 0)
        return "wrote byte " + std::to_string(at) + ", beyond the " + std::to_string(count) + " entries";
    return {};
}

std::string Worker::read_instance(void* instance, InstanceInfo& out) {
    Guarded<calib_instance_info> g(kInstanceSize);
    calib_status s = api_.get_instance_info(ctx_, instance, g.ptr());
    if (s != CALIB_OK) return "get_instance_info returned " + std::string(status_name(s));
    if (long at = g.touched_from(kInstanceSize); at >= 0)
        return "get_instance_info wrote byte " + std::to_string(at) + ", beyond struct_size " + std::to_string(kInstanceSize);
    const calib_instance_info ii = g.value();
    if (std::string why = contract::instance_problems(ii); !why.empty()) return "get_instance_info: " + why;
    out.implementation = ii.implementation;
    out.reference_fallback = ii.reference_fallback != 0;
    out.verified = ii.verified != 0;
    out.max_abs_error = ii.max_abs_error;
    out.tolerance = ii.tolerance;
    out.params = copy_params(ii.params, ii.param_count);
    return {};
}

// Copy everything the plugin says about itself into host-side values. "" on success.
std::string Worker::describe(PluginRecord& rec) {
    rec.id = api_.id;
    rec.name = api_.name;
    rec.version = api_.version;
    rec.vendor = api_.vendor;
    rec.description = api_.description;
    rec.abi_major = api_.abi_major;
    rec.abi_minor = api_.abi_minor;
    if (std::string why = read_device(rec); !why.empty()) return "get_device " + why;
    if (std::string why = read_cases(rec.cases); !why.empty()) return why;
    if (std::string why = contract::duplicate_names(rec.cases); !why.empty()) return why;
    if (std::string why = contract::fusion_pair_problems(rec.cases); !why.empty()) return why;
    cases_ = rec.cases;
    case_count_ = static_cast<uint32_t>(rec.cases.size());
    // get_peaks is optional: present only when the table is long enough and it is non-NULL.
    if (has_get_peaks())
        if (std::string why = read_peaks(rec.peaks); !why.empty()) return "get_peaks: " + why;
    return {};
}

void Worker::handle_prepare(uint32_t id, uint32_t index) {
    if (!initialised_) return status_error(CALIB_ERROR, "no plugin is open");
    if (index >= case_count_) return status_error(CALIB_INVALID_ARGUMENT, "case index " + std::to_string(index) + " out of range");
    if (instances_.count(id) != 0) return status_error(CALIB_INVALID_ARGUMENT, "instance id in use");
    char err[1024] = "";
    void* inst = nullptr;
    calib_status st = api_.prepare(ctx_, index, &inst, calib_message{err, sizeof err});
    if (st != CALIB_OK) return status_error(st, err[0] != '\0' ? err : "prepare failed");
    InstanceInfo info;
    if (std::string why = read_instance(inst, info); !why.empty()) {
        api_.release(ctx_, inst);
        return status_error(CALIB_ERROR, why);
    }
    instances_[id] = inst;
    wire::Writer w(wire::Type::prepared);
    wire::put_instance(w, info);
    send(std::move(w));
}

calib_status Worker::run_instance(void* instance, uint64_t iterations, double& seconds, std::string& message) {
    char err[1024] = "";
    seconds = 0;
    calib_status st = api_.run(ctx_, instance, iterations, &seconds, calib_message{err, sizeof err});
    message = message_of(err, sizeof err);
    return st;
}

void Worker::handle_run(uint32_t id, uint64_t iterations) {
    auto it = instances_.find(id);
    if (it == instances_.end()) return status_error(CALIB_INVALID_ARGUMENT, "unknown instance " + std::to_string(id));
    if (iterations == 0) return status_error(CALIB_INVALID_ARGUMENT, "iterations must be at least 1");
    double seconds = 0;
    std::string message;
    calib_status st = run_instance(it->second, iterations, seconds, message);
    if (st != CALIB_OK) return status_error(st, !message.empty() ? message : "run failed");
    send(std::move(wire::Writer(wire::Type::ran).f64(seconds)));
}

void Worker::handle_release(uint32_t id) {
    auto it = instances_.find(id);
    if (it == instances_.end()) return;  // e.g. an instance of a previous worker: nothing to do
    api_.release(ctx_, it->second);
    instances_.erase(it);
}

void Worker::handle_read_state(uint32_t device) {
    if (!initialised_) return status_error(CALIB_ERROR, "no plugin is open");
    if (device >= device_count_) return status_error(CALIB_INVALID_ARGUMENT, "device " + std::to_string(device) + " out of range");
    if (api_.abi_minor < 1 ||
        !CALIB_HAS_FIELD(calib_plugin_api, read_device_state, std::min<std::size_t>(api_.struct_size, sizeof api_)) ||
        api_.read_device_state == nullptr)
        return status_error(CALIB_UNSUPPORTED, "the plugin reads no device state");
    Guarded<calib_device_state> g(kStateSize);
    calib_status st = api_.read_device_state(ctx_, device, g.ptr());
    if (st != CALIB_OK) return status_error(st, "read_device_state returned " + std::string(status_name(st)));
    if (long at = g.touched_from(kStateSize); at >= 0)
        return status_error(CALIB_ERROR, "read_device_state wrote byte " + std::to_string(at) + ", beyond struct_size");
    const calib_device_state d = g.value();
    DeviceState s;
    s.valid = d.valid;
    s.energy_joules = d.energy_joules;
    s.power_watts = d.power_watts;
    s.power_limit_watts = d.power_limit_watts;
    s.sm_clock_mhz = d.sm_clock_mhz;
    s.memory_clock_mhz = d.memory_clock_mhz;
    s.temperature_c = d.temperature_c;
    s.throttle = d.throttle;
    s.power_capped_seconds = d.power_capped_seconds;
    s.thermal_capped_seconds = d.thermal_capped_seconds;
    for (double v : {s.energy_joules, s.power_watts, s.power_limit_watts, s.sm_clock_mhz, s.memory_clock_mhz,
                     s.temperature_c, s.power_capped_seconds, s.thermal_capped_seconds})
        if (!std::isfinite(v)) return status_error(CALIB_ERROR, "read_device_state returned a non-finite value");
    wire::Writer w(wire::Type::state);
    wire::put_state(w, s);
    send(std::move(w));
}

void Worker::close_plugin() {
    if (initialised_) {
        for (auto& [id, inst] : instances_) api_.release(ctx_, inst);
        instances_.clear();
        api_.shutdown(ctx_);
        initialised_ = false;
        ctx_ = nullptr;
    }
}

}  // namespace detail

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
        detail::Worker worker(in_fd, out_fd);
        code = worker.serve();
    }
    std::fflush(nullptr);
    return code;
}

}  // namespace calib::core
