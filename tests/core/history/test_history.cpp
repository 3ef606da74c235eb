// The history database: fingerprints, recording and reading runs, two writers at once, a corrupt file,
// a newer schema, and pruning (the only deletion).
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "../../scratch.hpp"
#include "calib/core/history.hpp"

using namespace calib::core;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

std::string golden_text() {
    std::ifstream in(fs::path(CALIB_SOURCE_DIR) / "tests" / "data" / "golden_profile.json", std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// golden_profile.json with `edit` applied to its JSON, as a profile and its text.
template <class F>
std::pair<Profile, std::string> variant(F&& edit) {
    json::value doc = json::parse(golden_text());
    edit(doc.as_object());
    Profile p = from_json(doc);
    return {p, to_json_text(p)};
}
std::pair<Profile, std::string> golden() {
    return variant([](json::object&) {});
}

using TempDir = calib::test::Scratch;

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void raw_exec(const fs::path& path, const std::string& sql) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
}

int64_t raw_count(const fs::path& path, const std::string& table) {
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db, ("SELECT count(*) FROM " + table).c_str(), -1, &s, nullptr);
    int64_t n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
}

}  // namespace

TEST_CASE("fingerprints follow the hardware and the software but not the order of the plugins", "[history]") {
    const auto [base, text] = golden();
    const Fingerprint hw = hardware_fingerprint(base, "550.54"), sw = software_fingerprint(base);
    CHECK(hw.hash.size() == 16);
    CHECK(hw.json.find("Fixture GPU X") != std::string::npos);    // an available GPU
    CHECK(hw.json.find("Fixture NPU") == std::string::npos);      // not a GPU, and unavailable
    CHECK(hw.json.find("\"gpu_driver\":\"550.54\"") != std::string::npos);
    CHECK(hardware_fingerprint(base, "560.1").hash != hw.hash);
    CHECK(sw.json.find("gpu 1.2.3") != std::string::npos);
    CHECK(sw.json.find("libbroken") == std::string::npos);  // rejected plugins are not part of it

    auto newer_plugin = variant([](json::object& d) { d.at("plugins").as_array()[0].as_object()["version"] = "1.2.4"; });
    CHECK(software_fingerprint(newer_plugin.first).hash != sw.hash);
    CHECK(hardware_fingerprint(newer_plugin.first, "550.54").hash == hw.hash);

    auto other_cpu = variant([](json::object& d) { d.at("host").as_object()["cpu_model"] = "Other CPU"; });
    CHECK(hardware_fingerprint(other_cpu.first, "550.54").hash != hw.hash);
    CHECK(software_fingerprint(other_cpu.first).hash == sw.hash);

    auto reordered = variant([](json::object& d) {
        auto& a = d.at("plugins").as_array();
        std::reverse(a.begin(), a.end());
    });
    CHECK(software_fingerprint(reordered.first).hash == sw.hash);
    CHECK(hardware_fingerprint(reordered.first, "550.54").hash == hw.hash);
}

TEST_CASE("the default history path follows XDG_DATA_HOME or else HOME", "[history]") {
    const char* old_xdg = std::getenv("XDG_DATA_HOME");
    const std::string saved = old_xdg != nullptr ? old_xdg : "";
    ::setenv("XDG_DATA_HOME", "/srv/data", 1);
    CHECK(default_history_path() == fs::path("/srv/data/calib/history.sqlite"));
    ::setenv("XDG_DATA_HOME", "relative/ignored", 1);  // the spec: relative values are invalid
    ::setenv("HOME", ::getenv("HOME") != nullptr ? ::getenv("HOME") : "/root", 1);
    CHECK(default_history_path() == fs::path(::getenv("HOME")) / ".local/share/calib/history.sqlite");
    if (old_xdg != nullptr) ::setenv("XDG_DATA_HOME", saved.c_str(), 1);
    else ::unsetenv("XDG_DATA_HOME");
}

TEST_CASE("a recorded run gives its profile back byte for byte with its records", "[history]") {
    TempDir dir;
    const auto [p, text] = golden();
    HistoryDb db(dir / "sub" / "h.sqlite");  // the folder is made
    CHECK(db.schema_version() == kHistorySchemaVersion);
    const int64_t id = db.record(p, text, "/tmp/p.json");
    CHECK(db.profile_text(id) == text);
    const auto run = db.run(id);
    REQUIRE(run);
    CHECK(run->profile_path == "/tmp/p.json");
    CHECK(run->cpu_model == "Fixture CPU 9000");
    CHECK(run->complete);
    CHECK(run->records == static_cast<int64_t>(p.operation_profiles.size() + p.fusion_profiles.size()));
    const auto recs = db.records(id);
    REQUIRE(recs.size() == static_cast<std::size_t>(run->records));
    CHECK(recs[0].key == p.operation_profiles[0].first);
    CHECK(recs[0].figure > 0);
    CHECK(recs[0].ci_low <= recs[0].ci_high);
    CHECK(json::parse(recs[0].conditions) == json::value(p.operation_profiles[0].second.extra_params));
    CHECK_THROWS_AS(db.profile_text(id + 1), HistoryError);
    CHECK(db.runs().size() == 1);
    CHECK(db.runs(std::string("Fixture CPU 9000"), run->physical_cores, run->memory_gib).size() == 1);
    CHECK(db.runs(std::string("Another CPU"), run->physical_cores, run->memory_gib).empty());
}

TEST_CASE("the previous comparable run has the same fingerprints and is complete", "[history]") {
    TempDir dir;
    HistoryDb db(dir / "h.sqlite");
    const auto [p, text] = golden();
    auto other = variant([](json::object& d) { d.at("plugins").as_array()[0].as_object()["version"] = "9.9.9"; });
    auto partial = variant([](json::object& d) { d.at("run").as_object()["complete"] = false; });
    const int64_t a = db.record(p, text, "");
    const int64_t b = db.record(other.first, other.second, "");
    const int64_t c = db.record(partial.first, partial.second, "");
    const int64_t d = db.record(p, text, "");
    CHECK(!db.previous_comparable(a));
    CHECK(!db.previous_comparable(b));  // its software differs from a's
    CHECK(db.previous_comparable(d) == a);  // c was interrupted: not a baseline
    CHECK(!db.run(c)->complete);
}

TEST_CASE("two writers at once both land in a database that does not exist yet", "[history][concurrency]") {
    TempDir dir;
    const fs::path path = dir / "h.sqlite";
    const auto [p, text] = golden();
    int gate[2];
    REQUIRE(::pipe(gate) == 0);
    constexpr int kRuns = 15;
    pid_t kids[2];
    for (pid_t& kid : kids) {
        kid = ::fork();
        REQUIRE(kid >= 0);
        if (kid == 0) {
            ::close(gate[1]);
            char c;
            (void)::read(gate[0], &c, 1);  // released together: EOF when the parent closes its end
            int rc = 0;
            try {
                HistoryDb db(path);
                for (int i = 0; i < kRuns; ++i) db.record(p, text, "");
            } catch (const std::exception&) {
                rc = 1;
            }
            ::_exit(rc);
        }
    }
    ::close(gate[0]);
    ::close(gate[1]);
    for (pid_t kid : kids) {
        int status = 0;
        ::waitpid(kid, &status, 0);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
    }
    HistoryDb db(path);
    CHECK(db.runs().size() == 2 * kRuns);
    CHECK(raw_count(path, "records") ==
          2 * kRuns * static_cast<int64_t>(p.operation_profiles.size() + p.fusion_profiles.size()));
}

TEST_CASE("a corrupt file is refused in one line and left as it was", "[history][faults]") {
    TempDir dir;
    const fs::path path = dir / "h.sqlite";
    std::string garbage(8192, '\0');
    for (std::size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>(i * 7919 % 251);
    std::ofstream(path, std::ios::binary) << garbage;
    try {
        HistoryDb db(path);
        FAIL("a corrupt database opened");
    } catch (const HistoryError& e) {
        const std::string what = e.what();
        CHECK(what.find(path.string()) != std::string::npos);
        CHECK(what.find("not a database") != std::string::npos);
        CHECK(what.find('\n') == std::string::npos);
    }
    CHECK(slurp(path) == garbage);
    // A SQLite database of someone else's is not taken over either.
    const fs::path foreign = dir / "other.sqlite";
    raw_exec(foreign, "CREATE TABLE t(x); INSERT INTO t VALUES (1);");
    CHECK_THROWS_WITH(HistoryDb(foreign), Catch::Contains("not a calib history"));
    CHECK(raw_count(foreign, "t") == 1);
    CHECK_THROWS_WITH(HistoryDb(dir / "absent.sqlite", false), Catch::Contains("no history database"));
    CHECK(!fs::exists(dir / "absent.sqlite"));
}

TEST_CASE("a database of a newer schema is refused and kept", "[history][faults]") {
    TempDir dir;
    const fs::path path = dir / "h.sqlite";
    const auto [p, text] = golden();
    { HistoryDb(path).record(p, text, ""); }
    raw_exec(path, "UPDATE meta SET value = '" + std::to_string(kHistorySchemaVersion + 1) +
                       "' WHERE key = 'schema_version'");
    CHECK_THROWS_WITH(HistoryDb(path), Catch::Contains("schema version " + std::to_string(kHistorySchemaVersion + 1)) &&
                                           Catch::Contains("newer"));
    CHECK(raw_count(path, "runs") == 1);
    // The same database at this build's version opens again, its run intact (migrations do not repeat).
    raw_exec(path, "UPDATE meta SET value = '" + std::to_string(kHistorySchemaVersion) + "' WHERE key = 'schema_version'");
    HistoryDb db(path);
    CHECK(db.profile_text(1) == text);
}

TEST_CASE("prune deletes only the runs it is told to and their records", "[history]") {
    TempDir dir;
    const fs::path path = dir / "h.sqlite";
    HistoryDb db(path);
    const auto [p, text] = golden();
    auto other = variant([](json::object& d) { d.at("host").as_object()["cpu_model"] = "Other CPU"; });
    for (int i = 0; i < 3; ++i) db.record(p, text, "");
    const int64_t lone = db.record(other.first, other.second, "");
    CHECK(db.prune({}) == 0);
    CHECK(db.runs().size() == 4);
    PruneRule keep;
    keep.keep = 1;  // per fingerprint pair: run 3 of the three, and the lone one
    CHECK(db.prune(keep) == 2);
    auto left = db.runs();
    REQUIRE(left.size() == 2);
    CHECK(left[0].id == 3);
    CHECK(left[1].id == lone);
    CHECK(raw_count(path, "records") == 2 * static_cast<int64_t>(p.operation_profiles.size() + p.fusion_profiles.size()));
    PruneRule by_id;
    by_id.ids = {lone};
    CHECK(db.prune(by_id) == 1);
    CHECK(raw_count(path, "fingerprints") == 2);  // the lone run's hardware fingerprint went with it
    PruneRule before;
    before.before = "1970-01-02";
    CHECK(db.prune(before) == 0);
    before.before = "9999-01-01";
    CHECK(db.prune(before) == 1);
    CHECK(db.runs().empty());
}
