// Shared helpers for the plugin_host tests: fixture paths, worker options, scratch folders.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

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

// A fresh private folder (mode 0700), removed with everything in it.
class TempDir {
public:
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "calib-test-XXXXXX").string();
        if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

}  // namespace calib::test
