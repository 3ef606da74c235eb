// `calib-host plot FILE --output roofline.svg`: a self-contained log-log roofline chart.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>

#include "calib/core/profile.hpp"
#include "calib/core/profile_sections.hpp"
#include "options.hpp"

namespace calib::cli {
namespace {

std::string esc(const std::string& s) {
    std::string o;
    for (char c : s) {
        if (c == '<') o += "&lt;";
        else if (c == '>') o += "&gt;";
        else if (c == '&') o += "&amp;";
        else if (c == '"') o += "&quot;";
        else o += c;
    }
    return o;
}

const char* colour(std::size_t i) {
    static const char* c[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};
    return c[i % 8];
}

struct Axes {
    double x0 = 1e-2, x1 = 1e4, y0 = 1, y1 = 1e4;  // FLOP/byte, GFLOPS
    double left = 80, top = 40, width = 760, height = 480;
    double X(double ai) const { return left + width * (std::log10(ai) - std::log10(x0)) / (std::log10(x1) - std::log10(x0)); }
    double Y(double g) const { return top + height * (1 - (std::log10(g) - std::log10(y0)) / (std::log10(y1) - std::log10(y0))); }
};

std::string fmt(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1f", v);
    return b;
}

using Series = std::vector<std::pair<std::string, double>>;

// The chart being drawn: its axes, its series and the SVG so far.
struct Chart {
    Axes ax;
    Series ceilings;  // theoretical peak per precision (GFLOPS)
    Series slopes;    // bandwidth per memory level (triad, else copy GB/s), slowest last
    std::map<std::string, const char*> prec_colour;
    std::size_t colours_used = 0;
    std::ostringstream s;
};

// Ceilings from the profile's peaks, slopes from its memory hierarchy (or its DRAM figure).
void collect_series(Chart& c, const core::Profile& p) {
    const core::CalibSections sec = core::read_sections(p);
    for (const auto& [precision, pk] : sec.peaks.compute)
        if (pk.gflops > 0) c.ceilings.emplace_back(precision, pk.gflops);
    for (const auto& l : sec.memory_hierarchy.levels) {
        const double bw = l.triad_gbps > 0 ? l.triad_gbps : l.copy_gbps;
        if (bw > 0) c.slopes.emplace_back(l.name, bw);
    }
    if (c.slopes.empty() && p.measured_bandwidth_gbps > 0) c.slopes.emplace_back("memory", p.measured_bandwidth_gbps);
    double ymax = 10;
    for (auto& [n, g] : c.ceilings) ymax = std::max(ymax, g);
    for (const auto& [k, r] : p.operation_profiles) ymax = std::max(ymax, r.measured_gflops);
    c.ax.y1 = std::pow(10, std::ceil(std::log10(ymax * 1.5)));
    c.ax.y0 = c.ax.y1 / 1e5;
}

void write_frame(Chart& c, const std::string& title) {
    const Axes& ax = c.ax;
    auto& s = c.s;
    s << R"(<?xml version="1.0" encoding="UTF-8"?>)" << "\n"
      << R"(<svg xmlns="http://www.w3.org/2000/svg" width="1100" height="600" viewBox="0 0 1100 600" font-family="sans-serif" font-size="12">)"
      << "\n<title>Roofline: " << esc(title) << "</title>\n"
      << R"(<rect x="0" y="0" width="1100" height="600" fill="white"/>)" << "\n";
    s << "<text x=\"" << ax.left << "\" y=\"22\" font-size=\"15\">Roofline: " << esc(title) << "</text>\n";
    // Grid and axes labels per decade.
    s << "<g class=\"axes\" stroke=\"#ddd\">\n";
    for (double x = ax.x0; x <= ax.x1 * 1.0001; x *= 10)
        s << "<line x1=\"" << fmt(ax.X(x)) << "\" y1=\"" << ax.top << "\" x2=\"" << fmt(ax.X(x)) << "\" y2=\""
          << ax.top + ax.height << "\"/><text x=\"" << fmt(ax.X(x)) << "\" y=\"" << ax.top + ax.height + 16
          << "\" text-anchor=\"middle\" stroke=\"none\" fill=\"#333\">" << x << "</text>\n";
    for (double y = ax.y0; y <= ax.y1 * 1.0001; y *= 10)
        s << "<line x1=\"" << ax.left << "\" y1=\"" << fmt(ax.Y(y)) << "\" x2=\"" << ax.left + ax.width << "\" y2=\""
          << fmt(ax.Y(y)) << "\"/><text x=\"" << ax.left - 6 << "\" y=\"" << fmt(ax.Y(y) + 4)
          << "\" text-anchor=\"end\" stroke=\"none\" fill=\"#333\">" << y << "</text>\n";
    s << "</g>\n<text x=\"" << ax.left + ax.width / 2 << "\" y=\"" << ax.top + ax.height + 36
      << "\" text-anchor=\"middle\">arithmetic intensity (FLOP/byte)</text>\n"
      << "<text transform=\"translate(22," << ax.top + ax.height / 2
      << ") rotate(-90)\" text-anchor=\"middle\">GFLOPS</text>\n";
}

// Bandwidth slopes: y = bw * ai, clipped at the highest ceiling.
void write_slopes(Chart& c) {
    const Axes& ax = c.ax;
    double top_ceiling = c.ceilings.empty() ? ax.y1 : 0;
    for (auto& [n, g] : c.ceilings) top_ceiling = std::max(top_ceiling, g);
    std::size_t ci = 0;
    for (const auto& [name, bw] : c.slopes) {
        double xa = std::max(ax.x0, ax.y0 / bw), xb = std::min(ax.x1, top_ceiling / bw);
        // Labels sit on their own line at staggered heights, so parallel slopes never overlap them.
        const double label_y = std::max(ax.y0 * std::pow(10, 0.8 + 0.5 * static_cast<double>(ci)), bw * xa * 1.5);
        c.s << "<g class=\"series\" data-series=\"bandwidth-" << esc(name) << "\" stroke=\"#555\" stroke-dasharray=\""
            << (ci == c.slopes.size() - 1 ? "none" : "6,3") << "\">"
            << "<line x1=\"" << fmt(ax.X(xa)) << "\" y1=\"" << fmt(ax.Y(bw * xa)) << "\" x2=\"" << fmt(ax.X(xb))
            << "\" y2=\"" << fmt(ax.Y(bw * xb)) << "\" stroke-width=\"1.5\"/>"
            << "<text x=\"" << fmt(ax.X(label_y / bw) + 6) << "\" y=\"" << fmt(ax.Y(label_y) + 4)
            << "\" stroke=\"none\" fill=\"#555\">" << esc(name) << " " << fmt(bw) << " GB/s</text></g>\n";
        ++ci;
    }
}

// Compute ceilings from each ridge point (with the slowest slope) to the right edge.
void write_ceilings(Chart& c) {
    const Axes& ax = c.ax;
    const double dram = c.slopes.empty() ? 0 : c.slopes.back().second;
    for (const auto& [prec, g] : c.ceilings) {
        const char* col = colour(c.colours_used++);
        c.prec_colour[prec] = col;
        double xa = dram > 0 ? std::max(ax.x0, g / dram) : ax.x0;
        c.s << "<g class=\"series\" data-series=\"ceiling-" << esc(prec) << "\" stroke=\"" << col << "\">"
            << "<line x1=\"" << fmt(ax.X(xa)) << "\" y1=\"" << fmt(ax.Y(g)) << "\" x2=\"" << ax.left + ax.width
            << "\" y2=\"" << fmt(ax.Y(g)) << "\" stroke-width=\"2\"/>"
            << "<text x=\"" << ax.left + ax.width + 6 << "\" y=\"" << fmt(ax.Y(g) + 4) << "\" stroke=\"none\" fill=\""
            << col << "\">" << esc(prec) << " peak " << fmt(g) << "</text></g>\n";
    }
}

// Measured operation points by precision; returns the precisions that have points.
std::map<std::string, std::ostringstream> write_points(Chart& c, const core::Profile& p) {
    std::map<std::string, std::ostringstream> points;
    for (const auto& [key, r] : p.operation_profiles) {
        if (r.measured_gflops <= 0 || r.arithmetic_intensity <= 0) continue;
        const std::string prec = core::read_extras(r).origin.precision;
        if (!c.prec_colour.count(prec)) c.prec_colour[prec] = colour(c.colours_used++);
        points[prec] << "<circle cx=\"" << fmt(c.ax.X(r.arithmetic_intensity)) << "\" cy=\""
                     << fmt(c.ax.Y(r.measured_gflops)) << "\" r=\"4\"><title>" << esc(key) << ": "
                     << fmt(r.measured_gflops) << " GFLOPS</title></circle>";
    }
    for (auto& [prec, body] : points)
        c.s << "<g class=\"series\" data-series=\"points-" << esc(prec) << "\" fill=\"" << c.prec_colour[prec]
            << "\">" << body.str() << "</g>\n";
    return points;
}

// Fusion patterns as open diamonds (fused variant); returns whether any was drawn.
bool write_fusion(Chart& c, const core::Profile& p) {
    std::ostringstream fus;
    for (const auto& [key, r] : p.fusion_profiles) {
        if (key.find('@') == std::string::npos || r.fused_memory_bytes <= 0 || r.fused_gflops <= 0) continue;
        double flops = r.fused_gflops * r.fused_latency_ms * 1e6;
        double ai = flops / static_cast<double>(r.fused_memory_bytes);
        double x = c.ax.X(ai), y = c.ax.Y(r.fused_gflops);
        fus << "<path d=\"M" << fmt(x) << " " << fmt(y - 5) << " l5 5 l-5 5 l-5 -5 z\"><title>" << esc(key) << ": "
            << fmt(r.fused_gflops) << " GFLOPS fused, speedup " << r.speedup_factor << "</title></path>";
    }
    if (fus.str().empty()) return false;
    c.s << "<g class=\"series\" data-series=\"fusion\" fill=\"none\" stroke=\"#ff7f0e\">" << fus.str() << "</g>\n";
    return true;
}

void write_legend(Chart& c, const std::map<std::string, std::ostringstream>& points, bool fusion) {
    const Axes& ax = c.ax;
    double ly = ax.top + 10;
    c.s << "<g class=\"legend\">";
    for (auto& [prec, col] : c.prec_colour) {
        if (!points.count(prec)) continue;  // ceilings carry their own labels
        c.s << "<circle cx=\"" << ax.left + 14 << "\" cy=\"" << fmt(ly) << "\" r=\"4\" fill=\"" << col
            << "\"/><text x=\"" << ax.left + 24 << "\" y=\"" << fmt(ly + 4) << "\">matmul " << esc(prec) << "</text>";
        ly += 16;
    }
    if (fusion)
        c.s << "<path d=\"M" << ax.left + 14 << " " << fmt(ly - 5)
            << " l5 5 l-5 5 l-5 -5 z\" fill=\"none\" stroke=\"#ff7f0e\"/>"
            << "<text x=\"" << ax.left + 24 << "\" y=\"" << fmt(ly + 4) << "\">fusion patterns (fused)</text>";
    c.s << "</g>\n</svg>\n";
}

}  // namespace

std::string render_roofline(const core::Profile& p) {
    Chart c;
    collect_series(c, p);
    write_frame(c, p.metadata.hardware_name);
    write_slopes(c);
    write_ceilings(c);
    const auto points = write_points(c, p);
    const bool fusion = write_fusion(c, p);
    write_legend(c, points, fusion);
    return c.s.str();
}

int cmd_plot(const Args& args) {
    std::string file, output;
    po::options_description desc("calib-host plot FILE --output roofline.svg: roofline chart as SVG");
    desc.add_options()("help,h", "this help")("output,o", po::value(&output), "SVG file to write");
    po::variables_map vm;
    if (int code = 0; !parse_file_command(args, desc, file, vm, code)) return code;
    if (output.empty()) return usage_error("missing --output FILE.svg");
    try {
        core::save_text_atomic(output, render_roofline(core::load_profile(file)));
    } catch (const std::exception& e) {
        return usage_error(e.what());
    }
    return kExitOk;
}

}  // namespace calib::cli
