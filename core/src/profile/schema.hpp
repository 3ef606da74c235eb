// Internal: the field tables of the profile's typed parts and the one writer and one reader they drive.
// Schema<T>::fields lists (JSON name, member) in the order the fields are written; write_object(T) and
// FieldReader::read_object(T) walk the same list, so a field is named once for both directions.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "calib/core/profile.hpp"
#include "calib/core/profile_sections.hpp"
#include "reader.hpp"

namespace calib::core::detail {

namespace json = boost::json;

// How a field is laid out in JSON. An empty std::optional is left out (omit_if_empty) or written as null
// (null_if_empty); flatten writes a typed member's own fields into this object, not a nested one, and
// reads them from it.
enum class Layout { omit_if_empty, null_if_empty, flatten };

template <class T, class M>
struct Field {
    std::string_view name;
    M T::*member;
    Layout layout = Layout::omit_if_empty;
};

template <class T, class M>
constexpr Field<T, M> field(std::string_view name, M T::*member, Layout e = Layout::omit_if_empty) {
    return {name, member, e};
}

template <class T>
struct Schema;  // specialised below: static constexpr auto fields = std::make_tuple(field(...), ...)

// A type whose JSON object may hold keys beyond its table (read and dropped, never a problem).
template <class T>
struct open_schema : std::false_type {};

template <class T, class = void>
struct has_schema : std::false_type {};
template <class T>
struct has_schema<T, std::void_t<decltype(Schema<T>::fields)>> : std::true_type {};

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

template <class T>
struct is_named_list : std::false_type {};
template <class T>
struct is_named_list<std::vector<std::pair<std::string, T>>> : std::true_type {};

template <class T>
struct is_vector : std::false_type {};
template <class T>
struct is_vector<std::vector<T>> : std::true_type {};

// ---- writing --------------------------------------------------------------------------------------

template <class T>
json::object write_object(const T& obj);

template <class V>
json::value write_value(const V& v) {
    if constexpr (has_schema<V>::value) {
        return write_object(v);
    } else if constexpr (is_named_list<V>::value) {
        json::object o;
        for (const auto& [k, x] : v) o[k] = write_value(x);
        return o;
    } else if constexpr (is_vector<V>::value) {
        json::array a;
        a.reserve(v.size());
        for (const auto& x : v) a.push_back(write_value(x));
        return a;
    } else {
        return json::value(v);  // string, number, bool, json object
    }
}

template <class T>
json::object write_object(const T& obj) {
    json::object o;
    std::apply(
        [&](const auto&... f) {
            auto one = [&](const auto& fd) {
                const auto& m = obj.*(fd.member);
                using M = std::decay_t<decltype(m)>;
                if constexpr (has_schema<M>::value) {
                    if (fd.layout == Layout::flatten) {
                        for (auto& kv : write_object(m)) o[kv.key()] = std::move(kv.value());
                        return;
                    }
                }
                if constexpr (is_optional<M>::value) {
                    if (m) o[fd.name] = write_value(*m);
                    else if (fd.layout == Layout::null_if_empty) o[fd.name] = nullptr;
                } else {
                    o[fd.name] = write_value(m);
                }
            };
            (one(f), ...);
        },
        Schema<T>::fields);
    return o;
}

// ---- reading --------------------------------------------------------------------------------------

// Reads named fields of one JSON object. Strict (the origin's parts): a missing, mistyped or unknown
// field is a problem (the origin loader fails on each). Tolerant (calib's sections, for rendering):
// such a field keeps its default.
class FieldReader {
public:
    enum class Mode { strict, tolerant };
    FieldReader(const json::object& o, std::string path, Problems& pr, Mode mode = Mode::strict)
        : o_(o), path_(std::move(path)), pr_(pr), mode_(mode) {}

    bool ok() const { return ok_; }

    // Every field of T's table, then (strict) the check for unknown keys.
    template <class T>
    void read_fields(T& obj) {
        read_members(obj);
        if (mode_ == Mode::strict && !open_schema<T>::value) finish();
    }

    template <class M>
    void field(std::string_view name, M& out) {
        const json::value* v = o_.if_contains(name);
        seen_.push_back(name);
        if (v == nullptr) {
            if constexpr (!is_optional<M>::value) {
                if (mode_ == Mode::strict) fail(child_path(path_, name), "missing field");
            }
            return;
        }
        value(*v, child_path(path_, name), out);
    }

private:
    template <class T>
    void read_members(T& obj) {
        std::apply(
            [&](const auto&... f) {
                auto one = [&](const auto& fd) {
                    auto& m = obj.*(fd.member);
                    using M = std::decay_t<decltype(m)>;
                    if constexpr (has_schema<M>::value) {
                        if (fd.layout == Layout::flatten) return read_members(m);
                    }
                    field(fd.name, m);
                };
                (one(f), ...);
            },
            Schema<T>::fields);
    }
    template <class M>
    void value(const json::value& v, const std::string& p, M& out) {
        if constexpr (is_optional<M>::value) {
            if (v.is_null()) {
                out.reset();
            } else {
                typename M::value_type x{};
                is_nullable_ = true;
                const bool set = value(v, p, x, 0);
                is_nullable_ = false;
                if (set) out = std::move(x);
            }
        } else {
            value(v, p, out, 0);
        }
    }
    // Returns whether `out` was set.
    bool value(const json::value& v, const std::string& p, std::string& out, int) {
        if (!v.is_string()) return wrong(p, is_nullable_ ? "string or null" : "string", v);
        out = std::string(v.get_string());
        return true;
    }
    bool value(const json::value& v, const std::string& p, double& out, int) {
        if (!v.is_number()) return wrong(p, "number", v);
        out = v.to_number<double>();
        return true;
    }
    bool value(const json::value& v, const std::string& p, int64_t& out, int) {
        if (v.is_int64()) {
            out = v.get_int64();
        } else if (v.is_uint64()) {
            if (v.get_uint64() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
                return fail(p, "integer out of range"), false;
            out = static_cast<int64_t>(v.get_uint64());
        } else {
            return fail(p, std::string("expected integer, got ") + kind_name(v)), false;
        }
        return true;
    }
    bool value(const json::value& v, const std::string& p, bool& out, int) {
        if (!v.is_bool()) return wrong(p, "bool", v);
        out = v.get_bool();
        return true;
    }
    bool value(const json::value& v, const std::string& p, json::object& out, int) {
        if (!v.is_object()) return wrong(p, "object", v);
        out = v.get_object();
        return true;
    }
    template <class E>
    bool value(const json::value& v, const std::string& p, std::vector<E>& out, int) {
        if constexpr (is_named_list<std::vector<E>>::value) {
            if (!v.is_object()) return wrong(p, "object", v);
            out.clear();
            for (const auto& kv : v.get_object()) {
                typename E::second_type x{};
                if (value(kv.value(), child_path(p, kv.key()), x, 0) || mode_ == Mode::strict)
                    out.emplace_back(std::string(kv.key()), std::move(x));
            }
        } else {
            if (!v.is_array()) return wrong(p, array_of<E>(), v);
            const auto& a = v.get_array();
            out.clear();
            for (std::size_t i = 0; i < a.size(); ++i) {
                E x{};
                if (value(a[i], index_path(p, i), x, 0) || mode_ == Mode::strict) out.push_back(std::move(x));
            }
        }
        return true;
    }
    template <class S, class = std::enable_if_t<has_schema<S>::value>>
    bool value(const json::value& v, const std::string& p, S& out, long) {
        if (!v.is_object()) return wrong(p, "object", v);
        FieldReader nested(v.get_object(), p, pr_, mode_);
        nested.read_fields(out);
        ok_ = ok_ && nested.ok();
        return true;
    }

    template <class E>
    static const char* array_of() {
        if constexpr (std::is_same_v<E, int64_t>) return "array of integers";
        else if constexpr (std::is_same_v<E, std::string>) return "array of strings";
        else return "array";
    }
    bool wrong(const std::string& p, const char* expected, const json::value& v) {
        fail(p, std::string("expected ") + expected + ", got " + kind_name(v));
        return false;
    }
    // Any key not consumed is unknown: the origin loader would fail on it.
    void finish() {
        for (const auto& kv : o_) {
            bool known = false;
            for (auto s : seen_) known = known || s == kv.key();
            if (!known) fail(child_path(path_, kv.key()), "unknown field (the origin loader rejects it)");
        }
    }
    void fail(const std::string& p, const std::string& what) {
        if (mode_ == Mode::tolerant) return;
        ok_ = false;
        pr_.add(p, what);
    }

    const json::object& o_;
    std::string path_;
    Problems& pr_;
    Mode mode_;
    std::vector<std::string_view> seen_;
    bool ok_ = true;
    bool is_nullable_ = false;
};

// The JSON kind a member of type M is written as, in words for a problem message ("" when any).
template <class M>
constexpr const char* json_kind_of() {
    if constexpr (is_optional<M>::value) return json_kind_of<typename M::value_type>();
    else if constexpr (has_schema<M>::value || is_named_list<M>::value || std::is_same_v<M, json::object>)
        return "object";
    else if constexpr (is_vector<M>::value) return "array";
    else if constexpr (std::is_same_v<M, std::string>) return "string";
    else if constexpr (std::is_same_v<M, bool>) return "bool";
    else if constexpr (std::is_same_v<M, int64_t>) return "integer";
    else if constexpr (std::is_same_v<M, double>) return "number";
    else return "";
}

inline bool is_json_kind(const json::value& v, std::string_view kind) {
    if (kind == "object") return v.is_object();
    if (kind == "array") return v.is_array();
    if (kind == "string") return v.is_string();
    if (kind == "bool") return v.is_bool();
    if (kind == "integer") return v.is_int64() || v.is_uint64();
    if (kind == "number") return v.is_number();
    return true;
}

// Calls f(name, kind) for each field of T's table.
template <class T, class F>
void for_each_field_kind(F f) {
    std::apply(
        [&](const auto&... fd) {
            (f(fd.name, json_kind_of<std::decay_t<decltype(std::declval<T>().*(fd.member))>>()), ...);
        },
        Schema<T>::fields);
}

// ---- the tables -----------------------------------------------------------------------------------

// The origin's top-level numbers, in its order (between "metadata" and "operation_profiles").
inline constexpr std::pair<std::string_view, double Profile::*> kTopNumbers[] = {
    {"theoretical_peak_gflops", &Profile::theoretical_peak_gflops},
    {"theoretical_bandwidth_gbps", &Profile::theoretical_bandwidth_gbps},
    {"best_measured_gflops", &Profile::best_measured_gflops},
    {"avg_measured_gflops", &Profile::avg_measured_gflops},
    {"worst_measured_gflops", &Profile::worst_measured_gflops},
    {"measured_bandwidth_gbps", &Profile::measured_bandwidth_gbps},
    {"bandwidth_efficiency", &Profile::bandwidth_efficiency},
    {"best_efficiency", &Profile::best_efficiency},
    {"avg_efficiency", &Profile::avg_efficiency},
    {"worst_efficiency", &Profile::worst_efficiency}};

// Exactly the origin's metadata fields, in its order.
template <>
struct Schema<Metadata> {
    using T = Metadata;
    static constexpr auto fields = std::make_tuple(
        field("hardware_name", &T::hardware_name), field("calibration_date", &T::calibration_date),
        field("calibration_tool_version", &T::calibration_tool_version), field("cpu_model", &T::cpu_model),
        field("cpu_count", &T::cpu_count), field("total_memory_gb", &T::total_memory_gb),
        field("python_version", &T::python_version, Layout::null_if_empty),
        field("pytorch_version", &T::pytorch_version, Layout::null_if_empty),
        field("numpy_version", &T::numpy_version, Layout::null_if_empty), field("num_warmup_runs", &T::num_warmup_runs),
        field("num_measurement_runs", &T::num_measurement_runs), field("device_type", &T::device_type),
        field("platform_architecture", &T::platform_architecture), field("framework", &T::framework),
        field("cpu_clock", &T::cpu_clock), field("gpu_clock", &T::gpu_clock), field("preflight", &T::preflight));
};

template <>
struct Schema<PreflightCheck> {
    using T = PreflightCheck;
    static constexpr auto fields = std::make_tuple(
        field("name", &T::name), field("status", &T::status), field("message", &T::message),
        field("value", &T::value), field("threshold", &T::threshold), field("unit", &T::unit));
};
// {name, status, message, ...}: the consumers take any further key of a check.
template <>
struct open_schema<PreflightCheck> : std::true_type {};

template <>
struct Schema<Preflight> {
    using T = Preflight;
    static constexpr auto fields = std::make_tuple(field("timestamp", &T::timestamp), field("passed", &T::passed),
                                                   field("forced", &T::forced), field("checks", &T::checks));
};

template <>
struct Schema<CpuClock> {
    using T = CpuClock;
    static constexpr auto fields = std::make_tuple(
        field("current_freq_mhz", &T::current_freq_mhz), field("query_method", &T::query_method),
        field("min_freq_mhz", &T::min_freq_mhz),
        field("max_freq_mhz", &T::max_freq_mhz),
        field("base_freq_mhz", &T::base_freq_mhz),
        field("per_core_freq_mhz", &T::per_core_freq_mhz), field("governor", &T::governor));
};

template <>
struct Schema<GpuClock> {
    using T = GpuClock;
    static constexpr auto fields = std::make_tuple(
        field("sm_clock_mhz", &T::sm_clock_mhz), field("query_method", &T::query_method),
        field("mem_clock_mhz", &T::mem_clock_mhz),
        field("max_sm_clock_mhz", &T::max_sm_clock_mhz),
        field("max_mem_clock_mhz", &T::max_mem_clock_mhz),
        field("power_draw_watts", &T::power_draw_watts),
        field("power_limit_watts", &T::power_limit_watts), field("power_mode_name", &T::power_mode_name));
};

// Exactly the origin's operation record fields.
template <>
struct Schema<OperationRecord> {
    using T = OperationRecord;
    static constexpr auto fields = std::make_tuple(
        field("operation_type", &T::operation_type), field("measured_gflops", &T::measured_gflops),
        field("efficiency", &T::efficiency), field("achieved_bandwidth_gbps", &T::achieved_bandwidth_gbps),
        field("memory_bound", &T::memory_bound), field("compute_bound", &T::compute_bound),
        field("arithmetic_intensity", &T::arithmetic_intensity), field("batch_size", &T::batch_size),
        field("input_shape", &T::input_shape), field("output_shape", &T::output_shape),
        field("mean_latency_ms", &T::mean_latency_ms), field("std_latency_ms", &T::std_latency_ms),
        field("min_latency_ms", &T::min_latency_ms), field("max_latency_ms", &T::max_latency_ms),
        field("num_trials", &T::num_trials), field("extra_params", &T::extra_params),
        field("precision_results", &T::precision_results));
};

template <>
struct Schema<PrecisionTestResult> {
    using T = PrecisionTestResult;
    static constexpr auto fields = std::make_tuple(
        field("precision", &T::precision), field("supported", &T::supported),
        field("failure_reason", &T::failure_reason, Layout::null_if_empty),
        field("measured_gops", &T::measured_gops, Layout::null_if_empty),
        field("efficiency", &T::efficiency, Layout::null_if_empty),
        field("mean_latency_ms", &T::mean_latency_ms, Layout::null_if_empty),
        field("std_latency_ms", &T::std_latency_ms, Layout::null_if_empty),
        field("min_latency_ms", &T::min_latency_ms, Layout::null_if_empty),
        field("max_latency_ms", &T::max_latency_ms, Layout::null_if_empty),
        field("speedup_vs_fp32", &T::speedup_vs_fp32, Layout::null_if_empty), field("test_size", &T::test_size),
        field("num_trials", &T::num_trials),
        field("arithmetic_intensity", &T::arithmetic_intensity, Layout::null_if_empty),
        field("achieved_bandwidth_gbps", &T::achieved_bandwidth_gbps, Layout::null_if_empty));
};

// Exactly the origin's fusion record fields.
template <>
struct Schema<FusionRecord> {
    using T = FusionRecord;
    static constexpr auto fields = std::make_tuple(
        field("fusion_pattern", &T::fusion_pattern), field("operators", &T::operators),
        field("num_operators", &T::num_operators), field("unfused_latency_ms", &T::unfused_latency_ms),
        field("unfused_gflops", &T::unfused_gflops), field("unfused_memory_bytes", &T::unfused_memory_bytes),
        field("fused_latency_ms", &T::fused_latency_ms), field("fused_gflops", &T::fused_gflops),
        field("fused_memory_bytes", &T::fused_memory_bytes), field("speedup_factor", &T::speedup_factor),
        field("memory_reduction", &T::memory_reduction), field("gflops_improvement", &T::gflops_improvement),
        field("input_shape", &T::input_shape), field("extra_params", &T::extra_params),
        field("num_trials", &T::num_trials));
};

template <>
struct Schema<PlacementFacts> {
    using T = PlacementFacts;
    static constexpr auto fields = std::make_tuple(
        field("discarded_samples", &T::discarded_samples), field("displaced_samples", &T::displaced_samples),
        field("placement_wait_seconds", &T::placement_wait_seconds), field("placement_retry", &T::placement_retry),
        field("disturbed_discarded", &T::disturbed_discarded), field("disturbed_samples", &T::disturbed_samples),
        field("foreign_cpu_seconds", &T::foreign_cpu_seconds), field("foreign_cpus", &T::foreign_cpus),
        field("disturbed", &T::disturbed));
};
template <>
struct Schema<SampleFacts> {
    using T = SampleFacts;
    static constexpr auto fields = std::make_tuple(
        field("case_seconds", &T::case_seconds), field("prepare_seconds", &T::prepare_seconds),
        field("steal_seconds", &T::steal_seconds), field("median_latency_ms", &T::median_latency_ms),
        field("p10_latency_ms", &T::p10_latency_ms), field("p90_latency_ms", &T::p90_latency_ms),
        field("cv", &T::cv), field("robust_cv", &T::robust_cv), field("noise", &T::noise),
        field("ci_low", &T::ci_low), field("ci_high", &T::ci_high), field("replicas", &T::replicas),
        field("replica_figures", &T::replica_figures), field("replica_log_se", &T::replica_log_se),
        field("samples", &T::samples), field("iterations_per_sample", &T::iterations_per_sample),
        field("stopping_reason", &T::stopping_reason), field("", &T::placement, Layout::flatten));
};
template <>
struct Schema<CaseOrigin> {
    using T = CaseOrigin;
    static constexpr auto fields =
        std::make_tuple(field("operation", &T::operation), field("precision", &T::precision),
                        field("device", &T::device), field("device_index", &T::device_index), field("plugin", &T::plugin),
                        field("case", &T::case_name));
};
template <>
struct Schema<InstanceFacts> {
    using T = InstanceFacts;
    static constexpr auto fields = std::make_tuple(
        field("implementation", &T::implementation), field("reference_fallback", &T::reference_fallback),
        field("verified", &T::verified), field("max_abs_error", &T::max_abs_error));
};
template <>
struct Schema<Judgement> {
    using T = Judgement;
    static constexpr auto fields = std::make_tuple(
        field("flops", &T::flops), field("bytes", &T::bytes), field("peak_gflops", &T::peak_gflops),
        field("peak_bandwidth_gbps", &T::peak_bandwidth_gbps), field("peak_source", &T::peak_source),
        field("formula_peak_gflops", &T::formula_peak_gflops), field("status", &T::status),
        field("suspicious", &T::suspicious), field("above_ceiling", &T::above_ceiling));
};
template <>
struct Schema<EnergyFacts> {
    using T = EnergyFacts;
    static constexpr auto fields = std::make_tuple(
        field("energy_window_seconds", &T::energy_window_seconds), field("energy_note", &T::energy_note),
        field("energy_joules", &T::energy_joules),
        field("energy_per_execution_joules", &T::energy_per_execution_joules),
        field("avg_power_watts", &T::avg_power_watts), field("pj_per_flop", &T::pj_per_flop),
        field("pj_per_byte", &T::pj_per_byte), field("busy_fraction", &T::busy_fraction),
        field("end_sm_clock_mhz", &T::end_sm_clock_mhz), field("end_memory_clock_mhz", &T::end_memory_clock_mhz),
        field("end_temperature_c", &T::end_temperature_c), field("end_power_limit_watts", &T::end_power_limit_watts),
        field("throttle", &T::throttle), field("throttled", &T::throttled),
        field("power_capped_seconds", &T::power_capped_seconds), field("thermal_capped_seconds", &T::thermal_capped_seconds),
        field("sustained_seconds", &T::sustained_seconds), field("sustained_gflops", &T::sustained_gflops),
        field("sustained_gbps", &T::sustained_gbps), field("sustained_power_watts", &T::sustained_power_watts),
        field("sustained_energy_joules", &T::sustained_energy_joules),
        field("sustained_pj_per_flop", &T::sustained_pj_per_flop), field("sustained_pj_per_byte", &T::sustained_pj_per_byte),
        field("sustained_sm_clock_mhz", &T::sustained_sm_clock_mhz),
        field("sustained_temperature_c", &T::sustained_temperature_c), field("sustained_throttle", &T::sustained_throttle),
        field("sustained_throttled", &T::sustained_throttled),
        field("sustained_power_capped_seconds", &T::sustained_power_capped_seconds),
        field("sustained_thermal_capped_seconds", &T::sustained_thermal_capped_seconds));
};
template <>
struct Schema<OperationExtras> {
    using T = OperationExtras;
    static constexpr auto fields = std::make_tuple(
        field("", &T::origin, Layout::flatten), field("", &T::instance, Layout::flatten),
        field("", &T::samples, Layout::flatten), field("", &T::judgement, Layout::flatten),
        field("", &T::energy, Layout::flatten));
};
template <>
struct Schema<FusionExtras> {
    using T = FusionExtras;
    static constexpr auto fields = std::make_tuple(
        field("precision", &T::precision), field("device", &T::device), field("plugin", &T::plugin),
        field("status", &T::status), field("speedup_ci_low", &T::speedup_ci_low),
        field("speedup_ci_high", &T::speedup_ci_high), field("replicas", &T::replicas),
        field("replica_figures", &T::replica_figures), field("replica_log_se", &T::replica_log_se), field("tier", &T::tier), field("verified", &T::verified),
        field("max_abs_error", &T::max_abs_error), field("tolerance", &T::tolerance),
        field("reference_fallback", &T::reference_fallback),
        field("fused_implementation", &T::fused_implementation),
        field("unfused_implementation", &T::unfused_implementation),
        field("fused_median_latency_ms", &T::fused_median_latency_ms),
        field("unfused_median_latency_ms", &T::unfused_median_latency_ms),
        field("fused_p10_latency_ms", &T::fused_p10_latency_ms),
        field("fused_p90_latency_ms", &T::fused_p90_latency_ms),
        field("unfused_p10_latency_ms", &T::unfused_p10_latency_ms),
        field("unfused_p90_latency_ms", &T::unfused_p90_latency_ms), field("fused_cv", &T::fused_cv),
        field("unfused_cv", &T::unfused_cv), field("samples", &T::samples),
        field("iterations_per_sample", &T::iterations_per_sample),
        field("unfused_iterations_per_sample", &T::unfused_iterations_per_sample),
        field("stopping_reason", &T::stopping_reason), field("", &T::placement, Layout::flatten),
        field("case_seconds", &T::case_seconds), field("prepare_seconds", &T::prepare_seconds),
        field("steal_seconds", &T::steal_seconds), field("fused_case", &T::fused_case),
        field("unfused_case", &T::unfused_case));
};
template <>
struct Schema<SweepPointFacts> {
    using T = SweepPointFacts;
    static constexpr auto fields =
        std::make_tuple(field("operation", &T::operation), field("gbps", &T::gbps), field("best_gbps", &T::best_gbps),
                        field("bytes", &T::bytes), field("", &T::samples, Layout::flatten),
                        field("case", &T::case_name));
};

template <>
struct Schema<PeakEntry> {
    using T = PeakEntry;
    static constexpr auto fields =
        std::make_tuple(field("gflops", &T::gflops), field("source", &T::source), field("formula", &T::formula),
                        field("ceiling_gflops", &T::ceiling_gflops), field("ceiling_source", &T::ceiling_source));
};
template <>
struct Schema<BandwidthEntry> {
    using T = BandwidthEntry;
    static constexpr auto fields =
        std::make_tuple(field("gbps", &T::gbps), field("source", &T::source), field("formula", &T::formula));
};
template <>
struct Schema<PeaksSection> {
    using T = PeaksSection;
    static constexpr auto fields = std::make_tuple(field("compute", &T::compute), field("bandwidth", &T::bandwidth));
};

template <>
struct Schema<PluginAbi> {
    using T = PluginAbi;
    static constexpr auto fields = std::make_tuple(field("major", &T::major), field("minor", &T::minor));
};
template <>
struct Schema<PluginDevice> {
    using T = PluginDevice;
    static constexpr auto fields =
        std::make_tuple(field("kind", &T::kind), field("name", &T::name), field("available", &T::available));
};
template <>
struct Schema<PluginEntry> {
    using T = PluginEntry;
    static constexpr auto fields = std::make_tuple(
        field("path", &T::path), field("status", &T::status), field("reason_code", &T::reason_code),
        field("reason", &T::reason), field("duplicate_of", &T::duplicate_of), field("id", &T::id), field("name", &T::name), field("version", &T::version),
        field("vendor", &T::vendor), field("abi", &T::abi), field("device", &T::device),
        field("unavailable_reason", &T::unavailable_reason), field("cases", &T::cases),
        field("seconds", &T::seconds));
};

template <>
struct Schema<MemoryLevel> {
    using T = MemoryLevel;
    static constexpr auto fields = std::make_tuple(
        field("name", &T::name), field("size_bytes", &T::size_bytes), field("copy_gbps", &T::copy_gbps),
        field("scale_gbps", &T::scale_gbps), field("add_gbps", &T::add_gbps), field("triad_gbps", &T::triad_gbps),
        field("working_sets_bytes", &T::working_sets_bytes));
};
template <>
struct Schema<MemoryHierarchy> {
    using T = MemoryHierarchy;
    static constexpr auto fields = std::make_tuple(field("convention", &T::convention), field("device", &T::device),
                                                   field("levels", &T::levels));
};

template <>
struct Schema<FailedCase> {
    using T = FailedCase;
    static constexpr auto fields = std::make_tuple(
        field("plugin", &T::plugin), field("plugin_path", &T::plugin_path), field("case", &T::case_name),
        field("unfused_case", &T::unfused_case), field("family", &T::family), field("precision", &T::precision),
        field("status", &T::status), field("message", &T::message));
};

template <>
struct Schema<PlacementSection> {
    using T = PlacementSection;
    static constexpr auto fields = std::make_tuple(
        field("probe", &T::probe), field("displaced_ratio", &T::displaced_ratio),
        field("reference_min_share", &T::reference_min_share),
        field("reference_confirm_seconds", &T::reference_confirm_seconds),
        field("max_wait_per_case_seconds", &T::max_wait_per_case_seconds),
        field("max_wait_per_plugin_seconds", &T::max_wait_per_plugin_seconds),
        field("settle_min_seconds", &T::settle_min_seconds), field("settle_max_seconds", &T::settle_max_seconds),
        field("initial_reference_ns", &T::initial_reference_ns), field("settle_seconds", &T::settle_seconds),
        field("reference_ns", &T::reference_ns), field("probes", &T::probes),
        field("displaced_probes", &T::displaced_probes), field("wait_seconds", &T::wait_seconds),
        field("probe_seconds", &T::probe_seconds), field("retry_limit_seconds", &T::retry_limit_seconds),
        field("deferred_cases", &T::deferred_cases), field("stale_cases", &T::stale_cases),
        field("steal_max_share", &T::steal_max_share), field("steal_cases", &T::steal_cases),
        field("retried_cases", &T::retried_cases), field("replaced_cases", &T::replaced_cases),
        field("retry_seconds", &T::retry_seconds), field("corunner", &T::corunner),
        field("corunner_max_cpus", &T::corunner_max_cpus),
        field("corunner_window_seconds", &T::corunner_window_seconds),
        field("disturbed_cases", &T::disturbed_cases), field("flagged_cases", &T::flagged_cases));
};
template <>
struct Schema<PolicySection> {
    using T = PolicySection;
    static constexpr auto fields = std::make_tuple(
        field("name", &T::name), field("warmup_seconds", &T::warmup_seconds),
        field("min_sample_seconds", &T::min_sample_seconds), field("target_noise", &T::target_noise),
        field("min_samples", &T::min_samples), field("time_budget_seconds", &T::time_budget_seconds),
        field("fixed_samples", &T::fixed_samples), field("pair_max_halfwidth", &T::pair_max_halfwidth),
        field("pair_budget_extension", &T::pair_budget_extension), field("pair_min_samples", &T::pair_min_samples),
        field("replicas", &T::replicas),
        field("openmp_wait_policy", &T::openmp_wait_policy), field("worker_environment", &T::worker_environment),
        field("placement", &T::placement));
};
template <>
struct Schema<RunSection> {
    using T = RunSection;
    static constexpr auto fields = std::make_tuple(
        field("complete", &T::complete), field("started_at", &T::started_at), field("wall_seconds", &T::wall_seconds),
        field("quick", &T::quick), field("policy", &T::policy), field("plugin_seconds", &T::plugin_seconds));
};

template <>
struct Schema<PrecisionMatrix> {
    using T = PrecisionMatrix;
    static constexpr auto fields = std::make_tuple(
        field("hardware_name", &T::hardware_name), field("supported_precisions", &T::supported_precisions),
        field("unsupported_precisions", &T::unsupported_precisions),
        field("peak_gflops_by_precision", &T::peak_gflops_by_precision),
        field("speedup_vs_fp32", &T::speedup_vs_fp32), field("theoretical_peaks", &T::theoretical_peaks));
};
template <>
struct Schema<PrecisionSupport> {
    using T = PrecisionSupport;
    static constexpr auto fields = std::make_tuple(
        field("supported", &T::supported), field("reason", &T::reason), field("best_gflops", &T::best_gflops),
        field("peak_gflops", &T::peak_gflops), field("peak_source", &T::peak_source),
        field("efficiency", &T::efficiency), field("suspicious", &T::suspicious));
};

// calib's top-level additions in the order they are written: extension_keys() (reader.cpp) first,
// then the others as they come.
template <>
struct Schema<CalibSections> {
    using T = CalibSections;
    static constexpr auto fields = std::make_tuple(
        field("schema_version", &T::schema_version), field("calib_version", &T::calib_version),
        field("host", &T::host), field("peaks", &T::peaks), field("plugins", &T::plugins),
        field("memory_hierarchy", &T::memory_hierarchy), field("run", &T::run),
        field("memory_sweep", &T::memory_sweep), field("failed_cases", &T::failed_cases),
        field("precision_support", &T::precision_support), field("efficiency_curves", &T::efficiency_curves));
};

template <>
struct Schema<CurveDataPoint> {
    using T = CurveDataPoint;
    static constexpr auto fields = std::make_tuple(
        field("flops", &T::flops), field("efficiency_mean", &T::efficiency_mean), field("ci_lower", &T::ci_lower),
        field("ci_upper", &T::ci_upper), field("efficiency_std", &T::efficiency_std),
        field("num_samples", &T::num_samples), field("source", &T::source), field("record", &T::record));
};

template <>
struct Schema<FittedCurveEntry> {
    using T = FittedCurveEntry;
    static constexpr auto fields =
        std::make_tuple(field("curve_type", &T::curve_type), field("peak", &T::peak), field("scale", &T::scale),
                        field("breakpoints", &T::breakpoints), field("efficiency", &T::efficiency));
};

template <>
struct Schema<EfficiencyCurve> {
    using T = EfficiencyCurve;
    static constexpr auto fields = std::make_tuple(
        field("operation_type", &T::operation_type), field("precision", &T::precision), field("device", &T::device),
        field("description", &T::description), field("peak_gflops", &T::peak_gflops),
        field("fitted_curve", &T::fitted_curve), field("rms_residual", &T::rms_residual),
        field("max_abs_residual", &T::max_abs_residual), field("points_within_ci", &T::points_within_ci),
        field("min_flops", &T::min_flops), field("max_flops", &T::max_flops), field("data_points", &T::data_points));
};

}  // namespace calib::core::detail
