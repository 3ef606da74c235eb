// The history database: schema migrations, recording a run, reading and pruning runs.
#include <sqlite3.h>

#include <chrono>
#include <thread>

#include "calib/core/compare.hpp"
#include "calib/core/history.hpp"

namespace calib::core {
namespace {

namespace fs = std::filesystem;

// Migrations[v] brings a version-v database to v + 1. Append only: a released step never changes.
const char* const kMigrations[] = {
    // 0 -> 1: runs with their profile text, per-record figures, fingerprints by hash.
    R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE fingerprints(hash TEXT PRIMARY KEY, kind TEXT NOT NULL, json TEXT NOT NULL);
CREATE TABLE runs(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  recorded_at TEXT NOT NULL,
  calibration_date TEXT NOT NULL,
  hardware_name TEXT NOT NULL,
  cpu_model TEXT NOT NULL,
  physical_cores INTEGER NOT NULL,
  memory_gib INTEGER NOT NULL,
  hardware_fp TEXT NOT NULL REFERENCES fingerprints(hash),
  software_fp TEXT NOT NULL REFERENCES fingerprints(hash),
  profile_path TEXT NOT NULL,
  complete INTEGER NOT NULL,
  profile BLOB NOT NULL);
CREATE INDEX runs_by_fingerprint ON runs(hardware_fp, software_fp, id);
CREATE TABLE records(
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  section TEXT NOT NULL,
  key TEXT NOT NULL,
  unit TEXT NOT NULL,
  figure REAL NOT NULL,
  ci_low REAL NOT NULL,
  ci_high REAL NOT NULL,
  cv REAL NOT NULL,
  disturbed INTEGER NOT NULL,
  conditions TEXT NOT NULL,
  PRIMARY KEY(run_id, section, key));
)sql",
};
static_assert(std::size(kMigrations) == kHistorySchemaVersion);

class Stmt {
public:
    Stmt(sqlite3* db, const fs::path& path, const char* sql) : db_(db), path_(path) {
        if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK) fail();
    }
    ~Stmt() { sqlite3_finalize(s_); }
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    Stmt& bind(int i, int64_t v) { return check(sqlite3_bind_int64(s_, i, v)); }
    Stmt& bind(int i, double v) { return check(sqlite3_bind_double(s_, i, v)); }
    Stmt& bind(int i, const std::string& v) {
        return check(sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    }
    Stmt& bind_blob(int i, const std::string& v) {
        return check(sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    }
    bool step() {  // true: a row is there
        int rc = sqlite3_step(s_);
        if (rc == SQLITE_ROW) return true;
        if (rc != SQLITE_DONE) fail();
        return false;
    }
    void reset() {
        sqlite3_reset(s_);
        sqlite3_clear_bindings(s_);
    }
    int64_t i64(int c) const { return sqlite3_column_int64(s_, c); }
    double f64(int c) const { return sqlite3_column_double(s_, c); }
    std::string text(int c) const {
        const void* p = sqlite3_column_blob(s_, c);
        return p == nullptr ? std::string() : std::string(static_cast<const char*>(p), sqlite3_column_bytes(s_, c));
    }

private:
    Stmt& check(int rc) {
        if (rc != SQLITE_OK) fail();
        return *this;
    }
    [[noreturn]] void fail() const { throw HistoryError(path_.string() + ": " + sqlite3_errmsg(db_)); }
    sqlite3* db_;
    const fs::path& path_;
    sqlite3_stmt* s_ = nullptr;
};

// sqlite3_exec with the busy timeout extended to statements that do not call the busy handler
// (switching to WAL while another connection creates the file).
void exec(sqlite3* db, const fs::path& path, const char* sql) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
        char* msg = nullptr;
        int rc = sqlite3_exec(db, sql, nullptr, nullptr, &msg);
        std::string text = msg != nullptr ? msg : sqlite3_errstr(rc);
        sqlite3_free(msg);
        if (rc == SQLITE_OK) return;
        if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) throw HistoryError(path.string() + ": " + text);
        if (std::chrono::steady_clock::now() > deadline) throw HistoryError(path.string() + ": " + text);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

// BEGIN IMMEDIATE ... COMMIT; rolled back when the scope is left by an exception.
class WriteTransaction {
public:
    WriteTransaction(sqlite3* db, const fs::path& path) : db_(db), path_(path) { exec(db, path, "BEGIN IMMEDIATE"); }
    ~WriteTransaction() {
        if (!done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    void commit() {
        exec(db_, path_, "COMMIT");
        done_ = true;
    }

private:
    sqlite3* db_;
    const fs::path& path_;
    bool done_ = false;
};

std::string one_line(std::string s) {
    for (char& c : s)
        if (c == '\n' || c == '\r') c = ' ';
    return s;
}

const char* kRunColumns =
    "SELECT r.id, r.recorded_at, r.calibration_date, r.hardware_name, r.cpu_model, r.physical_cores, "
    "r.memory_gib, r.hardware_fp, hf.json, r.software_fp, sf.json, r.profile_path, r.complete, "
    "(SELECT count(*) FROM records WHERE run_id = r.id) "
    "FROM runs r JOIN fingerprints hf ON hf.hash = r.hardware_fp JOIN fingerprints sf ON sf.hash = r.software_fp ";

HistoryRun read_run(const Stmt& s) {
    HistoryRun r;
    r.id = s.i64(0);
    r.recorded_at = s.text(1);
    r.calibration_date = s.text(2);
    r.hardware_name = s.text(3);
    r.cpu_model = s.text(4);
    r.physical_cores = s.i64(5);
    r.memory_gib = s.i64(6);
    r.hardware = {s.text(8), s.text(7)};
    r.software = {s.text(10), s.text(9)};
    r.profile_path = s.text(11);
    r.complete = s.i64(12) != 0;
    r.records = s.i64(13);
    return r;
}

}  // namespace

HistoryDb::HistoryDb(const fs::path& path, bool create) : path_(path) {
    std::error_code ec;
    if (!create && !fs::exists(path, ec)) throw HistoryError("no history database at " + path.string());
    if (create && path.has_parent_path()) {
        fs::create_directories(path.parent_path(), ec);
        if (ec) throw HistoryError(path.parent_path().string() + ": " + ec.message());
    }
    const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
        std::string msg = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
        sqlite3_close(db_);
        throw HistoryError(path.string() + ": " + msg);
    }
    try {
        sqlite3_busy_timeout(db_, 10000);
        exec(db_, path_, "PRAGMA foreign_keys = ON");
        // The first statement that reads the file: a corrupt one fails here ("file is not a database").
        exec(db_, path_, "PRAGMA journal_mode = WAL");
        WriteTransaction tx(db_, path_);
        int version = 0;
        {
            Stmt tables(db_, path_, "SELECT count(*), sum(name = 'meta') FROM sqlite_master WHERE type = 'table'");
            tables.step();
            const int64_t count = tables.i64(0), meta = tables.i64(1);
            if (meta == 1) {
                Stmt v(db_, path_, "SELECT value FROM meta WHERE key = 'schema_version'");
                if (!v.step()) throw HistoryError(path_.string() + ": not a calib history (no schema_version)");
                version = static_cast<int>(v.i64(0));
            } else if (count > 0) {
                throw HistoryError(path_.string() + ": not a calib history (a SQLite database of other tables)");
            }
        }
        if (version > kHistorySchemaVersion)
            throw HistoryError(path_.string() + ": schema version " + std::to_string(version) +
                               " is newer than this calib-host reads (" + std::to_string(kHistorySchemaVersion) +
                               "); use a newer calib-host or another --history");
        if (version < 0) throw HistoryError(path_.string() + ": bad schema version " + std::to_string(version));
        if (version < kHistorySchemaVersion) {
            for (int v = version; v < kHistorySchemaVersion; ++v) exec(db_, path_, kMigrations[v]);
            Stmt set(db_, path_, "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?1)");
            set.bind(1, static_cast<int64_t>(kHistorySchemaVersion)).step();
            tx.commit();
        }
    } catch (const std::exception& e) {
        sqlite3_close(db_);
        db_ = nullptr;
        throw HistoryError(one_line(e.what()));
    }
}

HistoryDb::~HistoryDb() { sqlite3_close(db_); }

int HistoryDb::schema_version() {
    Stmt s(db_, path_, "SELECT value FROM meta WHERE key = 'schema_version'");
    return s.step() ? static_cast<int>(s.i64(0)) : 0;
}

int64_t HistoryDb::record(const Profile& p, const std::string& text, const std::string& profile_path,
                          const std::string& gpu_driver) {
    const Fingerprint hw = hardware_fingerprint(p, gpu_driver), sw = software_fingerprint(p);
    const boost::json::value hwdoc = boost::json::parse(hw.json);
    WriteTransaction tx(db_, path_);
    for (const auto& [fp, kind] : {std::pair{&hw, "hardware"}, std::pair{&sw, "software"}}) {
        Stmt s(db_, path_, "INSERT OR IGNORE INTO fingerprints(hash, kind, json) VALUES (?1, ?2, ?3)");
        s.bind(1, fp->hash).bind(2, std::string(kind)).bind(3, fp->json).step();
    }
    const auto* complete = p.extensions.if_contains("run");
    bool is_complete = true;
    if (complete != nullptr && complete->is_object())
        if (const auto* c = complete->as_object().if_contains("complete"); c != nullptr && c->is_bool())
            is_complete = c->as_bool();
    Stmt run(db_, path_,
             "INSERT INTO runs(recorded_at, calibration_date, hardware_name, cpu_model, physical_cores, memory_gib, "
             "hardware_fp, software_fp, profile_path, complete, profile) VALUES "
             "(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    run.bind(1, p.metadata.calibration_date)
        .bind(2, p.metadata.hardware_name)
        .bind(3, std::string(hwdoc.at("cpu_model").as_string()))
        .bind(4, hwdoc.at("physical_cores").as_int64())
        .bind(5, hwdoc.at("memory_gib").as_int64())
        .bind(6, hw.hash)
        .bind(7, sw.hash)
        .bind(8, profile_path)
        .bind(9, static_cast<int64_t>(is_complete ? 1 : 0))
        .bind_blob(10, text)
        .step();
    const int64_t id = sqlite3_last_insert_rowid(db_);
    Stmt rec(db_, path_,
             "INSERT OR REPLACE INTO records(run_id, section, key, unit, figure, ci_low, ci_high, cv, disturbed, "
             "conditions) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    auto add = [&](const char* section, const std::string& key, const char* unit, const Interval& x,
                   const boost::json::object& extra) {
        rec.bind(1, id).bind(2, std::string(section)).bind(3, key).bind(4, std::string(unit));
        rec.bind(5, x.value).bind(6, x.lo).bind(7, x.hi).bind(8, x.noise);
        rec.bind(9, static_cast<int64_t>(x.disturbed ? 1 : 0)).bind(10, boost::json::serialize(extra));
        rec.step();
        rec.reset();
    };
    for (const auto& [key, r] : p.operation_profiles)
        add("operation", key, r.measured_gflops > 0 ? "GFLOPS" : "GB/s", op_interval(r), r.extra_params);
    for (const auto& [key, r] : p.fusion_profiles) add("fusion", key, "x", fusion_interval(r), r.extra_params);
    tx.commit();
    return id;
}

std::vector<HistoryRun> HistoryDb::runs(const std::optional<std::string>& cpu_model, int64_t cores,
                                        int64_t memory_gib) {
    std::string sql = kRunColumns;
    if (cpu_model) sql += "WHERE r.cpu_model = ?1 AND r.physical_cores = ?2 AND r.memory_gib = ?3 ";
    sql += "ORDER BY r.id";
    Stmt s(db_, path_, sql.c_str());
    if (cpu_model) s.bind(1, *cpu_model).bind(2, cores).bind(3, memory_gib);
    std::vector<HistoryRun> out;
    while (s.step()) out.push_back(read_run(s));
    return out;
}

std::optional<HistoryRun> HistoryDb::run(int64_t id) {
    Stmt s(db_, path_, (std::string(kRunColumns) + "WHERE r.id = ?1").c_str());
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    return read_run(s);
}

std::string HistoryDb::profile_text(int64_t id) {
    Stmt s(db_, path_, "SELECT profile FROM runs WHERE id = ?1");
    s.bind(1, id);
    if (!s.step()) throw HistoryError(path_.string() + ": no run " + std::to_string(id));
    return s.text(0);
}

std::vector<HistoryRecord> HistoryDb::records(int64_t id) {
    Stmt s(db_, path_,
           "SELECT section, key, unit, figure, ci_low, ci_high, cv, disturbed, conditions FROM records "
           "WHERE run_id = ?1 ORDER BY rowid");
    s.bind(1, id);
    std::vector<HistoryRecord> out;
    while (s.step())
        out.push_back({s.text(0), s.text(1), s.text(2), s.f64(3), s.f64(4), s.f64(5), s.f64(6), s.i64(7) != 0,
                       s.text(8)});
    return out;
}

std::optional<int64_t> HistoryDb::previous_comparable(int64_t id) {
    Stmt s(db_, path_,
           "SELECT p.id FROM runs p JOIN runs r ON r.id = ?1 WHERE p.hardware_fp = r.hardware_fp AND "
           "p.software_fp = r.software_fp AND p.id < r.id AND p.complete = 1 ORDER BY p.id DESC LIMIT 1");
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    return s.i64(0);
}

int64_t HistoryDb::prune(const PruneRule& rule) {
    WriteTransaction tx(db_, path_);
    int64_t deleted = 0;
    auto run_delete = [&](Stmt& s) {
        s.step();
        deleted += sqlite3_changes(db_);  // cascaded record deletions are not counted
    };
    for (int64_t id : rule.ids) {
        Stmt s(db_, path_, "DELETE FROM runs WHERE id = ?1");
        s.bind(1, id);
        run_delete(s);
    }
    if (rule.before) {
        Stmt s(db_, path_, "DELETE FROM runs WHERE recorded_at < ?1");
        s.bind(1, *rule.before);
        run_delete(s);
    }
    if (rule.keep) {
        Stmt s(db_, path_,
               "DELETE FROM runs WHERE id IN (SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY "
               "hardware_fp, software_fp ORDER BY id DESC) AS n FROM runs) WHERE n > ?1)");
        s.bind(1, *rule.keep);
        run_delete(s);
    }
    exec(db_, path_,
         "DELETE FROM fingerprints WHERE hash NOT IN (SELECT hardware_fp FROM runs UNION SELECT software_fp FROM runs)");
    tx.commit();
    return deleted;
}

}  // namespace calib::core
