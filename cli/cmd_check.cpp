// `calib-host check PLUGIN.so...`: conformance of a plugin to the ABI 1.0 contract, for vendors.
//
// Each plugin is loaded in a forked child: a plugin that crashes, exits or hangs costs one FAIL line,
// never the checker. The child reports over a pipe, one line per event ("R" a check begins, then
// "P"/"F"/"S" its verdict, "L" a plugin log line, "D" done); the parent prints the verdicts and knows
// which check was running when the child died. The child's stdout goes to stderr, so plugin chatter
// cannot forge a verdict. Uses only the SDK headers and POSIX: it checks the ABI, not the host.
#include <dlfcn.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "calib/core/plugin_client.hpp"
#include "calib/plugin.h"
#include "commands.hpp"

namespace calib::cli {
namespace {

struct CheckOptions {
    bool all_cases = false;
    bool verbose = false;
    double timeout_seconds = 300;
};

// ---- child side ---------------------------------------------------------------------------------

// Writes protocol lines to the parent. Tabs and newlines in plugin text would break the framing.
class Reporter {
public:
    explicit Reporter(int fd) : fd_(fd) {}

    void begin(const std::string& check) {
        current_ = check;
        send('R', check, "");
    }
    void pass(const std::string& detail = "") { send('P', current_, detail); }
    void fail(const std::string& detail) {
        ++failures_;
        send('F', current_, detail);
    }
    void skip(const std::string& detail) { send('S', current_, detail); }
    void log(const std::string& text) { send('L', current_, text); }
    void done() { send('D', "", ""); }
    int failures() const { return failures_; }

private:
    void send(char kind, const std::string& check, const std::string& detail) {
        std::string line(1, kind);
        line += '\t' + clean(check) + '\t' + clean(detail) + '\n';
        const char* p = line.data();
        std::size_t left = line.size();
        while (left > 0) {
            ssize_t n = ::write(fd_, p, left);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) _exit(3);  // parent gone: nothing left to report to
            p += n;
            left -= static_cast<std::size_t>(n);
        }
    }
    static std::string clean(const std::string& s) {
        std::string out = s.substr(0, 400);
        for (char& c : out)
            if (c == '\t' || c == '\n' || c == '\r') c = ' ';
        return out;
    }
    int fd_;
    std::string current_;
    int failures_ = 0;
};

const char* status_name(calib_status s) {
    switch (s) {
        case CALIB_OK: return "CALIB_OK";
        case CALIB_ERROR: return "CALIB_ERROR";
        case CALIB_INVALID_ARGUMENT: return "CALIB_INVALID_ARGUMENT";
        case CALIB_UNSUPPORTED: return "CALIB_UNSUPPORTED";
        case CALIB_OUT_OF_MEMORY: return "CALIB_OUT_OF_MEMORY";
        case CALIB_VERIFICATION_FAILED: return "CALIB_VERIFICATION_FAILED";
        case CALIB_CANCELLED: return "CALIB_CANCELLED";
        case CALIB_UNAVAILABLE: return "CALIB_UNAVAILABLE";
        default: return "unknown status";
    }
}

// A caller-owned message buffer, as the host passes one.
struct Message {
    char data[512];
    Message() { data[0] = '\0'; }
    calib_message get() { return {data, sizeof data}; }
    std::string text() const { return std::string(data, strnlen(data, sizeof data)); }
};

std::string describe(calib_status s, const Message& m) {
    std::string out = status_name(s);
    if (!m.text().empty()) out += " (" + m.text() + ")";
    return out;
}

bool nonempty(const char* s) { return s != nullptr && s[0] != '\0'; }
std::string str(const char* s) { return s == nullptr ? std::string() : std::string(s); }

// A struct the plugin fills, placed at the start of a larger buffer of sentinel bytes: the plugin
// may write only within the struct_size we declare, so every byte past it must stay the sentinel.
template <class T, std::size_t Count = 1>
class Guarded {
public:
    static constexpr unsigned char kSentinel = 0xA5;
    // Sets struct_size in the first `entries` elements only: the rest stay pure sentinel.
    explicit Guarded(uint32_t struct_size, std::size_t entries = Count) {
        std::memset(buf_, kSentinel, sizeof buf_);
        for (std::size_t i = 0; i < std::min(entries, Count); ++i) std::memcpy(buf_ + i * sizeof(T), &struct_size, sizeof struct_size);
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

constexpr uint32_t kDeviceSize = CALIB_STRUCT_SIZE(calib_device_info, unavailable_reason);
constexpr uint32_t kCaseSize = CALIB_STRUCT_SIZE(calib_case_info, params);
constexpr uint32_t kInstanceSize = CALIB_STRUCT_SIZE(calib_instance_info, params);
constexpr uint32_t kPeakSize = CALIB_STRUCT_SIZE(calib_peak_info, formula);
constexpr uint32_t kTableSize = CALIB_STRUCT_SIZE(calib_plugin_api, get_peaks);

// A case as get_case() described it, copied so two listings can be compared.
struct CaseRecord {
    std::string name, operation_type, precision, fusion_pattern, fusion_group;
    uint32_t flags = 0, rank = 0;
    calib_case_family family = 0;
    calib_fusion_role role = 0;
    std::vector<int64_t> shape;
    double flops = 0, bytes = 0;
    std::vector<std::pair<std::string, std::string>> params;
    bool operator==(const CaseRecord&) const = default;
};

// Problems in one case's fields; empty when sane. Pointers are checked before anything reads them.
std::string case_problems(const calib_case_info& c) {
    std::vector<std::string> p;
    if (!nonempty(c.name)) p.push_back("empty or NULL name");
    else
        for (const char* q = c.name; *q != '\0'; ++q)
            if (static_cast<unsigned char>(*q) <= ' ') {
                p.push_back("name contains whitespace or control characters");
                break;
            }
    if (!nonempty(c.operation_type)) p.push_back("empty or NULL operation_type");
    if (!nonempty(c.precision)) p.push_back("empty or NULL precision");
    if (c.family != CALIB_FAMILY_COMPUTE && c.family != CALIB_FAMILY_MEMORY && c.family != CALIB_FAMILY_FUSION)
        p.push_back("unknown family " + std::to_string(c.family));
    if (c.rank > CALIB_MAX_RANK) p.push_back("rank " + std::to_string(c.rank) + " above CALIB_MAX_RANK");
    else
        for (uint32_t i = 0; i < c.rank; ++i)
            if (c.shape[i] <= 0) p.push_back("shape[" + std::to_string(i) + "] is not positive");
    if (!std::isfinite(c.flops) || c.flops < 0) p.push_back("flops not finite and >= 0");
    if (!std::isfinite(c.bytes) || c.bytes < 0) p.push_back("bytes not finite and >= 0");
    if (c.param_count > 0 && c.params == nullptr) p.push_back("param_count > 0 but params is NULL");
    else if (c.param_count > 4096) p.push_back("implausible param_count");
    else
        for (uint32_t i = 0; i < c.param_count; ++i)
            if (!nonempty(c.params[i].key) || c.params[i].value == nullptr)
                p.push_back("param " + std::to_string(i) + " has an empty key or NULL value");
    if (c.family == CALIB_FAMILY_FUSION) {
        if (!nonempty(c.fusion_pattern)) p.push_back("fusion case without fusion_pattern");
        if (c.fusion_role != CALIB_ROLE_FUSED && c.fusion_role != CALIB_ROLE_UNFUSED)
            p.push_back("fusion case with role neither FUSED nor UNFUSED");
        if (!nonempty(c.fusion_group)) p.push_back("fusion case without fusion_group");
    } else if (c.fusion_role != CALIB_ROLE_NONE) {
        p.push_back("non-fusion case with a fusion role");
    }
    std::string out;
    for (const auto& s : p) out += (out.empty() ? "" : "; ") + s;
    return out;
}

CaseRecord record_of(const calib_case_info& c) {
    CaseRecord r;
    r.name = str(c.name);
    r.operation_type = str(c.operation_type);
    r.precision = str(c.precision);
    r.fusion_pattern = str(c.fusion_pattern);
    r.fusion_group = str(c.fusion_group);
    r.flags = c.flags;
    r.rank = c.rank;
    r.family = c.family;
    r.role = c.fusion_role;
    r.shape.assign(c.shape, c.shape + std::min<uint32_t>(c.rank, CALIB_MAX_RANK));
    r.flops = c.flops;
    r.bytes = c.bytes;
    for (uint32_t i = 0; i < c.param_count && c.params != nullptr; ++i)
        r.params.emplace_back(str(c.params[i].key), str(c.params[i].value));
    return r;
}

// Reads every case once. Reports into the current check; false when a call failed.
bool list_cases(const calib_plugin_api* api, void* ctx, Reporter& rep, std::vector<CaseRecord>& out) {
    out.clear();
    const uint32_t count = api->case_count(ctx);
    if (count > 100000) {
        rep.fail("implausible case_count " + std::to_string(count));
        return false;
    }
    for (uint32_t i = 0; i < count; ++i) {
        Guarded<calib_case_info> g(kCaseSize);
        Message m;
        calib_status s = api->get_case(ctx, i, g.ptr(), m.get());
        if (s != CALIB_OK) {
            rep.fail("get_case(" + std::to_string(i) + ") returned " + describe(s, m));
            return false;
        }
        if (long at = g.touched_from(kCaseSize); at >= 0) {
            rep.fail("get_case(" + std::to_string(i) + ") wrote byte " + std::to_string(at) +
                     ", beyond struct_size " + std::to_string(kCaseSize));
            return false;
        }
        const calib_case_info c = g.value();
        if (std::string why = case_problems(c); !why.empty()) {
            rep.fail("case " + std::to_string(i) + (nonempty(c.name) ? " '" + str(c.name) + "'" : "") + ": " + why);
            return false;
        }
        out.push_back(record_of(c));
    }
    return true;
}

// Cases to run: by default, per (family, operation, precision, fusion pattern) the cheapest one, or
// for fusion the cheapest group (both its cases): every kind of kernel once, at the smallest size.
std::vector<uint32_t> select_cases(const std::vector<CaseRecord>& cases, bool all) {
    std::vector<uint32_t> out;
    if (all) {
        for (uint32_t i = 0; i < cases.size(); ++i) out.push_back(i);
        return out;
    }
    using Key = std::tuple<int, std::string, std::string, std::string>;
    std::map<Key, std::pair<double, std::string>> best;  // cost and unit (case name or fusion group)
    auto unit_of = [](const CaseRecord& c) {
        return c.family == CALIB_FAMILY_FUSION ? "group:" + c.fusion_group : "case:" + c.name;
    };
    std::map<std::string, double> unit_cost;
    for (const auto& c : cases) unit_cost[unit_of(c)] += c.flops + c.bytes;
    for (const auto& c : cases) {
        Key k{c.family, c.operation_type, c.precision, c.fusion_pattern};
        const std::string u = unit_of(c);
        auto it = best.find(k);
        if (it == best.end() || unit_cost[u] < it->second.first) best[k] = {unit_cost[u], u};
    }
    std::set<std::string> chosen;
    for (const auto& [k, v] : best) chosen.insert(v.second);
    for (uint32_t i = 0; i < cases.size(); ++i)
        if (chosen.count(unit_of(cases[i]))) out.push_back(i);
    return out;
}

struct HostState {
    Reporter* rep = nullptr;
    bool verbose = false;
};

void host_log(void* host_ctx, calib_log_level level, const char* message) {
    auto* h = static_cast<HostState*>(host_ctx);
    if (h->verbose && message != nullptr) h->rep->log("[" + std::to_string(level) + "] " + message);
}
int32_t host_is_cancelled(void*) { return 0; }

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// run() must report time that grows with the iteration count: t(4N) >= 2 t(N), N chosen so that
// t(N) is well above clock resolution. A few attempts absorb a noisy machine.
void check_scaling(const calib_plugin_api* api, void* ctx, void* inst, Reporter& rep) {
    auto timed = [&](uint64_t n, double& t) {
        Message m;
        t = -1;
        calib_status s = api->run(ctx, inst, n, &t, m.get());
        if (s != CALIB_OK) {
            rep.fail("run(" + std::to_string(n) + ") returned " + describe(s, m));
            return false;
        }
        if (!std::isfinite(t) || t < 0) {
            rep.fail("run(" + std::to_string(n) + ") reported " + std::to_string(t) + " s");
            return false;
        }
        return true;
    };
    // The faster of two runs: a first (cold) run can be much slower than the rest.
    auto timed_min = [&](uint64_t n, double& t) {
        double u = 0;
        if (!timed(n, t) || !timed(n, u)) return false;
        t = std::min(t, u);
        return true;
    };
    const auto start = std::chrono::steady_clock::now();
    uint64_t n = 1;
    double t = 0;
    if (!timed_min(n, t)) return;
    // Grow N until one timing is >= 2 ms (bounded: a kernel that reports no time ends here too).
    while (t < 2e-3 && n < (uint64_t{1} << 30) && seconds_since(start) < 2.0) {
        n *= t > 0 ? std::clamp<uint64_t>(static_cast<uint64_t>(2.5e-3 / t) + 1, 2, 64) : 2;
        if (!timed_min(n, t)) return;
    }
    if (!(t > 0)) {
        rep.fail("run() reports no elapsed time even at " + std::to_string(n) + " iterations");
        return;
    }
    // Noise only ever adds time, so the fastest of a few runs is the honest one on both sides.
    auto fastest = [&](uint64_t k, double& best) {
        best = 0;
        for (int r = 0; r < 3; ++r) {
            double u = 0;
            if (!timed(k, u)) return false;
            best = r == 0 ? u : std::min(best, u);
        }
        return true;
    };
    double ratio = 0, last_a = 0, last_c = 0;
    uint64_t last_n = n;
    for (int attempt = 0; attempt < 8 && (attempt < 2 || seconds_since(start) < 10.0); ++attempt) {
        double a = 0, c = 0;
        if (!fastest(n, a) || !fastest(4 * n, c)) return;
        ratio = a > 0 ? c / a : 0;
        last_a = a;
        last_c = c;
        last_n = n;
        if (ratio >= 2.0) {
            char buf[96];
            std::snprintf(buf, sizeof buf, "t(4N)/t(N) = %.2f at N = %llu", ratio,
                          static_cast<unsigned long long>(n));
            rep.pass(buf);
            return;
        }
        // A fixed cost per call (thread wake-up on a busy machine) can hide the work at small N:
        // retry with more work per call while that stays cheap.
        if (c < 1.0 && n < (uint64_t{1} << 30)) n *= 4;
    }
    char buf[192];
    std::snprintf(buf, sizeof buf,
                  "time does not grow with iterations: t(4N)/t(N) = %.3g ms / %.3g ms = %.2f at N = %llu (need >= 2)",
                  last_c * 1e3, last_a * 1e3, ratio, static_cast<unsigned long long>(last_n));
    rep.fail(buf);
}

// prepare / get_instance_info / run / release of one case. `zero_checked`: the run(0) check is done
// once per plugin, on the first case that prepares.
void check_case(const calib_plugin_api* api, void* ctx, uint32_t index, const CaseRecord& c, Reporter& rep,
                bool& zero_checked) {
    rep.begin("lifecycle " + c.name);
    void* inst = nullptr;
    Message m;
    calib_status s = api->prepare(ctx, index, &inst, m.get());
    if (s == CALIB_UNSUPPORTED || s == CALIB_UNAVAILABLE) {
        rep.skip("prepare: " + describe(s, m));
        return;
    }
    if (s != CALIB_OK) {
        rep.fail("prepare returned " + describe(s, m));
        return;
    }
    bool ok = true;
    Guarded<calib_instance_info> g(kInstanceSize);
    s = api->get_instance_info(ctx, inst, g.ptr());
    const calib_instance_info info = g.value();
    std::string impl;
    if (s != CALIB_OK) {
        rep.fail("get_instance_info returned " + std::string(status_name(s)));
        ok = false;
    } else if (long at = g.touched_from(kInstanceSize); at >= 0) {
        rep.fail("get_instance_info wrote byte " + std::to_string(at) + ", beyond struct_size " +
                 std::to_string(kInstanceSize));
        ok = false;
    } else if (info.implementation == nullptr) {
        rep.fail("get_instance_info: implementation is NULL");
        ok = false;
    } else if (info.param_count > 0 && info.params == nullptr) {
        rep.fail("get_instance_info: param_count > 0 but params is NULL");
        ok = false;
    } else if (info.verified && !(std::isfinite(info.max_abs_error) && std::isfinite(info.tolerance) &&
                                  info.max_abs_error <= info.tolerance)) {
        rep.fail("verified, but max_abs_error " + std::to_string(info.max_abs_error) + " exceeds tolerance " +
                 std::to_string(info.tolerance));
        ok = false;
    } else {
        impl = info.implementation;
    }
    if (ok) {
        double t = -1;
        Message rm;
        s = api->run(ctx, inst, 1, &t, rm.get());
        if (s != CALIB_OK) {
            rep.fail("run(1) returned " + describe(s, rm));
            ok = false;
        } else if (!std::isfinite(t) || !(t > 0)) {
            rep.fail("run(1) reported " + std::to_string(t) + " s (need a finite time > 0)");
            ok = false;
        } else {
            char buf[64];
            std::snprintf(buf, sizeof buf, ", run(1) = %.3g ms", t * 1e3);
            rep.pass("implementation " + impl + (info.verified ? ", verified" : ", not verified") + buf);
        }
    }
    if (ok && !zero_checked) {
        zero_checked = true;
        rep.begin("run(0) is an error");
        double t = 0;
        Message zm;
        s = api->run(ctx, inst, 0, &t, zm.get());
        if (s == CALIB_OK) rep.fail("run with iterations = 0 returned CALIB_OK");
        else rep.pass(describe(s, zm));
    }
    if (ok) {
        rep.begin("timing scales " + c.name);
        check_scaling(api, ctx, inst, rep);
    }
    rep.begin("release " + c.name);
    api->release(ctx, inst);
    rep.pass();
}

std::string check_metadata(const calib_plugin_api* api) {
    std::vector<std::string> p;
    if (!nonempty(api->id)) p.push_back("id is empty or NULL");
    else {
        std::string id = api->id;
        if (id.find('.') == std::string::npos || id.front() == '.' || id.back() == '.')
            p.push_back("id '" + id + "' is not reverse-DNS (e.g. com.vendor.plugin)");
        for (char ch : id)
            if (static_cast<unsigned char>(ch) <= ' ') {
                p.push_back("id contains whitespace");
                break;
            }
    }
    if (!nonempty(api->name)) p.push_back("name is empty or NULL");
    if (!nonempty(api->version)) p.push_back("version is empty or NULL");
    if (!nonempty(api->vendor)) p.push_back("vendor is empty or NULL");
    if (api->description == nullptr) p.push_back("description is NULL");
    std::string out;
    for (const auto& s : p) out += (out.empty() ? "" : "; ") + s;
    return out;
}

// Everything the child does. Returns after reporting; the caller _exit()s.
void run_checks(const std::string& path, const CheckOptions& opt, Reporter& rep) {
    // The plugin runs here as it does in a calibration worker: same OpenMP environment (set before the
    // plugin, so its OpenMP runtime, loads). Sleeping OpenMP threads put a wake-up of several ms on
    // every call of a tiny case on a busy machine, which hid the work in the timing-scales check.
    for (const auto& d : calib::core::worker_env_defaults()) ::setenv(d.name, d.value, 0);
    rep.begin("load");
    void* lib = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
        const char* e = ::dlerror();
        rep.fail(std::string("dlopen failed: ") + (e != nullptr ? e : "unknown error"));
        return;
    }
    rep.pass("dlopen(RTLD_NOW)");

    rep.begin("entry symbol");
    void* sym = ::dlsym(lib, CALIB_PLUGIN_ENTRY_SYMBOL);
    if (sym == nullptr) {
        rep.fail(std::string(CALIB_PLUGIN_ENTRY_SYMBOL) + " is not exported");
        return;
    }
    calib_plugin_entry_fn entry;
    static_assert(sizeof entry == sizeof sym);
    std::memcpy(&entry, &sym, sizeof entry);  // POSIX: object pointer to function pointer
    const calib_plugin_api* api = entry();
    if (api == nullptr) {
        rep.fail(std::string(CALIB_PLUGIN_ENTRY_SYMBOL) + "() returned NULL");
        return;
    }
    if (entry() != api) {
        rep.fail(std::string(CALIB_PLUGIN_ENTRY_SYMBOL) + "() returns a different table on each call");
        return;
    }
    rep.pass(std::string(CALIB_PLUGIN_ENTRY_SYMBOL) + "() returns a static table");

    rep.begin("abi version");
    if (api->abi_major != CALIB_ABI_VERSION_MAJOR) {
        rep.fail("plugin ABI major " + std::to_string(api->abi_major) + ", host ABI major " +
                 std::to_string(CALIB_ABI_VERSION_MAJOR) + ": rebuild against SDK " +
                 std::to_string(CALIB_ABI_VERSION_MAJOR) + ".x");
        return;
    }
    rep.pass(std::to_string(api->abi_major) + "." + std::to_string(api->abi_minor));

    rep.begin("table size");
    if (api->struct_size < kTableSize) {
        rep.fail("struct_size " + std::to_string(api->struct_size) + " < " + std::to_string(kTableSize) +
                 ", the ABI 1.0 table size (set it to CALIB_STRUCT_SIZE(calib_plugin_api, get_peaks))");
        return;
    }
    if (api->struct_size > 65536 || api->struct_size % alignof(void*) != 0) {
        rep.fail("implausible struct_size " + std::to_string(api->struct_size));
        return;
    }
    if (api->abi_minor == CALIB_ABI_VERSION_MINOR && api->struct_size != kTableSize) {
        rep.fail("struct_size " + std::to_string(api->struct_size) + " differs from the ABI " +
                 std::to_string(CALIB_ABI_VERSION_MAJOR) + "." + std::to_string(CALIB_ABI_VERSION_MINOR) +
                 " size " + std::to_string(kTableSize));
        return;
    }
    rep.pass(std::to_string(api->struct_size) + " bytes");

    rep.begin("required functions");
    {
        std::string missing;
        auto need = [&](bool present, const char* name) {
            if (!present) missing += (missing.empty() ? "" : ", ") + std::string(name);
        };
        need(api->init != nullptr, "init");
        need(api->shutdown != nullptr, "shutdown");
        need(api->get_device != nullptr, "get_device");
        need(api->case_count != nullptr, "case_count");
        need(api->get_case != nullptr, "get_case");
        need(api->prepare != nullptr, "prepare");
        need(api->get_instance_info != nullptr, "get_instance_info");
        need(api->run != nullptr, "run");
        need(api->release != nullptr, "release");
        if (!missing.empty()) {
            rep.fail("NULL: " + missing);
            return;
        }
        rep.pass();
    }

    rep.begin("metadata");
    if (std::string why = check_metadata(api); !why.empty()) rep.fail(why);
    else rep.pass(std::string(api->id) + " " + api->version + " by " + api->vendor);

    rep.begin("init");
    HostState hs{&rep, opt.verbose};
    calib_host_services host{};
    host.struct_size = CALIB_STRUCT_SIZE(calib_host_services, is_cancelled);
    host.host_ctx = &hs;
    host.log = host_log;
    host.is_cancelled = host_is_cancelled;
    void* ctx = nullptr;
    {
        Message m;
        calib_status s = api->init(&host, &ctx, m.get());
        if (s == CALIB_UNAVAILABLE || s == CALIB_UNSUPPORTED) {
            rep.skip(describe(s, m) + "; nothing more can be checked on this machine");
            return;
        }
        if (s != CALIB_OK) {
            rep.fail("init returned " + describe(s, m));
            return;
        }
        rep.pass();
    }

    rep.begin("get_device");
    {
        Guarded<calib_device_info> g(kDeviceSize);
        calib_status s = api->get_device(ctx, g.ptr());
        const calib_device_info d = g.value();
        // A host of an older minor may pass a smaller struct: nothing past its size may change.
        Guarded<calib_device_info> small(sizeof(uint32_t));
        api->get_device(ctx, small.ptr());
        if (s != CALIB_OK) rep.fail("returned " + std::string(status_name(s)));
        else if (long at = g.touched_from(kDeviceSize); at >= 0)
            rep.fail("wrote byte " + std::to_string(at) + ", beyond struct_size " + std::to_string(kDeviceSize));
        else if (long at2 = small.touched_from(sizeof(uint32_t)); at2 >= 0)
            rep.fail("with struct_size 4 it still wrote byte " + std::to_string(at2));
        else if (d.struct_size != kDeviceSize) rep.fail("changed struct_size");
        else if (!nonempty(d.name)) rep.fail("device name is empty or NULL");
        else if (d.kind != CALIB_DEVICE_CPU && d.kind != CALIB_DEVICE_GPU && d.kind != CALIB_DEVICE_OTHER)
            rep.fail("unknown device kind " + std::to_string(d.kind));
        else if (!d.available && !nonempty(d.unavailable_reason))
            rep.fail("device unavailable without an unavailable_reason");
        else
            rep.pass(std::string(d.name) + (d.available ? "" : " (unavailable: " + str(d.unavailable_reason) + ")"));
    }

    rep.begin("case list");
    std::vector<CaseRecord> cases, again;
    bool listed = list_cases(api, ctx, rep, cases);
    if (listed) {
        if (cases.empty()) rep.fail("case_count() is 0: the plugin measures nothing");
        else rep.pass(std::to_string(cases.size()) + " cases");
    }

    if (listed && !cases.empty()) {
        rep.begin("case list stable");
        if (list_cases(api, ctx, rep, again)) {
            if (again.size() != cases.size())
                rep.fail("case_count changed from " + std::to_string(cases.size()) + " to " +
                         std::to_string(again.size()));
            else if (again != cases) {
                std::size_t i = 0;
                while (i < cases.size() && cases[i] == again[i]) ++i;
                rep.fail("case " + std::to_string(i) + " ('" + cases[i].name + "') differs between two listings");
            } else
                rep.pass();
        }

        rep.begin("case names unique");
        std::map<std::string, int> seen;
        std::string dup;
        for (const auto& c : cases)
            if (++seen[c.name] == 2) dup += (dup.empty() ? "" : ", ") + c.name;
        if (dup.empty()) rep.pass();
        else rep.fail("duplicate names: " + dup);

        rep.begin("fusion pairs");
        struct Group {
            int fused = 0, unfused = 0;
            std::set<std::string> patterns;
        };
        std::map<std::string, Group> groups;
        for (const auto& c : cases) {
            if (c.family != CALIB_FAMILY_FUSION) continue;
            Group& g = groups[c.fusion_group];
            (c.role == CALIB_ROLE_FUSED ? g.fused : g.unfused)++;
            g.patterns.insert(c.fusion_pattern);
        }
        std::string bad;
        for (const auto& [name, g] : groups) {
            if (g.fused != 1 || g.unfused != 1)
                bad += (bad.empty() ? "" : "; ") + ("group '" + name + "' has " + std::to_string(g.fused) +
                                                    " fused and " + std::to_string(g.unfused) + " unfused cases");
            else if (g.patterns.size() != 1)
                bad += (bad.empty() ? "" : "; ") + ("group '" + name + "' mixes fusion patterns");
        }
        if (!bad.empty()) rep.fail(bad);
        else if (groups.empty()) rep.skip("no fusion cases");
        else rep.pass(std::to_string(groups.size()) + " fused/unfused pairs");

        bool zero_checked = false;
        for (uint32_t i : select_cases(cases, opt.all_cases)) check_case(api, ctx, i, cases[i], rep, zero_checked);
    }

    rep.begin("get_case out of range");
    if (listed) {
        const uint32_t count = api->case_count(ctx);
        std::string bad;
        for (uint32_t idx : {count, UINT32_MAX}) {
            Guarded<calib_case_info> g(kCaseSize);
            Message m;
            calib_status s = api->get_case(ctx, idx, g.ptr(), m.get());
            if (s != CALIB_INVALID_ARGUMENT)
                bad += (bad.empty() ? "" : "; ") + ("get_case(" + std::to_string(idx) + ") returned " + describe(s, m));
        }
        if (bad.empty()) rep.pass("CALIB_INVALID_ARGUMENT");
        else rep.fail(bad + " (expected CALIB_INVALID_ARGUMENT)");
    } else {
        rep.skip("case list unusable");
    }

    rep.begin("prepare out of range");
    {
        void* inst = nullptr;
        Message m;
        calib_status s = api->prepare(ctx, api->case_count(ctx), &inst, m.get());
        if (s == CALIB_OK) {
            api->release(ctx, inst);
            rep.fail("prepare(case_count()) returned CALIB_OK");
        } else if (s != CALIB_INVALID_ARGUMENT) {
            rep.fail("prepare(case_count()) returned " + describe(s, m) + " (expected CALIB_INVALID_ARGUMENT)");
        } else {
            rep.pass("CALIB_INVALID_ARGUMENT");
        }
    }

    rep.begin("get_peaks");
    if (api->get_peaks == nullptr) {
        rep.skip("optional, not provided");
    } else {
        uint32_t count = UINT32_MAX;
        calib_status s = api->get_peaks(ctx, nullptr, 0, &count);
        if (s != CALIB_OK) rep.fail("get_peaks(NULL, 0) returned " + std::string(status_name(s)));
        else if (count > 64) rep.fail("implausible peak count " + std::to_string(count));
        else {
            constexpr std::size_t kMax = 64;
            Guarded<calib_peak_info, kMax> g(kPeakSize, count);
            uint32_t n2 = 0;
            s = api->get_peaks(ctx, g.ptr(), count, &n2);
            std::string bad;
            if (s != CALIB_OK) bad = "get_peaks returned " + std::string(status_name(s));
            else if (n2 != count) bad = "peak count changed between calls";
            else {
                for (uint32_t i = 0; i < count && bad.empty(); ++i) {
                    const calib_peak_info pk = g.value(i);
                    if (!nonempty(pk.precision) || pk.formula == nullptr)
                        bad = "peak " + std::to_string(i) + " has a NULL precision or formula";
                    else if (!std::isfinite(pk.gflops) || pk.gflops < 0 || !std::isfinite(pk.bandwidth_gbps) ||
                             pk.bandwidth_gbps < 0)
                        bad = "peak " + std::to_string(i) + " is not finite and >= 0";
                }
                if (long at = g.touched_from(count * sizeof(calib_peak_info)); bad.empty() && at >= 0)
                    bad = "wrote byte " + std::to_string(at) + ", beyond the " + std::to_string(count) + " entries";
            }
            if (bad.empty()) rep.pass(std::to_string(count) + " peaks");
            else rep.fail(bad);
        }
    }

    rep.begin("shutdown");
    api->shutdown(ctx);
    rep.pass();
    // No dlclose: the child exits right away, and some libraries' unload hooks are fragile.
}

// ---- parent side --------------------------------------------------------------------------------

struct Tally {
    int pass = 0, fail = 0, skip = 0;
};

void print_verdict(const char* verdict, const std::string& check, const std::string& detail) {
    std::cout << verdict << ": " << check;
    if (!detail.empty()) std::cout << ": " << detail;
    std::cout << "\n";
}

std::string signal_text(int sig) {
    const char* d = ::strsignal(sig);
    return "signal " + std::to_string(sig) + (d != nullptr ? std::string(", ") + d : std::string());
}

// Forks, runs the checks in the child, prints verdicts as they arrive. Returns the tally.
Tally check_one(const std::string& path, const CheckOptions& opt) {
    Tally t;
    std::cout << "checking " << path << "\n" << std::flush;
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    std::cout.flush();
    std::cerr.flush();
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        ::close(fds[0]);
        ::dup2(STDERR_FILENO, STDOUT_FILENO);  // plugin chatter must not look like our output
        ::signal(SIGPIPE, SIG_DFL);
        const rlimit no_core{0, 0};
        ::setrlimit(RLIMIT_CORE, &no_core);  // a crashing plugin is expected here: no core dumps
        Reporter rep(fds[1]);
        try {
            run_checks(path, opt, rep);
        } catch (const std::exception& e) {
            rep.fail(std::string("an exception crossed the ABI boundary: ") + e.what());
        } catch (...) {
            rep.fail("an exception crossed the ABI boundary");
        }
        rep.done();
        _exit(0);
    }
    ::close(fds[1]);

    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(opt.timeout_seconds);
    std::string buffer, current;
    bool done = false, timed_out = false, eof = false;
    auto handle = [&](const std::string& line) {
        std::size_t a = line.find('\t'), b = line.find('\t', a + 1);
        if (line.empty() || a == std::string::npos || b == std::string::npos) return;
        const std::string check = line.substr(a + 1, b - a - 1), detail = line.substr(b + 1);
        switch (line[0]) {
            case 'R': current = check; break;
            case 'P': ++t.pass; print_verdict("PASS", check, detail); current.clear(); break;
            case 'F': ++t.fail; print_verdict("FAIL", check, detail); current.clear(); break;
            case 'S': ++t.skip; print_verdict("SKIP", check, detail); current.clear(); break;
            case 'L': std::cout << "  log (" << check << "): " << detail << "\n"; break;
            case 'D': done = true; break;
            default: break;
        }
        std::cout.flush();
    };
    while (!eof) {
        const double left = std::chrono::duration<double>(deadline - std::chrono::steady_clock::now()).count();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        pollfd p{fds[0], POLLIN, 0};
        int r = ::poll(&p, 1, static_cast<int>(std::min(left * 1000.0 + 1, 1000.0)));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) continue;
        char chunk[4096];
        ssize_t n = ::read(fds[0], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            eof = true;
            break;
        }
        buffer.append(chunk, static_cast<std::size_t>(n));
        std::size_t nl;
        while ((nl = buffer.find('\n')) != std::string::npos) {
            handle(buffer.substr(0, nl));
            buffer.erase(0, nl + 1);
        }
    }
    ::close(fds[0]);
    if (timed_out) ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    const std::string during = current.empty() ? "" : " during " + current;
    if (timed_out) {
        ++t.fail;
        char buf[64];
        std::snprintf(buf, sizeof buf, "%g s", opt.timeout_seconds);
        std::cout << "FAIL: timed out after " << buf << during << "\n";
    } else if (WIFSIGNALED(status)) {
        ++t.fail;
        std::cout << "FAIL: crashed (" << signal_text(WTERMSIG(status)) << ")" << during << "\n";
    } else if (!done) {
        ++t.fail;
        std::cout << "FAIL: the plugin ended the process (exit status "
                  << (WIFEXITED(status) ? WEXITSTATUS(status) : -1) << ")" << during << "\n";
    }
    std::cout << "result: " << t.pass << " passed, " << t.fail << " failed, " << t.skip << " skipped -> "
              << (t.fail == 0 ? "PASS" : "FAIL") << "\n"
              << std::flush;
    return t;
}

const char* kCheckHelp = R"(calib-host check [options] PLUGIN.so...: check plugins against the ABI contract

Loads each plugin in a separate process and runs it through the ABI: entry symbol, ABI version,
table, metadata, device, case list (stable, unique, fusion pairs), prepare/run/release of the
cheapest case of each kind, error statuses, timing that grows with iterations. Prints one
PASS/FAIL/SKIP line per check; a crash, exit or hang is a FAIL, not a dead checker.

Options:
  --all-cases        run every case, not only the cheapest of each kind
  --timeout SECONDS  give up on a plugin after this long (default 300)
  -v, --verbose      also print the plugin's log lines
  -h, --help         this help

Exit codes: 0 all PASS or SKIP; 1 some check FAILed; 2 usage error (bad option, missing file).
)";

}  // namespace

int cmd_check(const Args& args) {
    CheckOptions opt;
    std::vector<std::string> files;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "-h" || a == "--help") {
            std::cout << kCheckHelp;
            return kExitOk;
        } else if (a == "--all-cases") {
            opt.all_cases = true;
        } else if (a == "-v" || a == "--verbose") {
            opt.verbose = true;
        } else if (a == "--timeout" || a.rfind("--timeout=", 0) == 0) {
            std::string v = a == "--timeout" ? (i + 1 < args.size() ? args[++i] : "") : a.substr(10);
            char* end = nullptr;
            double s = std::strtod(v.c_str(), &end);
            if (v.empty() || end == nullptr || *end != '\0' || !(s > 0) || s > 86400)
                return usage_error("--timeout needs a number of seconds in (0, 86400]");
            opt.timeout_seconds = s;
        } else if (!a.empty() && a[0] == '-') {
            return usage_error("check: unknown option '" + a + "' (see calib-host check --help)");
        } else {
            files.push_back(a);
        }
    }
    if (files.empty()) return usage_error("check: missing PLUGIN.so (usage: calib-host check PLUGIN.so...)");
    std::vector<std::string> paths;
    for (const auto& f : files) {
        // An absolute path: dlopen() of a bare name would search the library path instead.
        char* real = ::realpath(f.c_str(), nullptr);
        if (real == nullptr) return usage_error("check: cannot open '" + f + "': " + std::strerror(errno));
        paths.emplace_back(real);
        std::free(real);
    }
    int failed = 0;
    for (const auto& p : paths)
        if (check_one(p, opt).fail > 0) ++failed;
    if (paths.size() > 1)
        std::cout << (paths.size() - static_cast<std::size_t>(failed)) << " of " << paths.size()
                  << " plugins passed\n";
    return failed == 0 ? kExitOk : kExitCaseFailures;
}

}  // namespace calib::cli
