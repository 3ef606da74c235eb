// Attention pieces on Q, K, V of shape (B, S, D) with scale 1/sqrt(D): QK^T x scale, + softmax over
// the last axis, + (.V). Fused: the scale is a post-op of the QK^T matmul and softmax runs in place;
// unfused: every step is its own primitive writing its own buffer.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "calib/plugin.hpp"
#include "calib_onednn/fusion.hpp"

namespace calib::fused_attention {

enum class Pattern { qk_scores, qk_softmax, full };

struct Problem {
    Pattern pattern = Pattern::qk_scores;
    int64_t batch = 0, seq = 0, dim = 0;
    std::string precision = "fp32";
};

std::string pattern_name(Pattern p);            // "QK_AttentionScores", "QK_Softmax", "FullAttention"
std::vector<std::string> operators(Pattern p);  // unfused list: {"matmul", "mul", "softmax", "matmul"}

// FLOPs (origin.md): B(2S^2D + S^2), B(2S^2D + 6S^2), B(4S^2D + 6S^2). Same for both roles.
double flops(const Problem& p);
// Bytes, elements x element size (es), with X = B*S*D (one of Q, K, V, output) and P = B*S*S (one
// score matrix):
//   QK_AttentionScores: fused 2X + P;  unfused 2X + 2P (scores written, read) + P      = 2X + 3P
//   QK_Softmax:         fused 2X + P;  unfused 2X + 2P + 2P (scaled) + P              = 2X + 5P
//   FullAttention:      fused 4X;      unfused 3X + 2P + 2P + 2P (probabilities) + X  = 4X + 6P
// (fused = inputs + output, as if no intermediate reached memory; unfused = every intermediate
// written once and read once.)
double bytes(const Problem& p, calib_fusion_role role);

// faulty_fused drops the scale post-op of the fused QK^T matmul: for tests of the check only.
onednn::FusionPair build_pair(const Problem& p, bool faulty_fused = false);
// `known`: this comparison's check already passed in this process (FusionPlugin's cache).
std::unique_ptr<onednn::ChainInstance> prepare_problem(const Problem& p, calib_fusion_role role,
                                                       const onednn::PairCheck* known = nullptr);

class FusedAttentionPlugin : public onednn::FusionPlugin<Problem, &prepare_problem> {
public:
    std::vector<sdk::CaseSpec> cases() override;
};

}  // namespace calib::fused_attention
