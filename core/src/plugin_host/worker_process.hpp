// The host side of one worker process (internal to plugin_host): spawn, framed requests with
// deadlines, failure classification. Nothing here runs plugin code.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "calib/core/plugin_client.hpp"
#include "calib/plugin.h"
#include "protocol.hpp"

namespace calib::core::detail {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

inline Clock::time_point deadline_after(double seconds) {
    // Clamp so that absurd timeouts do not overflow the clock.
    double s = std::isfinite(seconds) ? std::min(std::max(seconds, 0.0), 1e7) : 1e7;
    return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

inline std::string seconds_text(double s) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", s);
    return buf;
}

inline const char* level_name(int32_t level) {
    switch (level) {
        case CALIB_LOG_DEBUG: return "debug";
        case CALIB_LOG_INFO: return "info";
        case CALIB_LOG_WARNING: return "warning";
        default: return "error";
    }
}

// Live worker pids, for kill_all_workers() (worker_process.cpp).
void register_worker(pid_t pid);
void unregister_worker(pid_t pid);

struct Message {
    wire::Type type;
    std::string body;  // payload after the type byte
    wire::Reader reader() const { return wire::Reader(body); }
};

// One worker process and its two pipes. Any failure other than an error reply kills and reaps the
// process and throws WorkerFailure; the object is then dead (alive() == false).
class WorkerProcess {
public:
    WorkerProcess(const WorkerOptions& options, std::string label) : verbosity_(options.verbosity), label_(std::move(label)) {
        static std::once_flag sigpipe_once;
        std::call_once(sigpipe_once, [] { std::signal(SIGPIPE, SIG_IGN); });  // a dead worker is an EPIPE, not a signal

        std::string exe = options.host_executable.empty() ? fs::read_symlink("/proc/self/exe").string()
                                                          : options.host_executable.string();
        int req[2], rep[2];
        if (::pipe2(req, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
        if (::pipe2(rep, O_CLOEXEC) != 0) {
            ::close(req[0]);
            ::close(req[1]);
            throw std::system_error(errno, std::generic_category(), "pipe");
        }
        int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        const char* argv[] = {exe.c_str(), "--worker", "3", "4", nullptr};
        pid_t pid = ::fork();
        if (pid == 0) {
            // Child: only async-signal-safe calls until exec. Pipes become fds 3 and 4 (moved high
            // first so that the dup2s cannot clobber each other), everything else of ours is closed.
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            sigset_t none;
            sigemptyset(&none);
            ::sigprocmask(SIG_SETMASK, &none, nullptr);
            int in = ::fcntl(req[0], F_DUPFD, 10);
            int out = ::fcntl(rep[1], F_DUPFD, 10);
            if (in < 0 || out < 0) ::_exit(127);
            if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
            ::dup2(STDERR_FILENO, STDOUT_FILENO);  // the host's stdout is for reports only
            if (::dup2(in, 3) < 0 || ::dup2(out, 4) < 0) ::_exit(127);
            if (::close_range(5, ~0U, 0) != 0)
                for (int fd = 5; fd < 4096; ++fd) ::close(fd);
            ::execv(argv[0], const_cast<char* const*>(argv));
            ::_exit(127);
        }
        int fork_errno = errno;
        ::close(req[0]);
        ::close(rep[1]);
        if (devnull >= 0) ::close(devnull);
        if (pid < 0) {
            ::close(req[1]);
            ::close(rep[0]);
            throw std::system_error(fork_errno, std::generic_category(), "fork");
        }
        pid_ = pid;
        register_worker(pid);
        to_ = req[1];
        from_ = rep[0];
    }

    ~WorkerProcess() { kill_and_reap(); }
    WorkerProcess(const WorkerProcess&) = delete;
    WorkerProcess& operator=(const WorkerProcess&) = delete;

    bool alive() const { return pid_ > 0; }
    // Plugin log lines go here instead of stderr.
    void on_log(std::function<void(int32_t level, const std::string& text)> handler) { log_handler_ = std::move(handler); }

    void send(wire::Writer&& w) {
        std::string frame = w.finish();
        if (!wire::write_all(to_, frame.data(), frame.size())) dead();  // EPIPE: it is gone
    }

    // The next reply before `deadline`; log frames are printed and skipped.
    Message receive(Clock::time_point deadline, double timeout_seconds) {
        for (;;) {
            uint32_t n = 0;
            read_exact(reinterpret_cast<char*>(&n), 4, deadline, timeout_seconds);
            if (n == 0 || n > wire::max_frame) protocol_failure("bad frame length " + std::to_string(n));
            std::string body(n, '\0');
            read_exact(body.data(), n, deadline, timeout_seconds);
            Message m{static_cast<wire::Type>(static_cast<uint8_t>(body[0])), body.substr(1)};
            if (m.type != wire::Type::log) return m;
            try {
                wire::Reader r = m.reader();
                int32_t level = r.i32();
                std::string text = r.str();
                if (log_handler_) log_handler_(level, text);
                else if (verbosity_ > 0 || level >= CALIB_LOG_WARNING)
                    std::fprintf(stderr, "[%s] %s: %s\n", label_.c_str(), level_name(level), text.c_str());
            } catch (const wire::ProtocolError& e) {
                protocol_failure(e.what());
            }
        }
    }

    [[noreturn]] void protocol_failure(const std::string& what) {
        kill_and_reap();
        throw WorkerFailure(FailureKind::protocol, "protocol error: " + what);
    }

    // Ask for an orderly exit (plugin shutdown), then reap; kill if it takes too long.
    void shutdown(double timeout_seconds) {
        if (!alive()) return;
        try {
            send(wire::Writer(wire::Type::shutdown));
            Message m = receive(deadline_after(timeout_seconds), timeout_seconds);
            (void)m;
            close_fds();
            reap(deadline_after(timeout_seconds));
        } catch (const WorkerFailure&) {
            // Already killed and reaped: a plugin failing in shutdown costs nothing more.
        }
        kill_and_reap();
    }

private:
    void read_exact(char* buf, std::size_t n, Clock::time_point deadline, double timeout_seconds) {
        while (n > 0) {
            auto now = Clock::now();
            if (now >= deadline) timed_out(timeout_seconds);
            // Round up: poll must not wake before the deadline and then give up early.
            auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
            pollfd p{from_, POLLIN, 0};
            int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1 << 30)));
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) protocol_failure(std::string("poll: ") + std::strerror(errno));
            if (r == 0) continue;  // deadline check above
            ssize_t k = ::read(from_, buf, n);
            if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
            if (k <= 0) dead();
            buf += k;
            n -= static_cast<std::size_t>(k);
        }
    }

    [[noreturn]] void timed_out(double timeout_seconds) {
        kill_and_reap();
        throw WorkerFailure(FailureKind::timed_out, "no reply within " + seconds_text(timeout_seconds) + " s (killed)");
    }

    // EOF on the reply pipe: the worker died or is dying. Say how.
    [[noreturn]] void dead() {
        close_fds();
        int status = 0;
        bool reaped = reap(deadline_after(2.0), &status);
        if (!reaped) {
            kill_and_reap();
            throw WorkerFailure(FailureKind::protocol, "worker closed its reply pipe but did not exit");
        }
        if (WIFSIGNALED(status)) {
            int sig = WTERMSIG(status);
            const char* abbrev = ::sigabbrev_np(sig);
            throw WorkerFailure(FailureKind::crashed,
                                "killed by signal " + std::to_string(sig) + " (SIG" + (abbrev ? abbrev : "?") + ")", 0, sig);
        }
        WorkerFailure f(FailureKind::exited, "exited with status " + std::to_string(WEXITSTATUS(status)));
        f.exit_code = WEXITSTATUS(status);
        throw f;
    }

    // Wait for the child until the deadline; true when reaped (status stored).
    bool reap(Clock::time_point deadline, int* status = nullptr) {
        if (pid_ <= 0) return true;
        for (;;) {
            // Peek first (WNOWAIT): the pid leaves the kill list before it can be reused.
            siginfo_t info{};
            int r = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
            if (r == 0 && info.si_pid == pid_) {
                unregister_worker(pid_);
                int st = 0;
                while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
                }
                pid_ = -1;
                if (status != nullptr) *status = st;
                return true;
            }
            if (r < 0 && errno != EINTR) {  // not our child any more: nothing to reap
                unregister_worker(pid_);
                pid_ = -1;
                return true;
            }
            if (Clock::now() >= deadline) return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    }

    void kill_and_reap() {
        close_fds();
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            unregister_worker(pid_);  // killed but not yet reaped: its pid cannot be reused yet
            int st = 0;
            while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
            }
            pid_ = -1;
        }
    }

    void close_fds() {
        if (to_ >= 0) ::close(to_);
        if (from_ >= 0) ::close(from_);
        to_ = from_ = -1;
    }

    pid_t pid_ = -1;
    int to_ = -1, from_ = -1;
    int verbosity_ = 0;
    std::string label_;
    std::function<void(int32_t, const std::string&)> log_handler_;
};

constexpr double kReleaseTimeout = 10;
constexpr double kShutdownTimeout = 5;

// Open the library in `w`. Returns the `opened` or `open_failed` reply; throws WorkerFailure.
inline Message open_library(WorkerProcess& w, const fs::path& library, double timeout_seconds) {
    w.send(std::move(wire::Writer(wire::Type::open).str(fs::absolute(library).string())));
    Message m = w.receive(deadline_after(timeout_seconds), timeout_seconds);
    if (m.type != wire::Type::opened && m.type != wire::Type::open_failed)
        w.protocol_failure("unexpected reply to open");
    return m;
}

// A status_error reply as a WorkerFailure of kind error.
[[noreturn]] inline void throw_status_error(const Message& m) {
    wire::Reader r = m.reader();
    int32_t status = r.i32();
    std::string msg = r.str();
    throw WorkerFailure(FailureKind::error, msg, status);
}

// The worker's run path: `iterations` executions of a prepared instance. Returns the time the plugin
// reported, unjudged; a status from the plugin is a WorkerFailure of kind error.
inline double request_run(WorkerProcess& w, uint32_t instance, uint64_t iterations, Clock::time_point deadline,
                          double timeout_seconds) {
    w.send(std::move(wire::Writer(wire::Type::run).u32(instance).u64(iterations)));
    Message m = w.receive(deadline, timeout_seconds);
    if (m.type == wire::Type::status_error) throw_status_error(m);
    if (m.type != wire::Type::ran) w.protocol_failure("unexpected reply to run");
    wire::Reader r = m.reader();
    double s = r.f64();
    r.expect_end();
    return s;
}

}  // namespace calib::core::detail
