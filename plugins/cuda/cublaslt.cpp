#include "cublaslt.hpp"

#include <cstdlib>
#include <vector>

#include "calib/plugin.hpp"
#include "dl.hpp"

namespace calib::cuda {

namespace {

const CublasLt* open_once(std::string* why) {
    const std::string major = std::to_string(CUBLAS_VER_MAJOR);
    std::vector<std::string> candidates;
    if (const char* env = std::getenv("CALIB_CUBLASLT_LIBRARY"); env != nullptr && *env != '\0')
        candidates.emplace_back(env);
    candidates.push_back("libcublasLt.so." + major);
    candidates.push_back("/usr/local/cuda/lib64/libcublasLt.so." + major);
    candidates.push_back("/usr/local/cuda/targets/x86_64-linux/lib/libcublasLt.so." + major);
    std::string errors;
    auto fill = [](void* lib, CublasLt& l, std::string& refusal) {
        std::string missing;
        const bool ok = dl::bind(lib, "cublasLtGetVersion", l.GetVersion, &missing) &&
                        dl::bind(lib, "cublasLtCreate", l.Create, &missing) &&
                        dl::bind(lib, "cublasLtDestroy", l.Destroy, &missing) &&
                        dl::bind(lib, "cublasLtMatmulDescCreate", l.MatmulDescCreate, &missing) &&
                        dl::bind(lib, "cublasLtMatmulDescDestroy", l.MatmulDescDestroy, &missing) &&
                        dl::bind(lib, "cublasLtMatmulDescSetAttribute", l.MatmulDescSetAttribute, &missing) &&
                        dl::bind(lib, "cublasLtMatrixLayoutCreate", l.MatrixLayoutCreate, &missing) &&
                        dl::bind(lib, "cublasLtMatrixLayoutDestroy", l.MatrixLayoutDestroy, &missing) &&
                        dl::bind(lib, "cublasLtMatrixLayoutSetAttribute", l.MatrixLayoutSetAttribute, &missing) &&
                        dl::bind(lib, "cublasLtMatmulPreferenceCreate", l.MatmulPreferenceCreate, &missing) &&
                        dl::bind(lib, "cublasLtMatmulPreferenceDestroy", l.MatmulPreferenceDestroy, &missing) &&
                        dl::bind(lib, "cublasLtMatmulPreferenceSetAttribute", l.MatmulPreferenceSetAttribute,
                                 &missing) &&
                        dl::bind(lib, "cublasLtMatmulAlgoGetHeuristic", l.MatmulAlgoGetHeuristic, &missing) &&
                        dl::bind(lib, "cublasLtMatmulAlgoConfigGetAttribute", l.MatmulAlgoConfigGetAttribute,
                                 &missing) &&
                        dl::bind(lib, "cublasLtMatmul", l.Matmul, &missing);
        if (!ok) {
            refusal = " lacks ";
            refusal += missing;
            return false;
        }
        const std::size_t v = l.GetVersion();  // major * 10000 + minor * 100 + patch
        l.version = std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
        return true;
    };
    // Lives for the process: dlclose of cuBLASLt is not safe to race.
    const CublasLt* lt = dl::open_first<CublasLt>(candidates, &errors, fill);
    if (lt != nullptr) return lt;
    *why = "cuBLASLt could not be loaded (" + errors + "); set CALIB_CUBLASLT_LIBRARY to libcublasLt.so." + major;
    return nullptr;
}

}  // namespace

const CublasLt* load_cublaslt(std::string* why) { return dl::load_once<CublasLt, open_once>(why); }

void check(cublasStatus_t status, const char* what) {
    if (status != CUBLAS_STATUS_SUCCESS)
        sdk::fail(CALIB_ERROR, std::string(what) + " failed with cuBLAS status " + std::to_string(static_cast<int>(status)));
}

}  // namespace calib::cuda
