// CUDA accelerator plugin: matmul through cuBLASLt (fp32, tf32, bf16, fp16, fp8 e4m3), device memory
// bandwidth (copy kernel, cudaMemcpy, triad) from L2-resident sizes to 16x the L2, Linear fusion
// (cuBLASLt epilogues BIAS / RELU_BIAS / GELU_BIAS against GEMM + separate bias and activation kernels),
// and FullAttention (bf16, fp16; head dim 64): a flash-attention forward kernel of the plugin's own
// (attention.cu) against cuBLASLt Q K^T -> scale+softmax kernel -> cuBLASLt P V.
// Timing: CUDA events around N back-to-back launches on the instance's stream, replayed as one CUDA
// graph. CALIB_CUDA_COLD=1 (read at init) clears the L2 before every sample; the default is hot.
// Devices (ABI 1.1): every visible GPU, or the CUDA ordinals CALIB_CUDA_DEVICES lists ("0,2,3"; "all",
// the default); device 0 is the primary GPU, CALIB_CUDA_DEVICE when set, else the first listed, and the
// compute, memory and fusion cases run on it alone. Transfers (transfers.cpp): host<->device copies per
// GPU (pinned, pageable), peer copies per ordered pair, and NCCL collectives (all_reduce, all_gather,
// reduce_scatter, broadcast) over the first k devices, libnccl.so.2 opened with dlopen
// (CALIB_NCCL_LIBRARY overrides the path). NVLink SHARP / multicast stays off: the plugin sets
// NCCL_NVLS_ENABLE=0 before NCCL initialises (unless the environment already sets it), because our
// hosts are shared. A one-GPU group's collectives run only with CALIB_CUDA_SINGLE_RANK=1.
// Row-major conventions throughout: X is M x K, matmul's B is K x N (torch.matmul's layout), Linear's W
// is N x K (x @ W^T), Y is M x N; attention's Q, K, V, O are B x S x D (B = batch x heads).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
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

// Probes the primary device (CALIB_CUDA_DEVICE, else the first of CALIB_CUDA_DEVICES, else 0) and loads
// cuBLASLt; never throws. probe_devices(): every selected device, the primary first (the others need no
// cuBLASLt: they carry transfers only); one unavailable device when there is no driver or GPU.
DeviceFacts probe_device();
std::vector<DeviceFacts> probe_devices();

// Dense FLOPs per SM per clock for a math mode ("fp32" = CUDA cores, "tf32", "bf16", "fp16",
// "fp8_e4m3" = tensor cores) on compute capability major.minor; 0 when not tabulated.
double flops_per_sm_clock(int cc_major, int cc_minor, const std::string& math);
// Compute peaks (tabulated architectures) and the memory peak (2 x memory clock x bus width / 8).
std::vector<sdk::Peak> device_peaks(const DeviceFacts& d);

enum class Kind { gemm, copy_kernel, memcpy, triad, fusion, attention, transfer };
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

// Transfer operations (operation_type: "copy_h2d", ... as plugin.h's CALIB_FAMILY_TRANSFER names them).
enum class Xfer { h2d, d2h, p2p, all_reduce, all_gather, reduce_scatter, broadcast };
std::string xfer_name(Xfer x);

// A transfer case: `bytes` as nccl-tests counts it (copies: the bytes copied; all_gather: the gathered
// output; reduce_scatter: the input; all_reduce, broadcast: the buffer); collectives move float32 and
// `count` is the element count per rank of the op's call (all_gather: sendcount; reduce_scatter:
// recvcount; the others: the buffer), so bytes = 4 count (x ranks for all_gather and reduce_scatter).
struct TransferDef {
    Xfer op = Xfer::h2d;
    bool pinned = true;              // host copies: cudaHostAlloc'd, else malloc'd
    std::size_t bytes = 0;
    std::size_t count = 0;           // collectives
    std::vector<uint32_t> devices;   // plugin device indices: {d}, {source, destination} or the group
};

// What the driver says of the links, by plugin device index; absent entries read as below.
struct PeerFacts {
    bool access = false;       // cudaDeviceCanAccessPeer(a, b)
    std::string link = "pcie"; // "nvlink" when NVML's P2P status for NVLink is OK
};
struct LinkFacts {
    std::vector<std::string> host_link;         // per device: "pcie", or "c2c" (NVLink-C2C, Grace parts)
    std::vector<std::vector<PeerFacts>> peer;   // [a][b]
    std::string host(uint32_t d) const { return d < host_link.size() ? host_link[d] : "pcie"; }
    PeerFacts between(uint32_t a, uint32_t b) const {
        return a < peer.size() && b < peer[a].size() ? peer[a][b] : PeerFacts{};
    }
};

// cudaDeviceCanAccessPeer, NVML's NVLink P2P status and the host link, for the probed devices.
LinkFacts probe_links(const std::vector<DeviceFacts>& gpus);

// The message sizes of every transfer case: 4 KiB to 1 GiB by x4; the --quick ones: 64 KiB and 16 MiB.
std::vector<std::size_t> transfer_sizes();
bool transfer_quick(std::size_t size);
// Collective group sizes k (the group is devices 0..k-1): 2..N for N <= 4, else the powers of two up
// to N and N; {1} on one GPU (listed, runnable only with CALIB_CUDA_SINGLE_RANK=1).
std::vector<uint32_t> collective_groups(uint32_t gpus);

// Everything prepare() needs to rebuild a case.
struct CaseDef {
    Kind kind = Kind::gemm;
    std::string math = "fp32";  // gemm/fusion: fp32, tf32, bf16, fp16, fp8_e4m3; attention: bf16, fp16
    int64_t m = 0, k = 0, n = 0;  // attention: m = batch (x heads), k = seq_len, n = head_dim
    std::size_t array_bytes = 0;  // memory cases: bytes of each array
    Pattern pattern = Pattern::bias;
    calib_fusion_role role = CALIB_ROLE_NONE;
    TransferDef xfer;  // Kind::transfer
};

struct CaseEntry {
    sdk::CaseSpec spec;
    CaseDef def;
};

// The case list for a device (memory sizes follow its L2; a nominal 50 MiB when unknown).
std::vector<CaseEntry> build_cases(const DeviceFacts& d);

// The transfer cases for `gpus` devices (no CUDA call): per device copy_h2d and copy_d2h, pinned and
// pageable ("copy_h2d_pinned0_65536"); per ordered pair a != b copy_p2p ("copy_p2p_0to1_65536"); per
// group size k all_reduce, all_gather, reduce_scatter, broadcast ("all_reduce_ranks4_65536"). A name
// ends with the nominal size; `bytes` may be a few bytes below it where k does not divide it.
std::vector<CaseEntry> transfer_cases(uint32_t gpus, const LinkFacts& links = {});

// CUDA ordinals the plugin measures, the primary first: CALIB_CUDA_DEVICES' list (`devices`: "all",
// empty or NULL = 0..count-1; tokens that are not ordinals are skipped, duplicates dropped), with
// `primary` (CALIB_CUDA_DEVICE) moved or added to the front when given. Never empty: {0} at worst.
std::vector<int> select_ordinals(int count, const char* devices, const char* primary);

class TransferPool;  // transfers.hpp

class CudaPlugin : public sdk::Plugin {
public:
    CudaPlugin();
    calib_device_kind device_kind() const override { return CALIB_DEVICE_GPU; }
    std::string device_name() const override { return facts_.name; }
    std::string unavailable_reason() const override { return facts_.available ? std::string() : facts_.reason; }
    std::vector<sdk::CaseSpec> cases() override;
    std::unique_ptr<sdk::Instance> prepare(const sdk::CaseSpec& spec) override;
    std::vector<sdk::Peak> peaks() override { return device_peaks(facts_); }
    std::vector<sdk::DeviceSpec> devices() const override;
    // NVML's reading of device `device` (read_nvml_state, nvml.hpp), found by its PCI bus id; false
    // without NVML, for an index out of range, or a device NVML does not know. Handles are looked up once.
    bool read_state(uint32_t device, sdk::DeviceState& out) override;
    ~CudaPlugin() override;

private:
    void add_clock_params(sdk::Instance& inst) const;
    DeviceFacts facts_;                // the primary device (gpus_[0])
    std::vector<DeviceFacts> gpus_;    // plugin device index -> facts
    LinkFacts links_;
    std::unique_ptr<TransferPool> pool_;  // buffers, streams and communicators, made on first use
    bool cold_ = false;  // CALIB_CUDA_COLD=1 at init
    std::map<std::string, CaseDef> defs_;
    std::once_flag nvml_once_;
    std::vector<void*> nvml_handles_;  // per plugin device index; nullptr where NVML has none
};

}  // namespace calib::cuda
