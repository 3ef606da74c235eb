#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "fused_linear.hpp"

using namespace calib;
using namespace calib::fused_linear;

namespace {

const std::vector<Pattern> kPatterns{Pattern::bias, Pattern::bias_relu, Pattern::bias_gelu,
                                     Pattern::bias_silu};

std::string param(const sdk::CaseSpec& c, const std::string& key) {
    for (const auto& [k, v] : c.params)
        if (k == key) return v;
    return {};
}

}  // namespace

TEST_CASE("fused_linear: every fused case pairs with an unfused one of the same group", "[fused_linear]") {
    FusedLinearPlugin plugin;
    const auto cases = plugin.cases();
    REQUIRE(cases.size() == 4 * 3 * 2 * 2);  // patterns x the origin's shapes x precisions x roles
    std::map<std::string, std::map<calib_fusion_role, const sdk::CaseSpec*>> groups;
    std::set<std::string> names;
    for (const auto& c : cases) {
        CHECK(names.insert(c.name).second);
        CHECK(c.family == CALIB_FAMILY_FUSION);
        CHECK(c.operation_type == "linear");
        groups[c.fusion_group][c.fusion_role] = &c;
    }
    for (const auto& [group, roles] : groups) {
        INFO(group);
        REQUIRE(roles.size() == 2);
        const auto* f = roles.at(CALIB_ROLE_FUSED);
        const auto* u = roles.at(CALIB_ROLE_UNFUSED);
        CHECK(f->name == group + "_fused");
        CHECK(u->name == group + "_unfused");
        CHECK(f->fusion_pattern == u->fusion_pattern);
        CHECK(group.rfind(f->fusion_pattern + "_" + f->precision + "_", 0) == 0);
        CHECK(f->flops == u->flops);
        CHECK(f->bytes < u->bytes);
        CHECK(f->quick == u->quick);
        CHECK(param(*u, "num_operators") == std::to_string(f->fusion_pattern == "Linear_Bias" ? 2 : 3));
        CHECK(param(*u, "operators").rfind("matmul,add", 0) == 0);
    }
    CHECK(groups.count("Linear_Bias_ReLU_fp32_512x1024x1024") == 1);
    CHECK(groups.count("Linear_Bias_SiLU_bf16_1024x2048x2048") == 1);
    CHECK(groups.count("Linear_Bias_SiLU_bf16_2048x2048x2048") == 0);  // not an origin shape: left out
}

TEST_CASE("fused_linear: quick selects the middle original shape in fp32 and bf16", "[fused_linear]") {
    FusedLinearPlugin plugin;
    std::set<std::string> quick_precisions;
    int quick = 0;
    for (const auto& c : plugin.cases()) {
        if (!c.quick) continue;
        ++quick;
        quick_precisions.insert(c.precision);
        CHECK(c.shape == std::vector<int64_t>{512, 1024, 1024});
    }
    CHECK(quick == 4 * 2 * 2);
    CHECK(quick_precisions == std::set<std::string>{"fp32", "bf16"});
}

TEST_CASE("fused_linear: flops and bytes follow origin.md for the original shapes", "[fused_linear]") {
    FusedLinearPlugin plugin;
    const auto cases = plugin.cases();
    int checked = 0;
    for (const auto& c : cases) {
        const double m = c.shape[0], k = c.shape[1], n = c.shape[2];
        const bool original = (m == 128 && k == 512) || (m == 512 && k == 1024) || (m == 1024 && k == 2048);
        if (!original) continue;
        INFO(c.name);
        double f = 2 * m * k * n + m * n;
        if (c.fusion_pattern == "Linear_Bias_GELU") f += 8 * m * n;
        if (c.fusion_pattern == "Linear_Bias_SiLU") f += 4 * m * n;
        CHECK(c.flops == Approx(f));
        const double es = c.precision == "fp32" ? 4 : 2;
        double elems = m * k + n * k + n + m * n;  // fused
        if (c.fusion_role == CALIB_ROLE_UNFUSED) elems += (c.fusion_pattern == "Linear_Bias" ? 2 : 4) * m * n;
        CHECK(c.bytes == Approx(elems * es));
        ++checked;
    }
    CHECK(checked == 4 * 3 * 2 * 2);
    // One value worked by hand: Linear_Bias_ReLU fp32 (128,512,512), unfused = (MK+NK+N+5MN) x 4.
    const Problem p{Pattern::bias_relu, 128, 512, 512, "fp32"};
    CHECK(bytes(p, CALIB_ROLE_UNFUSED) == 4.0 * (65536 + 262144 + 512 + 5 * 65536));
    CHECK(bytes(p, CALIB_ROLE_FUSED) == 4.0 * (65536 + 262144 + 512 + 65536));
}

TEST_CASE("fused_linear: a correct small case verifies in fp32 and bf16", "[fused_linear]") {
    const auto pattern = GENERATE(from_range(kPatterns));
    const std::string precision = GENERATE("fp32", "bf16");
    const Problem p{pattern, 24, 80, 40, precision};
    INFO(pattern_name(pattern) << " " << precision);
    for (calib_fusion_role role : {CALIB_ROLE_FUSED, CALIB_ROLE_UNFUSED}) {
        auto inst = prepare_problem(p, role);
        CHECK(inst->verified);
        CHECK(inst->tolerance > 0);
        CHECK(inst->max_abs_error <= inst->tolerance);
        const std::size_t steps = role == CALIB_ROLE_FUSED ? 1 : operators(pattern).size();
        CHECK(inst->steps.size() == steps);
        // One implementation name per step, and one impl.<step> param each.
        CHECK(std::count(inst->implementation.begin(), inst->implementation.end(), '+') ==
              static_cast<long>(steps - 1));
        const auto impl_params = std::count_if(inst->params.begin(), inst->params.end(),
                                               [](const auto& kv) { return kv.first.rfind("impl.", 0) == 0; });
        CHECK(impl_params == static_cast<long>(steps));
        CHECK(inst->run(2) > 0);
    }
}

TEST_CASE("fused_linear: a fused kernel missing its last stage is caught", "[fused_linear]") {
    const auto pattern = GENERATE(from_range(kPatterns));
    const std::string precision = GENERATE("fp32", "bf16");
    INFO(pattern_name(pattern) << " " << precision);
    auto pair = build_pair(Problem{pattern, 24, 80, 40, precision}, /*faulty_fused=*/true);
    try {
        onednn::verify_pair(pair, precision);
        FAIL("verification passed a wrong fused kernel");
    } catch (const sdk::Error& e) {
        CHECK(e.status == CALIB_VERIFICATION_FAILED);
        CHECK(std::string(e.what()).find("max error") != std::string::npos);
    }
    CHECK(pair.fused->verified);
    CHECK(pair.fused->max_abs_error > pair.fused->tolerance);
}

TEST_CASE("fused_linear: the plugin prepares a listed case by name and rejects unknown ones",
          "[fused_linear]") {
    FusedLinearPlugin plugin;
    const auto cases = plugin.cases();
    const auto it = std::find_if(cases.begin(), cases.end(), [](const sdk::CaseSpec& c) {
        return c.name == "Linear_Bias_ReLU_fp32_128x512x512_unfused";
    });
    REQUIRE(it != cases.end());
    auto inst = plugin.prepare(*it);
    CHECK(inst->verified);
    CHECK(inst->implementation.find('+') != std::string::npos);
    sdk::CaseSpec unknown = *it;
    unknown.name = "nope";
    CHECK_THROWS_AS(plugin.prepare(unknown), sdk::Error);
}

// The pair's second prepare reuses the first one's check (same problem and inputs in this process);
// a given check is carried into the instance without comparing the chains again.
TEST_CASE("fused_linear: the check of a comparison runs once per pair", "[fused_linear]") {
    FusedLinearPlugin plugin;
    const auto cases = plugin.cases();
    auto find = [&](const std::string& name) {
        auto it = std::find_if(cases.begin(), cases.end(), [&](const sdk::CaseSpec& c) { return c.name == name; });
        REQUIRE(it != cases.end());
        return *it;
    };
    auto* fused = static_cast<onednn::ChainInstance*>(
        plugin.prepare(find("Linear_Bias_GELU_bf16_128x512x512_fused")).release());
    auto* unfused = static_cast<onednn::ChainInstance*>(
        plugin.prepare(find("Linear_Bias_GELU_bf16_128x512x512_unfused")).release());
    CHECK(fused->verified);
    CHECK(unfused->verified);
    CHECK(unfused->max_abs_error == fused->max_abs_error);
    CHECK(unfused->tolerance == fused->tolerance);
    delete fused;
    delete unfused;
    // A wrong fused kernel with a check handed in is not re-checked: the check is what it carries.
    const onednn::PairCheck known{0.25, 0.5};
    auto inst = prepare_problem(Problem{Pattern::bias, 24, 80, 40, "fp32"}, CALIB_ROLE_FUSED, &known);
    CHECK(inst->verified);
    CHECK(inst->max_abs_error == 0.25);
    CHECK(inst->tolerance == 0.5);
}

TEST_CASE("fused_linear: a primitive oneDNN cannot create is reported as unsupported", "[fused_linear]") {
    using dnnl::memory;
    // Inner dimensions disagree (K = 8 vs 16): no matmul exists for this descriptor.
    const memory::desc x({4, 8}, memory::data_type::f32, memory::format_tag::ab);
    const memory::desc w({16, 4}, memory::data_type::f32, memory::format_tag::ab);
    const memory::desc y({4, 4}, memory::data_type::f32, memory::format_tag::ab);
    try {
        onednn::make_pd("matmul", [&] {
            return dnnl::matmul::primitive_desc(dnnl::matmul::desc(x, w, y), onednn::engine());
        });
        FAIL("expected CALIB_UNSUPPORTED");
    } catch (const sdk::Error& e) {
        CHECK(e.status == CALIB_UNSUPPORTED);
        CHECK(std::string(e.what()).find("matmul") != std::string::npos);
    } catch (const dnnl::error&) {
        FAIL("a oneDNN error escaped make_pd");
    }
}

// Hidden (run on purpose with "[full]"): builds and checks every listed comparison at its real size.
TEST_CASE("fused_linear: every listed comparison verifies at its real size", "[.][full]") {
    FusedLinearPlugin plugin;
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
