#include "fused_linear.hpp"

CALIB_CPP_PLUGIN(calib::fused_linear::FusedLinearPlugin, "org.calib.fused_linear", "oneDNN fused linear",
                 "0.1.0", "calib",
                 "Linear + bias + activation: one oneDNN matmul with post-ops vs separate primitives")
