// The transfer cases' run-time side: buffers, streams, peer access and NCCL communicators, made once per
// plugin context on first use and shared by every transfer instance (ten sizes of one operation do not
// allocate ten times), and the instances themselves (transfers.cpp).
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cuda_plugin.hpp"

namespace calib::cuda {

class TransferPool {
public:
    // `gpus` by plugin device index; `max_bytes` the largest message of any transfer case.
    TransferPool(std::vector<DeviceFacts> gpus, LinkFacts links, std::size_t max_bytes);
    ~TransferPool();
    TransferPool(const TransferPool&) = delete;
    TransferPool& operator=(const TransferPool&) = delete;

    // Set up, verify once and return the instance of one transfer case.
    std::unique_ptr<sdk::Instance> prepare(const TransferDef& t);

    // For the instances. Host buffers (max_bytes each, shared by every device) hold pattern(i) = i % 251
    // at rest: every writer puts it back. Device buffers: two per device (x: a copy's device end, the
    // peer copy's source, a collective's send buffer; y: the peer copy's destination, a collective's
    // receive buffer); their contents are whatever the last case left.
    static unsigned char pattern(std::size_t i) { return static_cast<unsigned char>(i % 251); }
    unsigned char* host(bool pinned);
    void* device(uint32_t d, int which);
    int ordinal(uint32_t d) const { return gpus_.at(d).ordinal; }
    const DeviceFacts& gpu(uint32_t d) const { return gpus_.at(d); }
    const LinkFacts& links() const { return links_; }
    // cudaDeviceEnablePeerAccess(b) on a, once; false when the driver says a cannot reach b.
    bool enable_peer(uint32_t a, uint32_t b);
    std::size_t max_bytes() const { return max_bytes_; }

    struct Comm;  // NCCL communicators and one stream per rank over devices 0..k-1 (transfers.cpp)
    Comm& comm(uint32_t ranks);

private:
    struct HostBuf;
    std::vector<DeviceFacts> gpus_;
    LinkFacts links_;
    std::size_t max_bytes_;
    std::unique_ptr<HostBuf> pinned_, pageable_;
    std::map<std::pair<uint32_t, int>, void*> device_;
    std::set<std::pair<uint32_t, uint32_t>> peers_;
    std::map<uint32_t, std::unique_ptr<Comm>> comms_;
};

}  // namespace calib::cuda
