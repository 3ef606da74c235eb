// The fleet view (calib/core/fleet.hpp): headline figures from real profiles, the fleet's judgement
// with compare's rule (a planted slow node named, noise never), failed nodes kept, the alpha-beta fit.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <filesystem>

#include "calib/core/fleet.hpp"

using namespace calib::core;
namespace json = boost::json;

namespace {

// Literal names: GCC 12's -Wrestrict misfires on "n" + std::to_string(i) here.
const char* const kNames[] = {"n0", "n1", "n2"};

Profile committed(const std::string& name) {
    return load_profile(std::filesystem::path(CALIB_SOURCE_DIR) / "profiles" / name);
}

const HeadlineFigure* find(const std::vector<HeadlineFigure>& v, const std::string& name) {
    for (const auto& f : v)
        if (f.name == name) return &f;
    return nullptr;
}

// Scales every fp32 compute record's figure and interval by `k` (a node k times as fast on fp32).
void scale_fp32(Profile& p, double k) {
    for (auto& [key, r] : p.operation_profiles) {
        const std::string prec = text_field(r.extra_params, "precision");
        if (!(r.measured_gflops > 0) || !(prec.empty() || prec == "fp32") || !text_field(r.extra_params, "math").empty()) continue;
        r.measured_gflops *= k;
        for (const char* f : {"ci_low", "ci_high"})
            if (auto* v = r.extra_params.if_contains(f)) *v = v->to_number<double>() * k;
    }
}

// Sets the interval of the record behind `figure` to value x (1 +- half) and its scatter to `cv`.
void set_record(Profile& p, const std::string& key, double value, double half, double cv) {
    for (auto& [k, r] : p.operation_profiles)
        if (k == key) {
            r.measured_gflops = value;
            r.extra_params["ci_low"] = value * (1 - half);
            r.extra_params["ci_high"] = value * (1 + half);
            r.extra_params["cv"] = cv;
        }
}

const json::object& figure(const json::object& doc, const std::string& name) {
    return doc.at("figures").at(name).as_object();
}

std::string verdict_of(const json::object& fig, const std::string& node) {
    for (const auto& v : fig.at("values").as_array())
        if (v.at("node") == node.c_str()) return json::value_to<std::string>(v.at("verdict"));
    return "absent";
}

// The profile's operation record of that key, or nullptr.
const OperationRecord* record_of(const Profile& p, const std::string& key) {
    for (const auto& [k, r] : p.operation_profiles)
        if (k == key) return &r;
    return nullptr;
}

}  // namespace

TEST_CASE("fleet: headline figures of a CPU profile carry their records' intervals", "[fleet]") {
    const Profile p = committed("intel_xeon_2c.json");
    const auto f = headline_figures(p);
    const auto* fp32 = find(f, "best_gflops.fp32");
    REQUIRE(fp32 != nullptr);
    CHECK(fp32->unit == "GFLOPS");
    CHECK(fp32->interval.value == Approx(p.best_measured_gflops));  // the profile's own best fp32 figure
    // The interval is the best record's own (ci_low/ci_high), read here from the committed profile.
    const OperationRecord* best = record_of(p, fp32->record);
    REQUIRE(best != nullptr);
    CHECK(best->measured_gflops == Approx(p.best_measured_gflops));
    CHECK(fp32->interval.lo == Approx(best->extra_params.at("ci_low").to_number<double>()));
    CHECK(fp32->interval.hi == Approx(best->extra_params.at("ci_high").to_number<double>()));
    CHECK(fp32->interval.lo < fp32->interval.value);
    REQUIRE(find(f, "best_gflops.bf16") != nullptr);
    CHECK(find(f, "best_gflops.int8") == nullptr);  // CPU: fp32 and bf16 only
    const auto* dram = find(f, "dram_bandwidth");
    REQUIRE(dram != nullptr);
    CHECK(dram->unit == "GB/s");
    // The record marked memory_level DRAM: its bandwidth and its interval.
    const OperationRecord* point = record_of(p, dram->record);
    REQUIRE(point != nullptr);
    CHECK(point->extra_params.at("memory_level") == "DRAM");
    CHECK(dram->interval.value == Approx(point->achieved_bandwidth_gbps));
    CHECK(dram->interval.lo == Approx(point->extra_params.at("ci_low").to_number<double>()));
    CHECK(dram->interval.lo < dram->interval.value);
    std::size_t fusion = 0;
    for (const auto& x : f)
        if (x.name.rfind("fusion_speedup.", 0) == 0) {
            ++fusion;
            CHECK(x.unit == "x");
            CHECK(x.name.find('@') != std::string::npos);  // named by the record's pattern and shape
            CHECK(x.interval.lo <= x.interval.value);
            CHECK(x.interval.value <= x.interval.hi);
        }
    CHECK(fusion == 12);  // one per pattern (its bare key)
    CHECK(find(f, "fusion_speedup.Linear_Bias_ReLU@1024x2048x2048") != nullptr);
    for (const auto& x : f) CHECK(x.name.rfind("gpu.", 0) != 0);
}

TEST_CASE("fleet: a GPU profile's figures are gpu.*, every precision, the HBM bandwidth", "[fleet]") {
    const Profile p = committed("nvidia_h200.json");
    const auto f = headline_figures(p);
    CHECK(find(f, "best_gflops.fp32") == nullptr);
    // The expected figures, read from the records directly.
    double best_fp32 = 0, hbm = 0;
    for (const auto& [key, r] : p.operation_profiles) {
        const std::string prec = text_field(r.extra_params, "precision"), math = text_field(r.extra_params, "math");
        if ((prec.empty() || prec == "fp32") && (math.empty() || math == "fp32")) best_fp32 = std::max(best_fp32, r.measured_gflops);
        if (text_field(r.extra_params, "memory_level") == "HBM") hbm = r.achieved_bandwidth_gbps;
    }
    const auto* fp32 = find(f, "gpu.best_gflops.fp32");
    REQUIRE(fp32 != nullptr);
    CHECK(fp32->interval.value == Approx(best_fp32));
    CHECK(find(f, "gpu.best_gflops.tf32") != nullptr);  // tf32 math is not fp32
    CHECK(find(f, "gpu.best_gflops.bf16") != nullptr);
    CHECK(find(f, "gpu.best_gflops.fp8_e4m3") != nullptr);
    REQUIRE(find(f, "gpu.hbm_bandwidth") != nullptr);
    CHECK(find(f, "gpu.hbm_bandwidth")->interval.value == Approx(hbm));
    CHECK(hbm == Approx(p.measured_bandwidth_gbps).epsilon(0.01));
}

TEST_CASE("fleet: a planted slow node is the outlier, by how much, its siblings SAME", "[fleet]") {
    std::vector<FleetNode> nodes(3);
    for (int i = 0; i < 3; ++i) {
        nodes[i].name = kNames[i];
        nodes[i].profile = committed("intel_xeon_2c.json");
    }
    scale_fp32(*nodes[1].profile, 0.5);
    FleetOptions o;
    o.mode = "merge";
    const json::object doc = fleet_view(nodes, o);
    CHECK(doc.at("fleet_schema_version") == kFleetSchemaVersion);
    CHECK(doc.at("node_counts").at("ok") == 3);
    const auto& fp32 = figure(doc, "best_gflops.fp32");
    CHECK(fp32.at("nodes") == 3);
    const double best = nodes[0].profile->best_measured_gflops;
    CHECK(fp32.at("median").to_number<double>() == Approx(best));
    CHECK(fp32.at("min").to_number<double>() == Approx(best / 2));
    CHECK(fp32.at("judged") == true);
    CHECK(verdict_of(fp32, "n0") == "SAME");
    CHECK(verdict_of(fp32, "n2") == "SAME");
    CHECK(verdict_of(fp32, "n1") == "SLOWER");
    const auto& out = fp32.at("outliers").as_array();
    REQUIRE(out.size() == 1);
    CHECK(out[0].at("node") == "n1");
    CHECK(out[0].at("direction") == "slower");
    CHECK(out[0].at("change_pct").to_number<double>() == Approx(-50));
    // bf16 was not touched: nobody is an outlier there.
    CHECK(figure(doc, "best_gflops.bf16").at("outliers").as_array().empty());
    // The flat list names only n1, on fp32 figures.
    for (const auto& x : doc.at("outliers").as_array()) {
        CHECK(x.at("node") == "n1");
        CHECK(x.at("direction") == "slower");
    }
    CHECK(doc.at("topology").is_null());
}

TEST_CASE("fleet: a difference inside the records' own intervals is never called slow", "[fleet]") {
    std::vector<FleetNode> nodes(3);
    for (int i = 0; i < 3; ++i) {
        nodes[i].name = kNames[i];
        nodes[i].profile = committed("intel_xeon_2c.json");
    }
    const std::string key = "matmul_matrix_size=512_small";
    set_record(*nodes[0].profile, key, 400, 0.01, 0.01);
    set_record(*nodes[1].profile, key, 400, 0.01, 0.01);
    // 6% lower but with a +-10% interval: overlaps the fleet's reference, so UNSURE, not SLOWER.
    set_record(*nodes[2].profile, key, 376, 0.10, 0.01);
    const json::object wide = fleet_view(nodes, {});
    CHECK(verdict_of(figure(wide, "best_gflops.fp32"), "n2") == "UNSURE");
    CHECK(figure(wide, "best_gflops.fp32").at("outliers").as_array().empty());
    // 6% lower, tight intervals, but the samples scatter 10%: compare's scatter rule, UNSURE again.
    set_record(*nodes[2].profile, key, 376, 0.01, 0.10);
    const json::object scatter = fleet_view(nodes, {});
    CHECK(verdict_of(figure(scatter, "best_gflops.fp32"), "n2") == "UNSURE");
    // Tight and quiet: now it is slower, by 6%.
    set_record(*nodes[2].profile, key, 376, 0.01, 0.01);
    const json::object tight = fleet_view(nodes, {});
    CHECK(verdict_of(figure(tight, "best_gflops.fp32"), "n2") == "SLOWER");
    REQUIRE(figure(tight, "best_gflops.fp32").at("outliers").as_array().size() == 1);
    CHECK(figure(tight, "best_gflops.fp32").at("outliers").at(0).at("change_pct").to_number<double>() == Approx(-6));
}

TEST_CASE("fleet: a failed node is kept with its reason, two nodes are not judged", "[fleet]") {
    std::vector<FleetNode> nodes(3);
    for (int i = 0; i < 3; ++i) nodes[i].name = kNames[i];
    nodes[0].profile = committed("intel_xeon_2c.json");
    nodes[2].profile = committed("intel_xeon_2c.json");
    scale_fp32(*nodes[2].profile, 0.5);
    nodes[1].status = "failed";
    nodes[1].reason = "calibration killed by signal 9 (Killed)";
    nodes[1].rank = 1;
    const json::object doc = fleet_view(nodes, {"mpi", 2.0});
    const auto& list = doc.at("nodes").as_array();
    REQUIRE(list.size() == 3);
    CHECK(list[1].at("status") == "failed");
    CHECK(list[1].at("reason") == "calibration killed by signal 9 (Killed)");
    CHECK(list[1].at("rank") == 1);
    CHECK(list[0].at("status") == "ok");
    CHECK(doc.at("node_counts").at("failed") == 1);
    const auto& fp32 = figure(doc, "best_gflops.fp32");
    CHECK(fp32.at("nodes") == 2);
    CHECK(fp32.at("judged") == false);  // which of two is off cannot be told
    CHECK(fp32.at("outliers").as_array().empty());
    CHECK(doc.at("outliers").as_array().empty());
}

TEST_CASE("fleet: topology section holds points, fit and residuals", "[fleet]") {
    NetworkSeries pp;
    pp.kind = "ping_pong";
    pp.nodes = {"a", "b"};
    pp.ranks = {0, 1};
    pp.bytes = {4, 64, 1024, 16384};
    for (double b : pp.bytes) pp.seconds.push_back(1e-6 + b / 1e10);
    pp.repetitions = {100, 100, 50, 10};
    pp.batches = 5;
    NetworkSeries ar = pp;
    ar.kind = "allreduce";
    ar.nodes = {"a", "b", "c"};
    const json::object t = topology_json("MPI: test", {pp, ar});
    CHECK(t.at("transport") == "MPI: test");
    REQUIRE(t.at("ping_pong").as_array().size() == 1);
    REQUIRE(t.at("allreduce").as_array().size() == 1);
    const auto& s = t.at("ping_pong").at(0).as_object();
    CHECK(s.at("points").as_array().size() == 4);
    CHECK(s.at("points").at(0).at("bytes") == 4);
    CHECK(s.at("points").at(3).at("repetitions") == 10);
    CHECK(s.at("points").at(1).at("seconds").to_number<double>() == Approx(1e-6 + 64 / 1e10));
    // The fit is the profile topology's own (fit_alpha_beta), its fields named as there.
    const AlphaBeta f = fit_alpha_beta(pp.bytes, pp.seconds);
    REQUIRE(f.ok);
    CHECK(s.at("fit_ok") == true);
    CHECK(s.at("alpha_us").to_number<double>() == Approx(1.0));
    CHECK(s.at("alpha_us").to_number<double>() == f.alpha_us);
    CHECK(s.at("beta_gbps").to_number<double>() == Approx(10.0));
    CHECK(s.at("fit_residual").to_number<double>() == f.residual);
    CHECK(!s.contains("bus_beta_gbps"));
    const auto& a = t.at("allreduce").at(0).as_object();
    CHECK(a.at("nodes").as_array().size() == 3);
    CHECK(a.at("bus_beta_gbps").to_number<double>() == Approx(10.0 * 2 * 2 / 3.0));  // nccl-tests' 2(n-1)/n
    // Too few sizes: no fit, said so.
    NetworkSeries one = pp;
    one.bytes = {64, 64};
    one.seconds = {1e-6, 1e-6};
    CHECK(topology_json("x", {one}).at("ping_pong").at(0).at("fit_ok") == false);
}

TEST_CASE("fleet: node names for merge and as file names", "[fleet]") {
    Profile p = committed("intel_xeon_2c.json");
    const std::string host = json::value_to<std::string>(p.extensions.at("host").at("hostname"));
    CHECK(node_name_of(p, "x") == host);
    p.extensions.at("host").as_object().erase("hostname");
    CHECK(node_name_of(p, "x") == p.metadata.hardware_name);
    p.metadata.hardware_name.clear();
    CHECK(node_name_of(p, "x") == "x");
    CHECK(file_safe("node 1/a:b") == "node_1_a_b");
    CHECK(file_safe("..") == "node..");
    CHECK(file_safe("gpu-07.cluster") == "gpu-07.cluster");
}
