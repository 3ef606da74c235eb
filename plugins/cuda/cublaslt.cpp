#include "cublaslt.hpp"

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

const CublasLt* open_once(std::string* why) {
    const std::string major = std::to_string(CUBLAS_VER_MAJOR);
    std::vector<std::string> candidates;
    if (const char* env = std::getenv("CALIB_CUBLASLT_LIBRARY"); env != nullptr && *env != '\0')
        candidates.emplace_back(env);
    candidates.push_back("libcublasLt.so." + major);
    candidates.push_back("/usr/local/cuda/lib64/libcublasLt.so." + major);
    candidates.push_back("/usr/local/cuda/targets/x86_64-linux/lib/libcublasLt.so." + major);
    std::string errors;
    for (const auto& c : candidates) {
        // RTLD_LOCAL: its symbols stay out of the host's namespace.
        void* lib = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (lib == nullptr) {
            const char* e = dlerror();
            errors += (errors.empty() ? "" : "; ") + std::string(e != nullptr ? e : c.c_str());
            continue;
        }
        auto* lt = new CublasLt();  // lives for the process: dlclose of cuBLASLt is not safe to race
        std::string missing;
        const bool ok = bind(lib, "cublasLtGetVersion", lt->GetVersion, &missing) &&
                        bind(lib, "cublasLtCreate", lt->Create, &missing) &&
                        bind(lib, "cublasLtDestroy", lt->Destroy, &missing) &&
                        bind(lib, "cublasLtMatmulDescCreate", lt->MatmulDescCreate, &missing) &&
                        bind(lib, "cublasLtMatmulDescDestroy", lt->MatmulDescDestroy, &missing) &&
                        bind(lib, "cublasLtMatmulDescSetAttribute", lt->MatmulDescSetAttribute, &missing) &&
                        bind(lib, "cublasLtMatrixLayoutCreate", lt->MatrixLayoutCreate, &missing) &&
                        bind(lib, "cublasLtMatrixLayoutDestroy", lt->MatrixLayoutDestroy, &missing) &&
                        bind(lib, "cublasLtMatrixLayoutSetAttribute", lt->MatrixLayoutSetAttribute, &missing) &&
                        bind(lib, "cublasLtMatmulPreferenceCreate", lt->MatmulPreferenceCreate, &missing) &&
                        bind(lib, "cublasLtMatmulPreferenceDestroy", lt->MatmulPreferenceDestroy, &missing) &&
                        bind(lib, "cublasLtMatmulPreferenceSetAttribute", lt->MatmulPreferenceSetAttribute,
                             &missing) &&
                        bind(lib, "cublasLtMatmulAlgoGetHeuristic", lt->MatmulAlgoGetHeuristic, &missing) &&
                        bind(lib, "cublasLtMatmulAlgoConfigGetAttribute", lt->MatmulAlgoConfigGetAttribute,
                             &missing) &&
                        bind(lib, "cublasLtMatmul", lt->Matmul, &missing);
        if (!ok) {
            errors += "; " + c + " lacks " + missing;
            delete lt;
            dlclose(lib);
            continue;
        }
        const std::size_t v = lt->GetVersion();  // major * 10000 + minor * 100 + patch
        lt->version = std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
        lt->path = c;
        return lt;
    }
    *why = "cuBLASLt could not be loaded (" + errors + "); set CALIB_CUBLASLT_LIBRARY to libcublasLt.so." + major;
    return nullptr;
}

}  // namespace

const CublasLt* load_cublaslt(std::string* why) {
    static std::once_flag once;
    static const CublasLt* lt = nullptr;
    static std::string reason;
    std::call_once(once, [] { lt = open_once(&reason); });
    if (lt == nullptr && why != nullptr) *why = reason;
    return lt;
}

void check(cublasStatus_t status, const char* what) {
    if (status != CUBLAS_STATUS_SUCCESS)
        sdk::fail(CALIB_ERROR, std::string(what) + " failed with cuBLAS status " + std::to_string(static_cast<int>(status)));
}

}  // namespace calib::cuda
