// NVML, opened at run time: the driver ships libnvidia-ml.so.1, and Debian 12 has no NVML development
// package, so the few calls used are declared in nvml.cpp (their documented C signatures).
#pragma once

#include <cstdint>
#include <string>

#include "calib/plugin.hpp"

namespace calib::cuda {

// The device's clocks and power limit as NVML reports them now; ok == false (and `why`) without NVML.
struct GpuClocks {
    bool ok = false;
    std::string why;
    unsigned sm_mhz = 0, mem_mhz = 0;          // current (nvmlDeviceGetClockInfo)
    unsigned max_sm_mhz = 0, max_mem_mhz = 0;  // nvmlDeviceGetMaxClockInfo
    double power_limit_watts = 0;              // nvmlDeviceGetPowerManagementLimit
};

// `pci_bus_id` as cudaDeviceGetPCIBusId writes it (NVML and CUDA number devices differently).
GpuClocks read_clocks(const std::string& pci_bus_id);

// Whether NVML says two GPUs (PCI bus ids as above) talk over NVLink (nvmlDeviceGetP2PStatus with
// NVML_P2P_CAPS_INDEX_NVLINK; true through NVSwitch too); unknown (and `why`) without NVML.
enum class PeerLink { unknown, nvlink, other };
PeerLink nvml_peer_link(const std::string& bus_a, const std::string& bus_b, std::string* why);

// NVML's clock event (throttle) reason bits (nvmlClocksEventReason*, nvmlClocksThrottleReason* before
// driver 535) as CALIB_THROTTLE_* bits, no GPU needed: SW power cap 0x4 -> POWER_CAP; HW slowdown 0x8 and
// HW power brake 0x80 -> HW_SLOWDOWN; SW thermal 0x20 and HW thermal 0x40 -> THERMAL; applications
// clocks setting 0x2 -> CLOCK_LIMIT; GPU idle 0x1 -> nothing (not throttling); every other bit (sync
// boost 0x10, display clock 0x100, unknown 1 << 63, bits of later drivers) -> OTHER.
uint32_t throttle_from_nvml(unsigned long long reasons);

// An NVML device handle (nvmlDevice_t) for a PCI bus id as above; nullptr (and `why`) without NVML or
// when NVML has no device there. Handles stay valid while the process lives (NVML is never shut down).
void* nvml_device(const std::string& pci_bus_id, std::string* why);

// Reads a device's state now through NVML into `out` (the fields of the CALIB_STATE_* bits it could
// read, `valid` saying which); false when `device` is nullptr or NVML answered nothing. Allocates nothing.
// energy_joules: nvmlDeviceGetTotalEnergyConsumption (mJ since the driver loaded); power_watts:
// nvmlDeviceGetPowerUsage; power_limit_watts: nvmlDeviceGetEnforcedPowerLimit; sm/memory_clock_mhz:
// nvmlDeviceGetClockInfo; temperature_c: nvmlDeviceGetTemperature (GPU sensor); throttle:
// nvmlDeviceGetCurrentClocksEventReasons, else ...ThrottleReasons; power/thermal_capped_seconds:
// nvmlDeviceGetViolationStatus (NVML_PERF_POLICY_POWER, NVML_PERF_POLICY_THERMAL), ns -> s.
bool read_nvml_state(void* device, sdk::DeviceState& out);

}  // namespace calib::cuda
