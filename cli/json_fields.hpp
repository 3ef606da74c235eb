// Tolerant readers for optional fields of a loaded profile's JSON objects (extensions, extra_params):
// a missing or mistyped field gives the default, so rendering never throws on an older profile.
#pragma once

#include <boost/json.hpp>
#include <cstdio>
#include <string>

namespace calib::cli {

inline double num(const boost::json::object& o, const char* key, double def = 0) {
    auto* v = o.if_contains(key);
    if (v == nullptr) return def;
    if (v->is_double()) return v->as_double();
    if (v->is_int64()) return static_cast<double>(v->as_int64());
    return def;
}

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

inline bool flag(const boost::json::object& o, const char* key) {
    auto* v = o.if_contains(key);
    return v != nullptr && v->is_bool() && v->as_bool();
}

}  // namespace calib::cli
