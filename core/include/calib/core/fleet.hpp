// The fleet view: many nodes' profiles side by side (docs/fleet.md). Pure C++, no MPI: `calib-host
// --fleet` (cli/mpi/, built with MPI) and `calib-host merge` both build the fleet file here.
#pragma once

#include <boost/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "calib/core/compare.hpp"
#include "calib/core/profile.hpp"
#include "calib/core/topology.hpp"  // fit_alpha_beta: the one alpha-beta fit (the profile's topology uses it too)

namespace calib::core {

inline constexpr int kFleetSchemaVersion = 1;

// One headline figure of a profile, with the record it comes from and that record's interval (the
// interval `compare` uses: op_interval / fusion_interval).
struct HeadlineFigure {
    std::string name;    // "best_gflops.fp32", "dram_bandwidth", "fusion_speedup.<fusion key>", "gpu.best_gflops.bf16", ...
    std::string unit;    // "GFLOPS", "GB/s" or "x"
    std::string record;  // the key of the record in operation_profiles / fusion_profiles
    Interval interval;
};

// The headline figures of a profile, in a stable order: per device class (the CPU's, then "gpu." for a
// device a plugin reports as a GPU) the best GFLOPS per precision (CPU: fp32 and bf16; GPU: every
// precision measured, tf32 math apart from fp32), the memory level's bandwidth (the record marked with
// extra_params.memory_level: "dram_bandwidth", "gpu.hbm_bandwidth"), then each fusion pattern's speedup
// at the record its bare key names ("fusion_speedup.<pattern>@<shape>[@<precision>]"). Only records with
// status ok count.
std::vector<HeadlineFigure> headline_figures(const Profile& p);

// One node of the fleet: its profile when it has one, else why not.
struct FleetNode {
    std::string name;
    std::string status = "ok";  // "ok" or "failed"
    std::string reason;         // failed: why (one line)
    std::optional<int> rank;    // MPI: the rank that calibrated it
    std::vector<int> ranks;     // MPI: every rank on the node
    std::string profile_path;   // where its profile is (as written in the fleet file)
    std::optional<Profile> profile;
    boost::json::object extra;  // anything else to record about the node (exit status, seconds, ...)
};

// A measured network series: ping-pong between two nodes (one-way time) or an all-reduce over nodes.
struct NetworkSeries {
    std::string kind;                 // "ping_pong" or "allreduce"
    std::vector<std::string> nodes;   // the two ends, or every node taking part
    std::vector<int> ranks;
    std::vector<double> bytes, seconds;
    int batches = 0;                  // timed batches per size; a point is the median batch
    std::vector<int> repetitions;     // per size: operations per batch
};
// The fleet file's topology section: transport, the series with their points and their alpha-beta fit
// (fit_alpha_beta of calib/core/topology.hpp, fields as in the profile's topology section; an all-reduce
// also gets nccl-tests' bus bandwidth, bus_beta_gbps).
boost::json::object topology_json(const std::string& transport, const std::vector<NetworkSeries>& series);

struct FleetOptions {
    std::string mode;        // "mpi" or "merge"
    double same_pct = 2.0;   // compare's SAME threshold, percent
};

// The fleet file: nodes, per headline figure the median, the spread and every node's value with its
// interval, and the outliers: a node whose interval classify() (compare's rule) puts SLOWER or FASTER
// than the fleet's reference (the median value with the nodes' median relative interval and scatter),
// named only when at least 3 nodes have the figure. `topology` is the network section or null.
boost::json::object fleet_view(const std::vector<FleetNode>& nodes, const FleetOptions& o,
                               boost::json::value topology = nullptr);

// A node name for a profile given to `merge`: host.hostname, else metadata.hardware_name, else `fallback`.
std::string node_name_of(const Profile& p, const std::string& fallback);
// A node name as a file name: letters, digits, '.', '_' and '-' kept, anything else '_'.
std::string file_safe(const std::string& name);

}  // namespace calib::core
