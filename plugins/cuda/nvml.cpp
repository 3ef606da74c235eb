#include "nvml.hpp"

#include <dlfcn.h>

#include "dl.hpp"

namespace calib::cuda {
namespace {

// From nvml.h (NVML API v2): return codes are an enum whose success value is 0.
using nvmlReturn_t = int;
struct nvmlDevice_st;
using nvmlDevice_t = nvmlDevice_st*;
constexpr int kClockSm = 1, kClockMem = 2;  // nvmlClockType_t: NVML_CLOCK_SM, NVML_CLOCK_MEM
constexpr int kP2PCapsNvlink = 2;           // nvmlGpuP2PCapsIndex_t: NVML_P2P_CAPS_INDEX_NVLINK
constexpr int kP2PStatusOk = 0;             // nvmlGpuP2PStatus_t: NVML_P2P_STATUS_OK
constexpr int kTemperatureGpu = 0;          // nvmlTemperatureSensors_t: NVML_TEMPERATURE_GPU
constexpr int kPerfPolicyPower = 0;         // nvmlPerfPolicyType_t: NVML_PERF_POLICY_POWER
constexpr int kPerfPolicyThermal = 1;       // nvmlPerfPolicyType_t: NVML_PERF_POLICY_THERMAL
// nvmlClocksEventReason* (nvmlClocksThrottleReason* before driver 535), unsigned long long bits.
constexpr unsigned long long kReasonGpuIdle = 0x1;                // nvmlClocksEventReasonGpuIdle
constexpr unsigned long long kReasonAppClocks = 0x2;              // nvmlClocksEventReasonApplicationsClocksSetting
constexpr unsigned long long kReasonSwPowerCap = 0x4;             // nvmlClocksEventReasonSwPowerCap
constexpr unsigned long long kReasonHwSlowdown = 0x8;             // nvmlClocksThrottleReasonHwSlowdown
constexpr unsigned long long kReasonSwThermal = 0x20;             // nvmlClocksEventReasonSwThermalSlowdown
constexpr unsigned long long kReasonHwThermal = 0x40;             // nvmlClocksThrottleReasonHwThermalSlowdown
constexpr unsigned long long kReasonHwPowerBrake = 0x80;          // nvmlClocksThrottleReasonHwPowerBrakeSlowdown
// nvmlClocksEventReasonSyncBoost 0x10, nvmlClocksEventReasonDisplayClockSetting 0x100 and
// nvmlClocksThrottleReasonUnknown 0x8000000000000000 have no bit of their own: CALIB_THROTTLE_OTHER.

// nvmlViolationTime_t
struct nvmlViolationTime_t {
    unsigned long long referenceTime;  // timestamp, ns
    unsigned long long violationTime;  // time held below the clock by the policy, ns
};

struct Nvml {
    nvmlReturn_t (*init)() = nullptr;                                       // nvmlInit_v2
    nvmlReturn_t (*by_pci)(const char*, nvmlDevice_t*) = nullptr;           // nvmlDeviceGetHandleByPciBusId_v2
    nvmlReturn_t (*clock)(nvmlDevice_t, int, unsigned*) = nullptr;          // nvmlDeviceGetClockInfo
    nvmlReturn_t (*max_clock)(nvmlDevice_t, int, unsigned*) = nullptr;      // nvmlDeviceGetMaxClockInfo
    nvmlReturn_t (*power_limit)(nvmlDevice_t, unsigned*) = nullptr;         // nvmlDeviceGetPowerManagementLimit (mW)
    nvmlReturn_t (*p2p_status)(nvmlDevice_t, nvmlDevice_t, int, int*) = nullptr;  // nvmlDeviceGetP2PStatus (optional)
    // read_nvml_state, each optional (a field is not valid without its call):
    nvmlReturn_t (*energy)(nvmlDevice_t, unsigned long long*) = nullptr;  // nvmlDeviceGetTotalEnergyConsumption (mJ)
    nvmlReturn_t (*power)(nvmlDevice_t, unsigned*) = nullptr;             // nvmlDeviceGetPowerUsage (mW)
    nvmlReturn_t (*enforced_limit)(nvmlDevice_t, unsigned*) = nullptr;    // nvmlDeviceGetEnforcedPowerLimit (mW)
    nvmlReturn_t (*temperature)(nvmlDevice_t, int, unsigned*) = nullptr;  // nvmlDeviceGetTemperature (C)
    // nvmlDeviceGetCurrentClocksEventReasons (driver 535+), else nvmlDeviceGetCurrentClocksThrottleReasons
    nvmlReturn_t (*reasons)(nvmlDevice_t, unsigned long long*) = nullptr;
    nvmlReturn_t (*violation)(nvmlDevice_t, int, nvmlViolationTime_t*) = nullptr;  // nvmlDeviceGetViolationStatus
    std::string why;
};

const Nvml& nvml() {
    static const Nvml n = [] {
        Nvml x;
        void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
        if (lib == nullptr) {
            x.why = "libnvidia-ml.so.1 not found";
            return x;
        }
        if (!dl::bind(lib, "nvmlInit_v2", x.init) ||
            !dl::bind(lib, "nvmlDeviceGetHandleByPciBusId_v2", x.by_pci) ||
            !dl::bind(lib, "nvmlDeviceGetClockInfo", x.clock) ||
            !dl::bind(lib, "nvmlDeviceGetMaxClockInfo", x.max_clock) ||
            !dl::bind(lib, "nvmlDeviceGetPowerManagementLimit", x.power_limit)) {
            x = Nvml{};
            x.why = "libnvidia-ml.so.1 lacks an NVML v2 call";
            return x;
        }
        dl::bind(lib, "nvmlDeviceGetP2PStatus", x.p2p_status);  // optional: links read as unknown without it
        dl::bind(lib, "nvmlDeviceGetTotalEnergyConsumption", x.energy);
        dl::bind(lib, "nvmlDeviceGetPowerUsage", x.power);
        dl::bind(lib, "nvmlDeviceGetEnforcedPowerLimit", x.enforced_limit);
        dl::bind(lib, "nvmlDeviceGetTemperature", x.temperature);
        if (!dl::bind(lib, "nvmlDeviceGetCurrentClocksEventReasons", x.reasons))
            dl::bind(lib, "nvmlDeviceGetCurrentClocksThrottleReasons", x.reasons);
        dl::bind(lib, "nvmlDeviceGetViolationStatus", x.violation);
        if (x.init() != 0) {
            x = Nvml{};
            x.why = "nvmlInit_v2 failed";
        }
        return x;
    }();
    return n;
}

}  // namespace

uint32_t throttle_from_nvml(unsigned long long reasons) {
    uint32_t t = 0;
    if ((reasons & kReasonSwPowerCap) != 0) t |= CALIB_THROTTLE_POWER_CAP;
    if ((reasons & (kReasonHwSlowdown | kReasonHwPowerBrake)) != 0) t |= CALIB_THROTTLE_HW_SLOWDOWN;
    if ((reasons & (kReasonSwThermal | kReasonHwThermal)) != 0) t |= CALIB_THROTTLE_THERMAL;
    if ((reasons & kReasonAppClocks) != 0) t |= CALIB_THROTTLE_CLOCK_LIMIT;
    constexpr unsigned long long known = kReasonGpuIdle | kReasonAppClocks | kReasonSwPowerCap | kReasonHwSlowdown |
                                         kReasonSwThermal | kReasonHwThermal | kReasonHwPowerBrake;
    if ((reasons & ~known) != 0) t |= CALIB_THROTTLE_OTHER;
    return t;
}

void* nvml_device(const std::string& pci_bus_id, std::string* why) {
    const Nvml& n = nvml();
    if (n.init == nullptr) {
        if (why != nullptr) *why = n.why;
        return nullptr;
    }
    nvmlDevice_t dev = nullptr;
    if (pci_bus_id.empty() || n.by_pci(pci_bus_id.c_str(), &dev) != 0) {
        if (why != nullptr) {
            *why = "NVML has no device at PCI ";
            *why += pci_bus_id;
        }
        return nullptr;
    }
    return dev;
}

bool read_nvml_state(void* device, sdk::DeviceState& out) {
    const Nvml& n = nvml();
    out = sdk::DeviceState{};
    if (device == nullptr || n.init == nullptr) return false;
    auto* dev = static_cast<nvmlDevice_t>(device);
    unsigned long long mj = 0;
    if (n.energy != nullptr && n.energy(dev, &mj) == 0) {
        out.energy_joules = static_cast<double>(mj) / 1e3;
        out.valid |= CALIB_STATE_ENERGY;
    }
    unsigned mw = 0;
    if (n.power != nullptr && n.power(dev, &mw) == 0) {
        out.power_watts = mw / 1e3;
        out.valid |= CALIB_STATE_POWER;
    }
    if (n.enforced_limit != nullptr && n.enforced_limit(dev, &mw) == 0) {
        out.power_limit_watts = mw / 1e3;
        out.valid |= CALIB_STATE_POWER_LIMIT;
    }
    unsigned sm = 0, mem = 0;
    if (n.clock(dev, kClockSm, &sm) == 0 && n.clock(dev, kClockMem, &mem) == 0) {
        out.sm_clock_mhz = sm;
        out.memory_clock_mhz = mem;
        out.valid |= CALIB_STATE_CLOCKS;
    }
    unsigned celsius = 0;
    if (n.temperature != nullptr && n.temperature(dev, kTemperatureGpu, &celsius) == 0) {
        out.temperature_c = celsius;
        out.valid |= CALIB_STATE_TEMPERATURE;
    }
    unsigned long long reasons = 0;
    if (n.reasons != nullptr && n.reasons(dev, &reasons) == 0) {
        out.throttle = throttle_from_nvml(reasons);
        out.valid |= CALIB_STATE_THROTTLE;
    }
    nvmlViolationTime_t power{}, thermal{};
    if (n.violation != nullptr && n.violation(dev, kPerfPolicyPower, &power) == 0 &&
        n.violation(dev, kPerfPolicyThermal, &thermal) == 0) {
        out.power_capped_seconds = static_cast<double>(power.violationTime) / 1e9;
        out.thermal_capped_seconds = static_cast<double>(thermal.violationTime) / 1e9;
        out.valid |= CALIB_STATE_THROTTLE_TIME;
    }
    return out.valid != 0;
}

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
