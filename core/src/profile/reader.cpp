#include "reader.hpp"
#include "schema.hpp"

#include <cmath>
#include <limits>
#include <utility>

namespace calib::core::detail {

namespace json = boost::json;

void Problems::add(const std::string& path, const std::string& what) {
    std::string msg = (path.empty() ? std::string("<root>") : path) + ": " + what;
    if (!sink_) throw ProfileError(msg);
    sink_->push_back(std::move(msg));
}

std::string child_path(const std::string& base, std::string_view key) {
    if (base.empty()) return std::string(key);
    std::string p;
    p.reserve(base.size() + 1 + key.size());
    p.append(base).append(".").append(key);
    return p;
}

std::string index_path(const std::string& base, size_t i) { return base + "[" + std::to_string(i) + "]"; }

const char* kind_name(const json::value& v) {
    switch (v.kind()) {
        case json::kind::null:
            return "null";
        case json::kind::bool_:
            return "bool";
        case json::kind::int64:
        case json::kind::uint64:
            return "integer";
        case json::kind::double_:
            return "float";
        case json::kind::string:
            return "string";
        case json::kind::array:
            return "array";
        case json::kind::object:
            return "object";
    }
    return "unknown";
}

const std::vector<std::string_view>& origin_top_keys() {
    static const std::vector<std::string_view> keys = [] {
        std::vector<std::string_view> k = {"metadata"};
        for (const auto& [name, member] : kTopNumbers) k.push_back(name);
        k.push_back("operation_profiles");
        k.push_back("fusion_profiles");
        return k;
    }();
    return keys;
}

const std::vector<std::string_view>& extension_keys() {
    static const std::vector<std::string_view> keys = {"schema_version", "calib_version",    "host", "peaks",
                                                       "plugins",        "memory_hierarchy", "run"};
    return keys;
}

namespace {

template <class T>
bool read_strict(const json::object& o, const std::string& path, Problems& pr, T& out) {
    FieldReader r(o, path, pr);
    r.read_fields(out);
    return r.ok();
}

// Reads `name` as an object of records; `read_one` fills each.
template <class Record, class ReadOne>
void read_records(const json::object& top, std::string_view name, Problems& pr,
                  std::vector<std::pair<std::string, Record>>& out, std::vector<bool>& oks, ReadOne read_one,
                  bool& top_ok) {
    const auto* v = top.if_contains(name);
    if (!v) return;  // reported by the caller's missing-key check
    const std::string path(name);
    if (!v->is_object()) {
        top_ok = false;
        pr.add(path, std::string("expected object, got ") + kind_name(*v));
        return;
    }
    for (const auto& kv : v->get_object()) {
        const std::string rp = child_path(path, kv.key());
        Record rec;
        bool ok = true;
        if (kv.value().is_object()) {
            ok = read_one(kv.value().get_object(), rp, pr, rec);
        } else {
            ok = false;
            pr.add(rp, std::string("expected object, got ") + kind_name(kv.value()));
        }
        out.emplace_back(std::string(kv.key()), std::move(rec));
        oks.push_back(ok);
    }
}

}  // namespace

ReadResult read_profile(const json::value& doc, Problems& pr) {
    ReadResult res;
    if (!doc.is_object()) {
        res.top_ok = false;
        pr.add("", std::string("expected object, got ") + kind_name(doc));
        return res;
    }
    const auto& top = doc.get_object();
    Profile& p = res.profile;

    for (auto k : origin_top_keys()) {
        if (!top.contains(k)) {
            res.top_ok = false;
            pr.add(std::string(k), "missing field");
        }
    }
    if (const auto* m = top.if_contains("metadata")) {
        if (m->is_object())
            res.top_ok = read_strict(m->get_object(), "metadata", pr, p.metadata) && res.top_ok;
        else {
            res.top_ok = false;
            pr.add("metadata", std::string("expected object, got ") + kind_name(*m));
        }
    }
    for (const auto& [name, member] : kTopNumbers) {
        const auto* v = top.if_contains(name);
        if (!v) continue;
        if (v->is_number()) {
            p.*member = v->to_number<double>();
        } else {
            res.top_ok = false;
            pr.add(std::string(name), std::string("expected number, got ") + kind_name(*v));
        }
    }
    read_records(top, "operation_profiles", pr, p.operation_profiles, res.operation_ok, read_strict<OperationRecord>,
                 res.top_ok);
    read_records(top, "fusion_profiles", pr, p.fusion_profiles, res.fusion_ok, read_strict<FusionRecord>,
                 res.top_ok);

    if (const auto* pm = top.if_contains("precision_matrix")) {
        if (pm->is_object() || pm->is_null()) {
            p.precision_matrix = *pm;
        } else {
            res.top_ok = false;
            pr.add("precision_matrix", std::string("expected object or null, got ") + kind_name(*pm));
        }
    }
    for (const auto& kv : top) {
        bool origin = kv.key() == "precision_matrix";
        for (auto k : origin_top_keys()) origin = origin || k == kv.key();
        if (!origin) p.extensions.emplace(kv.key(), kv.value());
    }
    return res;
}

void scan_non_finite(const json::value& root, const std::string& root_path, Problems& pr) {
    // Explicit stack of (value, path): no recursion, so any nesting depth is safe.
    std::vector<std::pair<const json::value*, std::string>> stack;
    stack.emplace_back(&root, root_path);
    while (!stack.empty()) {
        auto [v, path] = std::move(stack.back());
        stack.pop_back();
        if (v->is_double()) {
            if (!std::isfinite(v->get_double()))
                pr.add(path, std::isnan(v->get_double()) ? "NaN is not representable in JSON"
                                                         : "infinity is not representable in JSON");
        } else if (v->is_array()) {
            const auto& a = v->get_array();
            for (size_t i = a.size(); i-- > 0;) stack.emplace_back(&a[i], index_path(path, i));
        } else if (v->is_object()) {
            const auto& o = v->get_object();
            for (auto it = o.end(); it != o.begin();) {
                --it;
                stack.emplace_back(&it->value(), child_path(path, it->key()));
            }
        }
    }
}

}  // namespace calib::core::detail
