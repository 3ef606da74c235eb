// Shared by the run tests: a scratch folder for plugin files and the options of a short run over it
// with the test worker.
#pragma once

#include <filesystem>

#include "../../scratch.hpp"
#include "calib/core/run.hpp"

namespace run_test {

namespace fs = std::filesystem;
using calib::core::RunOptions;

// A scratch folder; `dir` is its path.
struct Folder : calib::test::Scratch {
    const fs::path dir = path();
};

// A run over `dir` only, with the test worker and a short policy.
inline RunOptions fixture_options(const fs::path& dir) {
    RunOptions o;
    o.discovery.plugin_dirs = {dir};
    o.discovery.use_env = false;
    o.discovery.use_default_dir = false;
    o.worker.host_executable = fs::path(CALIB_FIXTURE_DIR) / "calib_test_worker";
    o.worker.scan_timeout_seconds = 2;
    o.policy.time_budget_seconds = 0.05;
    o.policy.warmup_seconds = 0.001;
    o.policy.min_sample_seconds = 0.0005;
    o.run_timeout_seconds = 2;
    o.prepare_timeout_seconds = 5;
    o.placement.settle_min_seconds = 0.3;  // counts as 0.3 s of the run in the settle's placement
    o.placement.settle_max_seconds = 0.3;
    o.steal_probe = [] { return std::vector<double>{}; };  // no steal clock: counts stay exact
    o.corunner_check = false;  // nor co-runners (the parallel tests): test_corunner_run.cpp turns it on
    o.replicas = 1;            // one pass: counts are the main pass's and the end-of-run pass's
    return o;
}

}  // namespace run_test
