// CUDA accelerator plugin: matmul through cuBLASLt (fp32, tf32, bf16, fp16, fp8 e4m3), device memory
// bandwidth (copy kernel, cudaMemcpy, triad) from L2-resident sizes to 16x the L2, Linear fusion
// (cuBLASLt epilogues BIAS / RELU_BIAS / GELU_BIAS against GEMM + separate bias and activation kernels),
// and FullAttention (bf16, fp16; head dim 64): a flash-attention forward kernel of the plugin's own
// (attention.cu) against cuBLASLt Q K^T -> scale+softmax kernel -> cuBLASLt P V.
// Timing: CUDA events around N back-to-back launches on the instance's stream, replayed as one CUDA
// graph. CALIB_CUDA_COLD=1 (read at init) clears the L2 before every sample; the default is hot.
// Row-major conventions throughout: X is M x K, matmul's B is K x N (torch.matmul's layout), Linear's W
// is N x K (x @ W^T), Y is M x N; attention's Q, K, V, O are B x S x D (B = batch x heads).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "calib/plugin.hpp"

namespace calib::cuda {

// What the plugin knows of its device; all zero when unavailable.
struct DeviceFacts {
    bool available = false;
    std::string reason;  // why not, when unavailable
    std::string name = "CUDA device (unavailable)";
    int ordinal = 0;
    int cc_major = 0, cc_minor = 0;
    int sm_count = 0;
    int clock_khz = 0;      // cudaDevAttrClockRate (peak SM clock)
    int mem_clock_khz = 0;  // cudaDevAttrMemoryClockRate
    int bus_width_bits = 0; // cudaDevAttrGlobalMemoryBusWidth
    int64_t l2_bytes = 0;   // cudaDevAttrL2CacheSize
    std::string cublaslt;   // "13.0.0 (libcublasLt.so.13)"
    std::string pci_bus_id; // cudaDeviceGetPCIBusId, for NVML
};

// Probes device $CALIB_CUDA_DEVICE (default 0) and loads cuBLASLt; never throws.
DeviceFacts probe_device();

// Dense FLOPs per SM per clock for a math mode ("fp32" = CUDA cores, "tf32", "bf16", "fp16",
// "fp8_e4m3" = tensor cores) on compute capability major.minor; 0 when not tabulated.
double flops_per_sm_clock(int cc_major, int cc_minor, const std::string& math);
// Compute peaks (tabulated architectures) and the memory peak (2 x memory clock x bus width / 8).
std::vector<sdk::Peak> device_peaks(const DeviceFacts& d);

enum class Kind { gemm, copy_kernel, memcpy, triad, fusion, attention };
enum class Pattern { bias, bias_relu, bias_gelu, full_attention };

// "Linear_Bias", "Linear_Bias_ReLU", "Linear_Bias_GELU", "FullAttention" (the CPU plugins' names)
std::string pattern_name(Pattern p);
// Unfused operator list as the CPU plugins report it: {"matmul", "add", "relu"}, ...,
// {"matmul", "mul", "softmax", "matmul"} for FullAttention.
std::vector<std::string> operators(Pattern p);

// FullAttention on (B, S, D). FLOPs 4 B S^2 D (the two matmuls, as FlashAttention counts; the CPU
// fused_attention plugin adds 6 B S^2 for scale and softmax, 2.3% at D = 64), the same for both roles.
// Bytes, elements of `element_bytes` each, X = B S D, P = B S S: fused 4X (Q, K, V read, O written);
// unfused 4X + 4P (scores S and probabilities P each written once and read once: scale and softmax are
// one kernel here, where the CPU plugin's separate scale step makes it 4X + 6P).
double attention_flops(int64_t b, int64_t s, int64_t d);
double attention_bytes(int64_t b, int64_t s, int64_t d, double element_bytes, calib_fusion_role role);

// Everything prepare() needs to rebuild a case.
struct CaseDef {
    Kind kind = Kind::gemm;
    std::string math = "fp32";  // gemm/fusion: fp32, tf32, bf16, fp16, fp8_e4m3; attention: bf16, fp16
    int64_t m = 0, k = 0, n = 0;  // attention: m = batch (x heads), k = seq_len, n = head_dim
    std::size_t array_bytes = 0;  // memory cases: bytes of each array
    Pattern pattern = Pattern::bias;
    calib_fusion_role role = CALIB_ROLE_NONE;
};

struct CaseEntry {
    sdk::CaseSpec spec;
    CaseDef def;
};

// The case list for a device (memory sizes follow its L2; a nominal 50 MiB when unknown).
std::vector<CaseEntry> build_cases(const DeviceFacts& d);

class CudaPlugin : public sdk::Plugin {
public:
    CudaPlugin();
    calib_device_kind device_kind() const override { return CALIB_DEVICE_GPU; }
    std::string device_name() const override { return facts_.name; }
    std::string unavailable_reason() const override { return facts_.available ? std::string() : facts_.reason; }
    std::vector<sdk::CaseSpec> cases() override;
    std::unique_ptr<sdk::Instance> prepare(const sdk::CaseSpec& spec) override;
    std::vector<sdk::Peak> peaks() override { return device_peaks(facts_); }

private:
    void add_clock_params(sdk::Instance& inst) const;
    DeviceFacts facts_;
    bool cold_ = false;  // CALIB_CUDA_COLD=1 at init
    std::map<std::string, CaseDef> defs_;
};

}  // namespace calib::cuda
