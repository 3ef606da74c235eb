// The HardwareCalibration profile: the origin layout (shared/reference/origin.md) that existing
// consumers load, plus calib's additions in extra_params and new top-level keys.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace calib::core {

inline constexpr int kProfileSchemaVersion = 1;

// metadata.cpu_clock and metadata.gpu_clock as the 2026 consumers read them (origin-2026.md).
struct CpuClock {
    double current_freq_mhz = 0;
    std::string query_method;
    std::optional<double> min_freq_mhz, max_freq_mhz, base_freq_mhz;
    std::vector<double> per_core_freq_mhz;
    std::optional<std::string> governor;  // the registry's power mode
};
struct GpuClock {
    int64_t sm_clock_mhz = 0;
    std::string query_method;
    std::optional<int64_t> mem_clock_mhz, max_sm_clock_mhz, max_mem_clock_mhz;
    std::optional<double> power_draw_watts, power_limit_watts;
    std::optional<std::string> power_mode_name;  // e.g. "MAXN" (Jetson); the registry's power mode
};

// metadata.preflight (origin-2026.md): the checks made before measuring (core/include/calib/core/
// preflight.hpp runs them). A check's keys beyond these are read and dropped (the consumers pass it on
// as a dict).
struct PreflightCheck {
    std::string name;     // "governor", "cpu_clock", "system_load", "corunner", "rapl", "gpu_..."
    std::string status;   // "pass", "warn", "fail", "skip"
    std::string message;  // what was seen, or why it was skipped
    std::optional<double> value, threshold;  // the measured figure and the limit it was held to
    std::optional<std::string> unit;         // of value and threshold
};
struct Preflight {
    std::string timestamp;  // ISO-8601, "+00:00"
    bool passed = true;     // no check failed
    bool forced = false;    // a check failed and the run went on (no --strict)
    std::vector<PreflightCheck> checks;
};

// The origin's metadata fields, in its order, then the 2026 consumers' additions. The 2025 loader
// rejects any key beyond the first eleven (shared/reference/origin-2026.md): the additions are
// std::optional, left out when empty, and `export --format origin-2025` drops them.
struct Metadata {
    std::string hardware_name;
    std::string calibration_date;  // ISO-8601
    std::string calibration_tool_version;
    std::string cpu_model;
    int64_t cpu_count = 0;  // physical cores
    double total_memory_gb = 0;
    std::optional<std::string> python_version;  // calib: its own version string
    std::optional<std::string> pytorch_version;
    std::optional<std::string> numpy_version;
    int64_t num_warmup_runs = 0;
    int64_t num_measurement_runs = 0;
    std::optional<std::string> device_type;            // "cpu", "cuda", "gpu", "accelerator"
    std::optional<std::string> platform_architecture;  // "x86_64", "aarch64"
    std::optional<std::string> framework;              // what ran the primary device's cases: "onednn", ...
    std::optional<CpuClock> cpu_clock;                 // left out, never null, when not measured
    std::optional<GpuClock> gpu_clock;
    std::optional<Preflight> preflight;                // left out when the run skipped it (--no-preflight)
};

// One precision measured at a matmul record's shape, as the 2026 consumers read it (origin-2026.md;
// their loader rejects any other key here).
struct PrecisionTestResult {
    std::string precision;
    bool supported = false;
    std::optional<std::string> failure_reason;
    std::optional<double> measured_gops, efficiency;
    std::optional<double> mean_latency_ms, std_latency_ms, min_latency_ms, max_latency_ms;
    std::optional<double> speedup_vs_fp32;
    int64_t test_size = 0;
    int64_t num_trials = 0;
    std::optional<double> arithmetic_intensity, achieved_bandwidth_gbps;
};

// The origin's operation record fields; calib's additions live in extra_params. precision_results is
// the 2026 consumers' addition, left out when empty (the 2025 loader rejects it).
struct OperationRecord {
    std::string operation_type;
    double measured_gflops = 0;
    double efficiency = 0;
    double achieved_bandwidth_gbps = 0;
    bool memory_bound = false;
    bool compute_bound = false;
    double arithmetic_intensity = 0;
    int64_t batch_size = 1;
    std::vector<int64_t> input_shape;
    std::vector<int64_t> output_shape;
    double mean_latency_ms = 0, std_latency_ms = 0, min_latency_ms = 0, max_latency_ms = 0;
    int64_t num_trials = 0;
    boost::json::object extra_params;
    std::optional<std::vector<std::pair<std::string, PrecisionTestResult>>> precision_results;  // by precision
};

// Exactly the origin's fusion record fields; calib's additions live in extra_params.
struct FusionRecord {
    std::string fusion_pattern;
    std::vector<std::string> operators;
    int64_t num_operators = 0;
    double unfused_latency_ms = 0;
    double unfused_gflops = 0;
    int64_t unfused_memory_bytes = 0;
    double fused_latency_ms = 0;
    double fused_gflops = 0;
    int64_t fused_memory_bytes = 0;
    double speedup_factor = 0;
    double memory_reduction = 0;
    double gflops_improvement = 0;
    std::vector<int64_t> input_shape;
    boost::json::object extra_params;
    int64_t num_trials = 0;
};

struct Profile {
    Metadata metadata;
    double theoretical_peak_gflops = 0;
    double theoretical_bandwidth_gbps = 0;
    double best_measured_gflops = 0, avg_measured_gflops = 0, worst_measured_gflops = 0;
    double measured_bandwidth_gbps = 0;
    double bandwidth_efficiency = 0;
    double best_efficiency = 0, avg_efficiency = 0, worst_efficiency = 0;
    std::vector<std::pair<std::string, OperationRecord>> operation_profiles;  // in insertion order
    std::vector<std::pair<std::string, FusionRecord>> fusion_profiles;
    boost::json::value precision_matrix;  // object or null
    // calib's top-level additions, serialized after the origin keys in this order:
    // schema_version, calib_version, host, peaks, plugins, memory_hierarchy, run, and any others.
    boost::json::object extensions;
};

// Thrown for malformed input; what() names the problem and where (a JSON path such as
// "operation_profiles.matmul_matrix_size=1024_medium.mean_latency_ms", or a byte offset).
struct ProfileError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Origin operation key: type, then "_<name>=<value>" per key param sorted by name, then for matmul
// and conv2d the size class of prod(input_shape): < 1,048,576 small, < 10,485,760 medium, else large.
std::string operation_key(const std::string& operation_type,
                          const std::vector<std::pair<std::string, std::string>>& key_params,
                          const std::vector<int64_t>& input_shape);

// calib's fusion key (docs/profile-format.md): "<pattern>@<d0>x<d1>x..." for fp32 (or empty precision),
// "<pattern>@<d0>x...@<precision>" otherwise. The bare "<pattern>" key (fp32, largest shape) is the
// pattern name itself.
std::string fusion_key(const std::string& pattern, const std::vector<int64_t>& input_shape,
                       const std::string& precision = "fp32");

// The string under `key` in a record's extra_params (or any object); empty when absent or not a string.
std::string text_field(const boost::json::object& o, std::string_view key);

// Best/avg/worst GFLOPS and efficiency as the origin's consumers read them: over the fp32 compute
// records (measured_gflops > 0; fp32 precision and math) of the primary device (the one with the
// fastest fp32 matmul record); 0 when there are none ("not measured").
// bandwidth_efficiency = measured_bandwidth_gbps / theoretical_bandwidth_gbps.
void compute_aggregates(Profile& p);

boost::json::value to_json(const Profile& p);
Profile from_json(const boost::json::value& v);         // throws ProfileError
std::string to_json_text(const Profile& p);             // pretty-printed, 2-space indent, stable order
std::string pretty_print(const boost::json::value& v);  // the same printer for any value
Profile parse_profile(const std::string& text);         // throws ProfileError (parse errors with offset)
Profile load_profile(const std::filesystem::path& path);  // throws ProfileError
// Atomic: writes a temporary file in the same folder, fsyncs, renames over `path`.
// Throws std::runtime_error naming the path when it cannot be written.
void save_text_atomic(const std::filesystem::path& path, const std::string& text);
void save_profile(const std::filesystem::path& path, const Profile& p);

// Every problem found in a profile document: structure, types, the compatibility rule (no unknown key
// inside metadata or a record), consistency (speedup = unfused / fused latency within 1%, aggregates
// over compute records, efficiency > 1 flagged suspicious). Empty when valid.
std::vector<std::string> validate(const boost::json::value& doc);

// ---- query API (used by the CLI and by C++ consumers) --------------------------------------------
enum class FusionTier { strong, moderate, minimal, slower };  // >= 1.5, >= 1.1, >= 0.95, below
FusionTier fusion_tier(double speedup);
const char* to_string(FusionTier t);

class ProfileQuery {
public:
    explicit ProfileQuery(const Profile& p);
    // Efficiency of `operation_type` at `precision` for a problem of `size` elements-per-dimension
    // (matrix_size for square matmul). A matmul size no record measured is read off the profile's fitted
    // efficiency curve at 2 size^3 FLOPs when it has one; otherwise log-log interpolation across
    // measured sizes, clamped outside the measured range; avg_efficiency when nothing matches.
    double efficiency(const std::string& operation_type, const std::string& precision, double size) const;
    // GFLOPS, interpolated the same way.
    double gflops(const std::string& operation_type, const std::string& precision, double size) const;
    // Fusion speedup for `pattern` at `shape` (any rank; compared by element count of the shape,
    // log-interpolated between the nearest measured shapes, clamped outside). `precision` empty: any.
    double fusion_speedup(const std::string& pattern, const std::vector<int64_t>& shape,
                          const std::string& precision = "fp32", double fallback = 1.0) const;
    bool should_fuse(const std::string& pattern, const std::vector<int64_t>& shape, double threshold = 1.1,
                     const std::string& precision = "fp32") const;

private:
    const Profile& p_;
};

}  // namespace calib::core
