#include "reader.hpp"

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
    static const std::vector<std::string_view> keys = {"metadata",
                                                       "theoretical_peak_gflops",
                                                       "theoretical_bandwidth_gbps",
                                                       "best_measured_gflops",
                                                       "avg_measured_gflops",
                                                       "worst_measured_gflops",
                                                       "measured_bandwidth_gbps",
                                                       "bandwidth_efficiency",
                                                       "best_efficiency",
                                                       "avg_efficiency",
                                                       "worst_efficiency",
                                                       "operation_profiles",
                                                       "fusion_profiles"};
    return keys;
}

const std::vector<std::string_view>& extension_keys() {
    static const std::vector<std::string_view> keys = {"schema_version", "calib_version",    "host", "peaks",
                                                       "plugins",        "memory_hierarchy", "run"};
    return keys;
}

namespace {

// Reads named fields of one JSON object, tracking which keys were consumed so that `finish`
// can reject the rest (the compatibility rule).
class FieldReader {
public:
    FieldReader(const json::object& o, std::string path, Problems& pr)
        : o_(o), path_(std::move(path)), pr_(pr) {}

    bool ok() const { return ok_; }

    void str(std::string_view name, std::string& out) {
        if (const auto* v = get(name)) {
            if (v->is_string())
                out = std::string(v->get_string());
            else
                wrong(name, "string", *v);
        }
    }
    void opt_str(std::string_view name, std::optional<std::string>& out) {
        if (const auto* v = get(name)) {
            if (v->is_string())
                out = std::string(v->get_string());
            else if (v->is_null())
                out.reset();
            else
                wrong(name, "string or null", *v);
        }
    }
    void num(std::string_view name, double& out) {
        if (const auto* v = get(name)) {
            if (v->is_double())
                out = v->get_double();
            else if (v->is_int64())
                out = static_cast<double>(v->get_int64());
            else if (v->is_uint64())
                out = static_cast<double>(v->get_uint64());
            else
                wrong(name, "number", *v);
        }
    }
    void integer(std::string_view name, int64_t& out) {
        if (const auto* v = get(name)) read_int(*v, child_path(path_, name), out);
    }
    void boolean(std::string_view name, bool& out) {
        if (const auto* v = get(name)) {
            if (v->is_bool())
                out = v->get_bool();
            else
                wrong(name, "bool", *v);
        }
    }
    void int_list(std::string_view name, std::vector<int64_t>& out) {
        const auto* v = get(name);
        if (!v) return;
        if (!v->is_array()) return wrong(name, "array of integers", *v);
        const auto& a = v->get_array();
        out.assign(a.size(), 0);
        const std::string p = child_path(path_, name);
        for (size_t i = 0; i < a.size(); ++i) read_int(a[i], index_path(p, i), out[i]);
    }
    void str_list(std::string_view name, std::vector<std::string>& out) {
        const auto* v = get(name);
        if (!v) return;
        if (!v->is_array()) return wrong(name, "array of strings", *v);
        const auto& a = v->get_array();
        out.clear();
        const std::string p = child_path(path_, name);
        for (size_t i = 0; i < a.size(); ++i) {
            if (a[i].is_string()) {
                out.emplace_back(a[i].get_string());
            } else {
                fail(index_path(p, i), std::string("expected string, got ") + kind_name(a[i]));
            }
        }
    }
    void object(std::string_view name, json::object& out) {
        if (const auto* v = get(name)) {
            if (v->is_object())
                out = v->get_object();
            else
                wrong(name, "object", *v);
        }
    }
    // Any key not consumed is unknown: the origin loader would fail on it.
    void finish() {
        for (const auto& kv : o_) {
            bool known = false;
            for (auto s : seen_) known = known || s == kv.key();
            if (!known) fail(child_path(path_, kv.key()), "unknown field (the origin loader rejects it)");
        }
    }

private:
    const json::value* get(std::string_view name) {
        seen_.push_back(name);
        const auto* v = o_.if_contains(name);
        if (!v) fail(child_path(path_, name), "missing field");
        return v;
    }
    void wrong(std::string_view name, const char* expected, const json::value& v) {
        fail(child_path(path_, name), std::string("expected ") + expected + ", got " + kind_name(v));
    }
    void read_int(const json::value& v, const std::string& p, int64_t& out) {
        if (v.is_int64()) {
            out = v.get_int64();
        } else if (v.is_uint64()) {
            if (v.get_uint64() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
                fail(p, "integer out of range");
            else
                out = static_cast<int64_t>(v.get_uint64());
        } else {
            fail(p, std::string("expected integer, got ") + kind_name(v));
        }
    }
    void fail(const std::string& p, const std::string& what) {
        ok_ = false;
        pr_.add(p, what);
    }

    const json::object& o_;
    std::string path_;
    Problems& pr_;
    std::vector<std::string_view> seen_;
    bool ok_ = true;
};

bool read_metadata(const json::object& o, const std::string& path, Problems& pr, Metadata& m) {
    FieldReader r(o, path, pr);
    r.str("hardware_name", m.hardware_name);
    r.str("calibration_date", m.calibration_date);
    r.str("calibration_tool_version", m.calibration_tool_version);
    r.str("cpu_model", m.cpu_model);
    r.integer("cpu_count", m.cpu_count);
    r.num("total_memory_gb", m.total_memory_gb);
    r.opt_str("python_version", m.python_version);
    r.opt_str("pytorch_version", m.pytorch_version);
    r.opt_str("numpy_version", m.numpy_version);
    r.integer("num_warmup_runs", m.num_warmup_runs);
    r.integer("num_measurement_runs", m.num_measurement_runs);
    r.finish();
    return r.ok();
}

bool read_operation(const json::object& o, const std::string& path, Problems& pr, OperationRecord& rec) {
    FieldReader r(o, path, pr);
    r.str("operation_type", rec.operation_type);
    r.num("measured_gflops", rec.measured_gflops);
    r.num("efficiency", rec.efficiency);
    r.num("achieved_bandwidth_gbps", rec.achieved_bandwidth_gbps);
    r.boolean("memory_bound", rec.memory_bound);
    r.boolean("compute_bound", rec.compute_bound);
    r.num("arithmetic_intensity", rec.arithmetic_intensity);
    r.integer("batch_size", rec.batch_size);
    r.int_list("input_shape", rec.input_shape);
    r.int_list("output_shape", rec.output_shape);
    r.num("mean_latency_ms", rec.mean_latency_ms);
    r.num("std_latency_ms", rec.std_latency_ms);
    r.num("min_latency_ms", rec.min_latency_ms);
    r.num("max_latency_ms", rec.max_latency_ms);
    r.integer("num_trials", rec.num_trials);
    r.object("extra_params", rec.extra_params);
    r.finish();
    return r.ok();
}

bool read_fusion(const json::object& o, const std::string& path, Problems& pr, FusionRecord& rec) {
    FieldReader r(o, path, pr);
    r.str("fusion_pattern", rec.fusion_pattern);
    r.str_list("operators", rec.operators);
    r.integer("num_operators", rec.num_operators);
    r.num("unfused_latency_ms", rec.unfused_latency_ms);
    r.num("unfused_gflops", rec.unfused_gflops);
    r.integer("unfused_memory_bytes", rec.unfused_memory_bytes);
    r.num("fused_latency_ms", rec.fused_latency_ms);
    r.num("fused_gflops", rec.fused_gflops);
    r.integer("fused_memory_bytes", rec.fused_memory_bytes);
    r.num("speedup_factor", rec.speedup_factor);
    r.num("memory_reduction", rec.memory_reduction);
    r.num("gflops_improvement", rec.gflops_improvement);
    r.int_list("input_shape", rec.input_shape);
    r.object("extra_params", rec.extra_params);
    r.integer("num_trials", rec.num_trials);
    r.finish();
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
            res.top_ok = read_metadata(m->get_object(), "metadata", pr, p.metadata) && res.top_ok;
        else {
            res.top_ok = false;
            pr.add("metadata", std::string("expected object, got ") + kind_name(*m));
        }
    }
    const std::pair<std::string_view, double*> numbers[] = {
        {"theoretical_peak_gflops", &p.theoretical_peak_gflops},
        {"theoretical_bandwidth_gbps", &p.theoretical_bandwidth_gbps},
        {"best_measured_gflops", &p.best_measured_gflops},
        {"avg_measured_gflops", &p.avg_measured_gflops},
        {"worst_measured_gflops", &p.worst_measured_gflops},
        {"measured_bandwidth_gbps", &p.measured_bandwidth_gbps},
        {"bandwidth_efficiency", &p.bandwidth_efficiency},
        {"best_efficiency", &p.best_efficiency},
        {"avg_efficiency", &p.avg_efficiency},
        {"worst_efficiency", &p.worst_efficiency}};
    for (const auto& [name, dst] : numbers) {
        const auto* v = top.if_contains(name);
        if (!v) continue;
        if (v->is_number()) {
            *dst = v->to_number<double>();
        } else {
            res.top_ok = false;
            pr.add(std::string(name), std::string("expected number, got ") + kind_name(*v));
        }
    }
    read_records(top, "operation_profiles", pr, p.operation_profiles, res.operation_ok, read_operation,
                 res.top_ok);
    read_records(top, "fusion_profiles", pr, p.fusion_profiles, res.fusion_ok, read_fusion, res.top_ok);

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
