#include <catch2/catch.hpp>
#include <cmath>

#include "profile_test_util.hpp"

using namespace calib::core;
using namespace calib::core::test;
namespace json = boost::json;

namespace {

Profile matmul_profile() {
    Profile p;
    p.operation_profiles.emplace_back("m512", matmul_record(512, 100, 0.1));
    p.operation_profiles.emplace_back("m2048", matmul_record(2048, 400, 0.4));
    p.operation_profiles.emplace_back("m1024bf16", matmul_record(1024, 900, 0.9, "bf16"));
    compute_aggregates(p);
    return p;
}

}  // namespace

TEST_CASE("efficiency: exact hit, log-log between sizes, clamped outside", "[profile][query]") {
    const Profile p = matmul_profile();
    const ProfileQuery q(p);
    CHECK(q.efficiency("matmul", "fp32", 512) == 0.1);
    CHECK(q.efficiency("matmul", "fp32", 2048) == 0.4);
    // 1024 is halfway in log(size) between 512 and 2048: log-log gives the geometric mean.
    CHECK(q.efficiency("matmul", "fp32", 1024) == Approx(std::sqrt(0.1 * 0.4)));
    CHECK(q.gflops("matmul", "fp32", 1024) == Approx(200.0));
    // A quarter of the way: 0.1 * 4^0.25.
    CHECK(q.efficiency("matmul", "fp32", 512 * std::pow(4.0, 0.25)) == Approx(0.1 * std::pow(4.0, 0.25)));
    CHECK(q.efficiency("matmul", "fp32", 16) == 0.1);
    CHECK(q.efficiency("matmul", "fp32", 0) == 0.1);
    CHECK(q.efficiency("matmul", "fp32", 1e9) == 0.4);
}

TEST_CASE("efficiency filters by precision (missing counts as fp32)", "[profile][query]") {
    const Profile p = matmul_profile();
    const ProfileQuery q(p);
    CHECK(q.efficiency("matmul", "bf16", 1024) == 0.9);
    CHECK(q.efficiency("matmul", "bf16", 4096) == 0.9);
    CHECK(q.gflops("matmul", "bf16", 100) == 900);
}

TEST_CASE("efficiency falls back to the profile average", "[profile][query]") {
    const Profile p = matmul_profile();
    const ProfileQuery q(p);
    CHECK(q.efficiency("conv2d", "fp32", 64) == p.avg_efficiency);
    CHECK(q.efficiency("matmul", "fp16", 1024) == p.avg_efficiency);
    CHECK(q.gflops("conv2d", "fp32", 64) == p.avg_measured_gflops);
    CHECK(q.efficiency("matmul", "fp32", NAN) == p.avg_efficiency);
}

TEST_CASE("record size from m,k,n or input_shape, failed records ignored", "[profile][query]") {
    Profile p;
    OperationRecord a = matmul_record(0, 50, 0.5);
    a.extra_params = json::object{{"m", 100}, {"k", 1000}, {"n", 10}};  // cube root: 100
    OperationRecord b;
    b.operation_type = "matmul";
    b.efficiency = 0.8;
    b.input_shape = {400, 400, 400};  // geometric mean: 400
    OperationRecord c = matmul_record(200, 1, 0.01);
    c.extra_params["status"] = "failed";
    p.operation_profiles = {{"a", a}, {"b", b}, {"c", c}};
    const ProfileQuery q(p);
    CHECK(q.efficiency("matmul", "fp32", 100) == Approx(0.5));
    CHECK(q.efficiency("matmul", "fp32", 400) == Approx(0.8));
    CHECK(q.efficiency("matmul", "fp32", 200) == Approx(std::sqrt(0.5 * 0.8)));
}

TEST_CASE("fusion_speedup interpolates in log(element count)", "[profile][query]") {
    Profile p;
    p.fusion_profiles.emplace_back("P@10x10", fusion_record("P", {10, 10}, 1.0, 1.0));  // 100 elements: 1.0
    p.fusion_profiles.emplace_back("P@100x100", fusion_record("P", {100, 100}, 2.0, 1.0));  // 10^4: 2.0
    p.fusion_profiles.emplace_back("P", fusion_record("P", {100, 100}, 2.0, 1.0));          // bare copy
    p.fusion_profiles.emplace_back("P@10x10@bf16", fusion_record("P", {10, 10}, 3.0, 1.0, "bf16"));
    FusionRecord failed = fusion_record("P", {1000, 1000}, 9.0, 1.0);
    failed.extra_params["status"] = "crashed";
    p.fusion_profiles.emplace_back("P@1000x1000", failed);
    const ProfileQuery q(p);
    CHECK(q.fusion_speedup("P", {10, 10}) == 1.0);
    CHECK(q.fusion_speedup("P", {100, 100}) == 2.0);
    CHECK(q.fusion_speedup("P", {1000}) == Approx(1.5));        // halfway in log: 10^3
    CHECK(q.fusion_speedup("P", {10, 10, 10}) == Approx(1.5));  // any rank: element count
    CHECK(q.fusion_speedup("P", {2}) == 1.0);                   // clamped below
    CHECK(q.fusion_speedup("P", {1000, 1000}) == 2.0);  // clamped above; the crashed record is ignored
    CHECK(q.fusion_speedup("P", {}) == 2.0);            // no shape: the largest measured
    CHECK(q.fusion_speedup("P", {100, 100}, "bf16") == 3.0);
    CHECK(q.fusion_speedup("P", {10, 10}, "") ==
          Approx(2.0));  // any precision: fp32 1.0 and bf16 3.0 averaged
    CHECK(q.fusion_speedup("Q", {10}) == 1.0);
    CHECK(q.fusion_speedup("Q", {10}, "fp32", 0.7) == 0.7);
    CHECK(q.fusion_speedup("P", {10}, "fp16", 1.3) == 1.3);
}

TEST_CASE("should_fuse compares the speedup with the threshold", "[profile][query]") {
    Profile p;
    p.fusion_profiles.emplace_back("P@10", fusion_record("P", {10}, 1.1, 1.0));
    const ProfileQuery q(p);
    CHECK(q.should_fuse("P", {10}, 1.1 * (1 - 1e-12)));
    CHECK_FALSE(q.should_fuse("P", {10}, 1.2));
    CHECK_FALSE(q.should_fuse("unknown", {10}));  // fallback 1.0 < default threshold 1.1
    CHECK(q.should_fuse("unknown", {10}, 1.0));
}

TEST_CASE("queries work on the sample profile", "[profile][query]") {
    const Profile p = load_profile(sample_path("good.json"));
    const ProfileQuery q(p);
    CHECK(q.efficiency("matmul", "fp32", 1024) == 0.6);
    CHECK(q.efficiency("matmul", "bf16", 1024) == 1.2);
    CHECK(q.fusion_speedup("Linear_Bias_ReLU", {512, 1024, 1024}) == 1.5);
    CHECK(q.fusion_speedup("Linear_Bias_ReLU", {512, 1024, 1024}, "bf16") == 2.0);
    CHECK(q.fusion_speedup("Conv2d_BN", {1, 64, 56, 56}) == 1.0);  // only an unsupported record
    CHECK(fusion_tier(q.fusion_speedup("Linear_Bias_ReLU", {128, 512, 512})) == FusionTier::moderate);
}
