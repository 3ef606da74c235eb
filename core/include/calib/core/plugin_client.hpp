// Discovery and isolated execution of plugins. Foreign code never runs in the host process: every
// plugin library is opened in a worker process (the host binary started with --worker), which speaks
// a framed protocol over two dedicated pipes. A crash, hang or exit() in the worker costs only the
// case (or the library) it was serving.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/types.h>

#include "calib/core/plugin_types.hpp"

namespace calib::core {

// ---- discovery -------------------------------------------------------------------------------------
struct DiscoveryOptions {
    std::vector<std::filesystem::path> plugin_dirs;  // --plugins DIR (repeatable), in order
    bool use_env = true;                             // also CALIB_PLUGIN_PATH (':'-separated)
    bool use_default_dir = true;                     // the built-in folder next to the host binary
    bool allow_insecure = false;                     // accept group/world-writable files and folders
};

struct Candidate {
    std::filesystem::path path;
    bool insecure = false;
    std::string insecure_reason;
};

// Every *.so file in the folders, sorted by name within a folder, each path once. A missing folder
// named explicitly throws std::runtime_error naming it.
std::vector<Candidate> discover(const DiscoveryOptions& options);
// The built-in plugin folder: <dir of calib-host>/../plugins when it exists (build tree), else
// <prefix>/lib/calib/plugins (installed).
std::filesystem::path default_plugin_dir();

// ---- worker ------------------------------------------------------------------------------------------
enum class FailureKind { error, crashed, timed_out, exited, protocol };
const char* to_string(FailureKind k);

// A failure of a worker call. For kind == error, `status` holds the plugin's calib_status.
struct WorkerFailure : std::runtime_error {
    FailureKind kind;
    int status = 0;      // calib_status for errors
    int signal = 0;      // for crashed
    int exit_code = -1;  // for exited
    WorkerFailure(FailureKind k, const std::string& message, int status_ = 0, int signal_ = 0)
        : std::runtime_error(message), kind(k), status(status_), signal(signal_) {}
};

// The case status a run records for a failure: "crashed", "timed_out", "exited", "unsupported",
// "verification_failed", "unavailable", "cancelled" or "failed" (from the one status table of
// plugin_contract.hpp).
const char* failure_status(const WorkerFailure& f);

struct WorkerOptions {
    std::filesystem::path host_executable;  // the calib-host binary (empty: /proc/self/exe)
    double scan_timeout_seconds = 30;       // open + init + enumerate one library
    int verbosity = 0;                      // 0 quiet; plugin log lines at or above WARNING go to stderr
};

// Load one library in a fresh worker, negotiate, init, enumerate. Never throws for a bad library:
// returns a record with loaded == false and the reason.
PluginRecord scan_plugin(const std::filesystem::path& library, const WorkerOptions& options);
// scan_plugin() for a discovered candidate; an insecure one is rejected (reason insecure) unopened.
PluginRecord scan_candidate(const Candidate& candidate, const WorkerOptions& options);

// A live worker holding one initialised plugin. Instances are identified by small integers.
// After a failure of kind crashed / timed_out / exited / protocol, the worker is gone; the next call
// starts a fresh one transparently (re-init), so the run goes on with the next case.
class PluginClient {
public:
    PluginClient(std::filesystem::path library, WorkerOptions options);
    ~PluginClient();
    PluginClient(const PluginClient&) = delete;
    PluginClient& operator=(const PluginClient&) = delete;

    struct Prepared {
        uint32_t instance = 0;
        InstanceInfo info;
    };
    // Throws WorkerFailure (kind error carries the plugin's status, e.g. CALIB_UNSUPPORTED).
    Prepared prepare(uint32_t case_index, double timeout_seconds);
    // Seconds for `iterations` executions, as reported by the plugin. Throws WorkerFailure; a
    // non-finite or non-positive time is a failure of kind error with a message saying so.
    double run(uint32_t instance, uint64_t iterations, double timeout_seconds);
    void release(uint32_t instance);  // never throws
    // ABI 1.1: the conditions of the plugin's device `device` now. Nullopt when the plugin reads none
    // (no read_device_state, CALIB_UNSUPPORTED, or any other status); throws WorkerFailure when the
    // worker dies or hangs.
    std::optional<DeviceState> read_state(uint32_t device, double timeout_seconds);
    // Kill the worker (e.g. on a second interrupt).
    void terminate();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// ---- conformance check (`calib-host check`) ----------------------------------------------------------
// The worker runs the plugin through the contract of plugin_contract.hpp (the rules it also applies
// when it opens a library for a scan or run) plus behaviour checks (stable case list, out-of-range
// indices, run(0), release); the host times run() through the worker's run path to check that time
// grows with iterations. Each check begins, then ends PASS, FAIL or SKIP; plugin log lines come as
// `log` events (only with verbose). A worker that dies, exits or hangs ends the check with one FAIL
// event whose `check` is empty and whose detail says what happened and during which check.
enum class CheckEventKind { begin, pass, fail, skip, log };
struct CheckEvent {
    CheckEventKind kind;
    std::string check;
    std::string detail;
};
struct CheckOptions {
    bool all_cases = false;  // run every case, not only the cheapest of each kind
    bool verbose = false;    // deliver the plugin's log lines
    double timeout_seconds = 300;
    std::filesystem::path host_executable;  // the calib-host binary (empty: /proc/self/exe)
};
struct CheckTally {
    int pass = 0, fail = 0, skip = 0;
};
CheckTally check_plugin(const std::filesystem::path& library, const CheckOptions& options,
                        const std::function<void(const CheckEvent&)>& on_event);

// SIGKILL every live worker of this process. Async-signal-safe: for a second interrupt.
void kill_all_workers() noexcept;
// The pids of the workers alive now (their CPU time is calib's own to the co-runner monitor).
std::vector<pid_t> live_worker_pids();

// Entry for `calib-host --worker <in-fd> <out-fd>`: serve requests until EOF. Returns the exit code.
int worker_main(int in_fd, int out_fd);

// Environment defaults the worker sets before any plugin loads, unless the user's environment already
// has the variable (part of the measurement policy; recorded in the profile's run.policy):
// OMP_WAIT_POLICY=active, GOMP_SPINCOUNT=300000, OMP_PROC_BIND=close, OMP_PLACES=cores.
struct EnvDefault {
    const char* name;
    const char* value;
};
const std::vector<EnvDefault>& worker_env_defaults();
// The value a worker runs with: the user's, else the default.
std::string worker_env_value(const EnvDefault& d);

}  // namespace calib::core
