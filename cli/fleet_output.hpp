// What `calib-host --fleet` (cli/mpi/fleet_mpi.cpp) and `calib-host merge` (cmd_merge.cpp) share: the
// output checks, writing the fleet file and its node profiles, and the fleet's summary on stdout.
#pragma once

#include <boost/json.hpp>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

#include "calib/core/fleet.hpp"

namespace calib::cli {

// Why the fleet file cannot be written at `out`, or empty (checked before any work; creates nothing).
std::string check_fleet_output(const std::string& out);

// The folder beside the fleet file that holds the node profiles `--fleet` gathered: "<stem>.nodes".
std::filesystem::path node_profile_dir(const std::filesystem::path& fleet_file);

// Writes each node's profile text (given in `texts`, same order as `nodes`; empty: none) beside the
// fleet file, sets the node's profile_path to it (relative to the fleet file's folder), then the fleet
// file itself; every file atomically, the fleet file last. Throws std::runtime_error naming the path.
boost::json::object write_fleet(const std::filesystem::path& out, std::vector<core::FleetNode>& nodes,
                                const std::vector<std::string>& texts, const core::FleetOptions& o,
                                boost::json::value topology);

// The fleet view in a few lines: nodes (failed ones with their reason), outliers, network fits.
void print_fleet_summary(std::ostream& os, const boost::json::object& doc);

}  // namespace calib::cli
