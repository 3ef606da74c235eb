// calib's typed sections <-> JSON, both directions driven by the field tables in schema.hpp.
#include "calib/core/profile_sections.hpp"

#include "reader.hpp"
#include "schema.hpp"

namespace calib::core {

namespace json = boost::json;

namespace {

// Reads `v` into `out` when it is an object; otherwise `out` keeps its defaults.
template <class T>
void read_tolerant(const json::value* v, const char* path, T& out) {
    if (v == nullptr || !v->is_object()) return;
    detail::Problems ignored;
    detail::FieldReader r(v->get_object(), path, ignored, detail::FieldReader::Mode::tolerant);
    r.read_fields(out);
}

}  // namespace

json::object to_json(const PeaksSection& s) { return detail::write_object(s); }
json::object to_json(const PluginEntry& s) { return detail::write_object(s); }
json::object to_json(const PrecisionMatrix& s) { return detail::write_object(s); }
json::object to_json(const CalibSections& s) { return detail::write_object(s); }

namespace {
template <class T>
void append_fields(json::object& e, const T& x) {
    for (auto& kv : detail::write_object(x)) e[kv.key()] = std::move(kv.value());
}
}  // namespace

void append(json::object& e, const CaseOrigin& x) { append_fields(e, x); }
void append(json::object& e, const InstanceFacts& x) { append_fields(e, x); }
void append(json::object& e, const SampleFacts& x) { append_fields(e, x); }
void append(json::object& e, const EnergyFacts& x) { append_fields(e, x); }
void append(json::object& e, const Judgement& x) { append_fields(e, x); }
void append(json::object& e, const FusionExtras& x) { append_fields(e, x); }
void append(json::object& e, const SweepPointFacts& x) { append_fields(e, x); }

OperationExtras read_extras(const OperationRecord& r) {
    OperationExtras x;
    const json::value v(r.extra_params);
    read_tolerant(&v, "extra_params", x);
    return x;
}

FusionExtras read_extras(const FusionRecord& r) {
    FusionExtras x;
    const json::value v(r.extra_params);
    read_tolerant(&v, "extra_params", x);
    return x;
}

SweepPointFacts read_sweep_point(const json::object& point) {
    SweepPointFacts x;
    const json::value v(point);
    read_tolerant(&v, "memory_sweep", x);
    return x;
}

void write_sections(const CalibSections& s, Profile& p) {
    json::object ext = to_json(s);
    // calib's sections first, then anything already there that they do not name.
    for (const auto& kv : p.extensions)
        if (!ext.contains(kv.key())) ext[kv.key()] = kv.value();
    p.extensions = std::move(ext);
}

PrecisionMatrix read_precision_matrix(const Profile& p) {
    PrecisionMatrix m;
    read_tolerant(&p.precision_matrix, "precision_matrix", m);
    return m;
}

CalibSections read_sections(const Profile& p) {
    CalibSections s;
    s.schema_version = 0;
    const json::value doc(p.extensions);
    read_tolerant(&doc, "", s);
    return s;
}

FittedCurve model_of(const FittedCurveEntry& e) {
    FittedCurve f;
    f.type = e.curve_type;
    f.peak = e.peak.value_or(0);
    f.scale = e.scale.value_or(0);
    f.efficiency = e.efficiency.value_or(0);
    for (const auto& b : e.breakpoints.value_or(std::vector<std::vector<double>>{}))
        if (b.size() == 2) f.breakpoints.emplace_back(b[0], b[1]);
    if (f.type == "piecewise_linear" && f.breakpoints.empty()) f.type = "constant";
    return f;
}

FittedCurveEntry entry_of(const FittedCurve& c) {
    FittedCurveEntry e;
    e.curve_type = c.type;
    if (c.type == "asymptotic") e.peak = c.peak, e.scale = c.scale;
    if (c.type == "piecewise_linear") {
        e.breakpoints.emplace();
        for (const auto& [x, y] : c.breakpoints) e.breakpoints->push_back({x, y});
    }
    if (c.type == "constant") e.efficiency = c.efficiency;
    return e;
}

}  // namespace calib::core
