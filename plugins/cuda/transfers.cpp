#include "transfers.hpp"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "cuda_check.hpp"
#include "kernels.cuh"
#include "nccl.hpp"

namespace calib::cuda {

namespace {

// Restores the calling thread's current device (the primary's, which the other instances' run() assume).
struct DeviceGuard {
    int saved = 0;
    DeviceGuard() { cudaGetDevice(&saved); }
    ~DeviceGuard() { cudaSetDevice(saved); }
    DeviceGuard(const DeviceGuard&) = delete;
    DeviceGuard& operator=(const DeviceGuard&) = delete;
};

// Positions checked after a verifying copy: 64 spread over [0, bytes), first and last included.
std::vector<std::size_t> sample_positions(std::size_t bytes, std::size_t n = 64) {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < n; ++i) out.push_back(bytes <= 1 ? 0 : i * (bytes - 1) / (n - 1));
    return out;
}

// How many of the device buffer's bytes at `samples` differ from TransferPool::pattern (one read each).
std::size_t device_mismatches(const void* p, const std::vector<std::size_t>& samples) {
    std::size_t bad = 0;
    for (std::size_t i : samples) {
        unsigned char got = 0;
        check_cuda(cudaMemcpy(&got, static_cast<const unsigned char*>(p) + i, 1, cudaMemcpyDeviceToHost), "read back");
        bad += got != TransferPool::pattern(i);
    }
    return bad;
}

float elapsed_seconds(cudaEvent_t a, cudaEvent_t b) {
    float ms = 0;
    check_cuda(cudaEventElapsedTime(&ms, a, b), "cudaEventElapsedTime");
    return ms * 1e-3f;
}

// Start and stop events on one device, and optionally a stream of its own: members, so that they are
// released even when a constructor throws (a failed verification).
struct Timer {
    int ordinal = 0;
    cudaStream_t stream = nullptr;  // owned when made with own_stream
    cudaEvent_t start = nullptr, stop = nullptr;
    Timer(int ord, bool own_stream) : ordinal(ord) {
        DeviceGuard g;
        check_cuda(cudaSetDevice(ord), "cudaSetDevice");
        if (own_stream) check_cuda(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
        check_cuda(cudaEventCreate(&start), "cudaEventCreate");
        check_cuda(cudaEventCreate(&stop), "cudaEventCreate");
    }
    ~Timer() {
        DeviceGuard g;
        cudaSetDevice(ordinal);
        if (stream != nullptr) cudaStreamSynchronize(stream);
        if (start != nullptr) cudaEventDestroy(start);
        if (stop != nullptr) cudaEventDestroy(stop);
        if (stream != nullptr) cudaStreamDestroy(stream);
    }
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;
};

// copy_h2d, copy_d2h, copy_p2p: N back-to-back cudaMemcpyAsync / cudaMemcpyPeerAsync on one stream,
// CUDA events around them. Eager calls, no CUDA graph: a pageable copy cannot be captured faithfully
// (the runtime stages it through its own pinned buffer, on the calling thread), and an application
// pays each call's launch too, which is part of a small copy's alpha.
class CopyInstance final : public sdk::Instance {
public:
    CopyInstance(TransferPool& pool, const TransferDef& t)
        : t_(t),
          ord_a_(pool.ordinal(t.devices.at(0))),
          ord_b_(pool.ordinal(t.op == Xfer::p2p ? t.devices.at(1) : t.devices.at(0))),
          timer_(ord_a_, true),
          stream_(timer_.stream) {
        const uint32_t a = t.devices.at(0);
        const uint32_t b = t.op == Xfer::p2p ? t.devices.at(1) : a;
        const std::size_t n = t.bytes;
        unsigned char* pinned = pool.host(true);
        const auto samples = sample_positions(n);
        std::size_t bad = 0;
        if (t.op == Xfer::h2d || t.op == Xfer::d2h) {
            host_ = pool.host(t.pinned);
            dev_ = pool.device(a, 0);
            check_cuda(cudaSetDevice(ord_a_), "cudaSetDevice");
            if (t.op == Xfer::h2d) {
                check_cuda(cudaMemsetAsync(dev_, 0xff, n, stream_), "cudaMemsetAsync");  // no pattern byte is 0xff
                enqueue();
                check_cuda(cudaStreamSynchronize(stream_), "first copy");
                bad += device_mismatches(dev_, samples);
            } else {
                check_cuda(cudaMemcpy(dev_, pinned, n, cudaMemcpyHostToDevice), "fill the device buffer");
                for (std::size_t i : samples) host_[i] = 0xff;
                enqueue();
                check_cuda(cudaStreamSynchronize(stream_), "first copy");
                for (std::size_t i : samples) bad += host_[i] != TransferPool::pattern(i);
            }
            implementation = std::string("cudaMemcpyAsync ") + (t.op == Xfer::h2d ? "host to device" : "device to host") +
                             ", " + (t.pinned ? "pinned" : "pageable") + " host memory";
            params.emplace_back("host_memory", t.pinned ? "cudaHostAlloc (portable)" : "malloc, pages touched before timing");
            params.emplace_back("device_ordinal", std::to_string(ord_a_));
            params.emplace_back("bus_id", pool.gpu(a).pci_bus_id);
        } else {
            const PeerFacts link = pool.links().between(a, b);
            const bool peer = pool.enable_peer(a, b);
            src_ = pool.device(a, 0);
            dst_ = pool.device(b, 1);
            check_cuda(cudaSetDevice(ord_a_), "cudaSetDevice");
            check_cuda(cudaMemcpy(src_, pinned, n, cudaMemcpyHostToDevice), "fill the source");
            check_cuda(cudaSetDevice(ord_b_), "cudaSetDevice");
            check_cuda(cudaMemset(dst_, 0xff, n), "cudaMemset");
            check_cuda(cudaDeviceSynchronize(), "cudaMemset");  // legacy stream: not ordered with stream_
            check_cuda(cudaSetDevice(ord_a_), "cudaSetDevice");
            enqueue();
            check_cuda(cudaStreamSynchronize(stream_), "first copy");
            bad += device_mismatches(dst_, samples);
            implementation = std::string("cudaMemcpyPeerAsync on the source's stream, ") +
                             (peer ? "peer access enabled" : "no peer access (staged through the host)");
            params.emplace_back("source_ordinal", std::to_string(ord_a_));
            params.emplace_back("destination_ordinal", std::to_string(ord_b_));
            params.emplace_back("source_bus_id", pool.gpu(a).pci_bus_id);
            params.emplace_back("destination_bus_id", pool.gpu(b).pci_bus_id);
            params.emplace_back("link_source", link.link == "nvlink" ? "nvmlDeviceGetP2PStatus: NVLink OK"
                                               : link.link == "pcie" ? "nvmlDeviceGetP2PStatus: no NVLink"
                                                                     : "NVML not available: link unknown");
        }
        params.emplace_back("timing", "cuda events around N back-to-back async copies on one stream (no graph)");
        params.emplace_back("check", std::to_string(samples.size()) + " sampled bytes after one copy");
        verified = true;
        max_abs_error = static_cast<double>(bad);
        tolerance = 0;
        if (bad != 0)
            sdk::fail(CALIB_VERIFICATION_FAILED, std::to_string(bad) + " of " + std::to_string(samples.size()) +
                                                     " sampled bytes did not arrive (" + xfer_name(t.op) + ")");
    }
    double run(uint64_t iterations) override {
        DeviceGuard g;
        check_cuda(cudaSetDevice(ord_a_), "cudaSetDevice");
        check_cuda(cudaEventRecord(timer_.start, stream_), "cudaEventRecord");
        for (uint64_t i = 0; i < iterations; ++i) enqueue();
        check_cuda(cudaEventRecord(timer_.stop, stream_), "cudaEventRecord");
        check_cuda(cudaEventSynchronize(timer_.stop), "cudaEventSynchronize");
        return elapsed_seconds(timer_.start, timer_.stop);
    }

private:
    void enqueue() {
        cudaError_t e = cudaSuccess;
        switch (t_.op) {
            case Xfer::h2d: e = cudaMemcpyAsync(dev_, host_, t_.bytes, cudaMemcpyHostToDevice, stream_); break;
            case Xfer::d2h: e = cudaMemcpyAsync(host_, dev_, t_.bytes, cudaMemcpyDeviceToHost, stream_); break;
            default: e = cudaMemcpyPeerAsync(dst_, ord_b_, src_, ord_a_, t_.bytes, stream_); break;
        }
        check_cuda(e, xfer_name(t_.op));
    }

    TransferDef t_;
    int ord_a_ = 0, ord_b_ = 0;
    Timer timer_;
    cudaStream_t stream_ = nullptr;  // timer_'s
    unsigned char* host_ = nullptr;
    void *dev_ = nullptr, *src_ = nullptr, *dst_ = nullptr;
};

}  // namespace

// ---- the pool --------------------------------------------------------------------------------------

struct TransferPool::HostBuf {
    unsigned char* p = nullptr;
    bool pinned = false;
    ~HostBuf() {
        if (p == nullptr) return;
        if (pinned) cudaFreeHost(p);
        else std::free(p);
    }
};

#ifdef CALIB_CUDA_HAVE_NCCL
struct TransferPool::Comm {
    const Nccl* nccl = nullptr;
    std::vector<ncclComm_t> comms;
    std::vector<cudaStream_t> streams;
    std::vector<int> ordinals;
    ~Comm() {
        for (std::size_t r = 0; r < streams.size(); ++r) {
            cudaSetDevice(ordinals[r]);
            cudaStreamSynchronize(streams[r]);
        }
        // As NCCL's single-process example tears down: every rank finalised in one group (a rank's
        // finalize waits for its peers, so one thread must not finalise them one after another), then
        // each destroyed locally.
        const bool all = std::find(comms.begin(), comms.end(), nullptr) == comms.end();
        if (all && nccl->CommFinalize != nullptr) {
            nccl->GroupStart();
            for (ncclComm_t c : comms) nccl->CommFinalize(c);
            nccl->GroupEnd();
        }
        for (ncclComm_t c : comms)
            if (c != nullptr) nccl->CommDestroy(c);
        for (std::size_t r = 0; r < streams.size(); ++r) {
            cudaSetDevice(ordinals[r]);
            cudaStreamDestroy(streams[r]);
        }
    }
};
#else
struct TransferPool::Comm {};
#endif

TransferPool::TransferPool(std::vector<DeviceFacts> gpus, LinkFacts links, std::size_t max_bytes)
    : gpus_(std::move(gpus)), links_(std::move(links)), max_bytes_(max_bytes) {}

TransferPool::~TransferPool() {
    DeviceGuard g;
    comms_.clear();
    for (auto& [key, p] : device_) {
        cudaSetDevice(ordinal(key.first));
        cudaFree(p);
    }
}

unsigned char* TransferPool::host(bool pinned) {
    auto& slot = pinned ? pinned_ : pageable_;
    if (slot) return slot->p;
    auto h = std::make_unique<HostBuf>();
    h->pinned = pinned;
    if (pinned) {
        void* p = nullptr;
        // Portable: pinned for every device's context, so one buffer serves all GPUs.
        check_cuda(cudaHostAlloc(&p, max_bytes_, cudaHostAllocPortable), "cudaHostAlloc " + std::to_string(max_bytes_) + " bytes");
        h->p = static_cast<unsigned char*>(p);
    } else {
        h->p = static_cast<unsigned char*>(std::malloc(max_bytes_));
        if (h->p == nullptr) sdk::fail(CALIB_OUT_OF_MEMORY, "malloc " + std::to_string(max_bytes_) + " bytes");
    }
    // Writing the pattern touches every page: a pageable copy then never pays first-touch faults.
    unsigned char block[251 * 64];
    for (std::size_t i = 0; i < sizeof block; ++i) block[i] = pattern(i);
    for (std::size_t off = 0; off < max_bytes_; off += sizeof block)
        std::memcpy(h->p + off, block, std::min(sizeof block, max_bytes_ - off));
    slot = std::move(h);
    return slot->p;
}

void* TransferPool::device(uint32_t d, int which) {
    auto it = device_.find({d, which});
    if (it != device_.end()) return it->second;
    DeviceGuard g;
    check_cuda(cudaSetDevice(ordinal(d)), "cudaSetDevice");
    void* p = nullptr;
    check_cuda(cudaMalloc(&p, max_bytes_), "cudaMalloc " + std::to_string(max_bytes_) + " bytes on CUDA device " +
                                               std::to_string(ordinal(d)));
    device_[{d, which}] = p;
    return p;
}

bool TransferPool::enable_peer(uint32_t a, uint32_t b) {
    if (peers_.count({a, b}) != 0) return true;
    int can = 0;
    check_cuda(cudaDeviceCanAccessPeer(&can, ordinal(a), ordinal(b)), "cudaDeviceCanAccessPeer");
    if (can == 0) return false;
    DeviceGuard g;
    check_cuda(cudaSetDevice(ordinal(a)), "cudaSetDevice");
    const cudaError_t e = cudaDeviceEnablePeerAccess(ordinal(b), 0);
    if (e == cudaErrorPeerAccessAlreadyEnabled) cudaGetLastError();  // enabled earlier (NCCL does it too)
    else check_cuda(e, "cudaDeviceEnablePeerAccess");
    peers_.insert({a, b});
    return true;
}

#ifdef CALIB_CUDA_HAVE_NCCL
TransferPool::Comm& TransferPool::comm(uint32_t ranks) {
    auto it = comms_.find(ranks);
    if (it != comms_.end()) return *it->second;
    std::string why;
    const Nccl* nccl = load_nccl(&why);
    if (nccl == nullptr) sdk::fail(CALIB_UNAVAILABLE, why);
    DeviceGuard g;
    auto c = std::make_unique<Comm>();
    c->nccl = nccl;
    for (uint32_t r = 0; r < ranks; ++r) c->ordinals.push_back(ordinal(r));
    c->comms.assign(ranks, nullptr);
    nccl->check(nccl->CommInitAll(c->comms.data(), static_cast<int>(ranks), c->ordinals.data()), "ncclCommInitAll");
    for (uint32_t r = 0; r < ranks; ++r) {
        cudaStream_t s = nullptr;
        check_cuda(cudaSetDevice(c->ordinals[r]), "cudaSetDevice");
        check_cuda(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
        c->streams.push_back(s);
    }
    return *comms_.emplace(ranks, std::move(c)).first->second;
}
#else
TransferPool::Comm& TransferPool::comm(uint32_t) {
    sdk::fail(CALIB_UNAVAILABLE, "the CUDA plugin was built without nccl.h: no collectives");
}
#endif

namespace {

#ifdef CALIB_CUDA_HAVE_NCCL
// all_reduce (sum), all_gather, reduce_scatter, broadcast (root 0) on float32 over devices 0..k-1, one
// process: ncclCommInitAll, one stream per rank. A sample = N times {ncclGroupStart; each rank's call on
// its stream; ncclGroupEnd}, captured once per N into one CUDA graph per rank's stream (as nccl-tests -G
// and the plugin's compute cases do) and replayed. Eager, the host's launch path sets the pace up to
// ~1 MiB, and it differs from process to process: nccl-tests' own eager 4 KiB all-reduce on two H200 took
// 19.2 us in one process and 13.7 us in the next, against 10-11 us from graphs every time, so a figure
// and its alpha would depend on the worker. CALIB_CUDA_EAGER=1 times the calls eagerly instead.
// Timing: CUDA events on every rank's stream, start before and end after the N calls; the time is the
// largest of the ranks' elapsed times. Events rather than nccl-tests' host clock after synchronising
// every stream: the plugin's other cases time with events, and the host clock adds the synchronisation's
// wake-up (tens of us over k streams) to every sample. A rank's end event cannot complete before the last
// operation, which needs every rank's data, so the largest elapsed covers the collective from its
// earliest start on that rank; the host enqueues the start events back to back.
class CollectiveInstance final : public sdk::Instance {
public:
    CollectiveInstance(TransferPool& pool, const TransferDef& t) : t_(t) {
        const auto k = static_cast<uint32_t>(t.devices.size());
        c_ = &pool.comm(k);
        const Nccl& n = *c_->nccl;
        for (uint32_t r = 0; r < k; ++r) {
            send_.push_back(pool.device(r, 0));
            recv_.push_back(pool.device(r, 1));
        }
        for (uint32_t r = 0; r < k; ++r) timers_.push_back(std::make_unique<Timer>(c_->ordinals[r], false));
        // Inputs: all_reduce and reduce_scatter ones (the result: k); all_gather rank r's r + 1 (block r
        // of the output: r + 1); broadcast rank r's r + 1 (every output: the root's 1). Outputs start at 0.
        const std::size_t in = t.op == Xfer::reduce_scatter ? t.count * k : t.count;
        const std::size_t out = t.op == Xfer::all_gather ? t.count * k : t.count;
        for (uint32_t r = 0; r < k; ++r) {
            check_cuda(cudaSetDevice(c_->ordinals[r]), "cudaSetDevice");
            const bool ones = t.op == Xfer::all_reduce || t.op == Xfer::reduce_scatter;
            check_cuda(fill_value(send_[r], DType::f32, in, ones ? 1.0f : static_cast<float>(r + 1), c_->streams[r]), "fill");
            check_cuda(fill_value(recv_[r], DType::f32, out, 0.0f, c_->streams[r]), "fill");
        }
        enqueue();
        std::size_t bad = 0, checked = 0;
        double worst = 0;
        for (uint32_t r = 0; r < k; ++r) {
            check_cuda(cudaSetDevice(c_->ordinals[r]), "cudaSetDevice");
            check_cuda(cudaStreamSynchronize(c_->streams[r]), "first " + xfer_name(t.op));
            for (std::size_t i : sample_positions(out, 16)) {
                float got = 0;
                check_cuda(cudaMemcpy(&got, static_cast<float*>(recv_[r]) + i, 4, cudaMemcpyDeviceToHost), "read back");
                float want = 1.0f;
                if (t.op == Xfer::all_reduce || t.op == Xfer::reduce_scatter) want = static_cast<float>(k);
                else if (t.op == Xfer::all_gather) want = static_cast<float>(i / t.count + 1);
                ++checked;
                worst = std::max(worst, static_cast<double>(std::abs(got - want)));
                bad += got != want;
            }
        }
        verified = true;
        max_abs_error = worst;
        tolerance = 0;  // small integers in float32: exact
        if (bad != 0)
            sdk::fail(CALIB_VERIFICATION_FAILED, xfer_name(t.op) + " over " + std::to_string(k) + " ranks: " +
                                                     std::to_string(bad) + " of " + std::to_string(checked) +
                                                     " sampled outputs wrong (max error " + std::to_string(worst) + ")");
        std::string ords;
        for (int o : c_->ordinals) {
            if (!ords.empty()) ords += ',';
            ords += std::to_string(o);
        }
        const char* call = t.op == Xfer::all_reduce       ? "ncclAllReduce (sum)"
                           : t.op == Xfer::all_gather     ? "ncclAllGather"
                           : t.op == Xfer::reduce_scatter ? "ncclReduceScatter (sum)"
                                                          : "ncclBroadcast (root 0)";
        implementation = "NCCL " + n.version + " " + call + " float32, ncclCommInitAll over " + std::to_string(k) +
                         " GPU(s) in one process, one stream per rank";
        const char* nvls = std::getenv("NCCL_NVLS_ENABLE");
        params.emplace_back("nccl", n.version);
        params.emplace_back("nccl_library", n.path);
        params.emplace_back("NCCL_NVLS_ENABLE", nvls != nullptr ? nvls : "");
        params.emplace_back("ranks", std::to_string(k));
        params.emplace_back("ordinals", ords);
        params.emplace_back("count", std::to_string(t.count));
        params.emplace_back("timing", use_graph_ ? "cuda events on every rank's stream around one CUDA graph per rank of N "
                                                   "grouped calls; the largest elapsed"
                                                 : "cuda events on every rank's stream around N eager grouped calls; the "
                                                   "largest elapsed");
        params.emplace_back("check", std::to_string(checked) + " sampled outputs after one call");
    }
    ~CollectiveInstance() override {
        DeviceGuard g;
        for (std::size_t r = 0; r < c_->streams.size(); ++r) {
            cudaSetDevice(c_->ordinals[r]);
            cudaStreamSynchronize(c_->streams[r]);
        }
        drop_graphs();
    }

    double run(uint64_t iterations) override {
        DeviceGuard g;
        const std::size_t k = timers_.size();
        const bool graph = use_graph_ && iterations <= kMaxGraphCalls;
        if (graph && iterations != graph_iterations_) capture(iterations);
        for (std::size_t r = 0; r < k; ++r) {
            check_cuda(cudaSetDevice(c_->ordinals[r]), "cudaSetDevice");
            check_cuda(cudaEventRecord(timers_[r]->start, c_->streams[r]), "cudaEventRecord");
        }
        if (graph) {
            for (std::size_t r = 0; r < k; ++r) {
                check_cuda(cudaSetDevice(c_->ordinals[r]), "cudaSetDevice");
                check_cuda(cudaGraphLaunch(execs_[r], c_->streams[r]), "cudaGraphLaunch");
            }
        } else {
            for (uint64_t i = 0; i < iterations; ++i) enqueue();
        }
        for (std::size_t r = 0; r < k; ++r) {
            check_cuda(cudaSetDevice(c_->ordinals[r]), "cudaSetDevice");
            check_cuda(cudaEventRecord(timers_[r]->stop, c_->streams[r]), "cudaEventRecord");
        }
        double worst = 0;
        for (std::size_t r = 0; r < k; ++r) {
            check_cuda(cudaEventSynchronize(timers_[r]->stop), "cudaEventSynchronize");
            worst = std::max(worst, static_cast<double>(elapsed_seconds(timers_[r]->start, timers_[r]->stop)));
        }
        return worst;
    }

private:
    // Past this many calls a sample is launched eagerly: only sizes far below a microsecond per call get
    // there, and a graph of more NCCL calls takes longer to build than the sample runs.
    static constexpr uint64_t kMaxGraphCalls = 4096;

    void drop_graphs() {
        for (auto e : execs_) cudaGraphExecDestroy(e);
        for (auto gr : graphs_) cudaGraphDestroy(gr);
        execs_.clear();
        graphs_.clear();
        graph_iterations_ = 0;
    }
    // One graph per rank's stream holding its part of the N grouped calls: capture begins on every
    // stream, the calls are enqueued as eagerly, and every stream's capture ends (into its own graph)
    // before any is instantiated, which a thread with a capture still open may not do.
    void capture(uint64_t iterations) {
        drop_graphs();
        const std::size_t k = c_->streams.size();
        std::size_t begun = 0;
        std::string failed;
        try {
            for (; begun < k; ++begun) {
                check_cuda(cudaSetDevice(c_->ordinals[begun]), "cudaSetDevice");
                check_cuda(cudaStreamBeginCapture(c_->streams[begun], cudaStreamCaptureModeThreadLocal),
                           "cudaStreamBeginCapture");
            }
            for (uint64_t i = 0; i < iterations; ++i) enqueue();
        } catch (const std::exception& e) {
            failed = e.what();
        }
        // Every begun capture is ended, whatever failed, so that the streams are usable again.
        for (std::size_t r = 0; r < begun; ++r) {
            cudaSetDevice(c_->ordinals[r]);
            cudaGraph_t gr = nullptr;
            const cudaError_t e = cudaStreamEndCapture(c_->streams[r], &gr);
            if (gr != nullptr) graphs_.push_back(gr);
            if (e != cudaSuccess && failed.empty())
                failed = std::string("cudaStreamEndCapture: ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
        }
        if (failed.empty() && graphs_.size() != k) failed = "a stream's capture ended without a graph";
        if (!failed.empty()) {
            drop_graphs();
            cudaGetLastError();  // the capture's error is reported here, not by the next call
            sdk::fail(CALIB_ERROR, "capturing " + std::to_string(iterations) + " collective calls into CUDA graphs: " +
                                       failed + " (CALIB_CUDA_EAGER=1 times them eagerly)");
        }
        for (std::size_t r = 0; r < k; ++r) {
            check_cuda(cudaSetDevice(c_->ordinals[r]), "cudaSetDevice");
            cudaGraphExec_t e = nullptr;
            check_cuda(cudaGraphInstantiate(&e, graphs_[r], 0), "cudaGraphInstantiate");
            execs_.push_back(e);
            check_cuda(cudaGraphUpload(e, c_->streams[r]), "cudaGraphUpload");
        }
        graph_iterations_ = iterations;
    }

    void enqueue() {
        const Nccl& n = *c_->nccl;
        n.check(n.GroupStart(), "ncclGroupStart");
        for (std::size_t r = 0; r < send_.size(); ++r) {
            ncclComm_t comm = c_->comms[r];
            cudaStream_t s = c_->streams[r];
            ncclResult_t e = ncclSuccess;
            switch (t_.op) {
                case Xfer::all_reduce: e = n.AllReduce(send_[r], recv_[r], t_.count, ncclFloat32, ncclSum, comm, s); break;
                case Xfer::all_gather: e = n.AllGather(send_[r], recv_[r], t_.count, ncclFloat32, comm, s); break;
                case Xfer::reduce_scatter:
                    e = n.ReduceScatter(send_[r], recv_[r], t_.count, ncclFloat32, ncclSum, comm, s);
                    break;
                default: e = n.Broadcast(send_[r], recv_[r], t_.count, ncclFloat32, 0, comm, s); break;
            }
            if (e != ncclSuccess) {
                n.GroupEnd();
                n.check(e, xfer_name(t_.op));
            }
        }
        n.check(n.GroupEnd(), "ncclGroupEnd");
    }

    TransferDef t_;
    TransferPool::Comm* c_ = nullptr;
    std::vector<void*> send_, recv_;
    std::vector<std::unique_ptr<Timer>> timers_;
    bool use_graph_ = std::getenv("CALIB_CUDA_EAGER") == nullptr;
    std::vector<cudaGraph_t> graphs_;
    std::vector<cudaGraphExec_t> execs_;
    uint64_t graph_iterations_ = 0;
};
#endif

}  // namespace

std::unique_ptr<sdk::Instance> TransferPool::prepare(const TransferDef& t) {
    DeviceGuard g;
    if (t.op == Xfer::h2d || t.op == Xfer::d2h || t.op == Xfer::p2p) return std::make_unique<CopyInstance>(*this, t);
    if (t.devices.size() < 2) {
        const char* single = std::getenv("CALIB_CUDA_SINGLE_RANK");
        if (single == nullptr || std::strcmp(single, "1") != 0)
            sdk::fail(CALIB_UNAVAILABLE, "1 GPU visible: a collective needs 2 or more (CALIB_CUDA_SINGLE_RANK=1 runs "
                                         "the one-rank communicator)");
    }
#ifdef CALIB_CUDA_HAVE_NCCL
    return std::make_unique<CollectiveInstance>(*this, t);
#else
    sdk::fail(CALIB_UNAVAILABLE, "the CUDA plugin was built without nccl.h (not found at configure time): no collectives");
#endif
}

}  // namespace calib::cuda
