// Attention kernels of the CUDA plugin (FullAttention: O = softmax(Q K^T / sqrt(D)) V, no mask), behind
// host-callable launchers with plain C++ types, as kernels.cuh. Q, K, V, O are row-major B x S x D of one
// 16-bit type (bf16 or fp16); B counts batch x heads.
//   fused:   flash_attn_fwd, one kernel (FlashAttention-2 forward): a CTA per (batch, block of Q rows),
//            K/V tiles of 64 keys streamed through shared memory (cp.async, two stages), S = Q K^T and
//            O += P V on tensor cores (mma.sync m16n8k16, fp32 accumulate), online softmax in fp32;
//            for short sequences the keys are also split over warps and merged in the CTA.
//   unfused: softmax_rows is the middle step of cuBLASLt Q K^T -> softmax_rows -> cuBLASLt P V.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

#include "kernels.cuh"

namespace calib::cuda {

// The fused kernel's launch shape: Q rows per CTA (128: 8 warps; 64: 4 warps per key split) and key
// splits (1, 2 or 4 warps per 16 Q rows, each taking every kSplit-th 64-key tile, merged at the end).
struct FlashConfig {
    int block_rows = 0;  // 0: the kernel does not handle the problem
    int splits = 1;
};
// 128 rows when that still gives every SM a CTA; else 64 rows with the keys split so that short
// sequences keep about eight warps per SM. {0, 1} unless D == 64 and S is a multiple of 64.
FlashConfig flash_attn_config(int64_t batch, int64_t seq, int64_t dim, int sm_count);

// Sets the kernels' shared-memory attributes (up to 136 KiB); call once before the first launch
// (outside stream capture).
cudaError_t flash_attn_setup(DType t);

// O = softmax(scale * Q K^T) V for t = bf16 or f16, dim 64, `config` from flash_attn_config.
cudaError_t flash_attn_fwd(const void* q, const void* k, const void* v, void* o, DType t, int64_t batch,
                           int64_t seq, int64_t dim, float scale, const FlashConfig& config, cudaStream_t s);

// P[r][:] = softmax(scale * S[r][:]) over `rows` rows of `cols` entries (max-subtracted, fp32 math), S and P
// of type t (bf16 or f16), separate buffers. A warp per row; rows of 128, 256, ..., 4096 entries are held
// in registers (one read of S, one write of P), other lengths take a three-pass loop.
cudaError_t softmax_rows(const void* s_in, void* p_out, DType t, int64_t rows, int64_t cols, float scale,
                         int sm_count, cudaStream_t s);

// One sampled output entry of attention_reference_rows.
struct AttnSample {
    double ref = 0;        // double-precision reference
    double err_scale = 0;  // sqrt(sum_j (p_j v_j)^2): the scale of the error from rounding P to t
    double got = 0;        // the stored result
};

// Synchronous host check: `rows` rows (spread over batches, seeded) of an attention output O recomputed
// in double on the host from the stored Q, K, V. The reference rounds each score Q K^T to t before the
// softmax, as the unfused chain stores it (so the remaining differences are rounding of P and O and the
// fp32 accumulation). `out` receives rows x dim samples.
cudaError_t attention_reference_rows(const void* q, const void* k, const void* v, const void* o, DType t,
                                     int64_t batch, int64_t seq, int64_t dim, float scale, int rows,
                                     uint64_t seed, AttnSample* out, cudaStream_t s);

}  // namespace calib::cuda
