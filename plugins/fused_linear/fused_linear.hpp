// Linear (X: MxK, W: NxK, bias N; Y = X * W^T + bias, then an activation) fused into one oneDNN
// matmul with bias and an eltwise post-op, compared with the same ops run as separate primitives.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "calib/plugin.hpp"
#include "calib_onednn/fusion.hpp"

namespace calib::fused_linear {

enum class Pattern { bias, bias_relu, bias_gelu, bias_silu };

struct Problem {
    Pattern pattern = Pattern::bias;
    int64_t m = 0, k = 0, n = 0;
    std::string precision = "fp32";
};

std::string pattern_name(Pattern p);            // "Linear_Bias_ReLU", ...
std::vector<std::string> operators(Pattern p);  // unfused operator list: {"matmul", "add", "relu"}
// FLOPs (origin.md): 2MKN + MN for the bias, +8MN for GELU, +4MN for SiLU (exp, add, div, mul);
// ReLU counts 0 as in the origin. Same for both roles: fusion changes traffic, not arithmetic.
double flops(const Problem& p);
// Bytes (origin.md, elements x element size): fused MK+NK+N+MN; unfused MK+NK+N+3MN (bias only)
// or MK+NK+N+5MN (matmul, add, activation: each intermediate written once and read once).
double bytes(const Problem& p, calib_fusion_role role);

// Fused chain: one matmul (bias + eltwise post-op). Unfused: matmul, binary add, eltwise, each with
// its own output buffer. Both read the same random inputs. faulty_fused drops the fused kernel's last
// stage (the activation post-op, or the bias for Linear_Bias): for tests of the check only.
onednn::FusionPair build_pair(const Problem& p, bool faulty_fused = false);
// build_pair + verify_pair (throws CALIB_VERIFICATION_FAILED) + keep the chain of `role`.
// `known`: this comparison's check already passed in this process (FusionPlugin's cache).
std::unique_ptr<onednn::ChainInstance> prepare_problem(const Problem& p, calib_fusion_role role,
                                                       const onednn::PairCheck* known = nullptr);

class FusedLinearPlugin : public onednn::FusionPlugin<Problem, &prepare_problem> {
public:
    std::vector<sdk::CaseSpec> cases() override;
};

}  // namespace calib::fused_linear
