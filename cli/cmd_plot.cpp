// `calib-host plot FILE --output roofline.svg`: a self-contained log-log roofline chart.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>

#include "calib/core/profile.hpp"
#include "json_fields.hpp"
#include "options.hpp"

namespace calib::cli {
namespace {

namespace json = boost::json;

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

}  // namespace

std::string render_roofline(const core::Profile& p) {
    // Ceilings: theoretical peak per precision (from the profile's peaks), slopes: triad GB/s per level.
    std::vector<std::pair<std::string, double>> ceilings;
    if (auto* pk = p.extensions.if_contains("peaks"); pk != nullptr && pk->is_object())
        if (auto* c = pk->as_object().if_contains("compute"); c != nullptr && c->is_object())
            for (const auto& kv : c->as_object())
                if (kv.value().is_object() && num(kv.value().as_object(), "gflops") > 0)
                    ceilings.emplace_back(std::string(kv.key()), num(kv.value().as_object(), "gflops"));
    std::vector<std::pair<std::string, double>> slopes;
    if (auto* mh = p.extensions.if_contains("memory_hierarchy"); mh != nullptr && mh->is_object())
        if (auto* lv = mh->as_object().if_contains("levels"); lv != nullptr && lv->is_array())
            for (const auto& v : lv->as_array())
                if (v.is_object()) {
                    double bw = num(v.as_object(), "triad_gbps");
                    if (bw <= 0) bw = num(v.as_object(), "copy_gbps");
                    if (bw > 0) slopes.emplace_back(str(v.as_object(), "name"), bw);
                }
    if (slopes.empty() && p.measured_bandwidth_gbps > 0) slopes.emplace_back("memory", p.measured_bandwidth_gbps);

    Axes ax;
    double ymax = 10;
    for (auto& [n, g] : ceilings) ymax = std::max(ymax, g);
    for (const auto& [k, r] : p.operation_profiles) ymax = std::max(ymax, r.measured_gflops);
    ax.y1 = std::pow(10, std::ceil(std::log10(ymax * 1.5)));
    ax.y0 = ax.y1 / 1e5;

    std::ostringstream s;
    s << R"(<?xml version="1.0" encoding="UTF-8"?>)" << "\n"
      << R"(<svg xmlns="http://www.w3.org/2000/svg" width="1100" height="600" viewBox="0 0 1100 600" font-family="sans-serif" font-size="12">)"
      << "\n<title>Roofline: " << esc(p.metadata.hardware_name) << "</title>\n"
      << R"(<rect x="0" y="0" width="1100" height="600" fill="white"/>)" << "\n";
    s << "<text x=\"" << ax.left << "\" y=\"22\" font-size=\"15\">Roofline: " << esc(p.metadata.hardware_name)
      << "</text>\n";
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

    // Bandwidth slopes: y = bw * ai, clipped at the highest ceiling.
    double top_ceiling = ceilings.empty() ? ax.y1 : 0;
    for (auto& [n, g] : ceilings) top_ceiling = std::max(top_ceiling, g);
    std::size_t ci = 0;
    for (const auto& [name, bw] : slopes) {
        double xa = std::max(ax.x0, ax.y0 / bw), xb = std::min(ax.x1, top_ceiling / bw);
        // Labels sit on their own line at staggered heights, so parallel slopes never overlap them.
        const double label_y = std::max(ax.y0 * std::pow(10, 0.8 + 0.5 * static_cast<double>(ci)), bw * xa * 1.5);
        s << "<g class=\"series\" data-series=\"bandwidth-" << esc(name) << "\" stroke=\"#555\" stroke-dasharray=\""
          << (ci == slopes.size() - 1 ? "none" : "6,3") << "\">"
          << "<line x1=\"" << fmt(ax.X(xa)) << "\" y1=\"" << fmt(ax.Y(bw * xa)) << "\" x2=\"" << fmt(ax.X(xb))
          << "\" y2=\"" << fmt(ax.Y(bw * xb)) << "\" stroke-width=\"1.5\"/>"
          << "<text x=\"" << fmt(ax.X(label_y / bw) + 6) << "\" y=\"" << fmt(ax.Y(label_y) + 4)
          << "\" stroke=\"none\" fill=\"#555\">"
          << esc(name) << " " << fmt(bw) << " GB/s</text></g>\n";
        ++ci;
    }
    // Compute ceilings from each ridge point (with the slowest slope) to the right edge.
    const double dram = slopes.empty() ? 0 : slopes.back().second;
    std::map<std::string, const char*> prec_colour;
    ci = 0;
    for (const auto& [prec, g] : ceilings) {
        const char* col = colour(ci++);
        prec_colour[prec] = col;
        double xa = dram > 0 ? std::max(ax.x0, g / dram) : ax.x0;
        s << "<g class=\"series\" data-series=\"ceiling-" << esc(prec) << "\" stroke=\"" << col << "\">"
          << "<line x1=\"" << fmt(ax.X(xa)) << "\" y1=\"" << fmt(ax.Y(g)) << "\" x2=\"" << ax.left + ax.width
          << "\" y2=\"" << fmt(ax.Y(g)) << "\" stroke-width=\"2\"/>"
          << "<text x=\"" << ax.left + ax.width + 6 << "\" y=\"" << fmt(ax.Y(g) + 4) << "\" stroke=\"none\" fill=\""
          << col << "\">" << esc(prec) << " peak " << fmt(g) << "</text></g>\n";
    }
    // Measured matmul points by precision, fusion patterns as open diamonds.
    std::map<std::string, std::ostringstream> points;
    for (const auto& [key, r] : p.operation_profiles) {
        if (r.measured_gflops <= 0 || r.arithmetic_intensity <= 0) continue;
        std::string prec = str(r.extra_params, "precision", "fp32");
        if (!prec_colour.count(prec)) prec_colour[prec] = colour(ci++);
        points[prec] << "<circle cx=\"" << fmt(ax.X(r.arithmetic_intensity)) << "\" cy=\""
                     << fmt(ax.Y(r.measured_gflops)) << "\" r=\"4\"><title>" << esc(key) << ": "
                     << fmt(r.measured_gflops) << " GFLOPS</title></circle>";
    }
    for (auto& [prec, body] : points)
        s << "<g class=\"series\" data-series=\"points-" << esc(prec) << "\" fill=\"" << prec_colour[prec]
          << "\">" << body.str() << "</g>\n";
    std::ostringstream fus;
    for (const auto& [key, r] : p.fusion_profiles) {
        if (key.find('@') == std::string::npos || r.fused_memory_bytes <= 0 || r.fused_gflops <= 0) continue;
        double flops = r.fused_gflops * r.fused_latency_ms * 1e6;
        double ai = flops / static_cast<double>(r.fused_memory_bytes);
        double x = ax.X(ai), y = ax.Y(r.fused_gflops);
        fus << "<path d=\"M" << fmt(x) << " " << fmt(y - 5) << " l5 5 l-5 5 l-5 -5 z\"><title>" << esc(key) << ": "
            << fmt(r.fused_gflops) << " GFLOPS fused, speedup " << r.speedup_factor << "</title></path>";
    }
    if (!fus.str().empty())
        s << "<g class=\"series\" data-series=\"fusion\" fill=\"none\" stroke=\"#ff7f0e\">" << fus.str() << "</g>\n";
    // Legend.
    double ly = ax.top + 10;
    s << "<g class=\"legend\">";
    for (auto& [prec, col] : prec_colour) {
        if (!points.count(prec)) continue;  // ceilings carry their own labels
        s << "<circle cx=\"" << ax.left + 14 << "\" cy=\"" << fmt(ly) << "\" r=\"4\" fill=\"" << col << "\"/><text x=\""
          << ax.left + 24 << "\" y=\"" << fmt(ly + 4) << "\">matmul " << esc(prec) << "</text>";
        ly += 16;
    }
    if (!fus.str().empty())
        s << "<path d=\"M" << ax.left + 14 << " " << fmt(ly - 5) << " l5 5 l-5 5 l-5 -5 z\" fill=\"none\" stroke=\"#ff7f0e\"/>"
          << "<text x=\"" << ax.left + 24 << "\" y=\"" << fmt(ly + 4) << "\">fusion patterns (fused)</text>";
    s << "</g>\n</svg>\n";
    return s.str();
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
