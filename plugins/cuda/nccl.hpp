// NCCL opened at run time with dlopen (never linked): libnccl.so.2 is not on every machine, and the
// plugin must load and run its other cases without it. Signatures come from nccl.h when the build found
// it (CALIB_CUDA_HAVE_NCCL); without the header the plugin is built without collectives.
#pragma once

#include <string>

#ifdef CALIB_CUDA_HAVE_NCCL
#include <nccl.h>
#endif

namespace calib::cuda {

#ifdef CALIB_CUDA_HAVE_NCCL
struct Nccl {
    decltype(&::ncclGetVersion) GetVersion = nullptr;
    decltype(&::ncclGetErrorString) GetErrorString = nullptr;
    decltype(&::ncclCommInitAll) CommInitAll = nullptr;
    decltype(&::ncclCommDestroy) CommDestroy = nullptr;
    decltype(&::ncclCommFinalize) CommFinalize = nullptr;  // optional (NCCL >= 2.14)
    decltype(&::ncclGroupStart) GroupStart = nullptr;
    decltype(&::ncclGroupEnd) GroupEnd = nullptr;
    decltype(&::ncclAllReduce) AllReduce = nullptr;
    decltype(&::ncclAllGather) AllGather = nullptr;
    decltype(&::ncclReduceScatter) ReduceScatter = nullptr;
    decltype(&::ncclBroadcast) Broadcast = nullptr;

    std::string path;     // the library that was opened
    std::string version;  // e.g. "2.28.9"

    // Throws sdk::Error(CALIB_ERROR) naming `what` unless r is ncclSuccess.
    void check(ncclResult_t r, const std::string& what) const;
};

// Opens NCCL once per process: $CALIB_NCCL_LIBRARY if set, else libnccl.so.2, then the toolkit's
// folders. Sets NCCL_NVLS_ENABLE=0 first unless the environment sets it (NVLink multicast stays off on
// shared hosts). Returns nullptr and sets *why when none loads.
const Nccl* load_nccl(std::string* why);
#endif

}  // namespace calib::cuda
