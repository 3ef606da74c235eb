// Helpers for the end-to-end CLI tests: run calib-host, capture its streams and exit code.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "../scratch.hpp"

namespace calib::test {

namespace fs = std::filesystem;

struct Result {
    int exit_code = -1;
    std::string out, err;
};

inline std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Runs `calib-host <args>` through the shell (args are shell words), with `env` (NAME=value words) set.
inline Result host(const std::string& args, const std::string& env = "") {
    Scratch s;
    std::string cmd = (env.empty() ? "" : "env " + env + " ") + std::string(CALIB_HOST_BIN) + " " + args + " >" + (s / "out").string() + " 2>" +
                      (s / "err").string() + " </dev/null";
    int rc = std::system(cmd.c_str());
    Result r;
    r.exit_code = WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
    r.out = slurp(s / "out");
    r.err = slurp(s / "err");
    return r;
}

// A plugin folder holding only the well-behaved C fixture (three cheap cases).
struct FixtureDir {
    Scratch dir;
    FixtureDir() { fs::copy_file(fs::path(CALIB_FIXTURE_DIR) / "fixture_good.so", dir / "fixture_good.so"); }
};

inline std::size_t count_lines(const std::string& s) {
    std::size_t n = 0;
    for (char c : s) n += c == '\n';
    return n;
}

// A small real profile made once per build tree by a short run of the built-in plugins (matmul at 256 in
// three precisions, the STREAM copy/triad sweep, one fusion shape in fp32 and bf16). No co-runner check:
// the parallel tests would flag its records disturbed, and the compare tests need verdicts.
inline fs::path sample_profile() {
    fs::path p = fs::path(CALIB_FIXTURE_DIR).parent_path() / "cli_sample_profile.json";
    if (!fs::exists(p)) {
        Result r = host(std::string("--plugins ") + CALIB_PLUGIN_DIR +
                        " --no-default-plugins --quiet --no-corunner-check --time-budget 0.05 --filter "
                        "'^(matmul_(fp32|bf16|fp16)_256|stream_(copy|triad)_.*|Linear_Bias_ReLU_(fp32|bf16)_128x512x512_.*)$'"
                        " --output " + p.string());
        if (r.exit_code != 0) throw std::runtime_error("sample profile run failed: " + r.err);
    }
    return p;
}

// `calib-host export --format origin-2025` of sample_profile(), written into `dir`.
inline fs::path sample_profile_2025(const Scratch& dir) {
    const fs::path out = dir / "origin-2025.json";
    Result r = host("export --format origin-2025 " + sample_profile().string() + " " + out.string());
    if (r.exit_code != 0) throw std::runtime_error("export --format origin-2025 failed: " + r.err);
    return out;
}

}  // namespace calib::test
