// NVML, opened at run time: the driver ships libnvidia-ml.so.1, and Debian 12 has no NVML development
// package, so the few calls used are declared in nvml.cpp (their documented C signatures).
#pragma once

#include <string>

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

}  // namespace calib::cuda
