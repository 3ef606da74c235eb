#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "fused_attention.hpp"

using namespace calib;
using namespace calib::fused_attention;

namespace {

const std::vector<Pattern> kPatterns{Pattern::qk_scores, Pattern::qk_softmax, Pattern::full};

std::string param(const sdk::CaseSpec& c, const std::string& key) {
    for (const auto& [k, v] : c.params)
        if (k == key) return v;
    return {};
}

}  // namespace

TEST_CASE("fused_attention: every fused case pairs with an unfused one of the same group",
          "[fused_attention]") {
    FusedAttentionPlugin plugin;
    const auto cases = plugin.cases();
    REQUIRE(cases.size() == 3 * 4 * 2 * 2);  // patterns x shapes x precisions x roles
    std::map<std::string, std::map<calib_fusion_role, const sdk::CaseSpec*>> groups;
    std::set<std::string> names;
    int quick = 0;
    for (const auto& c : cases) {
        CHECK(names.insert(c.name).second);
        CHECK(c.family == CALIB_FAMILY_FUSION);
        CHECK(c.operation_type == "attention");
        groups[c.fusion_group][c.fusion_role] = &c;
        if (c.quick) {
            ++quick;
            CHECK(c.shape == std::vector<int64_t>{4, 256, 64});
        }
    }
    CHECK(quick == 3 * 2 * 2);
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
        CHECK(param(*f, "head_dim") == std::to_string(f->shape[2]));
        const auto ops = param(*u, "operators");
        CHECK(param(*u, "num_operators") == std::to_string(std::count(ops.begin(), ops.end(), ',') + 1));
    }
    CHECK(groups.count("FullAttention_bf16_8x1024x64") == 1);
    CHECK(param(*groups.at("FullAttention_fp32_1x128x64").at(CALIB_ROLE_UNFUSED), "operators") ==
          "matmul,mul,softmax,matmul");
}

TEST_CASE("fused_attention: flops follow origin.md and bytes the documented formulas", "[fused_attention]") {
    FusedAttentionPlugin plugin;
    int checked = 0;
    for (const auto& c : plugin.cases()) {
        INFO(c.name);
        const double b = c.shape[0], s = c.shape[1], d = c.shape[2];
        const double x = b * s * d, p = b * s * s, es = c.precision == "fp32" ? 4 : 2;
        const bool fused = c.fusion_role == CALIB_ROLE_FUSED;
        if (c.fusion_pattern == "QK_AttentionScores") {
            CHECK(c.flops == Approx(b * (2 * s * s * d + s * s)));
            CHECK(c.bytes == Approx(es * (fused ? 2 * x + p : 2 * x + 3 * p)));
        } else if (c.fusion_pattern == "QK_Softmax") {
            CHECK(c.flops == Approx(b * (2 * s * s * d + 6 * s * s)));
            CHECK(c.bytes == Approx(es * (fused ? 2 * x + p : 2 * x + 5 * p)));
        } else {
            REQUIRE(c.fusion_pattern == "FullAttention");
            CHECK(c.flops == Approx(b * (4 * s * s * d + 6 * s * s)));
            CHECK(c.bytes == Approx(es * (fused ? 4 * x : 4 * x + 6 * p)));
        }
        ++checked;
    }
    CHECK(checked == 48);
    // The origin's "75% fewer bytes" for FullAttention at (1,128,64): 4X / (4X + 6P) = 0.25.
    const Problem p{Pattern::full, 1, 128, 64, "fp32"};
    CHECK(1 - bytes(p, CALIB_ROLE_FUSED) / bytes(p, CALIB_ROLE_UNFUSED) == Approx(0.75));
}

TEST_CASE("fused_attention: a correct small case verifies in fp32 and bf16", "[fused_attention]") {
    const auto pattern = GENERATE(from_range(kPatterns));
    const std::string precision = GENERATE("fp32", "bf16");
    const Problem p{pattern, 2, 24, 16, precision};
    INFO(pattern_name(pattern) << " " << precision);
    for (calib_fusion_role role : {CALIB_ROLE_FUSED, CALIB_ROLE_UNFUSED}) {
        auto inst = prepare_problem(p, role);
        CHECK(inst->verified);
        CHECK(inst->tolerance > 0);
        CHECK(inst->max_abs_error <= inst->tolerance);
        const std::size_t unfused_steps = operators(pattern).size();
        const std::size_t steps = role == CALIB_ROLE_FUSED ? unfused_steps - 1 : unfused_steps;
        CHECK(inst->steps.size() == steps);
        const auto impl_params = std::count_if(inst->params.begin(), inst->params.end(),
                                               [](const auto& kv) { return kv.first.rfind("impl.", 0) == 0; });
        CHECK(impl_params == static_cast<long>(steps));
        CHECK(inst->run(2) > 0);
    }
}

TEST_CASE("fused_attention: softmax rows of the fused chain sum to one", "[fused_attention]") {
    auto pair = build_pair(Problem{Pattern::qk_softmax, 2, 24, 16, "fp32"});
    pair.fused->execute_once();
    const auto probs = onednn::to_f32(pair.fused_out);
    REQUIRE(probs.size() == 2u * 24 * 24);
    for (std::size_t row = 0; row < 2 * 24; ++row) {
        double sum = 0;
        for (std::size_t j = 0; j < 24; ++j) sum += probs[row * 24 + j];
        CHECK(sum == Approx(1.0).epsilon(1e-5));
    }
}

TEST_CASE("fused_attention: a fused matmul missing its scale is caught", "[fused_attention]") {
    const auto pattern = GENERATE(from_range(kPatterns));
    const std::string precision = GENERATE("fp32", "bf16");
    INFO(pattern_name(pattern) << " " << precision);
    auto pair = build_pair(Problem{pattern, 2, 24, 16, precision}, /*faulty_fused=*/true);
    try {
        onednn::verify_pair(pair, precision);
        FAIL("verification passed a wrong fused kernel");
    } catch (const sdk::Error& e) {
        CHECK(e.status == CALIB_VERIFICATION_FAILED);
    }
    CHECK(pair.fused->max_abs_error > pair.fused->tolerance);
}

// Hidden (run on purpose with "[full]"): builds and checks every listed comparison at its real size.
TEST_CASE("fused_attention: every listed comparison verifies at its real size", "[.][full]") {
    FusedAttentionPlugin plugin;
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
