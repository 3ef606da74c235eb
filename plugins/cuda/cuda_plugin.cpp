#include "cuda_plugin.hpp"
#include "nvml.hpp"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "attention.cuh"
#include "cublaslt.hpp"
#include "cuda_check.hpp"
#include "kernels.cuh"
#include "transfers.hpp"

namespace calib::cuda {

namespace {

// Owned device allocation.
struct DevBuf {
    void* p = nullptr;
    std::size_t bytes = 0;
    DevBuf() = default;
    explicit DevBuf(std::size_t n) : bytes(n) { check_cuda(cudaMalloc(&p, n), "cudaMalloc " + std::to_string(n) + " bytes"); }
    DevBuf(const DevBuf&) = delete;
    DevBuf& operator=(const DevBuf&) = delete;
    DevBuf(DevBuf&& o) noexcept : p(o.p), bytes(o.bytes) { o.p = nullptr; }
    DevBuf& operator=(DevBuf&& o) noexcept {
        std::swap(p, o.p);
        std::swap(bytes, o.bytes);
        return *this;
    }
    ~DevBuf() {
        if (p != nullptr) cudaFree(p);
    }
};

DType in_type(const std::string& math) {
    if (math == "fp32" || math == "tf32") return DType::f32;
    if (math == "bf16") return DType::bf16;
    if (math == "fp16") return DType::f16;
    return DType::e4m3;
}
DType out_type(const std::string& math) { return math == "fp8_e4m3" ? DType::bf16 : in_type(math); }

cudaDataType_t cuda_type(DType t) {
    switch (t) {
        case DType::f32: return CUDA_R_32F;
        case DType::bf16: return CUDA_R_16BF;
        case DType::f16: return CUDA_R_16F;
        case DType::e4m3: return CUDA_R_8F_E4M3;
    }
    return CUDA_R_32F;
}

// One cuBLASLt matmul Y = X * op(W) (+ epilogue) in row-major terms, mapped onto cuBLAS's column-major
// view: D (N x M) = op(W) (N x K) * X^T (K x M); with batch > 1, `batch` such products on consecutive
// matrices (strided batched, strides M*K, K*N, M*N). The heuristic's first algorithm is kept.
class LtGemm {
public:
    struct Config {
        DType in = DType::f32, out = DType::f32;
        cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
        bool w_nk = false;  // W stored N x K (Linear, fp8) rather than K x N
        int64_t m = 0, k = 0, n = 0;
        int64_t batch = 1;
        cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
        const void* bias = nullptr;
    };
    static constexpr std::size_t kWorkspace = 32u << 20;  // what PyTorch gives cuBLASLt on Hopper

    LtGemm(const CublasLt& lt, const Config& c) : lt_(lt), c_(c), workspace_(kWorkspace) {
        check(lt.Create(&handle_), "cublasLtCreate");
        check(lt.MatmulDescCreate(&desc_, c.compute, CUDA_R_32F), "cublasLtMatmulDescCreate");
        const cublasOperation_t ta = c.w_nk ? CUBLAS_OP_T : CUBLAS_OP_N, tb = CUBLAS_OP_N;
        check(lt.MatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta), "set TRANSA");
        check(lt.MatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb), "set TRANSB");
        if (c.epilogue != CUBLASLT_EPILOGUE_DEFAULT) {
            check(lt.MatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_EPILOGUE, &c.epilogue, sizeof c.epilogue),
                  "set EPILOGUE");
            check(lt.MatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &c.bias, sizeof c.bias),
                  "set BIAS_POINTER");
        }
        const auto u = [](int64_t v) { return static_cast<uint64_t>(v); };
        if (c.w_nk)
            check(lt.MatrixLayoutCreate(&a_, cuda_type(c.in), u(c.k), u(c.n), c.k), "layout W");
        else
            check(lt.MatrixLayoutCreate(&a_, cuda_type(c.in), u(c.n), u(c.k), c.n), "layout W");
        check(lt.MatrixLayoutCreate(&b_, cuda_type(c.in), u(c.k), u(c.m), c.k), "layout X");
        check(lt.MatrixLayoutCreate(&d_, cuda_type(c.out), u(c.n), u(c.m), c.n), "layout Y");
        if (c.batch > 1) {
            const int32_t count = static_cast<int32_t>(c.batch);
            const int64_t strides[3] = {c.k * c.n, c.m * c.k, c.m * c.n};
            cublasLtMatrixLayout_t layouts[3] = {a_, b_, d_};
            for (int i = 0; i < 3; ++i) {
                check(lt.MatrixLayoutSetAttribute(layouts[i], CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof count),
                      "set BATCH_COUNT");
                check(lt.MatrixLayoutSetAttribute(layouts[i], CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &strides[i],
                                                  sizeof strides[i]),
                      "set STRIDED_BATCH_OFFSET");
            }
        }
        check(lt.MatmulPreferenceCreate(&pref_), "cublasLtMatmulPreferenceCreate");
        const uint64_t ws = kWorkspace;
        check(lt.MatmulPreferenceSetAttribute(pref_, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws),
              "set MAX_WORKSPACE_BYTES");
        int found = 0;
        const cublasStatus_t st = lt.MatmulAlgoGetHeuristic(handle_, desc_, a_, b_, d_, d_, pref_, 1, &heur_, &found);
        if (st != CUBLAS_STATUS_SUCCESS || found == 0)
            sdk::fail(CALIB_UNSUPPORTED, "cuBLASLt has no algorithm for this matmul here (status " +
                                             std::to_string(static_cast<int>(st)) + ")");
    }
    LtGemm(const LtGemm&) = delete;
    LtGemm& operator=(const LtGemm&) = delete;
    ~LtGemm() {
        if (pref_ != nullptr) lt_.MatmulPreferenceDestroy(pref_);
        for (auto* l : {a_, b_, d_})
            if (l != nullptr) lt_.MatrixLayoutDestroy(l);
        if (desc_ != nullptr) lt_.MatmulDescDestroy(desc_);
        if (handle_ != nullptr) lt_.Destroy(handle_);
    }

    void enqueue(const void* x, const void* w, void* y, cudaStream_t s) const {
        const float alpha = 1.0f, beta = 0.0f;
        check(lt_.Matmul(handle_, desc_, &alpha, w, a_, x, b_, &beta, y, d_, y, d_, &heur_.algo, workspace_.p,
                         workspace_.bytes, s),
              "cublasLtMatmul");
    }

    std::string describe() const {
        int id = 0;
        uint32_t tile = 0, stages = 0;
        std::size_t got = 0;
        lt_.MatmulAlgoConfigGetAttribute(&heur_.algo, CUBLASLT_ALGO_CONFIG_ID, &id, sizeof id, &got);
        lt_.MatmulAlgoConfigGetAttribute(&heur_.algo, CUBLASLT_ALGO_CONFIG_TILE_ID, &tile, sizeof tile, &got);
        lt_.MatmulAlgoConfigGetAttribute(&heur_.algo, CUBLASLT_ALGO_CONFIG_STAGES_ID, &stages, sizeof stages, &got);
        std::ostringstream os;
        os << "cublasLt " << lt_.version << " algo=" << id << " tile=" << tile << " stages=" << stages;
        return os.str();
    }

private:
    const CublasLt& lt_;
    Config c_;
    DevBuf workspace_;
    cublasLtHandle_t handle_ = nullptr;
    cublasLtMatmulDesc_t desc_ = nullptr;
    cublasLtMatrixLayout_t a_ = nullptr, b_ = nullptr, d_ = nullptr;
    cublasLtMatmulPreference_t pref_ = nullptr;
    cublasLtMatmulHeuristicResult_t heur_{};
};

// Base of every instance: a stream, two events, the optional L2 clear before a sample, and the CUDA graph
// that replays a sample's back-to-back launches. The N launches of a sample are captured once into a
// graph (re-captured only when N changes), so a sample times the device's work, not the host's launch
// path: eager launches of a 5 us kernel are host-bound (cuBLASLt ~3-5 us per call), and two launches
// (unfused) would then pay that twice -- a launch-overhead ratio, not a fusion speedup.
class TimedInstance : public sdk::Instance {
public:
    static constexpr uint64_t kMaxGraphLaunches = 20000;
    TimedInstance(const DeviceFacts& d, bool cold) : sm_count_(d.sm_count) {
        check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
        check_cuda(cudaEventCreate(&start_), "cudaEventCreate");
        check_cuda(cudaEventCreate(&stop_), "cudaEventCreate");
        if (cold) flush_ = DevBuf(static_cast<std::size_t>(std::max<int64_t>(d.l2_bytes, 1 << 20)) * 2);
        use_graph_ = std::getenv("CALIB_CUDA_EAGER") == nullptr;
        params.emplace_back("cache_state", cold ? "cold" : "hot");
        params.emplace_back("timing", use_graph_ ? "cuda events around one CUDA graph of N back-to-back launches"
                                                 : "cuda events around N back-to-back eager launches");
        params.emplace_back("device_ordinal", std::to_string(d.ordinal));
    }
    ~TimedInstance() override {
        if (stream_ != nullptr) cudaStreamSynchronize(stream_);
        drop_graph();
        if (start_ != nullptr) cudaEventDestroy(start_);
        if (stop_ != nullptr) cudaEventDestroy(stop_);
        if (stream_ != nullptr) cudaStreamDestroy(stream_);
    }

    double run(uint64_t iterations) final {
        // A graph of more than kMaxGraphLaunches nodes costs more to build than it saves: launch eagerly
        // (only cases under ~0.1 us per launch get there, and those are not host-bound at that count).
        const bool graph = use_graph_ && iterations <= kMaxGraphLaunches;
        if (graph && iterations != graph_iterations_) capture(iterations);
        // Cold: overwrite twice the L2 so the sample starts with none of the operands cached.
        if (flush_.p != nullptr) check_cuda(cudaMemsetAsync(flush_.p, iterations & 0xff, flush_.bytes, stream_), "L2 clear");
        check_cuda(cudaEventRecord(start_, stream_), "cudaEventRecord");
        if (graph) {
            check_cuda(cudaGraphLaunch(exec_, stream_), "cudaGraphLaunch");
        } else {
            for (uint64_t i = 0; i < iterations; ++i) enqueue();
        }
        check_cuda(cudaGetLastError(), "launch");
        check_cuda(cudaEventRecord(stop_, stream_), "cudaEventRecord");
        check_cuda(cudaEventSynchronize(stop_), "cudaEventSynchronize");
        float ms = 0;
        check_cuda(cudaEventElapsedTime(&ms, start_, stop_), "cudaEventElapsedTime");
        return static_cast<double>(ms) * 1e-3;
    }

protected:
    virtual void enqueue() = 0;
    void sync() { check_cuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"); }

    int sm_count_;
    cudaStream_t stream_ = nullptr;

private:
    void drop_graph() {
        if (exec_ != nullptr) cudaGraphExecDestroy(exec_);
        if (graph_ != nullptr) cudaGraphDestroy(graph_);
        exec_ = nullptr;
        graph_ = nullptr;
        graph_iterations_ = 0;
    }
    void capture(uint64_t iterations) {
        drop_graph();
        check_cuda(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
        for (uint64_t i = 0; i < iterations; ++i) enqueue();
        check_cuda(cudaStreamEndCapture(stream_, &graph_), "cudaStreamEndCapture");
        check_cuda(cudaGraphInstantiate(&exec_, graph_, 0), "cudaGraphInstantiate");
        graph_iterations_ = iterations;
    }

    cudaEvent_t start_ = nullptr, stop_ = nullptr;
    DevBuf flush_;
    bool use_graph_ = true;
    cudaGraph_t graph_ = nullptr;
    cudaGraphExec_t exec_ = nullptr;
    uint64_t graph_iterations_ = 0;
};

// |error| bound per sampled entry: output rounding relative to |ref| plus accumulation relative to
// sum |x||w| (inputs are read back as stored, so input rounding is not an error).
double sample_tolerance(const std::string& math, const GemmSample& s) {
    double out_eps = 0, acc_eps = 0;
    if (math == "fp32") out_eps = 1e-6, acc_eps = 1e-5;
    else if (math == "tf32") out_eps = 1e-6, acc_eps = 2e-3;  // tensor cores round fp32 inputs to tf32
    else if (math == "bf16") out_eps = 1.0 / 128, acc_eps = 1e-4;
    else if (math == "fp16") out_eps = 1.0 / 1024, acc_eps = 1e-4;
    else out_eps = 1.0 / 128, acc_eps = 2e-3;  // fp8: Hopper's reduced-precision accumulation
    return out_eps * std::fabs(s.ref) + acc_eps * s.abs_sum + 1e-6;
}

// Checks `samples` entries of y against double dot products; returns worst error and its tolerance.
void check_gemm(const std::string& math, const void* x, const void* w, bool w_nk, const void* y, int64_t m,
                int64_t k, int64_t n, cudaStream_t s, sdk::Instance& inst, const std::string& what) {
    std::vector<GemmSample> smp(128);
    check_cuda(gemm_samples(x, in_type(math), w, in_type(math), w_nk, y, out_type(math), m, k, n,
                            static_cast<int>(smp.size()), 17, smp.data(), s),
               "reference check");
    double worst_ratio = -1;
    for (const auto& e : smp) {
        double err = std::fabs(e.got - e.ref);
        if (std::isnan(err)) err = INFINITY;
        const double tol = sample_tolerance(math, e);
        if (err / tol > worst_ratio) {
            worst_ratio = err / tol;
            inst.max_abs_error = err;
            inst.tolerance = tol;
        }
    }
    inst.verified = true;
    if (!(worst_ratio <= 1.0)) {
        std::ostringstream os;
        os << what << ": sampled entry differs from the double reference by " << inst.max_abs_error
           << " (tolerance " << inst.tolerance << ")";
        sdk::fail(CALIB_VERIFICATION_FAILED, os.str());
    }
}

cublasComputeType_t compute_type(const std::string& math) {
    return math == "tf32" ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
}

class GemmInstance final : public TimedInstance {
public:
    GemmInstance(const DeviceFacts& d, bool cold, const CublasLt& lt, const CaseDef& c) : TimedInstance(d, cold) {
        if (c.math == "fp8_e4m3" && d.cc_major * 10 + d.cc_minor < 89)
            sdk::fail(CALIB_UNSUPPORTED, "fp8 e4m3 matmul needs compute capability 8.9 or newer (device has " +
                                             std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor) + ")");
        const DType ti = in_type(c.math), to = out_type(c.math);
        const bool w_nk = c.math == "fp8_e4m3";
        x_ = DevBuf(static_cast<std::size_t>(c.m * c.k) * dtype_size(ti));
        w_ = DevBuf(static_cast<std::size_t>(c.k * c.n) * dtype_size(ti));
        y_ = DevBuf(static_cast<std::size_t>(c.m * c.n) * dtype_size(to));
        check_cuda(fill_uniform(x_.p, ti, static_cast<std::size_t>(c.m * c.k), 1, -1, 1, stream_), "fill X");
        check_cuda(fill_uniform(w_.p, ti, static_cast<std::size_t>(c.k * c.n), 2, -1, 1, stream_), "fill W");
        // A stale value that must not pass for a result.
        check_cuda(fill_value(y_.p, to, static_cast<std::size_t>(c.m * c.n), 1000.0f, stream_), "fill Y");
        LtGemm::Config cfg;
        cfg.in = ti;
        cfg.out = to;
        cfg.compute = compute_type(c.math);
        cfg.w_nk = w_nk;
        cfg.m = c.m, cfg.k = c.k, cfg.n = c.n;
        gemm_ = std::make_unique<LtGemm>(lt, cfg);
        enqueue();
        check_cuda(cudaGetLastError(), "first matmul");
        check_gemm(c.math, x_.p, w_.p, w_nk, y_.p, c.m, c.k, c.n, stream_, *this, "matmul " + c.math);
        implementation = gemm_->describe();
        params.emplace_back("cublaslt", lt.version);
        params.emplace_back("library", "cuBLASLt " + lt.version);
        params.emplace_back("workspace_bytes", std::to_string(LtGemm::kWorkspace));
    }

protected:
    void enqueue() override { gemm_->enqueue(x_.p, w_.p, y_.p, stream_); }

private:
    DevBuf x_, w_, y_;
    std::unique_ptr<LtGemm> gemm_;
};

class MemoryInstance final : public TimedInstance {
public:
    MemoryInstance(const DeviceFacts& d, bool cold, const CaseDef& c) : TimedInstance(d, cold), def_(c) {
        const std::size_t n = c.array_bytes / 4;
        a_ = DevBuf(c.array_bytes);
        b_ = DevBuf(c.array_bytes);
        check_cuda(fill_uniform(b_.p, DType::f32, n, 3, -1, 1, stream_), "fill");
        check_cuda(fill_value(a_.p, DType::f32, n, 1000.0f, stream_), "fill");
        if (c.kind == Kind::triad) {
            c_ = DevBuf(c.array_bytes);
            check_cuda(fill_uniform(c_.p, DType::f32, n, 4, -1, 1, stream_), "fill");
        }
        enqueue();
        check_cuda(cudaGetLastError(), "first launch");
        sync();
        verify(n);
        switch (c.kind) {
            case Kind::copy_kernel: implementation = "copy kernel: 16-byte vectors, 4 loads in flight per thread, one tile per block"; break;
            case Kind::memcpy: implementation = "cudaMemcpyAsync device to device"; break;
            default: implementation = "triad kernel: float4 vectors, 4 in flight per thread"; break;
        }
        params.emplace_back("bytes_convention", "each array read or written once (no write-allocate)");
        params.emplace_back("library", c.kind == Kind::memcpy ? "CUDA runtime" : "CUDA kernels (calib)");
    }

protected:
    void enqueue() override {
        switch (def_.kind) {
            case Kind::copy_kernel: copy_bytes(b_.p, a_.p, def_.array_bytes, sm_count_, stream_); break;
            case Kind::memcpy: cudaMemcpyAsync(a_.p, b_.p, def_.array_bytes, cudaMemcpyDeviceToDevice, stream_); break;
            default:
                triad(static_cast<float*>(a_.p), static_cast<const float*>(b_.p), static_cast<const float*>(c_.p),
                      kScalar, def_.array_bytes / 4, sm_count_, stream_);
        }
    }

private:
    static constexpr float kScalar = 3.0f;

    // Head and tail of the result against a host recomputation (exact for copies; one fma rounding for triad).
    void verify(std::size_t n) {
        const std::size_t chunk = std::min<std::size_t>(n, 1 << 18);
        double worst = 0;
        for (std::size_t off : {std::size_t{0}, n - chunk}) {
            std::vector<float> a(chunk), b(chunk), c(chunk, 0.0f);
            check_cuda(cudaMemcpy(a.data(), static_cast<float*>(a_.p) + off, chunk * 4, cudaMemcpyDeviceToHost), "read back");
            check_cuda(cudaMemcpy(b.data(), static_cast<float*>(b_.p) + off, chunk * 4, cudaMemcpyDeviceToHost), "read back");
            if (def_.kind == Kind::triad)
                check_cuda(cudaMemcpy(c.data(), static_cast<float*>(c_.p) + off, chunk * 4, cudaMemcpyDeviceToHost),
                           "read back");
            for (std::size_t i = 0; i < chunk; ++i) {
                const double want = def_.kind == Kind::triad ? static_cast<double>(b[i]) + kScalar * static_cast<double>(c[i]) : b[i];
                double e = std::fabs(a[i] - want);
                if (std::isnan(e)) e = INFINITY;
                worst = std::max(worst, e);
            }
        }
        verified = true;
        max_abs_error = worst;
        tolerance = def_.kind == Kind::triad ? 4 * 1.2e-7 * 4.0 : 0.0;  // |b + 3c| <= 4
        if (!(worst <= tolerance))
            sdk::fail(CALIB_VERIFICATION_FAILED, "device " + std::string(def_.kind == Kind::triad ? "triad" : "copy") +
                                                     " result differs by " + std::to_string(worst));
    }

    CaseDef def_;
    DevBuf a_, b_, c_;
};

Act activation_of(Pattern p) {
    switch (p) {
        case Pattern::bias_relu: return Act::relu;
        case Pattern::bias_gelu: return Act::gelu_tanh;
        default: return Act::none;
    }
}

cublasLtEpilogue_t epilogue_of(Pattern p) {
    switch (p) {
        case Pattern::bias_relu: return CUBLASLT_EPILOGUE_RELU_BIAS;
        case Pattern::bias_gelu: return CUBLASLT_EPILOGUE_GELU_BIAS;
        default: return CUBLASLT_EPILOGUE_BIAS;
    }
}

// Relative tolerance of the fused-vs-unfused check, as the CPU plugins: fp32 differs only in summation
// order; bf16's unfused chain rounds every intermediate to bf16 while the epilogue rounds once.
double fusion_relative_tolerance(const std::string& precision) { return precision == "fp32" ? 1e-4 : 2e-2; }

// Linear: fused = one cuBLASLt matmul with a bias(+activation) epilogue; unfused = matmul, bias-add
// kernel, activation kernel, each writing its own buffer. Both are built and compared on the device
// in prepare(); the instance keeps the chain of its role.
class FusionInstance final : public TimedInstance {
public:
    FusionInstance(const DeviceFacts& d, bool cold, const CublasLt& lt, const CaseDef& c)
        : TimedInstance(d, cold), def_(c) {
        const DType t = in_type(c.math);
        const std::size_t es = dtype_size(t), mn = static_cast<std::size_t>(c.m * c.n);
        x_ = DevBuf(static_cast<std::size_t>(c.m * c.k) * es);
        w_ = DevBuf(static_cast<std::size_t>(c.n * c.k) * es);
        b_ = DevBuf(static_cast<std::size_t>(c.n) * es);
        check_cuda(fill_uniform(x_.p, t, static_cast<std::size_t>(c.m * c.k), 1, -1, 1, stream_), "fill X");
        check_cuda(fill_uniform(w_.p, t, static_cast<std::size_t>(c.n * c.k), 2, -1, 1, stream_), "fill W");
        check_cuda(fill_uniform(b_.p, t, static_cast<std::size_t>(c.n), 3, -1, 1, stream_), "fill bias");
        const bool act = c.pattern != Pattern::bias;

        LtGemm::Config cfg;
        cfg.in = cfg.out = t;
        cfg.compute = CUBLAS_COMPUTE_32F;
        cfg.w_nk = true;
        cfg.m = c.m, cfg.k = c.k, cfg.n = c.n;
        plain_ = std::make_unique<LtGemm>(lt, cfg);
        cfg.epilogue = epilogue_of(c.pattern);
        cfg.bias = b_.p;
        fused_ = std::make_unique<LtGemm>(lt, cfg);

        fused_out_ = DevBuf(mn * es);
        y_ = DevBuf(mn * es);
        z_ = DevBuf(mn * es);
        if (act) out_ = DevBuf(mn * es);
        for (DevBuf* o : {&fused_out_, &y_, &z_, &out_})
            if (o->p != nullptr) check_cuda(fill_value(o->p, t, mn, 1000.0f, stream_), "fill");

        run_fused();
        run_unfused();
        check_cuda(cudaGetLastError(), "first run");
        // The unfused matmul against a double reference, then fused against unfused.
        check_gemm(c.math, x_.p, w_.p, true, y_.p, c.m, c.k, c.n, stream_, *this, "linear matmul " + c.math);
        DiffResult diff;
        check_cuda(max_abs_diff(fused_out_.p, act ? out_.p : z_.p, t, mn, &diff, stream_), "fused/unfused compare");
        verified = true;
        max_abs_error = diff.max_abs_diff;
        tolerance = fusion_relative_tolerance(c.math) * std::max(diff.max_abs_ref, 1e-6);
        if (!(max_abs_error <= tolerance)) {
            std::ostringstream os;
            os << "fused result differs from the unfused chain: max error " << max_abs_error << " > tol " << tolerance;
            sdk::fail(CALIB_VERIFICATION_FAILED, os.str());
        }
        if (c.role == CALIB_ROLE_FUSED) {
            implementation = fused_->describe() + " epilogue=" + pattern_name(c.pattern);
            plain_.reset();
            y_ = DevBuf(), z_ = DevBuf(), out_ = DevBuf();
        } else {
            implementation = plain_->describe() + " + bias_add kernel" + (act ? " + " + operators(c.pattern).back() + " kernel" : "");
            fused_.reset();
            fused_out_ = DevBuf();
        }
        params.emplace_back("cublaslt", lt.version);
        params.emplace_back("library", "cuBLASLt " + lt.version);
        if (c.pattern == Pattern::bias_gelu) params.emplace_back("gelu", "tanh approximation (cuBLASLt epilogue form)");
    }

protected:
    void enqueue() override {
        if (def_.role == CALIB_ROLE_FUSED) run_fused();
        else run_unfused();
    }

private:
    void run_fused() { fused_->enqueue(x_.p, w_.p, fused_out_.p, stream_); }
    void run_unfused() {
        const DType t = in_type(def_.math);
        const auto rows = static_cast<std::size_t>(def_.m), cols = static_cast<std::size_t>(def_.n);
        plain_->enqueue(x_.p, w_.p, y_.p, stream_);
        bias_add(y_.p, b_.p, z_.p, t, rows, cols, sm_count_, stream_);
        if (def_.pattern != Pattern::bias)
            activation(z_.p, out_.p, t, rows * cols, activation_of(def_.pattern), sm_count_, stream_);
    }

    CaseDef def_;
    DevBuf x_, w_, b_, fused_out_, y_, z_, out_;
    std::unique_ptr<LtGemm> plain_, fused_;
};

// FullAttention O = softmax(Q K^T / sqrt(D)) V on B x S x D, bf16 or fp16. Fused: flash_attn_fwd, one
// kernel. Unfused: cuBLASLt strided-batched S = Q K^T (fp32 accumulate, S stored in the input type, as
// PyTorch's math path stores it), softmax_rows (scale, max-subtracted, fp32 math, P in its own buffer),
// cuBLASLt strided-batched O = P V. prepare() runs both on the same inputs, checks sampled rows of the
// unfused O against a double host reference and then the whole fused O against the unfused O.
class AttentionInstance final : public TimedInstance {
public:
    static constexpr int kReferenceRows = 8;

    AttentionInstance(const DeviceFacts& d, bool cold, const CublasLt& lt, const CaseDef& c)
        : TimedInstance(d, cold), def_(c) {
        if (c.math != "bf16" && c.math != "fp16") sdk::fail(CALIB_UNSUPPORTED, "attention runs in bf16 or fp16 only");
        if (d.cc_major < 8)
            sdk::fail(CALIB_UNSUPPORTED, "the fused attention kernel needs compute capability 8.0 or newer");
        const int64_t b = c.m, sq = c.k, dim = c.n;
        flash_ = flash_attn_config(b, sq, dim, d.sm_count);
        if (flash_.block_rows == 0)
            sdk::fail(CALIB_UNSUPPORTED, "the fused attention kernel handles head_dim 64 and seq_len a multiple of "
                                         "64 only (got " + std::to_string(dim) + ", " + std::to_string(sq) + ")");
        const DType t = in_type(c.math);
        const std::size_t x = static_cast<std::size_t>(b * sq * dim), p = static_cast<std::size_t>(b * sq * sq);
        const std::size_t es = dtype_size(t);
        scale_ = 1.0f / std::sqrt(static_cast<float>(dim));
        q_ = DevBuf(x * es), k_ = DevBuf(x * es), v_ = DevBuf(x * es);
        check_cuda(fill_uniform(q_.p, t, x, 1, -1, 1, stream_), "fill Q");
        check_cuda(fill_uniform(k_.p, t, x, 2, -1, 1, stream_), "fill K");
        check_cuda(fill_uniform(v_.p, t, x, 3, -1, 1, stream_), "fill V");
        fused_out_ = DevBuf(x * es), o_ = DevBuf(x * es);
        s_ = DevBuf(p * es), p_ = DevBuf(p * es);
        for (DevBuf* o : {&fused_out_, &o_}) check_cuda(fill_value(o->p, t, x, 1000.0f, stream_), "fill O");

        LtGemm::Config cfg;
        cfg.in = cfg.out = t;
        cfg.compute = CUBLAS_COMPUTE_32F;
        cfg.batch = b;
        cfg.w_nk = true;  // S (S x S) = Q (S x D) K^T, K stored S x D
        cfg.m = sq, cfg.k = dim, cfg.n = sq;
        qk_ = std::make_unique<LtGemm>(lt, cfg);
        cfg.w_nk = false;  // O (S x D) = P (S x S) V, V stored S x D
        cfg.m = sq, cfg.k = sq, cfg.n = dim;
        pv_ = std::make_unique<LtGemm>(lt, cfg);
        check_cuda(flash_attn_setup(t), "flash_attn_setup");

        run_fused();
        run_unfused();
        check_cuda(cudaGetLastError(), "first run");

        // 1. Sampled rows of the unfused O against the double reference (both chains cannot be wrong together).
        std::vector<AttnSample> smp(static_cast<std::size_t>(kReferenceRows * dim));
        check_cuda(attention_reference_rows(q_.p, k_.p, v_.p, o_.p, t, b, sq, dim, scale_, kReferenceRows, 29,
                                            smp.data(), stream_),
                   "attention reference check");
        // Rounding P (unit roundoff u) gives independent errors of at most u p_j |v_j|: bounded by 6u times
        // their root-sum-square (>= 6 sigma; and >= their plain sum while fewer than 36 terms matter);
        // rounding O: u |O|. Both with a factor 2 of margin.
        const double u = t == DType::bf16 ? 1.0 / 256 : 1.0 / 2048;
        double worst_ratio = -1, ref_err = 0, ref_tol = 0;
        for (const auto& e : smp) {
            double err = std::fabs(e.got - e.ref);
            if (std::isnan(err)) err = INFINITY;
            const double tol = 2 * u * std::fabs(e.ref) + 6 * u * e.err_scale + 1e-6;
            if (err / tol > worst_ratio) worst_ratio = err / tol, ref_err = err, ref_tol = tol;
        }
        {
            std::ostringstream os;
            os << "unfused O, " << kReferenceRows << " rows against a double host reference: max |err| " << ref_err
               << " (tolerance " << ref_tol << ")";
            params.emplace_back("reference_check", os.str());
            if (!(worst_ratio <= 1.0)) {
                verified = true;
                max_abs_error = ref_err;
                tolerance = ref_tol;
                sdk::fail(CALIB_VERIFICATION_FAILED, "attention: " + os.str());
            }
        }
        // 2. The whole fused O against the unfused O.
        DiffResult diff;
        check_cuda(max_abs_diff(fused_out_.p, o_.p, t, x, &diff, stream_), "fused/unfused compare");
        verified = true;
        max_abs_error = diff.max_abs_diff;
        tolerance = fusion_relative_tolerance(c.math) * diff.max_abs_ref + 1e-5;
        if (!(max_abs_error <= tolerance)) {
            std::ostringstream os;
            os << "fused attention differs from the unfused chain: max error " << max_abs_error << " > tol "
               << tolerance;
            sdk::fail(CALIB_VERIFICATION_FAILED, os.str());
        }

        const std::string unit = c.math == "bf16" ? "bf16" : "fp16";
        if (c.role == CALIB_ROLE_FUSED) {
            implementation = "calib flash_attn_fwd mma.sync m16n8k16 " + unit + " d64 br" +
                             std::to_string(flash_.block_rows) + " bc64 (" +
                             std::to_string(flash_.block_rows / 16 * flash_.splits) + " warps" +
                             (flash_.splits > 1 ? ", keys split " + std::to_string(flash_.splits) + " ways" : "") +
                             ", fp32 online softmax, 2-stage cp.async K/V)";
            qk_.reset(), pv_.reset();
            o_ = DevBuf(), s_ = DevBuf(), p_ = DevBuf();
        } else {
            implementation = qk_->describe() + " (S = QK^T, " + unit + " out) + softmax_rows (scale, fp32 math, " +
                             unit + " P) + " + pv_->describe() + " (O = PV)";
            fused_out_ = DevBuf();
            params.emplace_back("cublaslt", lt.version);
            params.emplace_back("library", "cuBLASLt " + lt.version);
        }
        params.emplace_back("scale", "1/sqrt(head_dim)");
        params.emplace_back("inputs", "Q, K, V uniform in [-1, 1)");
    }

protected:
    void enqueue() override {
        if (def_.role == CALIB_ROLE_FUSED) run_fused();
        else run_unfused();
    }

private:
    void run_fused() {
        check_cuda(flash_attn_fwd(q_.p, k_.p, v_.p, fused_out_.p, in_type(def_.math), def_.m, def_.k, def_.n, scale_,
                                  flash_, stream_),
                   "flash_attn_fwd");
    }
    void run_unfused() {
        qk_->enqueue(q_.p, k_.p, s_.p, stream_);
        check_cuda(softmax_rows(s_.p, p_.p, in_type(def_.math), def_.m * def_.k, def_.k, scale_, sm_count_, stream_),
                   "softmax_rows");
        pv_->enqueue(p_.p, v_.p, o_.p, stream_);
    }

    CaseDef def_;
    FlashConfig flash_;
    float scale_ = 1;
    DevBuf q_, k_, v_, fused_out_, o_, s_, p_;
    std::unique_ptr<LtGemm> qk_, pv_;
};

}  // namespace

namespace {

// One CUDA ordinal. The primary (`primary`) also needs cuBLASLt and becomes the current device; the
// others only need to exist: they carry transfer cases, and probing them creates no context.
DeviceFacts probe_ordinal(int ordinal, int count, bool primary) {
    DeviceFacts d;
    d.ordinal = ordinal;
    if (ordinal < 0 || ordinal >= count) {
        d.reason = "no CUDA device " + std::to_string(ordinal) + " (" + std::to_string(count) + " present)";
        if (!primary) d.name = "CUDA device " + std::to_string(ordinal) + " (unavailable)";
        return d;
    }
    cudaDeviceProp prop{};
    if ((primary && cudaSetDevice(d.ordinal) != cudaSuccess) || cudaGetDeviceProperties(&prop, d.ordinal) != cudaSuccess) {
        d.reason = "cannot open CUDA device " + std::to_string(d.ordinal);
        return d;
    }
    d.name = prop.name;
    int l2 = 0;
    cudaDeviceGetAttribute(&d.cc_major, cudaDevAttrComputeCapabilityMajor, d.ordinal);
    cudaDeviceGetAttribute(&d.cc_minor, cudaDevAttrComputeCapabilityMinor, d.ordinal);
    cudaDeviceGetAttribute(&d.sm_count, cudaDevAttrMultiProcessorCount, d.ordinal);
    cudaDeviceGetAttribute(&d.clock_khz, cudaDevAttrClockRate, d.ordinal);
    cudaDeviceGetAttribute(&d.mem_clock_khz, cudaDevAttrMemoryClockRate, d.ordinal);
    cudaDeviceGetAttribute(&d.bus_width_bits, cudaDevAttrGlobalMemoryBusWidth, d.ordinal);
    cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, d.ordinal);
    d.l2_bytes = l2;
    char bus[32] = {};
    if (cudaDeviceGetPCIBusId(bus, sizeof bus, d.ordinal) == cudaSuccess) d.pci_bus_id = bus;
    if (primary) {
        std::string why;
        const CublasLt* lt = load_cublaslt(&why);
        if (lt == nullptr) {
            d.reason = why;
            return d;
        }
        d.cublaslt = lt->version + " (" + lt->path + ")";
    }
    d.available = true;
    return d;
}

}  // namespace

std::vector<DeviceFacts> probe_devices() {
    const char* primary = std::getenv("CALIB_CUDA_DEVICE");
    int count = 0;
    // With the static runtime this is where a missing driver shows: cudaErrorInsufficientDriver / NoDevice.
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        DeviceFacts d;
        if (primary != nullptr && *primary != '\0') d.ordinal = std::atoi(primary);
        d.reason = std::string("cudaGetDeviceCount: ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
        return {d};
    }
    std::vector<DeviceFacts> out;
    const std::vector<int> ordinals = select_ordinals(count, std::getenv("CALIB_CUDA_DEVICES"), primary);
    for (std::size_t i = 0; i < ordinals.size(); ++i) out.push_back(probe_ordinal(ordinals[i], count, i == 0));
    if (out[0].available) cudaSetDevice(out[0].ordinal);
    return out;
}

DeviceFacts probe_device() { return probe_devices().front(); }

LinkFacts probe_links(const std::vector<DeviceFacts>& gpus) {
    LinkFacts l;
    const std::size_t n = gpus.size();
    l.peer.assign(n, std::vector<PeerFacts>(n));
    for (std::size_t a = 0; a < n; ++a) {
        // Host-native atomics reach the GPU over NVLink-C2C (Grace Hopper / Blackwell), never over PCIe.
        int native = 0;
        if (gpus[a].available || !gpus[a].pci_bus_id.empty())
            cudaDeviceGetAttribute(&native, cudaDevAttrHostNativeAtomicSupported, gpus[a].ordinal);
        l.host_link.push_back(native != 0 ? "c2c" : "pcie");
        for (std::size_t b = 0; b < n; ++b) {
            if (a == b || gpus[a].pci_bus_id.empty() || gpus[b].pci_bus_id.empty()) continue;
            int can = 0;
            if (cudaDeviceCanAccessPeer(&can, gpus[a].ordinal, gpus[b].ordinal) == cudaSuccess) l.peer[a][b].access = can != 0;
            const PeerLink link = nvml_peer_link(gpus[a].pci_bus_id, gpus[b].pci_bus_id, nullptr);
            l.peer[a][b].link = link == PeerLink::nvlink ? "nvlink" : link == PeerLink::other ? "pcie" : "unknown";
        }
    }
    return l;
}

CudaPlugin::CudaPlugin() {
    gpus_ = probe_devices();
    facts_ = gpus_.front();
    links_ = probe_links(gpus_);
    const char* cold = std::getenv("CALIB_CUDA_COLD");
    cold_ = cold != nullptr && std::strcmp(cold, "1") == 0;
}

CudaPlugin::~CudaPlugin() = default;

std::vector<sdk::DeviceSpec> CudaPlugin::devices() const {
    std::vector<sdk::DeviceSpec> out;
    for (const auto& g : gpus_)
        out.push_back({CALIB_DEVICE_GPU, g.name, g.available ? std::string() : g.reason, g.pci_bus_id});
    return out;
}

bool CudaPlugin::read_state(uint32_t device, sdk::DeviceState& out) {
    std::call_once(nvml_once_, [this] {
        nvml_handles_.reserve(gpus_.size());
        for (const auto& g : gpus_) nvml_handles_.push_back(nvml_device(g.pci_bus_id, nullptr));
    });
    if (device >= nvml_handles_.size()) return false;
    return read_nvml_state(nvml_handles_[device], out);
}

std::vector<sdk::CaseSpec> CudaPlugin::cases() {
    std::vector<sdk::CaseSpec> out;
    auto all = build_cases(facts_);
    for (auto& e : transfer_cases(static_cast<uint32_t>(gpus_.size()), links_)) all.push_back(std::move(e));
    for (auto& e : all) {
        defs_[e.spec.name] = e.def;
        out.push_back(std::move(e.spec));
    }
    if (facts_.available)
        log(CALIB_LOG_INFO, "cuda: " + facts_.name + ", cc " + std::to_string(facts_.cc_major) + "." +
                                std::to_string(facts_.cc_minor) + ", " + std::to_string(facts_.sm_count) +
                                " SMs, L2 " + std::to_string(facts_.l2_bytes >> 20) + " MiB, cuBLASLt " +
                                facts_.cublaslt + (cold_ ? ", cold L2" : ", hot L2"));
    for (std::size_t i = 1; i < gpus_.size(); ++i)
        log(CALIB_LOG_INFO, "cuda: device " + std::to_string(i) + ": CUDA " + std::to_string(gpus_[i].ordinal) + ", " +
                                gpus_[i].name + (gpus_[i].available ? "" : " (" + gpus_[i].reason + ")"));
    return out;
}

std::unique_ptr<sdk::Instance> CudaPlugin::prepare(const sdk::CaseSpec& spec) {
    auto it = defs_.find(spec.name);
    if (it == defs_.end()) sdk::fail(CALIB_INVALID_ARGUMENT, "unknown case " + spec.name);
    if (it->second.kind == Kind::transfer) {
        for (uint32_t d : it->second.xfer.devices)
            if (!gpus_.at(d).available) sdk::fail(CALIB_UNAVAILABLE, gpus_[d].reason);
        if (!pool_) {
            std::size_t largest = 0;
            for (const auto& [name, def] : defs_)
                if (def.kind == Kind::transfer) largest = std::max(largest, def.xfer.bytes);
            pool_ = std::make_unique<TransferPool>(gpus_, links_, largest);
        }
        return pool_->prepare(it->second.xfer);
    }
    if (!facts_.available) sdk::fail(CALIB_UNAVAILABLE, facts_.reason);
    check_cuda(cudaSetDevice(facts_.ordinal), "cudaSetDevice");
    const CaseDef& c = it->second;
    std::string why;
    const CublasLt* lt = load_cublaslt(&why);
    std::unique_ptr<sdk::Instance> inst;
    switch (c.kind) {
        case Kind::gemm: inst = std::make_unique<GemmInstance>(facts_, cold_, *lt, c); break;
        case Kind::fusion: inst = std::make_unique<FusionInstance>(facts_, cold_, *lt, c); break;
        case Kind::attention: inst = std::make_unique<AttentionInstance>(facts_, cold_, *lt, c); break;
        default: inst = std::make_unique<MemoryInstance>(facts_, cold_, c); break;
    }
    add_clock_params(*inst);
    return inst;
}

// The clocks right after the instance's verification run (the device has just been busy), for the
// profile's gpu_clock: NVML's current and maximum clocks and the power limit, or the rated maximum
// clocks from the device attributes when NVML is not there.
void CudaPlugin::add_clock_params(sdk::Instance& inst) const {
    const GpuClocks c = read_clocks(facts_.pci_bus_id);
    auto& p = inst.params;
    if (c.ok) {
        p.emplace_back("sm_clock_mhz", std::to_string(c.sm_mhz));
        p.emplace_back("mem_clock_mhz", std::to_string(c.mem_mhz));
        p.emplace_back("max_sm_clock_mhz", std::to_string(c.max_sm_mhz));
        p.emplace_back("max_mem_clock_mhz", std::to_string(c.max_mem_mhz));
        if (c.power_limit_watts > 0) p.emplace_back("power_limit_watts", std::to_string(c.power_limit_watts));
        p.emplace_back("clock_query", "NVML after prepare's verification run");
        return;
    }
    p.emplace_back("sm_clock_mhz", std::to_string(facts_.clock_khz / 1000));
    p.emplace_back("mem_clock_mhz", std::to_string(facts_.mem_clock_khz / 1000));
    p.emplace_back("clock_query", "cudaDeviceGetAttribute: rated maximum clocks (" + c.why + ")");
}

}  // namespace calib::cuda
