#include "fused_attention.hpp"

CALIB_CPP_PLUGIN(calib::fused_attention::FusedAttentionPlugin, "org.calib.fused_attention",
                 "oneDNN fused attention", "0.1.0", "calib",
                 "QK^T scale, softmax and .V: oneDNN matmuls with post-ops vs separate primitives")
