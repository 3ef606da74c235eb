#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "profile_test_util.hpp"

using namespace calib::core;
using namespace calib::core::test;
namespace fs = std::filesystem;

namespace {

// A fresh folder under the system temp dir, removed at scope exit.
struct TempDir {
    fs::path path;
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "calib_profile_XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ec);
        fs::remove_all(path, ec);
    }
};

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

size_t entries(const fs::path& dir) {
    size_t n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
    return n;
}

}  // namespace

TEST_CASE("save_text_atomic writes and replaces, leaving no temporary file", "[profile][files]") {
    TempDir d;
    const fs::path f = d.path / "profile.json";
    save_text_atomic(f, "first");
    CHECK(slurp(f) == "first");
    save_text_atomic(f, "second, longer text");
    CHECK(slurp(f) == "second, longer text");
    CHECK(entries(d.path) == 1);
    struct stat st {};
    REQUIRE(::stat(f.c_str(), &st) == 0);
    CHECK((st.st_mode & 0444) == 0444);  // readable by consumers, not mkstemp's 0600
}

TEST_CASE("save_text_atomic leaves an existing file untouched when it cannot write", "[profile][files]") {
    TempDir d;
    const fs::path f = d.path / "profile.json";
    save_text_atomic(f, "precious");

    SECTION("folder not writable") {
        if (::geteuid() == 0) {
            SUCCEED("root ignores permissions");  // the path-is-a-directory case still runs
            return;
        }
        fs::permissions(d.path, fs::perms::owner_read | fs::perms::owner_exec);
        try {
            save_text_atomic(f, "replacement");
            FAIL("expected an exception");
        } catch (const std::runtime_error& e) {
            CHECK(std::string(e.what()).find(f.string()) != std::string::npos);
        }
        fs::permissions(d.path, fs::perms::owner_all);
        CHECK(slurp(f) == "precious");
        CHECK(entries(d.path) == 1);
    }
    SECTION("target is a directory") {
        const fs::path sub = d.path / "sub";
        fs::create_directory(sub);
        fs::path inner = sub / "keep.txt";
        save_text_atomic(inner, "inside");
        try {
            save_text_atomic(sub, "replacement");
            FAIL("expected an exception");
        } catch (const std::runtime_error& e) {
            CHECK(std::string(e.what()).find(sub.string()) != std::string::npos);
        }
        CHECK(fs::is_directory(sub));
        CHECK(slurp(inner) == "inside");
        CHECK(slurp(f) == "precious");
        CHECK(entries(d.path) == 2);  // no temporary left behind
    }
    SECTION("folder does not exist") {
        CHECK_THROWS_AS(save_text_atomic(d.path / "missing" / "p.json", "x"), std::runtime_error);
        CHECK(slurp(f) == "precious");
    }
}

TEST_CASE("save_profile then load_profile gives the same profile", "[profile][files]") {
    TempDir d;
    const Profile p = load_profile(sample_path("good.json"));
    save_profile(d.path / "out.json", p);
    CHECK(to_json(load_profile(d.path / "out.json")) == to_json(p));
}

TEST_CASE("save_profile does not touch the file when the profile cannot be written", "[profile][files]") {
    TempDir d;
    const fs::path f = d.path / "out.json";
    save_text_atomic(f, "old");
    Profile p = load_profile(sample_path("good.json"));
    p.avg_efficiency = std::numeric_limits<double>::quiet_NaN();
    CHECK_THROWS_AS(save_profile(f, p), ProfileError);
    CHECK(slurp(f) == "old");
}
