#include <catch2/catch.hpp>
#include <limits>

#include "profile_test_util.hpp"

using namespace calib::core;
using namespace calib::core::test;
namespace json = boost::json;

namespace {

// True when some problem mentions `needle` (a path, usually).
bool mentions(const std::vector<std::string>& problems, const std::string& needle) {
    for (const auto& p : problems)
        if (p.find(needle) != std::string::npos) return true;
    return false;
}

json::object& op(json::value& doc, const char* key) {
    return doc.as_object()["operation_profiles"].as_object()[key].as_object();
}
json::object& fusion(json::value& doc, const char* key) {
    return doc.as_object()["fusion_profiles"].as_object()[key].as_object();
}

}  // namespace

TEST_CASE("a good profile validates cleanly", "[profile][validate]") {
    const auto problems = validate(sample_doc("good.json"));
    for (const auto& p : problems) UNSCOPED_INFO(p);
    CHECK(problems.empty());
    // And so does what calib writes from it.
    CHECK(validate(json::parse(to_json_text(load_profile(sample_path("good.json"))))).empty());
}

TEST_CASE("validate reports structure and type problems with paths", "[profile][validate]") {
    CHECK(mentions(validate(json::array{}), "<root>"));
    json::value doc = sample_doc("good.json");
    doc.as_object()["metadata"].as_object()["gpu"] = "x";
    op(doc, "matmul_matrix_size=1024_medium").erase("num_trials");
    fusion(doc, "Linear_Bias_ReLU")["num_operators"] = 3.0;
    doc.as_object().erase("worst_efficiency");
    doc.as_object()["precision_matrix"] = "bf16";
    const auto problems = validate(doc);
    CHECK(mentions(problems, "metadata.gpu: unknown field"));
    CHECK(mentions(problems, "operation_profiles.matmul_matrix_size=1024_medium.num_trials: missing"));
    CHECK(mentions(problems, "fusion_profiles.Linear_Bias_ReLU.num_operators: expected integer"));
    CHECK(mentions(problems, "worst_efficiency: missing"));
    CHECK(mentions(problems, "precision_matrix: expected object or null"));
    CHECK(problems.size() >= 5);  // all found in one pass, not just the first
}

TEST_CASE("validate flags non-finite numbers anywhere", "[profile][validate]") {
    json::value doc = sample_doc("good.json");
    op(doc, "matmul_matrix_size=512_small")["std_latency_ms"] = std::numeric_limits<double>::quiet_NaN();
    doc.as_object()["peaks"].as_object()["inf"] = std::numeric_limits<double>::infinity();
    const auto problems = validate(doc);
    CHECK(mentions(problems, "operation_profiles.matmul_matrix_size=512_small.std_latency_ms: NaN"));
    CHECK(mentions(problems, "peaks.inf: infinity"));
}

TEST_CASE("validate checks fusion consistency", "[profile][validate]") {
    json::value doc = sample_doc("good.json");
    SECTION("speedup disagrees with latencies") {
        fusion(doc, "Linear_Bias_ReLU")["speedup_factor"] = 1.53;  // 3.0/2.0 = 1.5, off by 2%
        fusion(doc, "Linear_Bias_ReLU")["gflops_improvement"] = 0.53;
        const auto problems = validate(doc);
        CHECK(mentions(problems, "fusion_profiles.Linear_Bias_ReLU.speedup_factor"));
        CHECK_FALSE(mentions(problems, "gflops_improvement"));
    }
    SECTION("within 1% is accepted") {
        fusion(doc, "Linear_Bias_ReLU")["speedup_factor"] = 1.505;
        fusion(doc, "Linear_Bias_ReLU")["gflops_improvement"] = 0.505;
        CHECK(validate(doc).empty());
    }
    SECTION("gflops_improvement is not speedup - 1") {
        fusion(doc, "Linear_Bias_ReLU@128x512x512")["gflops_improvement"] = 1.25;
        CHECK(mentions(validate(doc), "fusion_profiles.Linear_Bias_ReLU@128x512x512.gflops_improvement"));
    }
    SECTION("memory_reduction is not 1 - fused/unfused bytes") {
        fusion(doc, "Linear_Bias_ReLU@128x512x512")["memory_reduction"] = 0.6;
        CHECK(mentions(validate(doc), "Linear_Bias_ReLU@128x512x512.memory_reduction"));
    }
    SECTION("num_operators disagrees with operators") {
        fusion(doc, "Linear_Bias_ReLU")["num_operators"] = 2;
        CHECK(mentions(validate(doc), "Linear_Bias_ReLU.num_operators"));
    }
    SECTION("status ok with zero latencies") {
        fusion(doc, "Conv2d_BN@1x64x56x56")["extra_params"].as_object()["status"] = "ok";
        CHECK(mentions(validate(doc), "Conv2d_BN@1x64x56x56: status ok but latencies"));
    }
    SECTION("unknown status") {
        fusion(doc, "Conv2d_BN@1x64x56x56")["extra_params"].as_object()["status"] = "meh";
        CHECK(mentions(validate(doc), "Conv2d_BN@1x64x56x56.extra_params.status"));
    }
    SECTION("key does not match shape or precision") {
        auto rec = fusion(doc, "Linear_Bias_ReLU@128x512x512");
        doc.as_object()["fusion_profiles"].as_object()["Linear_Bias_ReLU@1x2x3"] = rec;
        rec["extra_params"].as_object()["precision"] = "bf16";
        doc.as_object()["fusion_profiles"].as_object()["Linear_Bias_ReLU@128x512x512"] = rec;
        const auto problems = validate(doc);
        CHECK(mentions(problems, "fusion_profiles.Linear_Bias_ReLU@1x2x3: key does not match"));
        CHECK(mentions(problems, "fusion_profiles.Linear_Bias_ReLU@128x512x512: key does not match"));
    }
}

TEST_CASE("validate requires suspicious on efficiency above 1", "[profile][validate]") {
    json::value doc = sample_doc("good.json");
    op(doc, "matmul_matrix_size=1024_precision=bf16_medium")["extra_params"].as_object().erase("suspicious");
    CHECK(mentions(validate(doc), "matmul_matrix_size=1024_precision=bf16_medium.efficiency"));
    op(doc, "matmul_matrix_size=1024_precision=bf16_medium")["extra_params"].as_object()["suspicious"] =
        false;
    CHECK(mentions(validate(doc), "matmul_matrix_size=1024_precision=bf16_medium.efficiency"));
}

TEST_CASE("validate recomputes aggregates over compute records", "[profile][validate]") {
    json::value doc = sample_doc("good.json");
    SECTION("worst including the memory record is wrong") {
        doc.as_object()["worst_measured_gflops"] = 0.0;
        CHECK(mentions(validate(doc), "worst_measured_gflops"));
    }
    SECTION("avg off by more than 1e-6 relative") {
        const double avg = doc.at("avg_efficiency").as_double();  // the fp32 records' mean
        doc.as_object()["avg_efficiency"] = avg * (1 + 1e-5);
        CHECK(mentions(validate(doc), "avg_efficiency"));
        doc.as_object()["avg_efficiency"] = avg * (1 + 1e-8);
        CHECK_FALSE(mentions(validate(doc), "avg_efficiency"));
    }
    SECTION("bandwidth efficiency") {
        doc.as_object()["bandwidth_efficiency"] = 0.4;
        CHECK(mentions(validate(doc), "bandwidth_efficiency"));
    }
}

TEST_CASE("validate checks extension types", "[profile][validate]") {
    json::value doc = sample_doc("good.json");
    doc.as_object()["schema_version"] = 1.0;
    doc.as_object()["run"].as_object()["complete"] = "yes";
    doc.as_object()["plugins"] = json::object{};
    const auto problems = validate(doc);
    CHECK(mentions(problems, "schema_version: expected integer"));
    CHECK(mentions(problems, "run.complete: expected bool"));
    CHECK(mentions(problems, "plugins: expected array"));
    doc = sample_doc("good.json");
    doc.as_object().erase("schema_version");  // optional
    CHECK(validate(doc).empty());
}

TEST_CASE("validate never crashes on hostile documents", "[profile][validate]") {
    json::value deep = json::array{};
    for (int i = 0; i < 500; ++i) deep = json::array{deep};
    json::value doc = sample_doc("good.json");
    doc.as_object()["x_deep"] = deep;
    CHECK(validate(doc).empty());  // unknown top-level keys may nest; only checked for finiteness
    for (json::value v :
         {json::value(nullptr), json::value(1), json::value("s"), json::value(json::object{})}) {
        CHECK_FALSE(validate(v).empty());
    }
    doc = sample_doc("good.json");
    doc.as_object()["operation_profiles"] = json::array{json::object{}};
    doc.as_object()["fusion_profiles"].as_object()["Linear_Bias_ReLU"] = 7;
    doc.as_object()["theoretical_peak_gflops"] = std::numeric_limits<uint64_t>::max();
    doc.as_object()["metadata"] = json::array{};
    const auto problems = validate(doc);
    CHECK(mentions(problems, "metadata: expected object"));
    CHECK(mentions(problems, "operation_profiles: expected object"));
    CHECK(mentions(problems, "fusion_profiles.Linear_Bias_ReLU: expected object"));
}
