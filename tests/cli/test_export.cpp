// End-to-end tests of `calib-host export`: the 2025 loader's file, the GPU mapper's curve files, the
// registry's file name, and bad input.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "cli_util.hpp"

using namespace calib::test;
namespace json = boost::json;

namespace {

const char* const kMetadata2026[] = {"device_type", "platform_architecture", "framework"};

json::object read_json(const fs::path& p) { return json::parse(slurp(p)).as_object(); }

// The sample profile's efficiency_curves keys, "<operation>/<precision>", grouped by precision.
std::map<std::string, std::set<std::string>> curves_by_precision() {
    std::map<std::string, std::set<std::string>> out;
    const auto doc = read_json(sample_profile());
    for (const auto& kv : doc.at("efficiency_curves").as_object()) {
        const std::string key(kv.key());
        out[key.substr(key.find('/') + 1)].insert(key.substr(0, key.find('/')));
    }
    return out;
}

// `export --format origin-curves` of the sample profile into `dir`, with `options`.
Result export_curves(const Scratch& dir, const std::string& options) {
    return host("export --format origin-curves " + sample_profile().string() + " " + dir.path().string() +
                " " + options);
}

std::string upper(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

}  // namespace

TEST_CASE("the default profile carries the 2026 metadata, the origin-2025 export does not", "[cli][export]") {
    Scratch dir;
    const auto full = read_json(sample_profile());
    const auto old = read_json(sample_profile_2025(dir));
    for (const char* k : kMetadata2026) {
        CHECK(full.at("metadata").as_object().contains(k));
        CHECK_FALSE(old.at("metadata").as_object().contains(k));
    }
    CHECK(old.at("metadata").as_object().size() == 11);
    bool precision_results = false;
    for (const auto& kv : full.at("operation_profiles").as_object())
        precision_results = precision_results || kv.value().as_object().contains("precision_results");
    CHECK(precision_results);
    for (const auto& kv : old.at("operation_profiles").as_object())
        CHECK_FALSE(kv.value().as_object().contains("precision_results"));
    CHECK(old.at("efficiency_curves") == full.at("efficiency_curves"));  // the rest unchanged
    CHECK(old.at("operation_profiles").as_object().size() ==
          full.at("operation_profiles").as_object().size());
}

TEST_CASE("origin-curves: a file per precision, a curve per (operation, precision) with its residual",
          "[cli][export]") {
    Scratch dir;
    REQUIRE(export_curves(dir, "--hardware-id test_hw").exit_code == 0);
    const auto expected = curves_by_precision();
    REQUIRE(!expected.empty());
    std::size_t files = 0;
    for (const auto& e : fs::recursive_directory_iterator(dir / "test_hw")) files += e.is_regular_file();
    CHECK(files == expected.size());
    for (const auto& [precision, ops] : expected) {
        INFO(precision);
        const auto doc = read_json(dir / "test_hw" / precision / "efficiency_curves.json");
        CHECK(doc.at("schema_version") == "1.0");
        CHECK(doc.at("hardware_id") == "test_hw");
        CHECK(doc.at("precision") == upper(precision).c_str());
        const std::string device(doc.at("device_type").as_string());
        CHECK((device == "cpu" || device == "gpu"));
        const auto& curves = doc.at("curves").as_object();
        CHECK(curves.size() == ops.size());
        for (const auto& op : ops) {
            INFO(op);
            REQUIRE(curves.contains(op));
            const auto& c = curves.at(op).as_object();
            CHECK(std::string(c.at("notes").as_string()).find("rms residual") != std::string::npos);
            CHECK(!c.at("data_points").as_array().empty());
            const auto& f = c.at("fitted_curve").as_object();
            CHECK(f.at("curve_type") == "piecewise_linear");
            const auto& bps = f.at("breakpoints").as_array();
            REQUIRE(bps.size() >= 2);
            for (std::size_t i = 0; i < bps.size(); ++i) {
                const double e = bps[i].as_array().at(1).to_number<double>();
                CHECK((e >= 0 && e <= 1));
                if (i == 0) continue;
                CHECK(bps[i].as_array().at(0).to_number<double>() >
                      bps[i - 1].as_array().at(0).to_number<double>());
                CHECK(e >= bps[i - 1].as_array().at(1).to_number<double>());
            }
        }
    }
}

TEST_CASE("origin-curves --registry: the profile under the registry's file name, by default hardware id",
          "[cli][export]") {
    Scratch dir;
    REQUIRE(export_curves(dir, "--registry").exit_code == 0);
    std::vector<fs::path> ids;
    for (const auto& e : fs::directory_iterator(dir.path())) ids.push_back(e.path());
    REQUIRE(ids.size() == 1);
    CHECK(std::regex_match(ids[0].filename().string(), std::regex("^[a-z0-9]+(_[a-z0-9]+)*$")));
    std::vector<fs::path> profiles;
    for (const auto& e : fs::directory_iterator(ids[0]))
        if (e.is_regular_file()) profiles.push_back(e.path());
    REQUIRE(profiles.size() == 1);
    CHECK(std::regex_match(profiles[0].filename().string(),
                           std::regex(R"(^[A-Za-z0-9]+_[0-9]+MHz_[a-zA-Z]+_[0-9]{8}T[0-9]{6}Z\.json$)")));
    CHECK(json::parse(slurp(profiles[0])) == json::parse(slurp(sample_profile())));
}

TEST_CASE("export: bad input exits 2 with one line and leaves an existing output untouched",
          "[cli][export]") {
    Scratch dir;
    const fs::path out = dir / "out.json";
    std::ofstream(out) << "keep";
    std::ofstream(dir / "not.json") << "{ not json";
    std::ofstream(dir / "foreign.json") << R"({"name": "a file of something else"})";
    auto sample = read_json(sample_profile());
    sample.erase("efficiency_curves");
    std::ofstream(dir / "no_curves.json") << json::serialize(sample);
    const fs::path curve = dir / "hw" / "fp32" / "efficiency_curves.json";
    fs::create_directories(curve.parent_path());
    std::ofstream(curve) << "keep";
    for (const std::string in : {"missing.json", "not.json", "foreign.json"}) {
        for (const std::string fmt : {"origin-2025", "origin-curves"}) {
            INFO(in << " " << fmt);
            const std::string target =
                fmt == "origin-2025" ? out.string() : dir.path().string() + " --hardware-id hw";
            auto r = host("export --format " + fmt + " " + (dir / in).string() + " " + target);
            CHECK(r.exit_code == 2);
            CHECK(count_lines(r.err) == 1);
            CHECK(r.err.rfind("calib-host: error: ", 0) == 0);
        }
    }
    auto r = host("export --format origin-curves " + (dir / "no_curves.json").string() + " " +
                  dir.path().string() + " --hardware-id hw");
    CHECK(r.exit_code == 2);
    CHECK(count_lines(r.err) == 1);
    CHECK(r.err.find("no efficiency curves in") != std::string::npos);
    CHECK(slurp(out) == "keep");
    CHECK(slurp(curve) == "keep");
    r = host("export --format origin-2026 " + sample_profile().string() + " " + out.string());
    CHECK(r.exit_code == 2);
    CHECK(count_lines(r.err) == 1);
    CHECK(r.err.find("origin-2025") != std::string::npos);
    CHECK(r.err.find("origin-curves") != std::string::npos);
    r = host("export " + sample_profile().string() + " " + out.string());
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("missing --format") != std::string::npos);
    CHECK(slurp(out) == "keep");
}

TEST_CASE("export --format origin-2025 replaces an existing output", "[cli][export]") {
    Scratch dir;
    const fs::path out = dir / "out.json";
    std::ofstream(out) << "old";
    auto r = host("export --format origin-2025 " + sample_profile().string() + " " + out.string());
    CHECK(r.exit_code == 0);
    CHECK(host("validate " + out.string()).exit_code == 0);
    std::size_t entries = 0;
    for (const auto& e : fs::directory_iterator(dir.path())) entries += e.exists();
    CHECK(entries == 1);  // no temporary file left beside it
}
