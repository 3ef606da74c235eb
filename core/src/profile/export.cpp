// A profile in the shapes the origin's other readers load (profile_export.hpp).
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "calib/core/curves.hpp"
#include "calib/core/profile_export.hpp"
#include "schema.hpp"

namespace calib::core {

namespace json = boost::json;

namespace {

// `s` with only the characters `keep` accepts; `fallback` when none is left.
template <class Keep>
std::string only(const std::string& s, Keep keep, const char* fallback) {
    std::string out;
    for (unsigned char c : s)
        if (keep(c)) out.push_back(static_cast<char>(c));
    return out.empty() ? fallback : out;
}

std::string upper(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string fmt(const char* format, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, v);
    return buf;
}

// The FLOP counts a curve is sampled at: data points, calib's breakpoints, and for an asymptote
// log-spaced ones between; a single count x gives x and 10x.
std::vector<double> sample_flops(const EfficiencyCurve& c, const FittedCurve& model) {
    std::vector<double> xs;
    for (const auto& d : c.data_points) xs.push_back(d.flops);
    for (const auto& b : model.breakpoints) xs.push_back(b.first);
    xs.push_back(c.min_flops);
    xs.push_back(c.max_flops);
    xs.erase(std::remove_if(xs.begin(), xs.end(), [](double x) { return !(x > 0) || !std::isfinite(x); }),
             xs.end());
    if (xs.empty()) return xs;
    std::sort(xs.begin(), xs.end());
    const double lo = xs.front(), hi = xs.back();
    constexpr int kBetween = 8;
    for (int i = 1; i < kBetween && hi > lo && model.type == "asymptotic"; ++i)
        xs.push_back(lo * std::pow(hi / lo, i / double(kBetween)));
    if (!(hi > lo)) xs.push_back(lo * 10);
    std::sort(xs.begin(), xs.end());
    std::vector<double> out;  // strictly increasing, near-equal counts merged
    for (double x : xs)
        if (out.empty() || x > out.back() * (1 + 1e-9)) out.push_back(x);
    return out;
}

std::string model_note(const EfficiencyCurve& c) {
    const auto& f = c.fitted_curve;
    std::string model = f.curve_type;
    if (f.curve_type == "asymptotic")
        model += " efficiency = " + fmt("%.4g", f.peak.value_or(0)) + " * (1 - exp(-flops / " +
                 fmt("%.4g", f.scale.value_or(0)) + "))";
    else if (f.curve_type == "constant")
        model += " efficiency " + fmt("%.4g", f.efficiency.value_or(0));
    else
        model += " (isotonic) through " + std::to_string(f.breakpoints ? f.breakpoints->size() : 0) +
                 " breakpoints";
    return "calib fitted " + model + " on " + std::to_string(c.data_points.size()) + " measured point(s) (" +
           std::to_string(c.points_within_ci) + " within their 95% interval): rms residual " +
           fmt("%.4g", c.rms_residual) + ", max |residual| " + fmt("%.4g", c.max_abs_residual) +
           " (efficiency units, relative to " + fmt("%.1f", c.peak_gflops) + " GFLOPS on " + c.device +
           "); fitted_curve samples that model as piecewise_linear, calib_model keeps it";
}

json::array data_points_json(const EfficiencyCurve& c) {
    std::vector<CurveDataPoint> pts = c.data_points;
    std::stable_sort(pts.begin(), pts.end(), [](const auto& a, const auto& b) { return a.flops < b.flops; });
    json::array out;
    for (const auto& d : pts) {
        if (!(d.flops > 0)) continue;
        const double lo = std::max(0.0, std::min(d.ci_lower, d.efficiency_mean));
        const double hi = std::max(d.ci_upper, d.efficiency_mean);
        out.push_back(json::object{{"flops", d.flops},
                                   {"efficiency_mean", d.efficiency_mean},
                                   {"efficiency_std", std::max(0.0, d.efficiency_std)},
                                   {"efficiency_min", lo},
                                   {"efficiency_max", hi},
                                   {"ci_lower", lo},
                                   {"ci_upper", hi},
                                   {"num_observations", 1},
                                   {"num_samples", d.num_samples},
                                   {"source", "measured"},
                                   {"record", d.record}});
    }
    return out;
}

json::object curve_json(const EfficiencyCurve& c, const std::vector<std::pair<double, double>>& bps) {
    json::array points;
    for (const auto& [x, e] : bps) points.push_back(json::array{x, e});
    json::object fitted{{"curve_type", "piecewise_linear"},
                        {"breakpoints", std::move(points)},
                        {"residual_std", c.rms_residual},
                        {"max_residual", c.max_abs_residual}};
    return json::object{{"operation_type", c.operation_type},
                        {"description", c.description.empty() ? "Measured efficiency for " + c.operation_type
                                                              : c.description},
                        {"data_points", data_points_json(c)},
                        {"fitted_curve", std::move(fitted)},
                        {"calib_model", detail::write_object(c.fitted_curve)},
                        {"min_flops", bps.front().first},
                        {"max_flops", bps.back().first},
                        {"notes", model_note(c)}};
}

json::object validation_json(const EfficiencyCurve& c) {
    return json::object{{"calib_model", c.fitted_curve.curve_type},
                        {"rms_residual", c.rms_residual},
                        {"max_abs_residual", c.max_abs_residual},
                        {"points_within_ci", c.points_within_ci},
                        {"points", c.data_points.size()}};
}

json::object curves_document(const Profile& p, const std::string& hardware_id, const std::string& precision) {
    json::object d{{"schema_version", "1.0"},
                   {"hardware_id", hardware_id},
                   {"hardware_name", p.metadata.hardware_name},
                   {"device_type", curves_device_type(p.metadata)},
                   {"precision", upper(precision)},
                   {"calibration_date", p.metadata.calibration_date},
                   {"calibration_tool_version", p.metadata.calibration_tool_version}};
    if (p.measured_bandwidth_gbps > 0) d["measured_bandwidth_gbps"] = p.measured_bandwidth_gbps;
    d["curves"] = json::object{};
    d["bandwidth_curves"] = json::object{};
    d["validation"] = json::object{{"method",
                                    "residuals of calib's fitted model on the measured points "
                                    "(efficiency units)"},
                                   {"curves", json::object{}}};
    return d;
}

}  // namespace

Profile to_origin_2025(Profile p) {
    auto& m = p.metadata;
    m.device_type.reset();
    m.platform_architecture.reset();
    m.framework.reset();
    m.cpu_clock.reset();
    m.gpu_clock.reset();
    m.preflight.reset();
    for (auto& [key, rec] : p.operation_profiles) rec.precision_results.reset();
    return p;
}

std::string default_hardware_id(const std::string& hardware_name) {
    std::string id;
    for (unsigned char c : hardware_name) {
        if (std::isalnum(c))
            id.push_back(static_cast<char>(std::tolower(c)));
        else if (!id.empty() && id.back() != '_')
            id.push_back('_');
    }
    while (!id.empty() && id.back() == '_') id.pop_back();
    return id.empty() ? "unknown" : id;
}

std::string curves_device_type(const Metadata& m) {
    const std::string t = lower(m.device_type.value_or("cpu"));
    return t == "cuda" || t == "gpu" ? "gpu" : t;
}

std::vector<std::pair<double, double>> origin_breakpoints(const EfficiencyCurve& c) {
    const FittedCurve model = model_of(c.fitted_curve);
    std::vector<std::pair<double, double>> out;
    double level = 0;
    for (double x : sample_flops(c, model)) {
        level = std::max(level, std::clamp(model.evaluate(x), 0.0, 1.0));
        out.emplace_back(x, level);
    }
    return out;
}

std::vector<CurvesFile> to_origin_curves(const Profile& p, const std::string& hardware_id) {
    std::vector<CurvesFile> files;
    const auto curves = read_sections(p).efficiency_curves;
    for (const auto& [key, c] : curves.value_or(NamedList<EfficiencyCurve>{})) {
        const auto bps = origin_breakpoints(c);
        if (bps.size() < 2) continue;  // no positive FLOP count: nothing the mapper could use
        const std::string prec = lower(c.precision.empty() ? key.substr(key.find('/') + 1) : c.precision);
        const std::string op = c.operation_type.empty() ? key.substr(0, key.find('/')) : c.operation_type;
        auto it = std::find_if(files.begin(), files.end(),
                               [&](const CurvesFile& f) { return f.precision == prec; });
        if (it == files.end()) it = files.insert(files.end(), {prec, curves_document(p, hardware_id, prec)});
        EfficiencyCurve named = c;
        named.operation_type = op;
        it->document["curves"].as_object()[op] = curve_json(named, bps);
        it->document["validation"].as_object()["curves"].as_object()[op] = validation_json(named);
    }
    for (auto& f : files)
        f.document["notes"] =
            "Exported by calib-host export from calib's efficiency_curves section: " +
            std::to_string(f.document["curves"].as_object().size()) +
            " curve(s), efficiency = measured / peak against FLOPs of one execution; "
            "fitted_curve is calib's model sampled as piecewise_linear, calib_model the model";
    return files;
}

std::string utc_stamp(const std::string& iso_date) {
    using namespace std::chrono;
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, used = 0;
    char sep = 0;
    const bool head = std::sscanf(iso_date.c_str(), "%4d-%2d-%2d%c%2d:%2d:%2d%n", &y, &mo, &d, &sep, &h, &mi,
                                  &s, &used) == 7;
    const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
    if (!head || (sep != 'T' && sep != ' ') || !ymd.ok() || h > 23 || mi > 59 || s > 59 || used != 19)
        throw ProfileError("metadata.calibration_date: not an ISO-8601 date and time: '" + iso_date + "'");
    std::string rest = iso_date.substr(19);
    if (!rest.empty() && rest[0] == '.')
        rest.erase(0, std::min(rest.find_first_not_of("0123456789", 1), rest.size()));
    int oh = 0, om = 0, n = 0;
    minutes offset{0};
    if (rest == "Z" || rest.empty()) {
    } else if ((rest[0] == '+' || rest[0] == '-') &&
               std::sscanf(rest.c_str() + 1, "%2d:%2d%n", &oh, &om, &n) == 2 &&
               static_cast<size_t>(n) + 1 == rest.size() && oh < 24 && om < 60) {
        offset = minutes{(rest[0] == '-' ? -1 : 1) * (oh * 60 + om)};
    } else {
        throw ProfileError("metadata.calibration_date: unreadable time zone in '" + iso_date + "'");
    }
    const auto t = sys_days(ymd) + hours{h} + minutes{mi} + seconds{s} - offset;
    const year_month_day u{floor<days>(t)};
    const hh_mm_ss hms{t - floor<days>(t)};
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d%02u%02uT%02ld%02ld%02ldZ", int(u.year()), unsigned(u.month()),
                  unsigned(u.day()), long(hms.hours().count()), long(hms.minutes().count()),
                  long(hms.seconds().count()));
    return buf;
}

std::string registry_file_name(const Metadata& m) {
    auto alnum = [](unsigned char c) { return std::isalnum(c) != 0; };
    std::string mode = "unknown";
    if (m.gpu_clock && m.gpu_clock->power_mode_name)
        mode = only(*m.gpu_clock->power_mode_name, alnum, "unknown");
    else if (m.cpu_clock && m.cpu_clock->governor)
        mode = only(*m.cpu_clock->governor, alnum, "unknown");
    int64_t freq = 0;
    if (m.device_type.value_or("cpu") == "cuda")
        freq = m.gpu_clock ? m.gpu_clock->sm_clock_mhz : 0;
    else if (m.cpu_clock)
        freq = static_cast<int64_t>(m.cpu_clock->current_freq_mhz);
    const std::string framework = only(
        m.framework.value_or(""), [](unsigned char c) { return std::isalpha(c) != 0; }, "unknown");
    return mode + "_" + std::to_string(std::max<int64_t>(freq, 0)) + "MHz_" + framework + "_" +
           utc_stamp(m.calibration_date) + ".json";
}

}  // namespace calib::core
