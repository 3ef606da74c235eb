#include "nccl.hpp"

#ifdef CALIB_CUDA_HAVE_NCCL

#include <cstdlib>
#include <vector>

#include "calib/plugin.hpp"
#include "dl.hpp"

namespace calib::cuda {

namespace {

const Nccl* open_once(std::string* why) {
    // Before NCCL reads its environment (at its first init): no NVLink SHARP / multicast on shared hosts.
    setenv("NCCL_NVLS_ENABLE", "0", 0);
    std::vector<std::string> candidates;
    const char* env = std::getenv("CALIB_NCCL_LIBRARY");
    if (env != nullptr && *env != '\0') candidates.emplace_back(env);
    else
        candidates = {"libnccl.so.2", "/usr/local/cuda/lib64/libnccl.so.2", "/usr/local/cuda/lib/libnccl.so.2",
                      "/usr/local/cuda/targets/x86_64-linux/lib/libnccl.so.2",
                      "/usr/lib/x86_64-linux-gnu/libnccl.so.2"};
    std::string errors;
    auto fill = [](void* lib, Nccl& n, std::string& refusal) {
        std::string missing;
        const bool ok = dl::bind(lib, "ncclGetVersion", n.GetVersion, &missing) &&
                        dl::bind(lib, "ncclGetErrorString", n.GetErrorString, &missing) &&
                        dl::bind(lib, "ncclCommInitAll", n.CommInitAll, &missing) &&
                        dl::bind(lib, "ncclCommDestroy", n.CommDestroy, &missing) &&
                        dl::bind(lib, "ncclGroupStart", n.GroupStart, &missing) &&
                        dl::bind(lib, "ncclGroupEnd", n.GroupEnd, &missing) &&
                        dl::bind(lib, "ncclAllReduce", n.AllReduce, &missing) &&
                        dl::bind(lib, "ncclAllGather", n.AllGather, &missing) &&
                        dl::bind(lib, "ncclReduceScatter", n.ReduceScatter, &missing) &&
                        dl::bind(lib, "ncclBroadcast", n.Broadcast, &missing);
        dl::bind(lib, "ncclCommFinalize", n.CommFinalize);  // optional
        if (!ok) {
            refusal = " lacks ";
            refusal += missing;
            return false;
        }
        int v = 0;
        if (n.GetVersion(&v) != ncclSuccess) {
            refusal = ": ncclGetVersion failed";
            return false;
        }
        // NCCL_VERSION_CODE: major * 10000 + minor * 100 + patch since 2.9 (major * 1000 before).
        n.version = v >= 20900 ? std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." +
                                     std::to_string(v % 100)
                               : std::to_string(v / 1000) + "." + std::to_string(v / 100 % 10) + "." +
                                     std::to_string(v % 100);
        return true;
    };
    // Lives for the process, like the library.
    const Nccl* nccl = dl::open_first<Nccl>(candidates, &errors, fill);
    if (nccl != nullptr) return nccl;
    *why = (env != nullptr && *env != '\0' ? std::string("CALIB_NCCL_LIBRARY=") + env : std::string("libnccl.so.2")) +
           " not found (" + errors + "); set CALIB_NCCL_LIBRARY to libnccl.so.2";
    return nullptr;
}

}  // namespace

const Nccl* load_nccl(std::string* why) { return dl::load_once<Nccl, open_once>(why); }

void Nccl::check(ncclResult_t r, const std::string& what) const {
    if (r == ncclSuccess) return;
    sdk::fail(CALIB_ERROR, what + ": " + GetErrorString(r) + " (ncclResult " + std::to_string(static_cast<int>(r)) + ")");
}

}  // namespace calib::cuda

#endif  // CALIB_CUDA_HAVE_NCCL
