#include <catch2/catch.hpp>

#include "profile_test_util.hpp"

using namespace calib::core;
using namespace calib::core::test;

TEST_CASE("operation_key follows the origin scheme", "[profile][rules]") {
    CHECK(operation_key("matmul", {{"matrix_size", "1024"}}, {1024, 1024}) ==
          "matmul_matrix_size=1024_medium");
    CHECK(operation_key("matmul", {{"matrix_size", "512"}}, {512, 512}) == "matmul_matrix_size=512_small");
    CHECK(operation_key("matmul", {{"matrix_size", "4096"}}, {4096, 4096}) ==
          "matmul_matrix_size=4096_large");
    // Parameters sorted by name, whatever order they come in.
    CHECK(operation_key("matmul", {{"precision", "bf16"}, {"matrix_size", "64"}}, {64, 64}) ==
          "matmul_matrix_size=64_precision=bf16_small");
    // Only matmul and conv2d carry a size class.
    CHECK(operation_key("add", {{"size_mb", "128"}}, {33554432}) == "add_size_mb=128");
    CHECK(operation_key("relu", {}, {}) == "relu");
    CHECK(operation_key("conv2d", {}, {1, 64, 56, 56}) == "conv2d_small");
}

TEST_CASE("operation_key size class boundaries", "[profile][rules]") {
    CHECK(operation_key("matmul", {}, {1048575}) == "matmul_small");
    CHECK(operation_key("matmul", {}, {1048576}) == "matmul_medium");
    CHECK(operation_key("conv2d", {}, {10485759}) == "conv2d_medium");
    CHECK(operation_key("conv2d", {}, {10485760}) == "conv2d_large");
    CHECK(operation_key("matmul", {}, {2, 524288}) == "matmul_medium");  // element count, not first dim
    CHECK(operation_key("matmul", {}, {1LL << 40, 1LL << 40}) == "matmul_large");  // no overflow
}

TEST_CASE("fusion_key: shape, and precision unless fp32", "[profile][rules]") {
    CHECK(fusion_key("Linear_Bias_ReLU", {512, 1024, 1024}) == "Linear_Bias_ReLU@512x1024x1024");
    CHECK(fusion_key("Linear_Bias_ReLU", {512, 1024, 1024}, "") == "Linear_Bias_ReLU@512x1024x1024");
    CHECK(fusion_key("QK_Softmax", {4, 256, 64}, "bf16") == "QK_Softmax@4x256x64@bf16");
}

TEST_CASE("aggregates are computed over compute records only", "[profile][rules]") {
    Profile p;
    p.theoretical_bandwidth_gbps = 80;
    p.measured_bandwidth_gbps = 60;
    p.operation_profiles.emplace_back("a", matmul_record(512, 100, 0.2));
    p.operation_profiles.emplace_back("b", matmul_record(1024, 300, 0.6));
    p.operation_profiles.emplace_back("c", matmul_record(2048, 200, 0.1));
    OperationRecord copy;
    copy.operation_type = "add";
    copy.measured_gflops = 0;  // memory record: must not drag worst to 0
    copy.efficiency = 0.9;
    p.operation_profiles.emplace_back("add", copy);
    compute_aggregates(p);
    CHECK(p.best_measured_gflops == 300);
    CHECK(p.worst_measured_gflops == 100);
    CHECK(p.avg_measured_gflops == Approx(200));
    CHECK(p.best_efficiency == 0.6);  // max efficiency, independent of which record had max GFLOPS
    CHECK(p.worst_efficiency == 0.1);
    CHECK(p.avg_efficiency == Approx(0.3));
    CHECK(p.bandwidth_efficiency == Approx(0.75));
}

TEST_CASE("aggregates without compute records are zero", "[profile][rules]") {
    Profile p;
    p.best_measured_gflops = 5;
    p.avg_efficiency = 5;
    p.measured_bandwidth_gbps = 10;  // no theoretical bandwidth: efficiency 0, not inf
    compute_aggregates(p);
    CHECK(p.best_measured_gflops == 0);
    CHECK(p.avg_measured_gflops == 0);
    CHECK(p.avg_efficiency == 0);
    CHECK(p.bandwidth_efficiency == 0);
}

TEST_CASE("fusion tiers at their boundaries", "[profile][rules]") {
    CHECK(fusion_tier(1.5) == FusionTier::strong);
    CHECK(fusion_tier(1.4999) == FusionTier::moderate);
    CHECK(fusion_tier(1.1) == FusionTier::moderate);
    CHECK(fusion_tier(1.0999) == FusionTier::minimal);
    CHECK(fusion_tier(0.95) == FusionTier::minimal);
    CHECK(fusion_tier(0.9499) == FusionTier::slower);
    CHECK(fusion_tier(0.0) == FusionTier::slower);
    CHECK(std::string(to_string(FusionTier::strong)) == "strong");
    CHECK(std::string(to_string(FusionTier::moderate)) == "moderate");
    CHECK(std::string(to_string(FusionTier::minimal)) == "minimal");
    CHECK(std::string(to_string(fusion_tier(0.5))) == "slower");
}
