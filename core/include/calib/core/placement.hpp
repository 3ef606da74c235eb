// Where the hypervisor has put this machine's CPUs right now, read off the latency of a cache line
// bounced between two pinned threads. On a VM the host moves vCPUs between cores and L3 domains every
// few seconds; a multi-threaded kernel then runs at a different speed (on the 2-vCPU EPYC guest:
// ~25 ns one-way when both vCPUs share an L3, ~160 ns when they do not, and some fusion chains 2.5x
// slower). The measurement policy uses this probe to time only in the run's reference placement.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace calib::core {

class PlacementProbe {
public:
    // Probes between the first and the last CPU this process may run on. Unavailable (probe_ns()
    // returns 0) with fewer than two CPUs or when threads cannot be pinned.
    PlacementProbe();
    ~PlacementProbe();
    PlacementProbe(const PlacementProbe&) = delete;
    PlacementProbe& operator=(const PlacementProbe&) = delete;

    bool available() const;
    std::string description() const;  // "cache-line ping-pong between CPU 0 and CPU 1" or why not
    // One-way cache-line transfer latency in nanoseconds: the smallest of a few short bursts of round
    // trips (tens of microseconds in all). 0 when unavailable.
    double probe_ns();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// steal_seconds_per_cpu(), the hypervisor's share of each CPU: corunner.hpp.

}  // namespace calib::core
