// The registry of live workers, for kill_all_workers() from a signal handler.
#include "worker_process.hpp"

namespace calib::core {
namespace detail {

namespace {
constexpr std::size_t kMaxWorkers = 64;
std::atomic<pid_t> g_workers[kMaxWorkers];

}  // namespace

void register_worker(pid_t pid) {
    for (auto& slot : g_workers) {
        pid_t expected = 0;
        if (slot.compare_exchange_strong(expected, pid)) return;
    }
    // More live workers than slots: those rely on PR_SET_PDEATHSIG alone.
}

void unregister_worker(pid_t pid) {
    for (auto& slot : g_workers) {
        pid_t expected = pid;
        if (slot.compare_exchange_strong(expected, 0)) return;
    }
}

}  // namespace detail

void kill_all_workers() noexcept {
    for (auto& slot : detail::g_workers) {
        pid_t pid = slot.load();
        if (pid > 0) ::kill(pid, SIGKILL);  // reaped (and reported as crashed) by its owner
    }
}

std::vector<pid_t> live_worker_pids() {
    std::vector<pid_t> out;
    for (auto& slot : detail::g_workers)
        if (const pid_t pid = slot.load(); pid > 0) out.push_back(pid);
    return out;
}

}  // namespace calib::core
