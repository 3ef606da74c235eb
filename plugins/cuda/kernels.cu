#include "kernels.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace calib::cuda {

std::size_t dtype_size(DType t) {
    switch (t) {
        case DType::f32: return 4;
        case DType::bf16:
        case DType::f16: return 2;
        case DType::e4m3: return 1;
    }
    return 0;
}

namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ uint64_t mix(uint64_t x) {  // splitmix64 finaliser
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

__device__ __forceinline__ double load(const void* p, DType t, std::size_t i) {
    switch (t) {
        case DType::f32: return static_cast<const float*>(p)[i];
        case DType::bf16: return static_cast<float>(static_cast<const __nv_bfloat16*>(p)[i]);
        case DType::f16: return static_cast<float>(static_cast<const __half*>(p)[i]);
        case DType::e4m3: return static_cast<float>(static_cast<const __nv_fp8_e4m3*>(p)[i]);
    }
    return 0;
}

__device__ __forceinline__ void store(void* p, DType t, std::size_t i, float v) {
    switch (t) {
        case DType::f32: static_cast<float*>(p)[i] = v; break;
        case DType::bf16: static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16(v); break;
        case DType::f16: static_cast<__half*>(p)[i] = __float2half(v); break;
        case DType::e4m3: static_cast<__nv_fp8_e4m3*>(p)[i] = __nv_fp8_e4m3(v); break;
    }
}

__global__ void fill_uniform_kernel(void* p, DType t, std::size_t n, uint64_t seed, float lo, float hi) {
    const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
    for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n; i += stride) {
        const float u = static_cast<float>(mix(seed * 0x100000001b3ull + i) >> 40) * (1.0f / 16777216.0f);
        store(p, t, i, lo + (hi - lo) * u);
    }
}

__global__ void fill_value_kernel(void* p, DType t, std::size_t n, float v) {
    const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
    for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n; i += stride)
        store(p, t, i, v);
}

// Grid of a streaming kernel: enough resident threads to cover latency, no more blocks than work.
unsigned grid_for(std::size_t work_items, int sm_count, int blocks_per_sm = 8) {
    const std::size_t needed = (work_items + kThreads - 1) / kThreads;
    const std::size_t cap = static_cast<std::size_t>(std::max(sm_count, 1)) * blocks_per_sm;
    return static_cast<unsigned>(std::max<std::size_t>(1, std::min(needed, cap)));
}

// One tile of U x blockDim 16-byte vectors per block, U loads in flight per thread before the stores;
// a grid covering the whole array (no grid-stride loop) keeps each block's accesses contiguous.
template <int U>
__global__ void copy16_kernel(const uint4* __restrict__ src, uint4* __restrict__ dst, std::size_t n) {
    const std::size_t base = static_cast<std::size_t>(blockIdx.x) * blockDim.x * U + threadIdx.x;
    uint4 v[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
        const std::size_t i = base + static_cast<std::size_t>(u) * blockDim.x;
        if (i < n) v[u] = src[i];
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
        const std::size_t i = base + static_cast<std::size_t>(u) * blockDim.x;
        if (i < n) dst[i] = v[u];
    }
}

__global__ void copy1_kernel(const unsigned char* __restrict__ src, unsigned char* __restrict__ dst, std::size_t n) {
    const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
    for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n; i += stride)
        dst[i] = src[i];
}

template <int U>
__global__ void triad4_kernel(float4* __restrict__ a, const float4* __restrict__ b, const float4* __restrict__ c,
                              float s, std::size_t n) {
    const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
    std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
    for (; i + (U - 1) * stride < n; i += U * stride) {
        float4 x[U], y[U];
#pragma unroll
        for (int u = 0; u < U; ++u) {
            x[u] = b[i + u * stride];
            y[u] = c[i + u * stride];
        }
#pragma unroll
        for (int u = 0; u < U; ++u)
            a[i + u * stride] = make_float4(x[u].x + s * y[u].x, x[u].y + s * y[u].y, x[u].z + s * y[u].z,
                                            x[u].w + s * y[u].w);
    }
    for (; i < n; i += stride)
        a[i] = make_float4(b[i].x + s * c[i].x, b[i].y + s * c[i].y, b[i].z + s * c[i].z, b[i].w + s * c[i].w);
}

__global__ void triad1_kernel(float* a, const float* b, const float* c, float s, std::size_t n) {
    const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
    for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n; i += stride)
        a[i] = b[i] + s * c[i];
}

__device__ __forceinline__ float apply(Act act, float x) {
    switch (act) {
        case Act::relu: return fmaxf(x, 0.0f);
        case Act::gelu_tanh: {
            const float inner = 0.7978845608028654f * (x + 0.044715f * x * x * x);
            return 0.5f * x * (1.0f + tanhf(inner));
        }
        default: return x;
    }
}

// Element-wise over 16-byte vectors of T (V = 16 / sizeof(T) elements); cols % V == 0 keeps a vector
// inside one row, so the bias slice is one vector too.
template <class T>
__global__ void bias_add_kernel(const uint4* __restrict__ y, const uint4* __restrict__ bias, uint4* __restrict__ z,
                                std::size_t nvec, std::size_t cols_vec) {
    constexpr int V = 16 / sizeof(T);
    const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
    for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < nvec; i += stride) {
        uint4 a = y[i], b = bias[i % cols_vec], r;
        T av[V], bv[V], rv[V];
        memcpy(av, &a, 16);
        memcpy(bv, &b, 16);
#pragma unroll
        for (int e = 0; e < V; ++e) rv[e] = T(static_cast<float>(av[e]) + static_cast<float>(bv[e]));
        memcpy(&r, rv, 16);
        z[i] = r;
    }
}

template <class T>
__global__ void activation_kernel(const uint4* __restrict__ z, uint4* __restrict__ out, std::size_t nvec, Act act) {
    constexpr int V = 16 / sizeof(T);
    const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
    for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < nvec; i += stride) {
        uint4 a = z[i], r;
        T av[V], rv[V];
        memcpy(av, &a, 16);
#pragma unroll
        for (int e = 0; e < V; ++e) rv[e] = T(apply(act, static_cast<float>(av[e])));
        memcpy(&r, rv, 16);
        out[i] = r;
    }
}

// Scalar fallbacks for shapes whose rows are not whole vectors.
__global__ void bias_add_scalar(const void* y, const void* bias, void* z, DType t, std::size_t n, std::size_t cols) {
    const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
    for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n; i += stride)
        store(z, t, i, static_cast<float>(load(y, t, i)) + static_cast<float>(load(bias, t, i % cols)));
}

__global__ void activation_scalar(const void* z, void* out, DType t, std::size_t n, Act act) {
    const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
    for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n; i += stride)
        store(out, t, i, apply(act, static_cast<float>(load(z, t, i))));
}

// Non-negative floats order like their bit patterns, so atomicMax on the bits is a float max.
__global__ void max_abs_diff_kernel(const void* a, const void* b, DType t, std::size_t n, unsigned* result) {
    __shared__ float sd[kThreads], sr[kThreads];
    float d = 0, r = 0;
    const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
    for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n; i += stride) {
        const float x = static_cast<float>(load(a, t, i)), y = static_cast<float>(load(b, t, i));
        float e = fabsf(x - y);
        if (isnan(e)) e = INFINITY;
        d = fmaxf(d, e);
        r = fmaxf(r, isnan(y) ? INFINITY : fabsf(y));
    }
    sd[threadIdx.x] = d;
    sr[threadIdx.x] = r;
    __syncthreads();
    for (int w = kThreads / 2; w > 0; w /= 2) {
        if (threadIdx.x < w) {
            sd[threadIdx.x] = fmaxf(sd[threadIdx.x], sd[threadIdx.x + w]);
            sr[threadIdx.x] = fmaxf(sr[threadIdx.x], sr[threadIdx.x + w]);
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        atomicMax(&result[0], __float_as_uint(sd[0]));
        atomicMax(&result[1], __float_as_uint(sr[0]));
    }
}

__global__ void gemm_samples_kernel(const void* x, DType tx, const void* w, DType tw, bool w_nk, const void* y,
                                    DType ty, int64_t m, int64_t k, int64_t n, uint64_t seed, GemmSample* out) {
    __shared__ double ss[kThreads], sa[kThreads];
    const uint64_t h = mix(seed * 0x9e3779b97f4a7c15ull + blockIdx.x);
    const int64_t i = static_cast<int64_t>(h % static_cast<uint64_t>(m));
    const int64_t j = static_cast<int64_t>((h >> 32) % static_cast<uint64_t>(n));
    double s = 0, a = 0;
    for (int64_t q = threadIdx.x; q < k; q += blockDim.x) {
        const double xv = load(x, tx, static_cast<std::size_t>(i * k + q));
        const double wv = load(w, tw, static_cast<std::size_t>(w_nk ? j * k + q : q * n + j));
        s += xv * wv;
        a += fabs(xv * wv);
    }
    ss[threadIdx.x] = s;
    sa[threadIdx.x] = a;
    __syncthreads();
    for (int st = kThreads / 2; st > 0; st /= 2) {
        if (threadIdx.x < st) {
            ss[threadIdx.x] += ss[threadIdx.x + st];
            sa[threadIdx.x] += sa[threadIdx.x + st];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) out[blockIdx.x] = {ss[0], sa[0], load(y, ty, static_cast<std::size_t>(i * n + j))};
}

}  // namespace

cudaError_t fill_uniform(void* p, DType t, std::size_t n, uint64_t seed, float lo, float hi, cudaStream_t s) {
    fill_uniform_kernel<<<grid_for(n, 132, 16), kThreads, 0, s>>>(p, t, n, seed, lo, hi);
    return cudaGetLastError();
}

cudaError_t fill_value(void* p, DType t, std::size_t n, float v, cudaStream_t s) {
    fill_value_kernel<<<grid_for(n, 132, 16), kThreads, 0, s>>>(p, t, n, v);
    return cudaGetLastError();
}

cudaError_t copy_bytes(const void* src, void* dst, std::size_t bytes, int sm_count, cudaStream_t s) {
    const bool vec = bytes % 16 == 0 && reinterpret_cast<uintptr_t>(src) % 16 == 0 &&
                     reinterpret_cast<uintptr_t>(dst) % 16 == 0;
    if (vec) {
        const std::size_t n = bytes / 16;
        const std::size_t tile = static_cast<std::size_t>(kThreads) * 4;
        copy16_kernel<4><<<static_cast<unsigned>((n + tile - 1) / tile), kThreads, 0, s>>>(
            static_cast<const uint4*>(src), static_cast<uint4*>(dst), n);
    } else {
        copy1_kernel<<<grid_for(bytes, sm_count), kThreads, 0, s>>>(static_cast<const unsigned char*>(src),
                                                                   static_cast<unsigned char*>(dst), bytes);
    }
    return cudaGetLastError();
}

cudaError_t triad(float* a, const float* b, const float* c, float scalar, std::size_t n, int sm_count,
                  cudaStream_t s) {
    const bool vec = n % 4 == 0 && reinterpret_cast<uintptr_t>(a) % 16 == 0 &&
                     reinterpret_cast<uintptr_t>(b) % 16 == 0 && reinterpret_cast<uintptr_t>(c) % 16 == 0;
    if (vec) {
        const std::size_t nv = n / 4;
        triad4_kernel<4><<<grid_for((nv + 3) / 4, sm_count), kThreads, 0, s>>>(
            reinterpret_cast<float4*>(a), reinterpret_cast<const float4*>(b), reinterpret_cast<const float4*>(c),
            scalar, nv);
    } else {
        triad1_kernel<<<grid_for(n, sm_count), kThreads, 0, s>>>(a, b, c, scalar, n);
    }
    return cudaGetLastError();
}

cudaError_t bias_add(const void* y, const void* bias, void* z, DType t, std::size_t rows, std::size_t cols,
                     int sm_count, cudaStream_t s) {
    const std::size_t v = 16 / dtype_size(t), n = rows * cols;
    const bool vec = cols % v == 0 && reinterpret_cast<uintptr_t>(y) % 16 == 0 &&
                     reinterpret_cast<uintptr_t>(bias) % 16 == 0 && reinterpret_cast<uintptr_t>(z) % 16 == 0;
    if (vec && (t == DType::f32 || t == DType::bf16 || t == DType::f16)) {
        const auto* yv = static_cast<const uint4*>(y);
        const auto* bv = static_cast<const uint4*>(bias);
        auto* zv = static_cast<uint4*>(z);
        const unsigned g = grid_for(n / v, sm_count);
        if (t == DType::f32) bias_add_kernel<float><<<g, kThreads, 0, s>>>(yv, bv, zv, n / v, cols / v);
        else if (t == DType::bf16) bias_add_kernel<__nv_bfloat16><<<g, kThreads, 0, s>>>(yv, bv, zv, n / v, cols / v);
        else bias_add_kernel<__half><<<g, kThreads, 0, s>>>(yv, bv, zv, n / v, cols / v);
    } else {
        bias_add_scalar<<<grid_for(n, sm_count), kThreads, 0, s>>>(y, bias, z, t, n, cols);
    }
    return cudaGetLastError();
}

cudaError_t activation(const void* z, void* out, DType t, std::size_t n, Act act, int sm_count, cudaStream_t s) {
    const std::size_t v = 16 / dtype_size(t);
    const bool vec = n % v == 0 && reinterpret_cast<uintptr_t>(z) % 16 == 0 && reinterpret_cast<uintptr_t>(out) % 16 == 0;
    if (vec && (t == DType::f32 || t == DType::bf16 || t == DType::f16)) {
        const auto* zv = static_cast<const uint4*>(z);
        auto* ov = static_cast<uint4*>(out);
        const unsigned g = grid_for(n / v, sm_count);
        if (t == DType::f32) activation_kernel<float><<<g, kThreads, 0, s>>>(zv, ov, n / v, act);
        else if (t == DType::bf16) activation_kernel<__nv_bfloat16><<<g, kThreads, 0, s>>>(zv, ov, n / v, act);
        else activation_kernel<__half><<<g, kThreads, 0, s>>>(zv, ov, n / v, act);
    } else {
        activation_scalar<<<grid_for(n, sm_count), kThreads, 0, s>>>(z, out, t, n, act);
    }
    return cudaGetLastError();
}

cudaError_t max_abs_diff(const void* a, const void* b, DType t, std::size_t n, DiffResult* out, cudaStream_t s) {
    unsigned* d = nullptr;
    cudaError_t e = cudaMalloc(&d, 2 * sizeof(unsigned));
    if (e != cudaSuccess) return e;
    unsigned h[2] = {0, 0};
    e = cudaMemsetAsync(d, 0, 2 * sizeof(unsigned), s);
    if (e == cudaSuccess) {
        max_abs_diff_kernel<<<grid_for(n, 132, 8), kThreads, 0, s>>>(a, b, t, n, d);
        e = cudaGetLastError();
    }
    if (e == cudaSuccess) e = cudaMemcpyAsync(h, d, sizeof(h), cudaMemcpyDeviceToHost, s);
    if (e == cudaSuccess) e = cudaStreamSynchronize(s);
    cudaFree(d);
    float f[2];
    std::memcpy(f, h, sizeof(f));
    out->max_abs_diff = f[0];
    out->max_abs_ref = f[1];
    return e;
}

cudaError_t gemm_samples(const void* x, DType tx, const void* w, DType tw, bool w_nk, const void* y, DType ty,
                         int64_t m, int64_t k, int64_t n, int samples, uint64_t seed, GemmSample* out,
                         cudaStream_t s) {
    GemmSample* d = nullptr;
    cudaError_t e = cudaMalloc(&d, sizeof(GemmSample) * static_cast<std::size_t>(samples));
    if (e != cudaSuccess) return e;
    gemm_samples_kernel<<<samples, kThreads, 0, s>>>(x, tx, w, tw, w_nk, y, ty, m, k, n, seed, d);
    e = cudaGetLastError();
    if (e == cudaSuccess)
        e = cudaMemcpyAsync(out, d, sizeof(GemmSample) * static_cast<std::size_t>(samples), cudaMemcpyDeviceToHost, s);
    if (e == cudaSuccess) e = cudaStreamSynchronize(s);
    cudaFree(d);
    return e;
}

}  // namespace calib::cuda
