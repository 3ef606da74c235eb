// End-to-end tests of the run history: runs recorded and listed, `history compare` against `compare`,
// a planted regression named after the run, and the faults that must not change a run's outcome.
#include <sqlite3.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "cli_util.hpp"

using namespace calib::test;
namespace json = boost::json;

namespace {

// The runs (over FixtureDir's good fixture) skip the placement guard (its 2 s settle), co-runner check
// and preflight: they test the history, not the measurement.
std::string run_args(const FixtureDir& plugins, const fs::path& history, const fs::path& out) {
    return "--no-default-plugins --plugins " + plugins.dir.path().string() +
           " --quiet --no-preflight --no-corunner-check --no-placement-guard --replicas 1 --time-budget 0.05 --placement-retry 0 --history " +
           history.string() + " --output " + out.string();
}

// The operation record the fixture's busy_loop case wrote.
std::string busy_loop_key(const fs::path& profile) {
    auto doc = json::parse(slurp(profile));
    for (const auto& kv : doc.at("operation_profiles").as_object())
        if (kv.value().at("extra_params").at("case") == "busy_loop") return std::string(kv.key());
    return {};
}

std::vector<std::string> lines_of(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    for (std::string l; std::getline(ss, l);) out.push_back(l);
    return out;
}

void set_schema_version(const fs::path& path, int v) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    const std::string sql = "UPDATE meta SET value = '" + std::to_string(v) + "' WHERE key = 'schema_version'";
    CHECK(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
}

}  // namespace

TEST_CASE("history: three runs listed and compared as compare does and a planted regression named",
          "[cli][history]") {
    FixtureDir plugins;
    Scratch dir;
    const fs::path h = dir / "history.sqlite";
    auto profile = [&](int i) {
        std::string name = "p";  // appended, not "p" + ...: GCC 12's -Wrestrict misfires on that here
        name += std::to_string(i);
        return dir / (name + ".json");
    };
    for (int i = 1; i <= 2; ++i) REQUIRE(host(run_args(plugins, h, profile(i))).exit_code == 0);
    // The third run has the fixture 4 times slower on its busy_loop case: the run names that record
    // after writing its profile, against run 2 (same fingerprints: the plugin's id and version are).
    auto slow = host(run_args(plugins, h, profile(3)), "CALIB_FIXTURE_SLOWDOWN=4");
    CHECK(slow.exit_code == 0);
    REQUIRE(fs::exists(profile(3)));
    const std::string key = busy_loop_key(profile(3));
    REQUIRE(!key.empty());
    CHECK(slow.err.find("regression(s) against history run 2") != std::string::npos);
    bool named = false;
    for (const auto& l : lines_of(slow.err)) named |= l.rfind("SLOWER", 0) == 0 && l.find(key) != std::string::npos;
    CHECK(named);

    auto list = host("history --history " + h.string());
    REQUIRE(list.exit_code == 0);
    auto rows = lines_of(list.out);
    REQUIRE(rows.size() == 4);  // header and three runs
    for (int i = 1; i <= 3; ++i) {
        CHECK(rows[i].rfind(std::to_string(i) + " ", 0) == 0);
        CHECK(rows[i].find(profile(i).string()) != std::string::npos);
    }
    CHECK(host("history --all --history " + h.string()).out == list.out);

    // export gives each profile back byte for byte; history compare prints what compare prints.
    for (int i : {2, 3}) {
        const fs::path back = dir / ("back" + std::to_string(i) + ".json");
        REQUIRE(host("history export " + std::to_string(i) + " " + back.string() + " --history " + h.string()).exit_code == 0);
        CHECK(slurp(back) == slurp(profile(i)));
    }
    auto hc = host("history compare --history " + h.string());
    auto pc = host("compare " + (dir / "back2.json").string() + " " + (dir / "back3.json").string());
    REQUIRE(hc.exit_code == 0);
    CHECK(hc.out == pc.out);
    CHECK(hc.out.find("SLOWER   " + key) != std::string::npos);
    CHECK(hc.err.find("run 3") != std::string::npos);
    CHECK(host("history compare 1 --history " + h.string()).out ==
          host("compare " + profile(1).string() + " " + profile(3).string()).out);
    CHECK(host("history compare --fail-on-regression 10 --history " + h.string()).exit_code == 1);
    auto show = host("history show 3 --history " + h.string());
    CHECK(show.exit_code == 0);
    CHECK(show.out.find(key) != std::string::npos);
    CHECK(show.out.find("previous comparable run: 2") != std::string::npos);

    // Nothing is deleted unless prune is told what to delete.
    auto refuse = host("history prune --history " + h.string());
    CHECK(refuse.exit_code == 2);
    CHECK(lines_of(host("history --history " + h.string()).out).size() == 4);
    auto prune = host("history prune --keep 1 --history " + h.string());
    CHECK(prune.exit_code == 0);
    CHECK(prune.out.find("deleted 2 run(s)") != std::string::npos);
    rows = lines_of(host("history --history " + h.string()).out);
    REQUIRE(rows.size() == 2);
    CHECK(rows[1].rfind("3 ", 0) == 0);
}

TEST_CASE("history: two calibrations finishing at once both land", "[cli][history][concurrency]") {
    FixtureDir plugins;
    Scratch dir;
    const fs::path h = dir / "history.sqlite";
    const std::string bin = CALIB_HOST_BIN;
    const std::string cmd = "(" + bin + " " + run_args(plugins, h, dir / "a.json") + " & " + bin + " " +
                            run_args(plugins, h, dir / "b.json") + " & wait) >" + (dir / "log").string() + " 2>&1";
    REQUIRE(std::system(cmd.c_str()) == 0);
    INFO(slurp(dir / "log"));
    CHECK(slurp(dir / "log").find("warning") == std::string::npos);
    auto rows = lines_of(host("history --history " + h.string()).out);
    CHECK(rows.size() == 3);
}

TEST_CASE("history: a corrupt database warns in one line and the run writes its profile and exits 0",
          "[cli][history][faults]") {
    FixtureDir plugins;
    Scratch dir;
    const fs::path h = dir / "history.sqlite";
    const std::string garbage = "this is not a SQLite database, but it is somebody's file\n";
    std::ofstream(h) << garbage;
    auto r = host(run_args(plugins, h, dir / "p.json"));
    CHECK(r.exit_code == 0);
    CHECK(fs::exists(dir / "p.json"));
    CHECK(count_lines(r.err) == 1);
    CHECK(r.err.rfind("calib-host: warning: history: ", 0) == 0);
    CHECK(slurp(h) == garbage);  // left as it was
    auto list = host("history --history " + h.string());
    CHECK(list.exit_code == 2);
    CHECK(list.err.rfind("calib-host: error: history: ", 0) == 0);
}

TEST_CASE("history: a newer schema is refused and the run still writes its profile and exits 0",
          "[cli][history][faults]") {
    FixtureDir plugins;
    Scratch dir;
    const fs::path h = dir / "history.sqlite";
    REQUIRE(host(run_args(plugins, h, dir / "p1.json")).exit_code == 0);
    set_schema_version(h, 99);
    auto r = host(run_args(plugins, h, dir / "p2.json"));
    CHECK(r.exit_code == 0);
    CHECK(fs::exists(dir / "p2.json"));
    CHECK(count_lines(r.err) == 1);
    CHECK(r.err.rfind("calib-host: warning: history: ", 0) == 0);
    CHECK(r.err.find("schema version 99") != std::string::npos);
    auto list = host("history --history " + h.string());
    CHECK(list.exit_code == 2);
    CHECK(list.err.find("newer") != std::string::npos);
    set_schema_version(h, 1);  // the one run recorded before is still there
    CHECK(lines_of(host("history --history " + h.string()).out).size() == 2);
}

TEST_CASE("history: the default database is under XDG_DATA_HOME and --no-history records nothing",
          "[cli][history]") {
    FixtureDir plugins;
    Scratch dir;
    const std::string env = "XDG_DATA_HOME=" + (dir / "data").string();
    const std::string args = "--no-default-plugins --plugins " + plugins.dir.path().string() +
                             " --quiet --no-preflight --no-corunner-check --no-placement-guard --replicas 1 --time-budget 0.05 --placement-retry 0 --json";
    auto none = host(args + " --no-history", env);
    CHECK(none.exit_code == 0);
    CHECK(!fs::exists(dir / "data"));
    auto r = host(args, env);
    REQUIRE(r.exit_code == 0);
    CHECK(fs::exists(dir / "data" / "calib" / "history.sqlite"));
    json::parse(r.out);  // --json: stdout is still the profile alone
    auto list = host("history", env);
    CHECK(lines_of(list.out).size() == 2);
    CHECK(list.out.find("(stdout)") != std::string::npos);
    // The profile printed to stdout is the one kept.
    auto back = host("history export 1 -", env);
    CHECK(back.out + "\n" == r.out);
}
