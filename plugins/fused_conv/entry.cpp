#include "fused_conv.hpp"

CALIB_CPP_PLUGIN(
    calib::fused_conv::FusedConvPlugin, "org.calib.fused_conv", "oneDNN fused conv", "0.1.0", "calib",
    "Conv2d + BN (folded) + add + ReLU: one oneDNN convolution with post-ops vs separate primitives")
