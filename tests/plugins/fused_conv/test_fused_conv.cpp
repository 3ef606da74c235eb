#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "fused_conv.hpp"

using namespace calib;
using namespace calib::fused_conv;

namespace {

const std::vector<Pattern> kPatterns{Pattern::relu, Pattern::bn, Pattern::bn_relu, Pattern::bn_add_relu,
                                     Pattern::dw_bn_relu};

std::string param(const sdk::CaseSpec& c, const std::string& key) {
    for (const auto& [k, v] : c.params)
        if (k == key) return v;
    return {};
}

}  // namespace

TEST_CASE("fused_conv: every fused case pairs with an unfused one of the same group", "[fused_conv]") {
    FusedConvPlugin plugin;
    const auto cases = plugin.cases();
    REQUIRE(cases.size() == 5 * 4 * 2 * 2);  // patterns x shapes x precisions x roles
    std::map<std::string, std::map<calib_fusion_role, const sdk::CaseSpec*>> groups;
    std::set<std::string> names;
    int quick = 0;
    for (const auto& c : cases) {
        CHECK(names.insert(c.name).second);
        CHECK(c.family == CALIB_FAMILY_FUSION);
        CHECK(c.shape.size() == 4);
        groups[c.fusion_group][c.fusion_role] = &c;
        if (c.quick) {
            ++quick;
            CHECK(c.shape == std::vector<int64_t>{4, 128, 28, 28});
        }
    }
    CHECK(quick == 5 * 2 * 2);
    for (const auto& [group, roles] : groups) {
        INFO(group);
        REQUIRE(roles.size() == 2);
        const auto* f = roles.at(CALIB_ROLE_FUSED);
        const auto* u = roles.at(CALIB_ROLE_UNFUSED);
        CHECK(f->name == group + "_fused");
        CHECK(u->name == group + "_unfused");
        CHECK(f->fusion_pattern == u->fusion_pattern);
        CHECK(f->flops == u->flops);
        CHECK(f->bytes < u->bytes);
        const bool dw = f->fusion_pattern == "DWConv2d_BN_ReLU";
        CHECK(f->operation_type == (dw ? "depthwise_conv" : "conv2d"));
        CHECK(param(*f, "groups") == (dw ? param(*f, "channels") : "1"));
        const auto ops = param(*u, "operators");
        CHECK(param(*u, "num_operators") == std::to_string(std::count(ops.begin(), ops.end(), ',') + 1));
    }
    CHECK(groups.count("Conv2d_BN_Add_ReLU_fp32_8x256x14x14") == 1);
    CHECK(groups.count("DWConv2d_BN_ReLU_bf16_16x256x14x14") == 1);
}

TEST_CASE("fused_conv: flops and bytes follow the documented formulas", "[fused_conv]") {
    // Conv2d_BN_ReLU fp32 (8,256,14): A = 401408, Wn = 589824.
    const Problem p{Pattern::bn_relu, 8, 256, 14, "fp32"};
    const double a = 8.0 * 256 * 14 * 14, wn = 256.0 * 256 * 9;
    CHECK(flops(p) == 2 * a * 256 * 9 + 2 * a);
    CHECK(bytes(p, CALIB_ROLE_FUSED) == 4 * (2 * a + wn) + 4 * 256);
    CHECK(bytes(p, CALIB_ROLE_UNFUSED) == 4 * (2 * a + wn) + 4 * 2 * a * 2 + 16 * 256);
    // Conv2d_ReLU bf16 (1,64,56): no BN parameters, one intermediate.
    const Problem r{Pattern::relu, 1, 64, 56, "bf16"};
    const double ar = 64.0 * 56 * 56, wr = 64.0 * 64 * 9;
    CHECK(flops(r) == 2 * ar * 64 * 9);
    CHECK(bytes(r, CALIB_ROLE_FUSED) == 2 * (2 * ar + wr));
    CHECK(bytes(r, CALIB_ROLE_UNFUSED) == 2 * (4 * ar + wr));
    // Add pattern: residual on both sides, three intermediates unfused.
    const Problem q{Pattern::bn_add_relu, 4, 128, 28, "fp32"};
    const double aq = 4.0 * 128 * 28 * 28, wq = 128.0 * 128 * 9;
    CHECK(flops(q) == 2 * aq * 128 * 9 + 3 * aq);
    CHECK(bytes(q, CALIB_ROLE_FUSED) == 4 * (3 * aq + wq) + 4 * 128);
    CHECK(bytes(q, CALIB_ROLE_UNFUSED) == 4 * (3 * aq + wq + 6 * aq) + 16 * 128);
    // Depthwise: C*9 weights, C/groups = 1 input channel per output.
    const Problem d{Pattern::dw_bn_relu, 4, 128, 28, "fp32"};
    CHECK(flops(d) == 2 * aq * 9 + 2 * aq);
    CHECK(bytes(d, CALIB_ROLE_FUSED) == 4 * (2 * aq + 128 * 9) + 4 * 128);
}

TEST_CASE("fused_conv: a correct small case verifies in fp32 and bf16", "[fused_conv]") {
    const auto pattern = GENERATE(from_range(kPatterns));
    const std::string precision = GENERATE("fp32", "bf16");
    const Problem p{pattern, 2, 32, 7, precision};
    INFO(pattern_name(pattern) << " " << precision);
    for (calib_fusion_role role : {CALIB_ROLE_FUSED, CALIB_ROLE_UNFUSED}) {
        auto inst = prepare_problem(p, role);
        CHECK(inst->verified);
        CHECK(inst->tolerance > 0);
        CHECK(inst->max_abs_error <= inst->tolerance);
        const std::size_t steps = role == CALIB_ROLE_FUSED ? 1 : operators(pattern).size();
        CHECK(inst->steps.size() == steps);
        const auto impl_params = std::count_if(inst->params.begin(), inst->params.end(),
                                               [](const auto& kv) { return kv.first.rfind("impl.", 0) == 0; });
        CHECK(impl_params == static_cast<long>(steps));
        CHECK(std::count(inst->implementation.begin(), inst->implementation.end(), '+') ==
              static_cast<long>(steps - 1));
        CHECK(inst->run(2) > 0);
    }
}

TEST_CASE("fused_conv: the unfused ops use the convolution's chosen layout", "[fused_conv]") {
    auto pair = build_pair(Problem{Pattern::bn_add_relu, 2, 32, 7, "fp32"});
    const auto dst = pair.unfused->steps[0].args.at(DNNL_ARG_DST).get_desc();
    for (const auto& s : pair.unfused->steps) CHECK(s.args.at(DNNL_ARG_DST).get_desc() == dst);
    CHECK(pair.fused_out.get_desc() == dst);
}

TEST_CASE("fused_conv: a fused kernel missing its post-ops or folded bias is caught", "[fused_conv]") {
    const auto pattern = GENERATE(from_range(kPatterns));
    const std::string precision = GENERATE("fp32", "bf16");
    INFO(pattern_name(pattern) << " " << precision);
    auto pair = build_pair(Problem{pattern, 2, 32, 7, precision}, /*faulty_fused=*/true);
    try {
        onednn::verify_pair(pair, precision);
        FAIL("verification passed a wrong fused kernel");
    } catch (const sdk::Error& e) {
        CHECK(e.status == CALIB_VERIFICATION_FAILED);
    }
    CHECK(pair.unfused->max_abs_error > pair.unfused->tolerance);
}

// Hidden (run on purpose with "[full]"): builds and checks every listed comparison at its real size.
TEST_CASE("fused_conv: every listed comparison verifies at its real size", "[.][full]") {
    FusedConvPlugin plugin;
    for (const auto& c : plugin.cases()) {
        if (c.fusion_role != CALIB_ROLE_FUSED) continue;
        INFO(c.fusion_group);
        std::unique_ptr<sdk::Instance> inst;
        CHECK_NOTHROW(inst = plugin.prepare(c));
        if (!inst) continue;
        WARN(c.fusion_group << ": error/tol " << inst->max_abs_error / inst->tolerance << " impl "
                            << inst->implementation << (inst->reference_fallback ? " (REFERENCE)" : ""));
    }
}
