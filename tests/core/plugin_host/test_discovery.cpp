#include <catch2/catch.hpp>

#include <fstream>
#include <optional>

#include <sys/stat.h>
#include <unistd.h>

#include "fixtures.hpp"

namespace fs = std::filesystem;
using calib::core::Candidate;
using calib::core::DiscoveryOptions;
using calib::core::discover;
using calib::test::TempDir;

namespace {

void touch(const fs::path& p, mode_t mode = 0644) {
    std::ofstream(p) << "x";
    ::chmod(p.c_str(), mode);
}

std::vector<std::string> names(const std::vector<Candidate>& cs) {
    std::vector<std::string> out;
    for (const auto& c : cs) out.push_back(c.path.parent_path().filename().string() + "/" + c.path.filename().string());
    return out;
}

DiscoveryOptions only(std::vector<fs::path> dirs) {
    DiscoveryOptions o;
    o.plugin_dirs = std::move(dirs);
    o.use_env = false;
    o.use_default_dir = false;
    return o;
}

// Sets (or clears) an environment variable for the scope of a test.
struct EnvGuard {
    std::string name;
    std::optional<std::string> old;
    EnvGuard(std::string n, const char* value) : name(std::move(n)) {
        if (const char* v = std::getenv(name.c_str())) old = v;
        if (value) ::setenv(name.c_str(), value, 1);
        else ::unsetenv(name.c_str());
    }
    ~EnvGuard() {
        if (old) ::setenv(name.c_str(), old->c_str(), 1);
        else ::unsetenv(name.c_str());
    }
};

}  // namespace

TEST_CASE("discover lists *.so files sorted by name, folders in order", "[discovery]") {
    TempDir root;
    fs::create_directory(root / "one");
    fs::create_directory(root / "two");
    touch(root / "two" / "b.so");
    touch(root / "two" / "a.so");
    touch(root / "two" / "notes.txt");
    touch(root / "two" / "lib.so.1");
    fs::create_directory(root / "two" / "dir.so");  // a folder is not a candidate
    touch(root / "one" / "z.so");

    auto found = discover(only({root / "two", root / "one"}));
    REQUIRE(names(found) == std::vector<std::string>{"two/a.so", "two/b.so", "one/z.so"});
    for (const auto& c : found) CHECK_FALSE(c.insecure);
}

TEST_CASE("discover lists each file once by canonical path", "[discovery]") {
    TempDir root;
    fs::create_directory(root / "a");
    fs::create_directory(root / "b");
    touch(root / "a" / "p.so");
    fs::create_symlink(root / "a" / "p.so", root / "b" / "alias.so");
    touch(root / "b" / "q.so");

    auto found = discover(only({root / "a", root / "b", root / "a"}));
    REQUIRE(names(found) == std::vector<std::string>{"a/p.so", "b/q.so"});
}

TEST_CASE("discover: a named missing folder is an error naming it", "[discovery]") {
    TempDir root;
    fs::path missing = root / "nope";
    REQUIRE_THROWS_WITH(discover(only({missing})), "plugin folder not found: " + missing.string());

    EnvGuard env("CALIB_PLUGIN_PATH", missing.c_str());
    DiscoveryOptions o = only({});
    o.use_env = true;
    REQUIRE_THROWS_WITH(discover(o), "plugin folder not found: " + missing.string());
}

TEST_CASE("discover: --plugins folders come before CALIB_PLUGIN_PATH, empty entries mean nothing", "[discovery]") {
    TempDir root;
    fs::create_directory(root / "cli");
    fs::create_directory(root / "env1");
    fs::create_directory(root / "env2");
    touch(root / "cli" / "c.so");
    touch(root / "env1" / "e1.so");
    touch(root / "env2" / "e2.so");
    touch(root / "stray.so");  // in the current directory below: never picked up unless named

    std::string path = "::" + (root / "env2").string() + ":" + (root / "env1").string() + ":";
    EnvGuard env("CALIB_PLUGIN_PATH", path.c_str());
    fs::path old_cwd = fs::current_path();
    fs::current_path(root.path());
    DiscoveryOptions o = only({root / "cli"});
    o.use_env = true;
    auto found = discover(o);
    o.use_env = false;
    auto without_env = discover(o);
    fs::current_path(old_cwd);

    REQUIRE(names(found) == std::vector<std::string>{"cli/c.so", "env2/e2.so", "env1/e1.so"});
    REQUIRE(names(without_env) == std::vector<std::string>{"cli/c.so"});
}

TEST_CASE("discover marks group/world-writable files and folders insecure", "[discovery]") {
    TempDir root;
    fs::create_directory(root / "safe");
    touch(root / "safe" / "ok.so", 0755);
    touch(root / "safe" / "world.so", 0666);
    touch(root / "safe" / "group.so", 0664);
    fs::create_directory(root / "open");
    ::chmod((root / "open").c_str(), 0775);
    touch(root / "open" / "inside.so", 0644);

    auto found = discover(only({root / "safe", root / "open"}));
    REQUIRE(found.size() == 4);
    // Sorted: group.so, ok.so, world.so, then open/inside.so.
    CHECK(found[0].insecure);
    CHECK_THAT(found[0].insecure_reason, Catch::Contains("group-writable") && Catch::Contains("0664"));
    CHECK_FALSE(found[1].insecure);
    CHECK(found[1].insecure_reason.empty());
    CHECK(found[2].insecure);
    CHECK_THAT(found[2].insecure_reason, Catch::Contains("world-writable") && Catch::Contains("0666"));
    CHECK(found[3].insecure);
    CHECK_THAT(found[3].insecure_reason, Catch::Contains("folder") && Catch::Contains("0775"));

    DiscoveryOptions o = only({root / "safe", root / "open"});
    o.allow_insecure = true;
    for (const auto& c : discover(o)) CHECK_FALSE(c.insecure);

    // An insecure candidate is rejected without being opened.
    auto rec = calib::core::scan_candidate(found[2], calib::test::worker_options());
    CHECK_FALSE(rec.loaded);
    CHECK(rec.reason_code == calib::core::RejectReason::insecure);
    CHECK(rec.reason == found[2].insecure_reason);
}

TEST_CASE("default plugin folder is named plugins next to the binaries or under the prefix", "[discovery]") {
    fs::path d = calib::core::default_plugin_dir();
    CHECK(d.filename() == "plugins");
    CHECK(d.is_absolute());
}
