// The run history: every calibration's profile kept in a SQLite database (docs/history.md), keyed by
// a hardware and a software fingerprint, so that a run can be compared with the machine's own past.
// Nothing is ever deleted except through HistoryDb::prune.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "calib/core/profile.hpp"

struct sqlite3;

namespace calib::core {

// The database layout this build reads and writes (meta.schema_version); a newer one is refused.
inline constexpr int kHistorySchemaVersion = 1;

// Any failure to open, read or write the history; what() is one line naming the database.
struct HistoryError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A fingerprint: canonical JSON (sorted keys, no spaces) and its 16-hex-digit FNV-1a hash.
struct Fingerprint {
    std::string json;
    std::string hash;
};
// CPU model, physical cores, memory (rounded to GiB), the available GPUs' names and `gpu_driver`.
Fingerprint hardware_fingerprint(const Profile& p, const std::string& gpu_driver = {});
// calib's version, host.libraries, the plugins' ids and versions, and the libraries the records name
// (extra_params library, cublaslt, nccl, cuda_runtime, cuda_driver).
Fingerprint software_fingerprint(const Profile& p);
// This machine's NVIDIA driver (/sys/module/nvidia/version), or empty.
std::string nvidia_driver_version();

// $XDG_DATA_HOME/calib/history.sqlite, else $HOME/.local/share/calib/history.sqlite.
std::filesystem::path default_history_path();

struct HistoryRun {
    int64_t id = 0;
    std::string recorded_at;       // when it was stored (UTC ISO-8601)
    std::string calibration_date;  // metadata.calibration_date
    std::string hardware_name, cpu_model;
    int64_t physical_cores = 0, memory_gib = 0;
    Fingerprint hardware, software;
    std::string profile_path;  // where the profile was written (empty: stdout only)
    bool complete = true;      // false: an interrupted run's .partial
    int64_t records = 0;       // operation and fusion records
};

struct HistoryRecord {
    std::string section;  // "operation" or "fusion"
    std::string key, unit;
    double figure = 0, ci_low = 0, ci_high = 0, cv = 0;
    bool disturbed = false;
    std::string conditions;  // the record's extra_params as JSON text
};

// Which runs to delete; a run is deleted when any given rule selects it.
struct PruneRule {
    std::vector<int64_t> ids;
    std::optional<std::string> before;  // recorded_at earlier than this ISO-8601 date/time
    std::optional<int64_t> keep;        // all but the newest N runs of each fingerprint pair
};

class HistoryDb {
public:
    // Opens (create: makes the folder and the database when missing) and brings the schema up to date
    // under a write lock. WAL and a 10 s busy timeout let concurrent runs both land. Throws
    // HistoryError for a corrupt file, a newer schema, or a missing database when !create.
    explicit HistoryDb(const std::filesystem::path& path, bool create = true);
    ~HistoryDb();
    HistoryDb(const HistoryDb&) = delete;
    HistoryDb& operator=(const HistoryDb&) = delete;

    // Stores the run: `text` is the profile exactly as written; returns its id.
    int64_t record(const Profile& p, const std::string& text, const std::string& profile_path,
                   const std::string& gpu_driver = {});
    // Oldest first. With cpu_model set, only runs whose CPU model, cores and memory match.
    std::vector<HistoryRun> runs(const std::optional<std::string>& cpu_model = std::nullopt, int64_t cores = 0,
                                 int64_t memory_gib = 0);
    std::optional<HistoryRun> run(int64_t id);
    std::string profile_text(int64_t id);  // throws HistoryError when there is no such run
    std::vector<HistoryRecord> records(int64_t id);
    // The newest complete run before `id` with the same hardware and software fingerprints.
    std::optional<int64_t> previous_comparable(int64_t id);
    // Deletes the selected runs and their records; returns how many runs went.
    int64_t prune(const PruneRule& rule);
    int schema_version();
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
    sqlite3* db_ = nullptr;
};

}  // namespace calib::core
