#include "cuda_plugin.hpp"

CALIB_CPP_PLUGIN(calib::cuda::CudaPlugin, "org.calib.cuda", "CUDA (cuBLASLt)", "0.1.0", "calib",
                 "NVIDIA GPU: cuBLASLt matmul (fp32, tf32, bf16, fp16, fp8), device bandwidth, Linear epilogue fusion, "
                 "flash attention")
