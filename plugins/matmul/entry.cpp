#include "matmul_plugin.hpp"

CALIB_CPP_PLUGIN(calib::matmul::MatmulPlugin, "org.calib.matmul", "oneDNN matmul", "0.1.0", "calib",
                 "Dense matmul (fp32, bf16, fp16, int8) through oneDNN: square and inference shapes")
