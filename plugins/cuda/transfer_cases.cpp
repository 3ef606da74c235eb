// The transfer case list and the device selection: pure host code (no CUDA call), testable without a GPU.
#include <algorithm>
#include <cstdlib>
#include <string>

#include "cuda_plugin.hpp"

namespace calib::cuda {

std::string xfer_name(Xfer x) {
    switch (x) {
        case Xfer::h2d: return "copy_h2d";
        case Xfer::d2h: return "copy_d2h";
        case Xfer::p2p: return "copy_p2p";
        case Xfer::all_reduce: return "all_reduce";
        case Xfer::all_gather: return "all_gather";
        case Xfer::reduce_scatter: return "reduce_scatter";
        case Xfer::broadcast: return "broadcast";
    }
    return "?";
}

std::vector<std::size_t> transfer_sizes() {
    std::vector<std::size_t> out;
    for (std::size_t s = std::size_t{4} << 10; s <= std::size_t{1} << 30; s *= 4) out.push_back(s);
    return out;
}

bool transfer_quick(std::size_t size) { return size == (std::size_t{64} << 10) || size == (std::size_t{16} << 20); }

std::vector<uint32_t> collective_groups(uint32_t gpus) {
    if (gpus <= 1) return {1};
    std::vector<uint32_t> out;
    if (gpus <= 4) {
        for (uint32_t k = 2; k <= gpus; ++k) out.push_back(k);
        return out;
    }
    for (uint32_t k = 2; k <= gpus; k *= 2) out.push_back(k);
    if (out.back() != gpus) out.push_back(gpus);
    return out;
}

namespace {

CaseEntry transfer_entry(Xfer op, std::size_t size, std::vector<uint32_t> devices, const std::string& tag) {
    CaseEntry e;
    auto& c = e.spec;
    c.family = CALIB_FAMILY_TRANSFER;
    c.operation_type = xfer_name(op);
    c.precision = "fp32";
    c.name = c.operation_type + "_" + tag + "_" + std::to_string(size);
    c.quick = transfer_quick(size);
    c.devices = devices;
    TransferDef& t = e.def.xfer;
    t.op = op;
    t.devices = std::move(devices);
    const auto ranks = static_cast<std::size_t>(t.devices.size());
    switch (op) {
        case Xfer::all_gather:      // count = sendcount; bytes = the gathered output
        case Xfer::reduce_scatter:  // count = recvcount; bytes = the input
            t.count = size / 4 / ranks;
            t.bytes = t.count * ranks * 4;
            break;
        case Xfer::all_reduce:
        case Xfer::broadcast:
            t.count = size / 4;
            t.bytes = t.count * 4;
            break;
        default: t.bytes = size; break;
    }
    c.shape = {static_cast<int64_t>(t.bytes)};
    c.bytes = static_cast<double>(t.bytes);
    e.def.kind = Kind::transfer;
    return e;
}

}  // namespace

std::vector<CaseEntry> transfer_cases(uint32_t gpus, const LinkFacts& links) {
    std::vector<CaseEntry> out;
    const auto sizes = transfer_sizes();
    for (uint32_t d = 0; d < gpus; ++d)
        for (const bool pinned : {true, false})
            for (const Xfer op : {Xfer::h2d, Xfer::d2h})
                for (const std::size_t s : sizes) {
                    const std::string memory = pinned ? "pinned" : "pageable";
                    CaseEntry e = transfer_entry(op, s, {d}, memory + std::to_string(d));
                    e.def.xfer.pinned = pinned;
                    e.spec.params = {{"memory", memory}, {"link", links.host(d)}};
                    out.push_back(std::move(e));
                }
    for (uint32_t a = 0; a < gpus; ++a)
        for (uint32_t b = 0; b < gpus; ++b) {
            if (a == b) continue;
            const PeerFacts p = links.between(a, b);
            for (const std::size_t s : sizes) {
                CaseEntry e = transfer_entry(Xfer::p2p, s, {a, b}, std::to_string(a) + "to" + std::to_string(b));
                e.spec.params = {{"link", p.link}, {"peer_access", p.access ? "1" : "0"}};
                out.push_back(std::move(e));
            }
        }
    for (const uint32_t k : collective_groups(gpus)) {
        std::vector<uint32_t> group;
        for (uint32_t d = 0; d < k; ++d) group.push_back(d);
        for (const Xfer op : {Xfer::all_reduce, Xfer::all_gather, Xfer::reduce_scatter, Xfer::broadcast})
            for (const std::size_t s : sizes) {
                // No case params (as fixture_links): the group is the case's devices; dtype float32,
                // sum and root 0 are the instance's params.
                out.push_back(transfer_entry(op, s, group, "ranks" + std::to_string(k)));
            }
    }
    return out;
}

std::vector<int> select_ordinals(int count, const char* devices, const char* primary) {
    std::vector<int> out;
    const std::string list = devices != nullptr ? devices : "";
    if (list.empty() || list == "all") {
        for (int i = 0; i < count; ++i) out.push_back(i);
    } else {
        std::size_t pos = 0;
        while (pos <= list.size()) {
            const std::size_t comma = std::min(list.find(',', pos), list.size());
            std::string tok = list.substr(pos, comma - pos);
            tok.erase(0, tok.find_first_not_of(' '));
            tok.erase(tok.find_last_not_of(' ') + 1);
            if (!tok.empty() && tok.find_first_not_of("0123456789") == std::string::npos && tok.size() < 6) {
                const int v = std::atoi(tok.c_str());
                if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
            }
            pos = comma + 1;
        }
    }
    if (primary != nullptr && *primary != '\0') {
        const int p = std::atoi(primary);
        out.erase(std::remove(out.begin(), out.end(), p), out.end());
        out.insert(out.begin(), p);
    }
    if (out.empty()) out.push_back(0);
    if (out.size() > 64) out.resize(64);  // ABI: 1 to 64 devices
    return out;
}

}  // namespace calib::cuda
