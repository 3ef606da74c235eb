#include "nvml.hpp"

#include <dlfcn.h>

namespace calib::cuda {
namespace {

// From nvml.h (NVML API v2): return codes are an enum whose success value is 0.
using nvmlReturn_t = int;
struct nvmlDevice_st;
using nvmlDevice_t = nvmlDevice_st*;
constexpr int kClockSm = 1, kClockMem = 2;  // nvmlClockType_t: NVML_CLOCK_SM, NVML_CLOCK_MEM
constexpr int kP2PCapsNvlink = 2;           // nvmlGpuP2PCapsIndex_t: NVML_P2P_CAPS_INDEX_NVLINK
constexpr int kP2PStatusOk = 0;             // nvmlGpuP2PStatus_t: NVML_P2P_STATUS_OK

struct Nvml {
    nvmlReturn_t (*init)() = nullptr;                                       // nvmlInit_v2
    nvmlReturn_t (*by_pci)(const char*, nvmlDevice_t*) = nullptr;           // nvmlDeviceGetHandleByPciBusId_v2
    nvmlReturn_t (*clock)(nvmlDevice_t, int, unsigned*) = nullptr;          // nvmlDeviceGetClockInfo
    nvmlReturn_t (*max_clock)(nvmlDevice_t, int, unsigned*) = nullptr;      // nvmlDeviceGetMaxClockInfo
    nvmlReturn_t (*power_limit)(nvmlDevice_t, unsigned*) = nullptr;         // nvmlDeviceGetPowerManagementLimit (mW)
    nvmlReturn_t (*p2p_status)(nvmlDevice_t, nvmlDevice_t, int, int*) = nullptr;  // nvmlDeviceGetP2PStatus (optional)
    std::string why;
};

template <class F>
bool bind(void* lib, const char* name, F& f) {
    f = reinterpret_cast<F>(dlsym(lib, name));
    return f != nullptr;
}

const Nvml& nvml() {
    static const Nvml n = [] {
        Nvml x;
        void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
        if (lib == nullptr) {
            x.why = "libnvidia-ml.so.1 not found";
            return x;
        }
        if (!bind(lib, "nvmlInit_v2", x.init) || !bind(lib, "nvmlDeviceGetHandleByPciBusId_v2", x.by_pci) ||
            !bind(lib, "nvmlDeviceGetClockInfo", x.clock) || !bind(lib, "nvmlDeviceGetMaxClockInfo", x.max_clock) ||
            !bind(lib, "nvmlDeviceGetPowerManagementLimit", x.power_limit)) {
            x = Nvml{};
            x.why = "libnvidia-ml.so.1 lacks an NVML v2 call";
            return x;
        }
        bind(lib, "nvmlDeviceGetP2PStatus", x.p2p_status);  // optional: links read as unknown without it
        if (x.init() != 0) {
            x = Nvml{};
            x.why = "nvmlInit_v2 failed";
        }
        return x;
    }();
    return n;
}

}  // namespace

GpuClocks read_clocks(const std::string& pci_bus_id) {
    GpuClocks c;
    const Nvml& n = nvml();
    if (n.init == nullptr) {
        c.why = n.why;
        return c;
    }
    nvmlDevice_t dev = nullptr;
    if (n.by_pci(pci_bus_id.c_str(), &dev) != 0) {
        c.why = "NVML has no device at PCI " + pci_bus_id;
        return c;
    }
    unsigned mw = 0;
    c.ok = n.clock(dev, kClockSm, &c.sm_mhz) == 0 && n.clock(dev, kClockMem, &c.mem_mhz) == 0;
    n.max_clock(dev, kClockSm, &c.max_sm_mhz);
    n.max_clock(dev, kClockMem, &c.max_mem_mhz);
    if (n.power_limit(dev, &mw) == 0) c.power_limit_watts = mw / 1000.0;
    if (!c.ok) c.why = "nvmlDeviceGetClockInfo failed";
    return c;
}

PeerLink nvml_peer_link(const std::string& bus_a, const std::string& bus_b, std::string* why) {
    const Nvml& n = nvml();
    if (n.init == nullptr || n.p2p_status == nullptr) {
        if (why != nullptr) *why = n.init == nullptr ? n.why : "libnvidia-ml.so.1 lacks nvmlDeviceGetP2PStatus";
        return PeerLink::unknown;
    }
    nvmlDevice_t a = nullptr, b = nullptr;
    if (n.by_pci(bus_a.c_str(), &a) != 0 || n.by_pci(bus_b.c_str(), &b) != 0) {
        if (why != nullptr) *why = "NVML has no device at PCI " + bus_a + " or " + bus_b;
        return PeerLink::unknown;
    }
    int status = -1;
    if (n.p2p_status(a, b, kP2PCapsNvlink, &status) != 0) {
        if (why != nullptr) *why = "nvmlDeviceGetP2PStatus failed";
        return PeerLink::unknown;
    }
    return status == kP2PStatusOk ? PeerLink::nvlink : PeerLink::other;
}

}  // namespace calib::cuda
