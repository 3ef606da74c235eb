// Device kernels of the CUDA plugin, behind host-callable launchers (plain C++ types only, so the
// plugin logic compiles with the host compiler). Every launcher is asynchronous on `stream` unless
// it says otherwise; launch errors are returned, never thrown.
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime_api.h>

namespace calib::cuda {

enum class DType { f32, bf16, f16, e4m3 };
std::size_t dtype_size(DType t);

enum class Act { none, relu, gelu_tanh };  // gelu_tanh: the form of cuBLASLt's GELU epilogue

// Uniform values in [lo, hi) from a counter hash (same seed, same data), rounded to t.
cudaError_t fill_uniform(void* p, DType t, std::size_t n, uint64_t seed, float lo, float hi, cudaStream_t s);
// Every element = v (used to plant stale values that must not pass for results).
cudaError_t fill_value(void* p, DType t, std::size_t n, float v, cudaStream_t s);

// dst = src, 16-byte vectors when both are 16-byte aligned and bytes % 16 == 0.
cudaError_t copy_bytes(const void* src, void* dst, std::size_t bytes, int sm_count, cudaStream_t s);
// a = b + scalar * c (STREAM triad, fp32).
cudaError_t triad(float* a, const float* b, const float* c, float scalar, std::size_t n, int sm_count,
                  cudaStream_t s);

// z[r][c] = y[r][c] + bias[c] (row-major rows x cols) and out = act(z): the unfused chain's two kernels.
cudaError_t bias_add(const void* y, const void* bias, void* z, DType t, std::size_t rows, std::size_t cols,
                     int sm_count, cudaStream_t s);
cudaError_t activation(const void* z, void* out, DType t, std::size_t n, Act act, int sm_count, cudaStream_t s);

// Synchronous: max |a - b| (NaN -> inf) and max |b| over n elements of type t.
struct DiffResult {
    double max_abs_diff = 0;
    double max_abs_ref = 0;
};
cudaError_t max_abs_diff(const void* a, const void* b, DType t, std::size_t n, DiffResult* out, cudaStream_t s);

// Synchronous: `samples` entries of Y = X * op(W) (row-major X: M x K; W: N x K when w_nk, else K x N;
// Y: M x N of type ty) recomputed in double from the stored inputs. For each sample: the reference,
// sum |x||w| (the error bound's scale) and the stored result.
struct GemmSample {
    double ref = 0, abs_sum = 0, got = 0;
};
cudaError_t gemm_samples(const void* x, DType tx, const void* w, DType tw, bool w_nk, const void* y, DType ty,
                         int64_t m, int64_t k, int64_t n, int samples, uint64_t seed, GemmSample* out,
                         cudaStream_t s);

}  // namespace calib::cuda
