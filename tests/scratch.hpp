// A fresh private folder (mkdtemp: mode 0700) under the system's temp directory, removed with
// everything in it at scope exit. Shared by the test suites (CLI, plugin host, run, history).
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace calib::test {

class Scratch {
public:
    Scratch() {
        std::string t = (std::filesystem::temp_directory_path() / "calib-test-XXXXXX").string();
        if (::mkdtemp(t.data()) == nullptr) throw std::runtime_error("mkdtemp");
        dir_ = t;
    }
    ~Scratch() {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    std::filesystem::path operator/(const std::string& n) const { return dir_ / n; }
    const std::filesystem::path& path() const { return dir_; }

private:
    std::filesystem::path dir_;
};

}  // namespace calib::test
