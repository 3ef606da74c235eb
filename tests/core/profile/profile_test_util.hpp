// Shared helpers for the profile suite: sample files and a small profile built in code.
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "calib/core/profile.hpp"

namespace calib::core::test {

inline std::filesystem::path sample_path(const std::string& name) {
    return std::filesystem::path(CALIB_SOURCE_DIR) / "tests" / "data" / "profiles" / name;
}

inline std::string read_sample(const std::string& name) {
    std::ifstream in(sample_path(name), std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline boost::json::value sample_doc(const std::string& name) {
    return boost::json::parse(read_sample(name));
}

inline OperationRecord matmul_record(int64_t n, double gflops, double efficiency,
                                     const std::string& precision = "") {
    OperationRecord r;
    r.operation_type = "matmul";
    r.measured_gflops = gflops;
    r.efficiency = efficiency;
    r.compute_bound = true;
    r.input_shape = {n, n};
    r.output_shape = {n, n};
    r.mean_latency_ms = 2;
    r.std_latency_ms = 0.1;
    r.min_latency_ms = 1.5;
    r.max_latency_ms = 3;
    r.num_trials = 5;
    r.extra_params["matrix_size"] = n;
    if (!precision.empty()) r.extra_params["precision"] = precision;
    return r;
}

inline FusionRecord fusion_record(const std::string& pattern, std::vector<int64_t> shape, double unfused_ms,
                                  double fused_ms, const std::string& precision = "fp32") {
    FusionRecord r;
    r.fusion_pattern = pattern;
    r.operators = {"linear", "add"};
    r.num_operators = 2;
    r.unfused_latency_ms = unfused_ms;
    r.fused_latency_ms = fused_ms;
    r.unfused_memory_bytes = 4000;
    r.fused_memory_bytes = 1000;
    r.speedup_factor = unfused_ms / fused_ms;
    r.gflops_improvement = r.speedup_factor - 1;
    r.memory_reduction = 1 - 1000.0 / 4000.0;
    r.input_shape = std::move(shape);
    r.extra_params["precision"] = precision;
    r.extra_params["status"] = "ok";
    r.num_trials = 5;
    return r;
}

}  // namespace calib::core::test
