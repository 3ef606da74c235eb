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
