// `calib-host query FILE ...`: what a cost model asks a profile, answered through core's ProfileQuery
// (interpolated between measured sizes and shapes, clamped outside them).
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "calib/core/profile.hpp"
#include "calib/core/topology.hpp"
#include "options.hpp"

namespace calib::cli {

namespace {

// One line: the model's time and bandwidth at `bytes`, and the nearest measured point beside it.
std::string transfer_line(const std::string& what, const core::AlphaBeta& fit, const std::vector<core::TopologyPoint>& pts,
                          double bytes, double bus) {
    const double t = core::predict_seconds(fit, bytes);
    char line[512];
    int n = std::snprintf(line, sizeof line, "%s %s: %.2f us predicted (alpha %.2f us + bytes / %.1f GB/s), %.1f GB/s",
                          what.c_str(), core::bytes_text(bytes).c_str(), t * 1e6, fit.alpha_us, fit.beta_gbps,
                          bytes / t / 1e9);
    std::string out(line, static_cast<std::size_t>(std::max(n, 0)));
    if (bus > 0) {
        std::snprintf(line, sizeof line, " (busbw %.1f GB/s)", bytes / t / 1e9 * bus);
        out += line;
    }
    if (const core::TopologyPoint* p = core::nearest_point(pts, bytes)) {
        std::snprintf(line, sizeof line, "; measured at %s: %.2f us (%+.1f%%)", core::bytes_text(p->bytes).c_str(),
                      p->seconds * 1e6, (core::predict_seconds(fit, p->bytes) / p->seconds - 1) * 100);
        out += line;
    }
    return out + "\n";
}

int query_transfer(const core::Profile& profile, const std::string& file, const std::string& link,
                   const std::string& collective, int64_t ranks, const std::string& bytes_text,
                   const std::string& memory) {
    double bytes = 0;
    try {
        bytes = core::parse_bytes(bytes_text);
    } catch (const std::exception& e) {
        return usage_error(std::string("--bytes: ") + e.what());
    }
    const auto* v = profile.extensions.if_contains("topology");
    if (v == nullptr) return usage_error(file + " has no topology section (no transfer cases were measured)");
    const core::Topology t = core::read_topology(*v);
    if (!link.empty()) {
        const auto dash = link.find('-');
        if (dash == std::string::npos || dash == 0 || dash + 1 == link.size())
            return usage_error("--link must look like 0-1, host-0 or 0-host");
        const std::string from = link.substr(0, dash), to = link.substr(dash + 1);
        const core::TopologyLink* l = core::find_link(t, from, to, memory);
        if (l == nullptr) return usage_error("no link " + from + " -> " + to + (memory.empty() ? "" : " (" + memory + ")") + " in " + file);
        if (!l->fit.ok) return usage_error("link " + link + " has no usable fit in " + file);
        std::string what = "link " + from + " -> " + to + (l->kind.empty() ? "" : " (" + l->kind + ")");
        if (!l->memory.empty()) what += " " + l->memory;
        std::cout << transfer_line(what, l->fit, l->points, bytes, 0);
        return kExitOk;
    }
    if (ranks < 1) return usage_error("--ranks must be at least 1");
    const core::TopologyCollective* c = core::find_collective(t, collective, ranks);
    if (c == nullptr) return usage_error("no " + collective + " over " + std::to_string(ranks) + " ranks in " + file);
    if (!c->fit.ok) return usage_error(collective + " has no usable fit in " + file);
    std::cout << transfer_line(collective + " over " + std::to_string(ranks) + " ranks", c->fit, c->points, bytes,
                               core::bus_factor(collective, ranks));
    return kExitOk;
}

}  // namespace

int cmd_query(const Args& args) {
    std::string file, operation, precision = "fp32", pattern, shape_text, link, collective, bytes_text, memory;
    int64_t ranks = 0;
    double size = 0, threshold = 1.1;
    po::options_description desc(
        "calib-host query FILE (--operation OP --size N | --fusion PATTERN --shape AxBxC |\n"
        "                       --link A-B --bytes SIZE | --collective OP --ranks N --bytes SIZE) [options]:\n"
        "efficiency and GFLOPS of an operation at a size, or the speedup and verdict of fusing a pattern\n"
        "at a shape, interpolated (log-log) between the measured ones and clamped outside them; or the time\n"
        "of a transfer from the topology's alpha-beta fit, beside the nearest measured size");
    desc.add_options()("help,h", "this help")("operation", po::value(&operation), "operation type, e.g. matmul")(
        "size", po::value(&size), "problem size (matrix_size for square matmul)")(
        "fusion", po::value(&pattern), "fusion pattern, e.g. Linear_Bias_ReLU")(
        "shape", po::value(&shape_text), "shape of the fused problem, e.g. 256x1024x1024")(
        "precision", po::value(&precision), "precision (default fp32)")(
        "threshold", po::value(&threshold), "fuse when the speedup reaches this (default 1.1)")(
        "link", po::value(&link), "a link: 0-1 (P2P), host-0 (host to device 0), 0-host")(
        "memory", po::value(&memory), "host links: pinned (default) or pageable")(
        "collective", po::value(&collective), "all_reduce, all_gather, reduce_scatter, broadcast")(
        "ranks", po::value(&ranks), "group size of the collective")(
        "bytes", po::value(&bytes_text), "message size: 4096, 64KiB, 256MiB, 1GiB, 1GB");
    po::variables_map vm;
    if (int code = 0; !parse_file_command(args, desc, file, vm, code)) return code;
    const int asked = !operation.empty() + !pattern.empty() + !link.empty() + !collective.empty();
    if (asked != 1) return usage_error("give exactly one of --operation, --fusion, --link or --collective");
    if ((!link.empty() || !collective.empty()) && bytes_text.empty()) return usage_error("--bytes is required with --link and --collective");
    core::Profile profile;
    try {
        profile = core::load_profile(file);
    } catch (const std::exception& e) {
        return usage_error(e.what());
    }
    if (!link.empty() || !collective.empty())
        return query_transfer(profile, file, link, collective, ranks, bytes_text, memory);
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
