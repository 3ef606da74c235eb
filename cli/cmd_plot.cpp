// `calib-host plot FILE --output roofline.svg`: a self-contained log-log roofline chart.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>

#include "calib/core/profile.hpp"
#include "calib/core/profile_sections.hpp"
#include "calib/core/topology.hpp"
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

// Bandwidth against message size, log-log: one line per link (algbw) and per collective (busbw), the
// measured points as dots and the alpha-beta fit as a dashed line.
std::string render_transfers(const core::Topology& t, const std::string& title) {
    struct Line {
        std::string label;
        std::vector<std::pair<double, double>> pts;  // bytes, GB/s
        core::AlphaBeta fit;
        double bus = 1;
    };
    std::vector<Line> lines;
    for (const auto& l : t.links) {
        Line line{(l.from == "host" ? "H2D " : l.to == "host" ? "D2H " : "P2P ") + l.from + "->" + l.to +
                      (l.memory.empty() ? "" : " " + l.memory),
                  {}, l.fit, 1};
        for (const auto& p : l.points) line.pts.emplace_back(p.bytes, p.gbps);
        lines.push_back(std::move(line));
    }
    for (const auto& c : t.collectives) {
        Line line{c.operation + " x" + std::to_string(c.ranks) + " (busbw)", {}, c.fit, core::bus_factor(c.operation, c.ranks)};
        for (const auto& p : c.points) line.pts.emplace_back(p.bytes, p.busbw_gbps.value_or(p.gbps));
        lines.push_back(std::move(line));
    }
    double x0 = 1e300, x1 = 0, y1 = 1;
    for (const auto& l : lines)
        for (const auto& [b, g] : l.pts) x0 = std::min(x0, b), x1 = std::max(x1, b), y1 = std::max(y1, g);
    if (x1 <= 0) x0 = 1024, x1 = 1 << 30;
    if (x1 <= x0) x1 = x0 * 2;
    Axes ax;
    ax.x0 = x0 / 1.5;
    ax.x1 = x1 * 1.5;
    ax.y1 = std::pow(10, std::ceil(std::log10(y1 * 1.5)));
    ax.y0 = ax.y1 / 1e5;
    std::ostringstream s;
    s << R"(<?xml version="1.0" encoding="UTF-8"?>)" << "\n"
      << R"(<svg xmlns="http://www.w3.org/2000/svg" width="1100" height="600" viewBox="0 0 1100 600" font-family="sans-serif" font-size="12">)"
      << "\n<title>Transfers: " << esc(title) << "</title>\n"
      << R"(<rect width="1100" height="600" fill="white"/>)" << "\n"
      << "<text x=\"" << ax.left << "\" y=\"24\" font-size=\"15\">Bandwidth against message size: " << esc(title) << "</text>\n"
      << "<rect x=\"" << ax.left << "\" y=\"" << ax.top << "\" width=\"" << ax.width << "\" height=\"" << ax.height
      << "\" fill=\"none\" stroke=\"#444\"/>\n";
    for (double b = 1; b <= ax.x1; b *= 4)
        if (b >= ax.x0)
            s << "<text x=\"" << fmt(ax.X(b)) << "\" y=\"" << fmt(ax.top + ax.height + 16) << "\" text-anchor=\"middle\">"
              << esc(core::bytes_text(b)) << "</text>\n";
    for (double g = ax.y0; g <= ax.y1 * 1.0001; g *= 10)
        s << "<text x=\"" << fmt(ax.left - 6) << "\" y=\"" << fmt(ax.Y(g) + 4) << "\" text-anchor=\"end\">" << g << "</text>\n";
    s << "<text x=\"" << fmt(ax.left + ax.width / 2) << "\" y=\"" << fmt(ax.top + ax.height + 36)
      << "\" text-anchor=\"middle\">message size (bytes)</text>\n"
      << "<text x=\"20\" y=\"" << fmt(ax.top + ax.height / 2) << "\" transform=\"rotate(-90 20 " << fmt(ax.top + ax.height / 2)
      << ")\" text-anchor=\"middle\">GB/s</text>\n";
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const Line& l = lines[i];
        std::string measured, fitted;
        for (const auto& [b, g] : l.pts) {
            if (!(g > 0)) continue;
            measured += fmt(ax.X(b)) + "," + fmt(ax.Y(std::max(g, ax.y0))) + " ";
            s << "<circle cx=\"" << fmt(ax.X(b)) << "\" cy=\"" << fmt(ax.Y(std::max(g, ax.y0))) << "\" r=\"3\" fill=\"" << colour(i)
              << "\"/>\n";
        }
        if (l.fit.ok)
            for (double b = x0; b <= x1 * 1.0001; b *= 1.25) {
                const double g = b / core::predict_seconds(l.fit, b) / 1e9 * l.bus;
                fitted += fmt(ax.X(b)) + "," + fmt(ax.Y(std::max(g, ax.y0))) + " ";
            }
        s << "<polyline points=\"" << measured << "\" fill=\"none\" stroke=\"" << colour(i) << "\"/>\n";
        if (!fitted.empty())
            s << "<polyline points=\"" << fitted << "\" fill=\"none\" stroke=\"" << colour(i) << "\" stroke-dasharray=\"4 3\"/>\n";
        s << "<text x=\"" << fmt(ax.left + ax.width + 20) << "\" y=\"" << fmt(ax.top + 14 + 16.0 * static_cast<double>(i))
          << "\" fill=\"" << colour(i) << "\">" << esc(l.label) << "</text>\n";
    }
    s << "<text x=\"" << fmt(ax.left + ax.width + 20) << "\" y=\"" << fmt(ax.top + ax.height)
      << "\" fill=\"#444\">dots: measured; dashed: alpha-beta fit</text>\n</svg>\n";
    return s.str();
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
    bool topology = false;
    po::options_description desc(
        "calib-host plot FILE --output roofline.svg: roofline chart as SVG\n"
        "calib-host plot FILE --topology --output transfers.svg: bandwidth against message size per link and "
        "collective");
    desc.add_options()("help,h", "this help")("output,o", po::value(&output), "SVG file to write")(
        "topology", po::bool_switch(&topology), "plot the topology section (links, collectives)");
    po::variables_map vm;
    if (int code = 0; !parse_file_command(args, desc, file, vm, code)) return code;
    if (output.empty()) return usage_error("missing --output FILE.svg");
    try {
        const core::Profile p = core::load_profile(file);
        if (topology) {
            const auto* v = p.extensions.if_contains("topology");
            if (v == nullptr) return usage_error(file + " has no topology section (no transfer cases were measured)");
            core::save_text_atomic(output, render_transfers(core::read_topology(*v), p.metadata.hardware_name));
        } else {
            core::save_text_atomic(output, render_roofline(p));
        }
    } catch (const std::exception& e) {
        return usage_error(e.what());
    }
    return kExitOk;
}

}  // namespace calib::cli
