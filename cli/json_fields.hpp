// Number formatting for the CLI's tables, and the tolerant reader for a case's own params in a record's
// extra_params (free text, so untyped; calib's own fields are read through core::read_extras): a
// missing or mistyped param gives the default, so rendering never throws on an older profile.
#pragma once

#include <boost/json.hpp>
#include <cstdio>
#include <string>

namespace calib::cli {

inline std::string fixed(double v, int decimals = 1) {
    char b[48];
    std::snprintf(b, sizeof b, "%.*f", decimals, v);
    return b;
}

// Strings as they are; numbers and booleans as text.
inline std::string str(const boost::json::object& o, const char* key, const std::string& def = "") {
    auto* v = o.if_contains(key);
    if (v == nullptr) return def;
    if (v->is_string()) return std::string(v->as_string());
    if (v->is_int64()) return std::to_string(v->as_int64());
    if (v->is_double()) return fixed(v->as_double(), 3);
    if (v->is_bool()) return v->as_bool() ? "true" : "false";
    return def;
}

}  // namespace calib::cli
