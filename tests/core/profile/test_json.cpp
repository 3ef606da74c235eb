#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "profile_test_util.hpp"

using namespace calib::core;
using namespace calib::core::test;
namespace json = boost::json;

namespace {

Profile small_profile() {
    Profile p;
    p.metadata.hardware_name = "box";
    p.metadata.calibration_date = "2025-11-20T10:00:00Z";
    p.metadata.calibration_tool_version = "calib 0.1.0";
    p.metadata.cpu_model = "cpu \"quoted\" \\ \xc3\xa9";
    p.metadata.cpu_count = 12;
    p.metadata.total_memory_gb = 0.1;
    p.metadata.python_version = "calib 0.1.0";
    p.metadata.num_warmup_runs = 2;
    p.metadata.num_measurement_runs = 7;
    p.theoretical_peak_gflops = 123456789.123456789;
    p.theoretical_bandwidth_gbps = 1e-300;
    p.measured_bandwidth_gbps = -0.0;
    p.operation_profiles.emplace_back("matmul_matrix_size=512_small", matmul_record(512, 0.1, 1.0 / 3.0));
    p.operation_profiles.emplace_back("matmul_matrix_size=2048_medium",
                                      matmul_record(2048, 5e-324, 2.0 / 3.0));
    p.fusion_profiles.emplace_back("QK_Softmax@4x256x64",
                                   fusion_record("QK_Softmax", {4, 256, 64}, 3.3, 1.1));
    p.precision_matrix =
        json::object{{"hardware_name", "box"}, {"supported_precisions", json::array{"fp32"}}};
    p.extensions["run"] = json::object{{"complete", false}};
    p.extensions["x_other"] = json::array{1, 2.5, "s"};
    p.extensions["schema_version"] = kProfileSchemaVersion;
    compute_aggregates(p);
    return p;
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

}  // namespace

TEST_CASE("profile round trip through text is lossless", "[profile][json]") {
    const Profile p = small_profile();
    const std::string text = to_json_text(p);
    const Profile q = parse_profile(text);
    CHECK(to_json(q) == to_json(p));
    CHECK(to_json_text(q) == text);  // stable order: printing again gives the same bytes
    CHECK(same_bits(q.theoretical_peak_gflops, 123456789.123456789));
    CHECK(same_bits(q.theoretical_bandwidth_gbps, 1e-300));
    CHECK(same_bits(q.measured_bandwidth_gbps, -0.0));
    CHECK(same_bits(q.metadata.total_memory_gb, 0.1));
    CHECK(same_bits(q.operation_profiles[0].second.efficiency, 1.0 / 3.0));
    CHECK(same_bits(q.operation_profiles[1].second.measured_gflops, 5e-324));
    CHECK(q.metadata.cpu_model == p.metadata.cpu_model);
    CHECK_FALSE(q.metadata.pytorch_version.has_value());
    REQUIRE(q.operation_profiles.size() == 2);
    CHECK(q.operation_profiles[0].first == "matmul_matrix_size=512_small");
    CHECK(q.operation_profiles[0].second.extra_params.at("matrix_size").is_int64());  // ints stay ints
    CHECK(q.extensions.at("x_other") == p.extensions.at("x_other"));
}

TEST_CASE("doubles read back bit for bit, unlike Boost.JSON 1.81's default parser", "[profile][json]") {
    // Values the default parser rounds wrongly; the profile's parser must not.
    for (double d : {1.3927926388013963e-143, 5.409760742964738e+124, 0.1, 1e22, 2.2250738585072014e-308,
                     123456789.123456789, 1.0, -2.5}) {
        Profile p = small_profile();
        p.best_efficiency = d;
        const Profile q = parse_profile(to_json_text(p));
        CHECK(same_bits(q.best_efficiency, d));
    }
}

TEST_CASE("doubles are written as floats, integers as integers", "[profile][json]") {
    const std::string text =
        pretty_print(json::object{{"f", 1.0}, {"i", 1}, {"neg", -0.0}, {"tiny", 1e-300}});
    CHECK(text == "{\n  \"f\": 1.0,\n  \"i\": 1,\n  \"neg\": -0.0,\n  \"tiny\": 1e-300\n}\n");
}

TEST_CASE("top-level keys come in the origin's order, then precision_matrix, then extensions",
          "[profile][json]") {
    Profile p = small_profile();
    p.extensions = json::object{
        {"zz_custom", 1}, {"run", json::object{}}, {"calib_version", "0.1.0"}, {"schema_version", 1}};
    const json::object o = to_json(p).as_object();
    std::vector<std::string> keys;
    for (const auto& kv : o) keys.emplace_back(kv.key());
    const std::vector<std::string> expected = {"metadata",
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
                                               "fusion_profiles",
                                               "precision_matrix",
                                               "schema_version",
                                               "calib_version",
                                               "run",
                                               "zz_custom"};
    CHECK(keys == expected);
    // Record fields in the origin's order too.
    const auto& rec = o.at("fusion_profiles").as_object().begin()->value().as_object();
    CHECK(rec.begin()->key() == "fusion_pattern");
    CHECK((rec.end() - 1)->key() == "num_trials");
}

TEST_CASE("pretty_print: 2-space indent, one key per line", "[profile][json]") {
    const json::value v = json::object{{"a", json::object{{"b", json::array{1, 2}}, {"c", json::array{}}}},
                                       {"d", json::array{json::object{{"e", nullptr}}}}};
    CHECK(pretty_print(v) ==
          "{\n  \"a\": {\n    \"b\": [1, 2],\n    \"c\": []\n  },\n  \"d\": [\n    {\n      \"e\": null\n    "
          "}\n  ]\n}\n");
    CHECK(json::parse(pretty_print(v)) == v);
}

TEST_CASE("non-finite numbers are never written", "[profile][json]") {
    Profile p = small_profile();
    p.operation_profiles[0].second.efficiency = std::numeric_limits<double>::quiet_NaN();
    try {
        (void)to_json_text(p);
        FAIL("expected ProfileError");
    } catch (const ProfileError& e) {
        CHECK(std::string(e.what()).find("operation_profiles.matmul_matrix_size=512_small.efficiency") !=
              std::string::npos);
    }
    p = small_profile();
    p.extensions["peaks"] = json::object{{"x", std::numeric_limits<double>::infinity()}};
    CHECK_THROWS_AS(to_json_text(p), ProfileError);
    CHECK_THROWS_AS(from_json(to_json(p)), ProfileError);
}

TEST_CASE("to_json refuses what it cannot write faithfully", "[profile][json]") {
    Profile p = small_profile();
    p.operation_profiles.push_back(p.operation_profiles.front());
    CHECK_THROWS_AS(to_json(p), ProfileError);  // duplicate key would silently drop a record
    p = small_profile();
    p.extensions["metadata"] = json::object{};
    CHECK_THROWS_AS(to_json(p), ProfileError);
}

TEST_CASE("the sample profile loads with its extensions preserved", "[profile][json]") {
    const Profile p = load_profile(sample_path("good.json"));
    CHECK(p.metadata.cpu_count == 8);
    CHECK(p.operation_profiles.size() == 5);
    CHECK(p.operation_profiles[1].second.measured_gflops == 600.0);  // integer accepted for a float field
    CHECK(p.fusion_profiles.size() == 5);
    CHECK(p.precision_matrix.is_object());
    CHECK(p.extensions.at("x_vendor_note").as_string() == "unknown top-level keys are kept");
    // Written back, the file is the same document except that the float field now reads as a float.
    json::value expected = sample_doc("good.json");
    expected.at("operation_profiles").at("matmul_matrix_size=1024_medium").as_object()["measured_gflops"] =
        600.0;
    CHECK(json::parse(to_json_text(p)) == expected);
}

TEST_CASE("precision_matrix may be absent (written as null) or null", "[profile][json]") {
    json::value doc = sample_doc("good.json");
    doc.as_object().erase("precision_matrix");
    const Profile p = from_json(doc);
    CHECK(p.precision_matrix.is_null());
    CHECK(to_json(p).as_object().at("precision_matrix").is_null());
    doc.as_object()["precision_matrix"] = json::array{};
    CHECK_THROWS_AS(from_json(doc), ProfileError);
}

namespace {

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const ProfileError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("malformed sample files give ProfileError naming the path", "[profile][json]") {
    const std::pair<const char*, const char*> cases[] = {
        {"bad_unknown_metadata_field.json", "metadata.gpu_model"},
        {"bad_unknown_record_field.json",
         "operation_profiles.matmul_matrix_size=512_small.median_latency_ms"},
        {"bad_missing_fusion_field.json", "fusion_profiles.Linear_Bias_ReLU.num_trials"},
        {"bad_float_for_int.json", "operation_profiles.matmul_matrix_size=1024_medium.num_trials"},
        {"bad_string_for_bool.json", "operation_profiles.matmul_matrix_size=1024_medium.memory_bound"},
        {"bad_array_for_object.json", "fusion_profiles"},
        {"bad_truncated.json", "line "},
        {"bad_garbage.json", "line 1, column 14"},
    };
    for (const auto& [file, where] : cases) {
        INFO(file);
        const std::string msg = error_of([&] { load_profile(sample_path(file)); });
        REQUIRE_FALSE(msg.empty());
        CHECK(msg.find(where) != std::string::npos);
        CHECK(msg.find(file) != std::string::npos);  // load_profile names the file
    }
    CHECK_THROWS_AS(load_profile(sample_path("does_not_exist.json")), ProfileError);
}

TEST_CASE("parse errors report line and column", "[profile][json]") {
    CHECK(error_of([] { parse_profile("{\n  \"a\": 1,\n  \"b\": tru\n}"); }).find("line 3, column") !=
          std::string::npos);
    CHECK(error_of([] { parse_profile("{} trailing"); }).find("line 1, column 4") != std::string::npos);
    CHECK(error_of([] { parse_profile("{\"x\": 1e400}"); }).find("out of range") != std::string::npos);
    CHECK_FALSE(error_of([] { parse_profile(""); }).empty());
}

TEST_CASE("hostile input never crashes the reader", "[profile][json]") {
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    CHECK_THROWS_AS(parse_profile(deep), ProfileError);
    for (const char* text :
         {"[]", "null", "42", "\"s\"", "{\"metadata\": []}", "{\"metadata\": {\"cpu_count\": 1e300}}",
          "{\"metadata\": {\"cpu_count\": 99999999999999999999}}", "\x01\x02\x03"}) {
        INFO(text);
        CHECK_THROWS_AS(parse_profile(text), ProfileError);
    }
    json::value doc = sample_doc("good.json");
    doc.as_object()["operation_profiles"].as_object()["matmul_matrix_size=512_small"] = json::array{1, 2};
    CHECK_THROWS_AS(from_json(doc), ProfileError);
    doc = sample_doc("good.json");
    doc.as_object()["metadata"].as_object()["cpu_count"] = std::numeric_limits<uint64_t>::max();
    CHECK_THROWS_AS(from_json(doc), ProfileError);
    doc = sample_doc("good.json");
    doc.as_object()["fusion_profiles"].as_object()["Linear_Bias_ReLU"].as_object()["input_shape"] =
        json::array{1, 2.5};
    CHECK(error_of([&] { from_json(doc); }).find("fusion_profiles.Linear_Bias_ReLU.input_shape[1]") !=
          std::string::npos);
}
