// Shared helpers for the plugin_host tests: fixture paths, worker options, scratch folders.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

#include "../../scratch.hpp"
#include "calib/core/plugin_client.hpp"

namespace calib::test {

inline std::filesystem::path fixture(const std::string& variant) {
    return std::filesystem::path(CALIB_FIXTURE_DIR) / ("fixture_" + variant + ".so");
}

// Short scan timeout: hanging fixtures must not slow the suite down.
inline core::WorkerOptions worker_options(double scan_timeout = 2.0) {
    core::WorkerOptions o;
    o.host_executable = std::filesystem::path(CALIB_FIXTURE_DIR) / "calib_test_worker";
    o.scan_timeout_seconds = scan_timeout;
    return o;
}

using TempDir = Scratch;  // a private folder (mode 0700): discovery trusts it

}  // namespace calib::test
