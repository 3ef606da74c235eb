// `calib-host query FILE ...`: what a cost model asks a profile, answered through core's ProfileQuery
// (interpolated between measured sizes and shapes, clamped outside them).
#include <cstdio>
#include <iostream>
#include <sstream>

#include "calib/core/profile.hpp"
#include "options.hpp"

namespace calib::cli {

int cmd_query(const Args& args) {
    std::string file, operation, precision = "fp32", pattern, shape_text;
    double size = 0, threshold = 1.1;
    po::options_description desc(
        "calib-host query FILE (--operation OP --size N | --fusion PATTERN --shape AxBxC) [options]:\n"
        "efficiency and GFLOPS of an operation at a size, or the speedup and verdict of fusing a pattern\n"
        "at a shape, interpolated (log-log) between the measured ones and clamped outside them");
    desc.add_options()("help,h", "this help")("operation", po::value(&operation), "operation type, e.g. matmul")(
        "size", po::value(&size), "problem size (matrix_size for square matmul)")(
        "fusion", po::value(&pattern), "fusion pattern, e.g. Linear_Bias_ReLU")(
        "shape", po::value(&shape_text), "shape of the fused problem, e.g. 256x1024x1024")(
        "precision", po::value(&precision), "precision (default fp32)")(
        "threshold", po::value(&threshold), "fuse when the speedup reaches this (default 1.1)");
    po::variables_map vm;
    if (int code = 0; !parse_file_command(args, desc, file, vm, code)) return code;
    if (operation.empty() == pattern.empty()) return usage_error("give exactly one of --operation or --fusion");
    core::Profile profile;
    try {
        profile = core::load_profile(file);
    } catch (const std::exception& e) {
        return usage_error(e.what());
    }
    core::ProfileQuery q(profile);
    char line[256];
    if (!operation.empty()) {
        if (!(size > 0)) return usage_error("--size must be a positive number");
        std::snprintf(line, sizeof line, "%s %s size %g: %.1f GFLOPS, efficiency %.1f%%\n", operation.c_str(),
                      precision.c_str(), size, q.gflops(operation, precision, size),
                      q.efficiency(operation, precision, size) * 100);
        std::cout << line;
        return kExitOk;
    }
    std::vector<int64_t> shape;
    std::stringstream ss(shape_text);
    std::string dim;
    while (std::getline(ss, dim, 'x')) {
        char* end = nullptr;
        long long d = std::strtoll(dim.c_str(), &end, 10);
        if (dim.empty() || *end != '\0' || d <= 0) return usage_error("--shape must look like 256x1024x1024");
        shape.push_back(d);
    }
    if (shape.empty()) return usage_error("--shape is required with --fusion");
    const double s = q.fusion_speedup(pattern, shape, precision, 0.0);
    if (s <= 0) return usage_error("no " + precision + " measurement of fusion pattern " + pattern + " in " + file);
    std::snprintf(line, sizeof line, "%s %s %s: speedup %.3fx (%s), %s at threshold %.2f\n", pattern.c_str(),
                  precision.c_str(), shape_text.c_str(), s, core::to_string(core::fusion_tier(s)),
                  q.should_fuse(pattern, shape, threshold, precision) ? "fuse" : "do not fuse", threshold);
    std::cout << line;
    return kExitOk;
}

}  // namespace calib::cli
