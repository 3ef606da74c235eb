// A profile in the shapes the origin's other readers load (shared/reference/origin-2026.md): the 2025
// loader's file, the GPU mapper's efficiency_curves.json per precision and the hardware registry's file
// name. Pure transformations; `calib-host export` (cli/cmd_export.cpp) writes what they return.
#pragma once

#include <boost/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "calib/core/profile.hpp"
#include "calib/core/profile_sections.hpp"

namespace calib::core {

// What the 2025 loader accepts: metadata limited to the origin's eleven fields (the 2026 additions
// dropped), operation records without precision_results; everything else unchanged.
Profile to_origin_2025(Profile p);

// metadata.hardware_name lower-cased, each run of other characters than letters and digits one "_",
// trimmed: "NVIDIA H200" -> "nvidia_h200". "unknown" when nothing is left.
std::string default_hardware_id(const std::string& hardware_name);

// The device_type of a curves file: "gpu" for cuda/gpu, "cpu" for cpu (or none), else as written.
std::string curves_device_type(const Metadata& m);

// The curve as the origin's curve validator accepts it, piecewise linear: calib's fitted model sampled
// at the data points' FLOPs, at the breakpoints calib fitted and at log-spaced FLOPs between the least
// and the most measured (a single FLOP count x: x and 10x), clamped to [0, 1], made non-decreasing,
// FLOPs strictly increasing. Empty when the curve has no positive FLOP count.
std::vector<std::pair<double, double>> origin_breakpoints(const EfficiencyCurve& c);

// One efficiency_curves.json document per precision of the profile's efficiency_curves section, in the
// section's order; `precision` lower-case (the folder name). Empty when the profile has no curves.
struct CurvesFile {
    std::string precision;
    boost::json::object document;
};
std::vector<CurvesFile> to_origin_curves(const Profile& p, const std::string& hardware_id);

// "2026-11-29T15:28:28+00:00" (any offset, fraction or "Z"; none read as UTC) -> "20261129T152828Z".
// Throws ProfileError when `iso_date` is not an ISO-8601 date and time.
std::string utc_stamp(const std::string& iso_date);

// The registry's file name for the profile: "<power_mode>_<freq>MHz_<framework>_<stamp>.json" with
// power_mode = gpu_clock.power_mode_name, else cpu_clock.governor, else "unknown" (letters and digits
// only); freq = gpu_clock.sm_clock_mhz on a "cuda" device, else the CPU clock (whole MHz), else 0;
// framework = metadata.framework's letters ("unknown" when none); stamp = utc_stamp(calibration_date).
std::string registry_file_name(const Metadata& m);

}  // namespace calib::core
