#include "nccl.hpp"

#ifdef CALIB_CUDA_HAVE_NCCL

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <vector>

#include "calib/plugin.hpp"

namespace calib::cuda {

namespace {

template <class F>
bool bind(void* lib, const char* name, F& fn, std::string* missing) {
    fn = reinterpret_cast<F>(dlsym(lib, name));
    if (fn == nullptr) *missing = name;
    return fn != nullptr;
}

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
    for (const auto& c : candidates) {
        void* lib = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (lib == nullptr) {
            const char* e = dlerror();
            errors += (errors.empty() ? "" : "; ") + std::string(e != nullptr ? e : c.c_str());
            continue;
        }
        auto* n = new Nccl();  // lives for the process, like the library
        std::string missing;
        const bool ok = bind(lib, "ncclGetVersion", n->GetVersion, &missing) &&
                        bind(lib, "ncclGetErrorString", n->GetErrorString, &missing) &&
                        bind(lib, "ncclCommInitAll", n->CommInitAll, &missing) &&
                        bind(lib, "ncclCommDestroy", n->CommDestroy, &missing) &&
                        bind(lib, "ncclGroupStart", n->GroupStart, &missing) &&
                        bind(lib, "ncclGroupEnd", n->GroupEnd, &missing) &&
                        bind(lib, "ncclAllReduce", n->AllReduce, &missing) &&
                        bind(lib, "ncclAllGather", n->AllGather, &missing) &&
                        bind(lib, "ncclReduceScatter", n->ReduceScatter, &missing) &&
                        bind(lib, "ncclBroadcast", n->Broadcast, &missing);
        n->CommFinalize = reinterpret_cast<decltype(n->CommFinalize)>(dlsym(lib, "ncclCommFinalize"));
        int v = 0;
        if (!ok || n->GetVersion(&v) != ncclSuccess) {
            errors += "; " + c + (ok ? ": ncclGetVersion failed" : " lacks " + missing);
            delete n;
            dlclose(lib);
            continue;
        }
        // NCCL_VERSION_CODE: major * 10000 + minor * 100 + patch since 2.9 (major * 1000 before).
        n->version = v >= 20900 ? std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." +
                                      std::to_string(v % 100)
                                : std::to_string(v / 1000) + "." + std::to_string(v / 100 % 10) + "." +
                                      std::to_string(v % 100);
        n->path = c;
        return n;
    }
    *why = (env != nullptr && *env != '\0' ? std::string("CALIB_NCCL_LIBRARY=") + env : std::string("libnccl.so.2")) +
           " not found (" + errors + "); set CALIB_NCCL_LIBRARY to libnccl.so.2";
    return nullptr;
}

}  // namespace

const Nccl* load_nccl(std::string* why) {
    static std::once_flag once;
    static const Nccl* n = nullptr;
    static std::string reason;
    std::call_once(once, [] { n = open_once(&reason); });
    if (n == nullptr && why != nullptr) *why = reason;
    return n;
}

void Nccl::check(ncclResult_t r, const std::string& what) const {
    if (r == ncclSuccess) return;
    sdk::fail(CALIB_ERROR, what + ": " + GetErrorString(r) + " (ncclResult " + std::to_string(static_cast<int>(r)) + ")");
}

}  // namespace calib::cuda

#endif  // CALIB_CUDA_HAVE_NCCL
