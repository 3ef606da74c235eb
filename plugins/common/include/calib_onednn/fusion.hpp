// Helpers shared by the fusion plugins (fused_linear, fused_conv, fused_attention): a fused and an
// unfused chain built on the same inputs, checked against each other in prepare(), and the primitive
// descriptor creation that turns "oneDNN cannot do this here" into CALIB_UNSUPPORTED.
// Header-only so that adding it needs no change to the common library's build.
#pragma once

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "calib_onednn/common.hpp"

namespace calib::onednn {

// Tolerance of the fused-vs-unfused check, relative to the largest |value| of the unfused output.
// fp32: both chains round once per op in fp32, so only summation order differs (1e-4 covers K up to
// a few thousand). bf16: the unfused chain rounds every intermediate to bf16 (8-bit mantissa,
// 2^-8 = 3.9e-3 per rounding) while the fused one rounds once; a few roundings plus bf16 GEMM
// accumulation fit in 2e-2.
inline double fusion_relative_tolerance(const std::string& precision) {
    if (precision == "fp32") return 1e-4;
    if (precision == "bf16" || precision == "fp16") return 2e-2;
    return 5e-2;
}

// Create a primitive descriptor with make() (which builds the op descriptor too); any oneDNN error
// (typically: no kernel for this data type, layout or attribute on this CPU) becomes CALIB_UNSUPPORTED
// naming the step.
template <class Make>
auto make_pd(const std::string& step, Make&& make) -> decltype(make()) {
    try {
        return make();
    } catch (const dnnl::error& e) {
        sdk::fail(CALIB_UNSUPPORTED, "oneDNN has no " + step + " primitive for this case here: " + e.what());
    }
}

// Append a step built from a primitive descriptor.
template <class PD>
void add_step(ChainInstance& chain, const std::string& name, const PD& pd,
              std::unordered_map<int, dnnl::memory> args) {
    chain.steps.push_back(Step{dnnl::primitive(pd), std::move(args), name, impl_name(pd)});
}

// Both sides of one fusion comparison, sharing their input memories.
struct FusionPair {
    std::unique_ptr<ChainInstance> fused = std::make_unique<ChainInstance>();
    std::unique_ptr<ChainInstance> unfused = std::make_unique<ChainInstance>();
    dnnl::memory fused_out, unfused_out;  // the results compared
};

// Run both chains once and compare outputs; records the check on both instances and throws
// CALIB_VERIFICATION_FAILED when the fused result differs from the unfused one beyond tolerance.
inline void verify_pair(FusionPair& p, const std::string& precision) {
    p.fused->execute_once();
    p.unfused->execute_once();
    const auto want = to_f32(p.unfused_out);
    const auto got = to_f32(p.fused_out);
    const double err = max_abs_diff(got, want);
    const double tol = fusion_relative_tolerance(precision) * std::max(max_abs(want), 1e-6);
    for (auto* c : {p.fused.get(), p.unfused.get()}) {
        c->verified = true;
        c->max_abs_error = err;
        c->tolerance = tol;
    }
    if (!(err <= tol)) {
        std::ostringstream os;
        os << "fused result differs from the unfused chain: max error " << err << " > tol " << tol;
        sdk::fail(CALIB_VERIFICATION_FAILED, os.str());
    }
}

// Describe both chains and keep the one of the requested role.
inline std::unique_ptr<ChainInstance> take_role(FusionPair& p, calib_fusion_role role) {
    p.fused->describe();
    p.unfused->describe();
    return role == CALIB_ROLE_FUSED ? std::move(p.fused) : std::move(p.unfused);
}

// What one comparison contributes to a plugin's case list.
struct FusionCase {
    std::string pattern;         // "Linear_Bias_ReLU"
    std::string precision;       // "fp32"
    std::string operation_type;  // origin vocabulary: "linear", "conv2d", "attention", ...
    std::vector<int64_t> shape;
    double flops = 0;  // same for both roles: fusion changes traffic, not arithmetic
    double fused_bytes = 0, unfused_bytes = 0;
    std::vector<std::string> operators;  // the unfused operator list
    sdk::Params key_params;              // origin key params ("batch", ...)
    bool quick = false;
};

// The outcome of verify_pair() for one comparison, kept by the plugin so the pair's second prepare
// (same problem, same inputs, same worker) does not run and compare both chains again.
struct PairCheck {
    double max_abs_error = 0, tolerance = 0;
};

// What prepare() does for every fusion case: check the fused chain against the unfused one on the same
// inputs (throws CALIB_VERIFICATION_FAILED), then keep the chain of the requested role. With `known`
// (this comparison already passed in this process) only the kept chain runs once, for first touch.
inline std::unique_ptr<ChainInstance> verified_role(FusionPair pair, const std::string& precision,
                                                    calib_fusion_role role, const PairCheck* known = nullptr) {
    if (known == nullptr) {
        verify_pair(pair, precision);
        return take_role(pair, role);
    }
    auto kept = take_role(pair, role);
    kept->execute_once();
    kept->verified = true;
    kept->max_abs_error = known->max_abs_error;
    kept->tolerance = known->tolerance;
    return kept;
}

// The two cases of a comparison: "<pattern>_<precision>_<shape>_fused" and "..._unfused", sharing
// the group "<pattern>_<precision>_<shape>", with "operators" and "num_operators" params added.
inline std::vector<sdk::CaseSpec> fusion_case_pair(const FusionCase& f) {
    std::string shape_text;  // "512x1024x1024"
    for (auto d : f.shape) {
        if (!shape_text.empty()) shape_text += 'x';
        shape_text += std::to_string(d);
    }
    const std::string group = f.pattern + "_" + f.precision + "_" + shape_text;
    std::string ops;
    for (const auto& o : f.operators) ops += (ops.empty() ? "" : ",") + o;
    std::vector<sdk::CaseSpec> out;
    for (calib_fusion_role role : {CALIB_ROLE_FUSED, CALIB_ROLE_UNFUSED}) {
        sdk::CaseSpec c;
        const bool fused = role == CALIB_ROLE_FUSED;
        c.name = group + (fused ? "_fused" : "_unfused");
        c.family = CALIB_FAMILY_FUSION;
        c.operation_type = f.operation_type;
        c.precision = f.precision;
        c.shape = f.shape;
        c.flops = f.flops;
        c.bytes = fused ? f.fused_bytes : f.unfused_bytes;
        c.fusion_pattern = f.pattern;
        c.fusion_role = role;
        c.fusion_group = group;
        c.quick = f.quick;
        c.params = f.key_params;
        c.params.emplace_back("operators", ops);
        c.params.emplace_back("num_operators", std::to_string(f.operators.size()));
        out.push_back(std::move(c));
    }
    return out;
}

// What the three oneDNN fusion plugins share: the CPU device, a table from case name to the problem it
// measures, and prepare() through the plugin's `prepare_problem` (build both chains, verify, keep one).
template <class Problem,
          std::unique_ptr<ChainInstance> (*PrepareProblem)(const Problem&, calib_fusion_role, const PairCheck*)>
class FusionPlugin : public sdk::Plugin {
public:
    std::string device_name() const override { return cpu_model_name(); }
    std::unique_ptr<sdk::Instance> prepare(const sdk::CaseSpec& spec) override {
        auto it = problems_.find(spec.name);
        if (it == problems_.end()) sdk::fail(CALIB_INVALID_ARGUMENT, "unknown case " + spec.name);
        const std::string& group = it->second.first;
        auto known = checked_.find(group);
        auto inst = PrepareProblem(it->second.second, spec.fusion_role,
                                   known == checked_.end() ? nullptr : &known->second);
        if (known == checked_.end()) checked_[group] = {inst->max_abs_error, inst->tolerance};
        return inst;
    }

protected:
    // Appends the fused/unfused pair of `f` and remembers which problem both cases measure.
    void add_pair(std::vector<sdk::CaseSpec>& out, const FusionCase& f, const Problem& problem) {
        for (auto& c : fusion_case_pair(f)) {
            problems_[c.name] = {c.fusion_group, problem};
            out.push_back(std::move(c));
        }
    }

private:
    std::map<std::string, std::pair<std::string, Problem>> problems_;  // by case name: group, problem
    std::map<std::string, PairCheck> checked_;                         // by group: passed checks
};

}  // namespace calib::onednn
