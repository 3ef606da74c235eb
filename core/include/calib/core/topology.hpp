// The profile's `topology` section (docs/profile-format.md): the devices of multi-device plugins, the
// links between the host and each device and between devices, and collectives over device groups,
// each as an alpha-beta model t(n) = alpha + n / beta fitted to a size sweep, with its points.
// Built from transfer cases (ABI 1.1, CALIB_FAMILY_TRANSFER) by the run; read by show, query and plot.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace calib::core {

// t(n) = alpha_us * 1e-6 + n / (beta_gbps * 1e9) seconds, for n bytes.
struct AlphaBeta {
    double alpha_us = 0;
    double beta_gbps = 0;
    double residual = 0;  // RMS of the relative errors (t_fit - t) / t over the points
    bool ok = false;      // two or more sizes and a positive, finite beta; every field 0 otherwise
};

// Least squares on relative errors (each point weighted 1/t^2), so the small sizes set alpha and the
// large ones beta, as OSU/nccl-tests users read them. A negative alpha is clamped to 0 and beta refitted.
AlphaBeta fit_alpha_beta(const std::vector<double>& bytes, const std::vector<double>& seconds);
// The fit's fields as the profile's topology and the fleet file write them: alpha_us, beta_gbps,
// fit_residual, fit_ok (added to `o`).
void append_fit(boost::json::object& o, const AlphaBeta& f);
// Seconds the model predicts for `bytes`.
double predict_seconds(const AlphaBeta& f, double bytes);

// nccl-tests' bus bandwidth factor: busbw = algbw * factor (all_reduce 2(n-1)/n, all_gather and
// reduce_scatter (n-1)/n, broadcast and copies 1).
double bus_factor(const std::string& operation, int64_t ranks);

struct TopologyDevice {
    std::string plugin;
    int64_t index = 0;  // the plugin's device index
    std::string name, kind, bus_id;
};

struct TopologyPoint {
    double bytes = 0;
    double seconds = 0;      // median time of one transfer
    double gbps = 0;         // algbw: bytes / seconds
    std::optional<double> busbw_gbps;            // collectives
    std::optional<double> ci_low_gbps, ci_high_gbps;  // the point's 95% interval
    std::optional<bool> disturbed;
    std::string case_name;
};

// A host<->device or device->device link. `from`/`to` are "host" or a device index as text.
struct TopologyLink {
    std::string plugin, operation;  // copy_h2d, copy_d2h, copy_p2p
    std::string from, to;
    std::string memory;              // host copies: pinned, pageable
    std::string kind;                // nvlink, pcie, ... (the plugin's `link` param)
    std::optional<bool> peer_access;
    AlphaBeta fit;
    std::vector<TopologyPoint> points;
};

struct TopologyCollective {
    std::string plugin, operation;  // all_reduce, all_gather, reduce_scatter, broadcast
    int64_t ranks = 0;
    std::vector<int64_t> devices;
    AlphaBeta fit;              // on algbw (bytes / t)
    double bus_beta_gbps = 0;   // fit.beta_gbps * bus_factor
    std::vector<TopologyPoint> points;
};

struct Topology {
    std::vector<TopologyDevice> devices;
    std::vector<TopologyLink> links;
    std::vector<TopologyCollective> collectives;
    bool empty() const { return devices.empty() && links.empty() && collectives.empty(); }
};

boost::json::object to_json(const Topology& t);
// Tolerant reader: what is missing keeps its default.
Topology read_topology(const boost::json::value& v);
// Problems of a topology section (types, positive sizes and times, fits consistent with their points).
std::vector<std::string> validate_topology(const boost::json::value& v, const std::string& where = "topology");

// A link "A-B" as users write it: "0-1" (P2P 0 -> 1), "host-0" (H2D), "0-host" (D2H). Nullptr when the
// profile has none; `memory` picks pinned or pageable for host links (empty: pinned when present).
const TopologyLink* find_link(const Topology& t, const std::string& from, const std::string& to,
                              const std::string& memory = "");
const TopologyCollective* find_collective(const Topology& t, const std::string& operation, int64_t ranks);
// The measured point nearest to `bytes` on a log scale (nullptr when there are none).
const TopologyPoint* nearest_point(const std::vector<TopologyPoint>& points, double bytes);

// "64MiB", "4 KiB", "1G", "4096": bytes; throws std::invalid_argument on anything else.
double parse_bytes(const std::string& text);
// 4096 -> "4 KiB", 1073741824 -> "1 GiB".
std::string bytes_text(double bytes);

}  // namespace calib::core
