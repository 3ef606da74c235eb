// Conv2d (NCHW, k=3, stride 1, pad 1, Cin = Cout) followed by BN / residual add / ReLU: one oneDNN
// convolution with BN folded into weights and bias and the rest as post-ops, compared with each op as
// its own primitive. All buffers use the blocked layout oneDNN chose for the convolution.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "calib/plugin.hpp"
#include "calib_onednn/fusion.hpp"

namespace calib::fused_conv {

enum class Pattern { relu, bn, bn_relu, bn_add_relu, dw_bn_relu };

struct Problem {
    Pattern pattern = Pattern::relu;
    int64_t batch = 0, channels = 0, hw = 0;  // H = W = hw
    std::string precision = "fp32";
};

std::string pattern_name(Pattern p);            // "Conv2d_BN_ReLU", "DWConv2d_BN_ReLU", ...
std::vector<std::string> operators(Pattern p);  // unfused list: {"conv2d", "batchnorm", "relu"}

// FLOPs: convolution 2 * B*C*H*W * (C/groups) * 9 (groups = C for the depthwise pattern), plus 2 per
// output element for BN (scale and shift), 1 for the residual add; ReLU counts 0 as in origin.md's
// linear formulas. Same for both roles.
double flops(const Problem& p);
// Bytes, with A = B*C*H*W activation elements, Wn = C*C*9 (depthwise: C*9) weight elements, es the
// element size (4 fp32, 2 bf16) and BN parameters always f32 (4 bytes):
//   fused   = es*(A + Wn + A)              input, weights, output
//           + 4*C                          folded bias (BN patterns)
//           + es*A                         residual (Add pattern)
//   unfused = es*(A + Wn + A) + es*2A*(n_ops - 1)    each intermediate written and read again
//           + 4*4C                         mean, var, gamma, beta (BN patterns)
//           + es*A                         residual (Add pattern)
double bytes(const Problem& p, calib_fusion_role role);

// Fused: one convolution (BN folded: scale = gamma/sqrt(var+eps), bias = beta - mean*scale; binary
// add and ReLU as post-ops). Unfused: convolution, batch_normalization (global stats, scale, shift),
// binary add, eltwise ReLU, each into its own buffer. faulty_fused drops the fused kernel's post-ops
// (or, for Conv2d_BN, its folded bias): for tests of the check only.
onednn::FusionPair build_pair(const Problem& p, bool faulty_fused = false);
// `known`: this comparison's check already passed in this process (FusionPlugin's cache).
std::unique_ptr<onednn::ChainInstance> prepare_problem(const Problem& p, calib_fusion_role role,
                                                       const onednn::PairCheck* known = nullptr);

class FusedConvPlugin : public onednn::FusionPlugin<Problem, &prepare_problem> {
public:
    std::vector<sdk::CaseSpec> cases() override;
};

}  // namespace calib::fused_conv
