#include "calib/core/placement.hpp"

#include "kernels.hpp"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>

namespace calib::core {
namespace {

constexpr int kBursts = 3;
constexpr int kRoundTrips = 48;  // per burst; far placements (~160 ns) keep a probe under ~60 us

using detail::pin_self;

}  // namespace

// Two threads pinned to CPUs a and b sleep on a condition variable between probes; a probe wakes both,
// waits until both spin, then bounces one cache line kRoundTrips times per burst.
struct PlacementProbe::Impl {
    int cpu_a = -1, cpu_b = -1;
    std::string why_not;
    std::mutex m;
    std::condition_variable cv;
    uint64_t request = 0;   // bumped per probe, under m
    bool quit = false;      // under m
    alignas(64) std::atomic<int> ready{0};
    alignas(64) std::atomic<int> ball{0};
    alignas(64) std::atomic<int> done{0};
    double result_ns = 0;   // written by thread a before done
    std::atomic<int> pinned{0}, pin_failed{0};
    std::thread ta, tb;

    // Waits for the next request; returns false on quit.
    bool wait_request(uint64_t& seen) {
        std::unique_lock<std::mutex> lk(m);
        cv.wait(lk, [&] { return quit || request != seen; });
        seen = request;
        return !quit;
    }

    void responder() {
        if (!pin_self(cpu_b)) pin_failed.fetch_add(1);
        pinned.fetch_add(1);
        uint64_t seen = 0;
        while (wait_request(seen)) {
            ready.fetch_add(1, std::memory_order_acq_rel);
            for (int burst = 0; burst < kBursts; ++burst)
                for (int i = 0; i < kRoundTrips; ++i) {
                    while (ball.load(std::memory_order_acquire) != 1) {
                    }
                    ball.store(0, std::memory_order_release);
                }
        }
    }

    void initiator() {
        if (!pin_self(cpu_a)) pin_failed.fetch_add(1);
        pinned.fetch_add(1);
        uint64_t seen = 0;
        while (wait_request(seen)) {
            ready.fetch_add(1, std::memory_order_acq_rel);
            while (ready.load(std::memory_order_acquire) < 2) {
            }
            double best = 1e30;
            for (int burst = 0; burst < kBursts; ++burst) {
                const auto t0 = std::chrono::steady_clock::now();
                for (int i = 0; i < kRoundTrips; ++i) {
                    ball.store(1, std::memory_order_release);
                    while (ball.load(std::memory_order_acquire) != 0) {
                    }
                }
                const auto t1 = std::chrono::steady_clock::now();
                best = std::min(best, std::chrono::duration<double, std::nano>(t1 - t0).count() /
                                          (2.0 * kRoundTrips));
            }
            result_ns = best;
            done.store(1, std::memory_order_release);
        }
    }
};

PlacementProbe::PlacementProbe() : impl_(std::make_unique<Impl>()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) {
        impl_->why_not = "cannot read this process's CPU set";
        return;
    }
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) {
            if (impl_->cpu_a < 0) impl_->cpu_a = c;
            impl_->cpu_b = c;
        }
    if (impl_->cpu_a < 0 || impl_->cpu_a == impl_->cpu_b) {
        impl_->why_not = "fewer than two CPUs";
        impl_->cpu_a = impl_->cpu_b = -1;
        return;
    }
    impl_->ta = std::thread([this] { impl_->initiator(); });
    impl_->tb = std::thread([this] { impl_->responder(); });
    while (impl_->pinned.load() < 2) std::this_thread::yield();
    if (impl_->pin_failed.load() != 0) impl_->why_not = "threads cannot be pinned to CPUs";
}

PlacementProbe::~PlacementProbe() {
    if (impl_->ta.joinable()) {
        {
            std::lock_guard<std::mutex> lk(impl_->m);
            impl_->quit = true;
        }
        impl_->cv.notify_all();
        impl_->ta.join();
        impl_->tb.join();
    }
}

bool PlacementProbe::available() const { return impl_->why_not.empty() && impl_->ta.joinable(); }

std::string PlacementProbe::description() const {
    if (!available()) return "unavailable: " + impl_->why_not;
    return "cache-line ping-pong between CPU " + std::to_string(impl_->cpu_a) + " and CPU " +
           std::to_string(impl_->cpu_b);
}

double PlacementProbe::probe_ns() {
    if (!available()) return 0;
    impl_->ready.store(0);
    impl_->ball.store(0);
    impl_->done.store(0);
    {
        std::lock_guard<std::mutex> lk(impl_->m);
        ++impl_->request;
    }
    impl_->cv.notify_all();
    while (impl_->done.load(std::memory_order_acquire) == 0) std::this_thread::yield();
    return impl_->result_ns;
}

}  // namespace calib::core
