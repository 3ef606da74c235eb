// cuBLASLt opened at run time with dlopen: the toolkit's static archive is optional and its shared
// library is ~500 MB, so the plugin never links it. Signatures come from the toolkit's cublasLt.h.
#pragma once

#include <string>

#include <cublasLt.h>

namespace calib::cuda {

struct CublasLt {
    decltype(&::cublasLtGetVersion) GetVersion = nullptr;
    decltype(&::cublasLtCreate) Create = nullptr;
    decltype(&::cublasLtDestroy) Destroy = nullptr;
    decltype(&::cublasLtMatmulDescCreate) MatmulDescCreate = nullptr;
    decltype(&::cublasLtMatmulDescDestroy) MatmulDescDestroy = nullptr;
    decltype(&::cublasLtMatmulDescSetAttribute) MatmulDescSetAttribute = nullptr;
    decltype(&::cublasLtMatrixLayoutCreate) MatrixLayoutCreate = nullptr;
    decltype(&::cublasLtMatrixLayoutDestroy) MatrixLayoutDestroy = nullptr;
    decltype(&::cublasLtMatrixLayoutSetAttribute) MatrixLayoutSetAttribute = nullptr;
    decltype(&::cublasLtMatmulPreferenceCreate) MatmulPreferenceCreate = nullptr;
    decltype(&::cublasLtMatmulPreferenceDestroy) MatmulPreferenceDestroy = nullptr;
    decltype(&::cublasLtMatmulPreferenceSetAttribute) MatmulPreferenceSetAttribute = nullptr;
    decltype(&::cublasLtMatmulAlgoGetHeuristic) MatmulAlgoGetHeuristic = nullptr;
    decltype(&::cublasLtMatmulAlgoConfigGetAttribute) MatmulAlgoConfigGetAttribute = nullptr;
    decltype(&::cublasLtMatmul) Matmul = nullptr;

    std::string path;     // the library that was opened
    std::string version;  // e.g. "13.0.0"
};

// Opens cuBLASLt once per process: $CALIB_CUBLASLT_LIBRARY if set, else libcublasLt.so.<major of the
// headers>, then the toolkit's usual folders. Returns nullptr and sets *why when none loads.
const CublasLt* load_cublaslt(std::string* why);

// Throws sdk::Error(CALIB_ERROR) naming `what` when status is not CUBLAS_STATUS_SUCCESS.
void check(cublasStatus_t status, const char* what);

}  // namespace calib::cuda
