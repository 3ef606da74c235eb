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

}  // namespace calib::core
