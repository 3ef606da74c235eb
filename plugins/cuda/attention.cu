#include "attention.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

namespace calib::cuda {

namespace {

// ---------------------------------------------------------------------------------------------------
// Fused forward kernel (FlashAttention-2 style), head dim 64.
//
// CTA: kRowWarps x kSplit warps over kRowWarps x 16 Q rows (one m16 MMA row block per row warp) and the
// whole head dim. With kSplit > 1 the keys are split too: each K/V step loads kSplit tiles of 64 keys and
// warp (row block r, split s) takes tile s, so short sequences still give every SM several warps; the
// kSplit partial (max, sum, O) of a row block are merged through shared memory at the end.
// Shared memory: the Q tile, then two stages of (kSplit K tiles, kSplit V tiles); every tile row is 64
// 16-bit values = eight 16-byte chunks, stored XOR-swizzled (chunk c of row r at c ^ (r % 8)) so that the
// cp.async writes and the ldmatrix reads (eight rows, one chunk column) are free of bank conflicts.
// Per K/V tile and warp: S (16 x 64, fp32) = Q_w K^T from Q fragments held in registers and K fragments
// by ldmatrix; running row max m and sum l in fp32 (exp2 with log2(e) / sqrt(D) folded into one FMA);
// O (16 x 64, fp32 registers) rescaled by exp2(m_old - m_new); P converted in registers to the A operand
// of O += P V (the m16n8 accumulator layout of two adjacent n-tiles is the m16k16 A layout), V fragments
// by ldmatrix.trans. Step j + 1 is loaded by cp.async while step j is computed. At the end O / l is
// staged in the row block's Q rows of shared memory and written with 16-byte stores.
// ---------------------------------------------------------------------------------------------------

constexpr int kDim = 64;                             // head dimension the fused kernel handles
constexpr int kBlockKeys = 64;                       // keys per K/V tile
constexpr int kRowBytes = kDim * 2;                  // one tile row: eight 16-byte chunks
constexpr int kTileBytes = kBlockKeys * kRowBytes;   // 8 KiB per K or V tile
constexpr int kPartial = 36;                         // floats a thread hands over in the merge: O 32, m 2, l 2

constexpr int smem_bytes(int row_warps, int split) {
    return row_warps * 16 * kRowBytes + 2 * 2 * split * kTileBytes;
}

__device__ __forceinline__ uint32_t swz(int row, int chunk) {
    return static_cast<uint32_t>(row * kRowBytes + ((chunk ^ (row & 7)) << 4));
}

__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(dst), "l"(src));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::: "memory"); }

__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4_trans(uint32_t (&r)[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

// c += a (16 x 16, row) * b (16 x 8, col), fp32 accumulate.
template <class T>
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    if constexpr (std::is_same_v<T, __nv_bfloat16>) {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
            "{%0,%1,%2,%3};\n"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    } else {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
            "{%0,%1,%2,%3};\n"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
}

// Two floats as one register of two 16-bit values, `lo` in the low half (the lower column index).
template <class T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
    uint32_t r;
    if constexpr (std::is_same_v<T, __nv_bfloat16>) {
        const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
        memcpy(&r, &h, 4);
    } else {
        const __half2 h = __floats2half2_rn(lo, hi);
        memcpy(&r, &h, 4);
    }
    return r;
}

// kRows x 64 values from global (row stride 64) into a swizzled shared tile, 16 bytes per cp.async.
template <int kRows, int kThreads, class T>
__device__ __forceinline__ void load_tile(uint32_t dst, const T* __restrict__ src, int tid) {
    static_assert(kRows * 8 % kThreads == 0, "whole chunks per thread");
#pragma unroll
    for (int it = 0; it < kRows * 8 / kThreads; ++it) {
        const int i = it * kThreads + tid, r = i >> 3, c = i & 7;
        cp_async16(dst + swz(r, c), src + r * kDim + c * 8);
    }
}

template <class T, int kRowWarps, int kSplit>
__global__ void __launch_bounds__(kRowWarps * kSplit * 32, 16 / (kRowWarps * kSplit))
    flash_attn_fwd_kernel(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                          T* __restrict__ o, int seq, float scale_log2) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    constexpr int kRows = kRowWarps * 16;
    constexpr int kThreads = kRowWarps * kSplit * 32;
    constexpr int kStepKeys = kBlockKeys * kSplit;           // keys per pipeline step
    constexpr uint32_t kStageBytes = 2 * kSplit * kTileBytes;  // K tiles, then V tiles
    static_assert((kSplit - 1) * kRowWarps * kPartial * 32 * 4 <= 2 * kStageBytes, "merge fits the K/V stages");
    extern __shared__ __align__(128) unsigned char smem[];
    const uint32_t q_sa = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
    const uint32_t kv_sa = q_sa + kRows * kRowBytes;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int rw = kSplit == 1 ? warp : warp % kRowWarps;   // row block
    const int split = kSplit == 1 ? 0 : warp / kRowWarps;  // key split
    const std::size_t head = static_cast<std::size_t>(blockIdx.y) * static_cast<std::size_t>(seq) * kDim;
    const int row0 = blockIdx.x * kRows;
    const T* kg = k + head;
    const T* vg = v + head;

    load_tile<kRows, kThreads>(q_sa, q + head + static_cast<std::size_t>(row0) * kDim, tid);
    load_tile<kStepKeys, kThreads>(kv_sa, kg, tid);
    load_tile<kStepKeys, kThreads>(kv_sa + kSplit * kTileBytes, vg, tid);
    cp_async_commit();

    float acc_o[8][4];
#pragma unroll
    for (int n = 0; n < 8; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc_o[n][e] = 0.0f;
    float row_max[2] = {-1e30f, -1e30f};  // this thread's rows: lane / 4 and lane / 4 + 8 of the row block
    float row_sum[2] = {0.0f, 0.0f};      // partial: this thread's columns only, reduced over the quad at the end
    uint32_t qf[4][4];                    // the row block's Q as four m16k16 A fragments

    const int steps = seq / kStepKeys;
    for (int j = 0; j < steps; ++j) {
        cp_async_wait_all();
        __syncthreads();  // step j visible to all; everyone is done with the stage step j + 1 overwrites
        if (j == 0) {
#pragma unroll
            for (int kk = 0; kk < 4; ++kk)
                ldsm_x4(qf[kk], q_sa + swz(rw * 16 + (lane & 7) + ((lane >> 3) & 1) * 8, 2 * kk + (lane >> 4)));
        }
        if (j + 1 < steps) {
            const uint32_t st = kv_sa + ((j + 1) & 1) * kStageBytes;
            const std::size_t off = static_cast<std::size_t>(j + 1) * kStepKeys * kDim;
            load_tile<kStepKeys, kThreads>(st, kg + off, tid);
            load_tile<kStepKeys, kThreads>(st + kSplit * kTileBytes, vg + off, tid);
        }
        cp_async_commit();
        const uint32_t k_sa = kv_sa + (j & 1) * kStageBytes + split * kTileBytes;
        const uint32_t v_sa = k_sa + kSplit * kTileBytes;

        // S = Q_w K_j^T: 8 n-tiles of 8 keys; ldmatrix.x4 gives two n-tiles' B fragments for one k-step.
        float acc_s[8][4];
#pragma unroll
        for (int n = 0; n < 8; ++n)
#pragma unroll
            for (int e = 0; e < 4; ++e) acc_s[n][e] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < 4; ++kk) {
#pragma unroll
            for (int np = 0; np < 4; ++np) {
                uint32_t b[4];
                ldsm_x4(b, k_sa + swz(np * 16 + (lane & 7) + (lane >> 4) * 8, 2 * kk + ((lane >> 3) & 1)));
                mma16816<T>(acc_s[2 * np], qf[kk], b[0], b[1]);
                mma16816<T>(acc_s[2 * np + 1], qf[kk], b[2], b[3]);
            }
        }

        // Online softmax over the tile (a row's 64 scores sit in the 4 threads of a quad).
        float corr[2];
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            float mx = -1e30f;
#pragma unroll
            for (int n = 0; n < 8; ++n) mx = fmaxf(mx, fmaxf(acc_s[n][2 * h], acc_s[n][2 * h + 1]));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
            const float m_new = fmaxf(row_max[h], mx * scale_log2);
            corr[h] = exp2f(row_max[h] - m_new);
            row_max[h] = m_new;
            float sum = 0.0f;
#pragma unroll
            for (int n = 0; n < 8; ++n) {
                acc_s[n][2 * h] = exp2f(fmaf(acc_s[n][2 * h], scale_log2, -m_new));
                acc_s[n][2 * h + 1] = exp2f(fmaf(acc_s[n][2 * h + 1], scale_log2, -m_new));
                sum += acc_s[n][2 * h] + acc_s[n][2 * h + 1];
            }
            row_sum[h] = row_sum[h] * corr[h] + sum;
        }
#pragma unroll
        for (int n = 0; n < 8; ++n) {
            acc_o[n][0] *= corr[0];
            acc_o[n][1] *= corr[0];
            acc_o[n][2] *= corr[1];
            acc_o[n][3] *= corr[1];
        }

        // O += P V_j: P from registers (k-step kk = keys 16kk..16kk+15 = n-tiles 2kk, 2kk+1 of S);
        // ldmatrix.trans gives two d-tiles' B fragments of V for one k-step.
#pragma unroll
        for (int kk = 0; kk < 4; ++kk) {
            const uint32_t pa[4] = {pack2<T>(acc_s[2 * kk][0], acc_s[2 * kk][1]),
                                    pack2<T>(acc_s[2 * kk][2], acc_s[2 * kk][3]),
                                    pack2<T>(acc_s[2 * kk + 1][0], acc_s[2 * kk + 1][1]),
                                    pack2<T>(acc_s[2 * kk + 1][2], acc_s[2 * kk + 1][3])};
#pragma unroll
            for (int dp = 0; dp < 4; ++dp) {
                uint32_t b[4];
                ldsm_x4_trans(b, v_sa + swz(kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8, 2 * dp + (lane >> 4)));
                mma16816<T>(acc_o[2 * dp], pa, b[0], b[1]);
                mma16816<T>(acc_o[2 * dp + 1], pa, b[2], b[3]);
            }
        }
    }

    if constexpr (kSplit > 1) {
        // Merge the key splits: the thread at the same lane of the same row block in every split holds the
        // same (row, column) positions, so the hand-over is per thread, [slot][value][lane] in the K/V stages.
        __syncthreads();  // all done reading K/V (the last step committed no loads)
        float* part = reinterpret_cast<float*>(smem + kRows * kRowBytes);
        if (split > 0) {
            float* mine = part + ((split - 1) * kRowWarps + rw) * kPartial * 32 + lane;
#pragma unroll
            for (int n = 0; n < 8; ++n)
#pragma unroll
                for (int e = 0; e < 4; ++e) mine[(n * 4 + e) * 32] = acc_o[n][e];
            mine[32 * 32] = row_max[0];
            mine[33 * 32] = row_max[1];
            mine[34 * 32] = row_sum[0];
            mine[35 * 32] = row_sum[1];
        }
        __syncthreads();
        if (split > 0) return;
#pragma unroll
        for (int sp = 1; sp < kSplit; ++sp) {
            const float* other = part + ((sp - 1) * kRowWarps + rw) * kPartial * 32 + lane;
            float c_mine[2], c_other[2];
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const float m_other = other[(32 + h) * 32];
                const float m_new = fmaxf(row_max[h], m_other);
                c_mine[h] = exp2f(row_max[h] - m_new);
                c_other[h] = exp2f(m_other - m_new);
                row_max[h] = m_new;
                row_sum[h] = row_sum[h] * c_mine[h] + other[(34 + h) * 32] * c_other[h];
            }
#pragma unroll
            for (int n = 0; n < 8; ++n)
#pragma unroll
                for (int e = 0; e < 4; ++e)
                    acc_o[n][e] = acc_o[n][e] * c_mine[e >> 1] + other[(n * 4 + e) * 32] * c_other[e >> 1];
        }
    }

    float inv[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        float l = row_sum[h];
        l += __shfl_xor_sync(0xffffffffu, l, 1);
        l += __shfl_xor_sync(0xffffffffu, l, 2);
        inv[h] = 1.0f / l;
    }
    // O / l into the row block's 16 rows of the Q tile (read only by this warp, at j == 0), then 16-byte
    // coalesced stores: 16 rows x 8 chunks = 4 per lane.
    const int r = rw * 16 + (lane >> 2);
#pragma unroll
    for (int n = 0; n < 8; ++n) {
        const uint32_t lo = pack2<T>(acc_o[n][0] * inv[0], acc_o[n][1] * inv[0]);
        const uint32_t hi = pack2<T>(acc_o[n][2] * inv[1], acc_o[n][3] * inv[1]);
        memcpy(smem + swz(r, n) + 4 * (lane & 3), &lo, 4);
        memcpy(smem + swz(r + 8, n) + 4 * (lane & 3), &hi, 4);
    }
    __syncwarp();
    T* og = o + head + static_cast<std::size_t>(row0 + rw * 16) * kDim;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const int idx = i * 32 + lane, rr = idx >> 3, c = idx & 7;
        uint4 val;
        memcpy(&val, smem + swz(rw * 16 + rr, c), 16);
        *reinterpret_cast<uint4*>(og + rr * kDim + c * 8) = val;
    }
#else
    (void)q, (void)k, (void)v, (void)o, (void)seq, (void)scale_log2;
#endif
}

template <class T, int kRowWarps, int kSplit>
cudaError_t launch_flash(const void* q, const void* k, const void* v, void* o, int64_t batch, int64_t seq,
                         float scale_log2, cudaStream_t s) {
    const dim3 grid(static_cast<unsigned>(seq / (kRowWarps * 16)), static_cast<unsigned>(batch));
    flash_attn_fwd_kernel<T, kRowWarps, kSplit><<<grid, kRowWarps * kSplit * 32, smem_bytes(kRowWarps, kSplit), s>>>(
        static_cast<const T*>(q), static_cast<const T*>(k), static_cast<const T*>(v), static_cast<T*>(o),
        static_cast<int>(seq), scale_log2);
    return cudaGetLastError();
}

template <class T>
cudaError_t launch_flash(const FlashConfig& c, const void* q, const void* k, const void* v, void* o, int64_t batch,
                         int64_t seq, float scale_log2, cudaStream_t s) {
    if (c.block_rows == 128 && c.splits == 1) return launch_flash<T, 8, 1>(q, k, v, o, batch, seq, scale_log2, s);
    if (c.block_rows == 64 && c.splits == 1) return launch_flash<T, 4, 1>(q, k, v, o, batch, seq, scale_log2, s);
    if (c.block_rows == 64 && c.splits == 2) return launch_flash<T, 4, 2>(q, k, v, o, batch, seq, scale_log2, s);
    if (c.block_rows == 64 && c.splits == 4) return launch_flash<T, 4, 4>(q, k, v, o, batch, seq, scale_log2, s);
    return cudaErrorInvalidValue;
}

template <class T, int kRowWarps, int kSplit>
cudaError_t set_smem() {
    return cudaFuncSetAttribute(flash_attn_fwd_kernel<T, kRowWarps, kSplit>,
                                cudaFuncAttributeMaxDynamicSharedMemorySize, smem_bytes(kRowWarps, kSplit));
}

template <class T>
cudaError_t set_smem_all() {
    for (cudaError_t e : {set_smem<T, 8, 1>(), set_smem<T, 4, 1>(), set_smem<T, 4, 2>(), set_smem<T, 4, 4>()})
        if (e != cudaSuccess) return e;
    return cudaSuccess;
}

// ---------------------------------------------------------------------------------------------------
// Unfused softmax: a warp per row.
// ---------------------------------------------------------------------------------------------------

constexpr int kSoftmaxThreads = 256;

__device__ __forceinline__ float warp_max(float x) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
    return x;
}
__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}

// Rows of 32 x kPerLane entries held in registers: one read of S, one write of P.
template <class T, int kPerLane>
__global__ void __launch_bounds__(kSoftmaxThreads)
    softmax_rows_reg(const T* __restrict__ s, T* __restrict__ p, int64_t rows, float scale_log2) {
    constexpr int kVec = kPerLane >= 8 ? 8 : 4;  // entries per load: 16 or 8 bytes
    constexpr int kLoads = kPerLane / kVec;
    using Vec = std::conditional_t<kVec == 8, uint4, uint2>;
    constexpr int64_t kCols = 32 * kPerLane;
    const int lane = threadIdx.x & 31;
    const int64_t warps = static_cast<int64_t>(gridDim.x) * (kSoftmaxThreads / 32);
    for (int64_t r = static_cast<int64_t>(blockIdx.x) * (kSoftmaxThreads / 32) + (threadIdx.x >> 5); r < rows;
         r += warps) {
        const Vec* src = reinterpret_cast<const Vec*>(s + r * kCols);
        Vec* dst = reinterpret_cast<Vec*>(p + r * kCols);
        float x[kPerLane];
#pragma unroll
        for (int i = 0; i < kLoads; ++i) {
            const Vec raw = src[i * 32 + lane];
            T e[kVec];
            memcpy(e, &raw, sizeof raw);
#pragma unroll
            for (int u = 0; u < kVec; ++u) x[i * kVec + u] = static_cast<float>(e[u]);
        }
        float mx = x[0];
#pragma unroll
        for (int i = 1; i < kPerLane; ++i) mx = fmaxf(mx, x[i]);
        const float off = warp_max(mx) * scale_log2;
        float sum = 0.0f;
#pragma unroll
        for (int i = 0; i < kPerLane; ++i) {
            x[i] = exp2f(fmaf(x[i], scale_log2, -off));
            sum += x[i];
        }
        const float inv = 1.0f / warp_sum(sum);
#pragma unroll
        for (int i = 0; i < kLoads; ++i) {
            T e[kVec];
#pragma unroll
            for (int u = 0; u < kVec; ++u) e[u] = T(x[i * kVec + u] * inv);
            Vec raw;
            memcpy(&raw, e, sizeof raw);
            dst[i * 32 + lane] = raw;
        }
    }
}

// Any row length: max, sum and write passes over the row.
template <class T>
__global__ void __launch_bounds__(kSoftmaxThreads)
    softmax_rows_loop(const T* __restrict__ s, T* __restrict__ p, int64_t rows, int64_t cols, float scale_log2) {
    const int lane = threadIdx.x & 31;
    const int64_t warps = static_cast<int64_t>(gridDim.x) * (kSoftmaxThreads / 32);
    for (int64_t r = static_cast<int64_t>(blockIdx.x) * (kSoftmaxThreads / 32) + (threadIdx.x >> 5); r < rows;
         r += warps) {
        const T* src = s + r * cols;
        T* dst = p + r * cols;
        float mx = -INFINITY;
        for (int64_t c = lane; c < cols; c += 32) mx = fmaxf(mx, static_cast<float>(src[c]));
        const float off = warp_max(mx) * scale_log2;
        float sum = 0.0f;
        for (int64_t c = lane; c < cols; c += 32) sum += exp2f(fmaf(static_cast<float>(src[c]), scale_log2, -off));
        const float inv = 1.0f / warp_sum(sum);
        for (int64_t c = lane; c < cols; c += 32)
            dst[c] = T(exp2f(fmaf(static_cast<float>(src[c]), scale_log2, -off)) * inv);
    }
}

template <class T>
cudaError_t launch_softmax(const void* s_in, void* p_out, int64_t rows, int64_t cols, float scale_log2,
                           int sm_count, cudaStream_t s) {
    const int64_t per_block = kSoftmaxThreads / 32;
    const int64_t cap = int64_t{std::max(sm_count, 1)} * 32;
    const auto grid = static_cast<unsigned>(std::max<int64_t>(1, std::min((rows + per_block - 1) / per_block, cap)));
    const auto* src = static_cast<const T*>(s_in);
    auto* dst = static_cast<T*>(p_out);
    const bool aligned =
        reinterpret_cast<uintptr_t>(s_in) % 16 == 0 && reinterpret_cast<uintptr_t>(p_out) % 16 == 0;
    constexpr int n = kSoftmaxThreads;
    if (aligned && cols == 128) softmax_rows_reg<T, 4><<<grid, n, 0, s>>>(src, dst, rows, scale_log2);
    else if (aligned && cols == 256) softmax_rows_reg<T, 8><<<grid, n, 0, s>>>(src, dst, rows, scale_log2);
    else if (aligned && cols == 512) softmax_rows_reg<T, 16><<<grid, n, 0, s>>>(src, dst, rows, scale_log2);
    else if (aligned && cols == 1024) softmax_rows_reg<T, 32><<<grid, n, 0, s>>>(src, dst, rows, scale_log2);
    else if (aligned && cols == 2048) softmax_rows_reg<T, 64><<<grid, n, 0, s>>>(src, dst, rows, scale_log2);
    else if (aligned && cols == 4096) softmax_rows_reg<T, 128><<<grid, n, 0, s>>>(src, dst, rows, scale_log2);
    else softmax_rows_loop<T><<<grid, n, 0, s>>>(src, dst, rows, cols, scale_log2);
    return cudaGetLastError();
}

constexpr float kLog2e = 1.4426950408889634f;

// Host-side 16-bit conversions (the cuda_fp16 / cuda_bf16 conversions are host-callable).
double to_double(uint16_t bits, DType t) {
    if (t == DType::bf16) {
        const uint32_t w = static_cast<uint32_t>(bits) << 16;
        float f;
        std::memcpy(&f, &w, 4);
        return f;
    }
    __half_raw raw;
    raw.x = bits;
    return static_cast<double>(__half2float(__half(raw)));
}
double round_to(double x, DType t) {
    const float f = static_cast<float>(x);
    if (t == DType::bf16) return static_cast<double>(__bfloat162float(__float2bfloat16_rn(f)));
    return static_cast<double>(__half2float(__float2half_rn(f)));
}

uint64_t mix_host(uint64_t x) {  // splitmix64 finaliser
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

}  // namespace

FlashConfig flash_attn_config(int64_t batch, int64_t seq, int64_t dim, int sm_count) {
    if (dim != kDim || seq <= 0 || seq % 64 != 0 || seq > (int64_t{1} << 30) || batch <= 0 || batch > 65535) return {};
    const int64_t sms = std::max(sm_count, 1);
    // 128 rows halve the K/V traffic per FLOP: taken when that still gives every SM a CTA.
    if (seq % 128 == 0 && batch * (seq / 128) >= sms) return {128, 1};
    // Else 64 rows, and the keys split over 2 or 4 warps per row block while that keeps about two
    // 4-warp CTAs' worth of warps per SM (and every split a whole number of 64-key tiles).
    const int64_t ctas = batch * (seq / 64);
    int splits = 1;
    while (splits < 4 && ctas * splits * 2 <= 2 * sms && seq % (64 * splits * 2) == 0) splits *= 2;
    return {64, splits};
}

cudaError_t flash_attn_setup(DType t) {
    if (t == DType::bf16) return set_smem_all<__nv_bfloat16>();
    if (t == DType::f16) return set_smem_all<__half>();
    return cudaErrorInvalidValue;
}

cudaError_t flash_attn_fwd(const void* q, const void* k, const void* v, void* o, DType t, int64_t batch,
                           int64_t seq, int64_t dim, float scale, const FlashConfig& config, cudaStream_t s) {
    if (dim != kDim || config.block_rows <= 0 || seq % config.block_rows != 0 || seq % (64 * config.splits) != 0)
        return cudaErrorInvalidValue;
    const float sl2 = scale * kLog2e;
    if (t == DType::bf16) return launch_flash<__nv_bfloat16>(config, q, k, v, o, batch, seq, sl2, s);
    if (t == DType::f16) return launch_flash<__half>(config, q, k, v, o, batch, seq, sl2, s);
    return cudaErrorInvalidValue;
}

cudaError_t softmax_rows(const void* s_in, void* p_out, DType t, int64_t rows, int64_t cols, float scale,
                         int sm_count, cudaStream_t s) {
    const float sl2 = scale * kLog2e;
    if (t == DType::bf16) return launch_softmax<__nv_bfloat16>(s_in, p_out, rows, cols, sl2, sm_count, s);
    if (t == DType::f16) return launch_softmax<__half>(s_in, p_out, rows, cols, sl2, sm_count, s);
    return cudaErrorInvalidValue;
}

cudaError_t attention_reference_rows(const void* q, const void* k, const void* v, const void* o, DType t,
                                     int64_t batch, int64_t seq, int64_t dim, float scale, int rows,
                                     uint64_t seed, AttnSample* out, cudaStream_t s) {
    if (t != DType::bf16 && t != DType::f16) return cudaErrorInvalidValue;
    cudaError_t e = cudaStreamSynchronize(s);
    if (e != cudaSuccess) return e;
    const auto per_head = static_cast<std::size_t>(seq * dim);
    const auto d = static_cast<std::size_t>(dim);
    std::vector<uint16_t> hq(d), hk(per_head), hv(per_head), ho(d);
    std::vector<double> w(static_cast<std::size_t>(seq));
    int64_t loaded = -1;  // batch whose K and V are in hk, hv
    for (int r = 0; r < rows; ++r) {
        // Batches spread from the first to the last; rows: the first, the last, seeded ones between.
        const int64_t b = rows > 1 ? r * (batch - 1) / (rows - 1) : 0;
        const int64_t i = r == 0          ? 0
                          : r == rows - 1 ? seq - 1
                                          : static_cast<int64_t>(mix_host(seed * 131 + static_cast<uint64_t>(r)) %
                                                                 static_cast<uint64_t>(seq));
        const std::size_t row_off = (static_cast<std::size_t>(b * seq + i)) * d * 2;
        e = cudaMemcpy(hq.data(), static_cast<const char*>(q) + row_off, d * 2, cudaMemcpyDeviceToHost);
        if (e == cudaSuccess)
            e = cudaMemcpy(ho.data(), static_cast<const char*>(o) + row_off, d * 2, cudaMemcpyDeviceToHost);
        if (e == cudaSuccess && b != loaded) {
            const std::size_t head_off = static_cast<std::size_t>(b) * per_head * 2;
            e = cudaMemcpy(hk.data(), static_cast<const char*>(k) + head_off, per_head * 2, cudaMemcpyDeviceToHost);
            if (e == cudaSuccess)
                e = cudaMemcpy(hv.data(), static_cast<const char*>(v) + head_off, per_head * 2, cudaMemcpyDeviceToHost);
            loaded = b;
        }
        if (e != cudaSuccess) return e;
        double mx = -INFINITY;
        for (int64_t j = 0; j < seq; ++j) {
            double dot = 0;
            for (std::size_t c = 0; c < d; ++c)
                dot += to_double(hq[c], t) * to_double(hk[static_cast<std::size_t>(j) * d + c], t);
            w[static_cast<std::size_t>(j)] = round_to(dot, t) * static_cast<double>(scale);  // the stored score
            mx = std::max(mx, w[static_cast<std::size_t>(j)]);
        }
        double sum = 0;
        for (auto& x : w) sum += (x = std::exp(x - mx));
        for (std::size_t c = 0; c < d; ++c) {
            double ref = 0, sq = 0;
            for (int64_t j = 0; j < seq; ++j) {
                const auto jj = static_cast<std::size_t>(j);
                const double pv = w[jj] / sum * to_double(hv[jj * d + c], t);
                ref += pv;
                sq += pv * pv;
            }
            out[static_cast<std::size_t>(r) * d + c] = {ref, std::sqrt(sq), to_double(ho[c], t)};
        }
    }
    return cudaSuccess;
}

}  // namespace calib::cuda
