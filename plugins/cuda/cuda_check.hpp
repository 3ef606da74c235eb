// The CUDA runtime's error check shared by the plugin's sources (cuda_plugin.cpp, transfers.cpp).
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include "calib/plugin.hpp"

namespace calib::cuda {

// Throws sdk::Error naming `what` and the CUDA error unless e is cudaSuccess: CALIB_OUT_OF_MEMORY for
// cudaErrorMemoryAllocation, else CALIB_ERROR.
inline void check_cuda(cudaError_t e, const std::string& what) {
    if (e == cudaSuccess) return;
    const std::string msg = what + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
    sdk::fail(e == cudaErrorMemoryAllocation ? CALIB_OUT_OF_MEMORY : CALIB_ERROR, msg);
}

}  // namespace calib::cuda
