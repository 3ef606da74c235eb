// The plugin ABI contract as the host judges it: every rule a plugin's table, metadata, device, cases,
// instances, peaks and run times must follow, stated once. The worker applies these rules when it
// opens a library for a scan or a run, and when `calib-host check` asks it to, so both give the same
// verdict (docs/abi.md, "What the host checks"). Each function returns "" when the rule holds, else
// what is wrong, in words a plugin author can act on.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "calib/core/plugin_types.hpp"
#include "calib/plugin.h"

namespace calib::core::contract {

// "CALIB_OK", "CALIB_UNSUPPORTED", ...; "unknown status" for a value outside the ABI.
const char* status_name(int status);
// The name and, when not empty, the plugin's message: "CALIB_ERROR (out of widgets)".
std::string status_text(int status, const std::string& message);

// The table size a plugin of ABI minor `minor` (of the host's major) must declare: exactly this for a
// minor the host knows, at least the host's own size for a newer one.
uint32_t table_size_of_minor(uint16_t minor);

// ---- the table, in the order the host reads it --------------------------------------------------
// struct_size covers the version fields and abi_major is the host's.
std::string version_problem(const calib_plugin_api& t);
// struct_size is plausible and matches the declared minor (append-only, PJRT style).
std::string table_size_problem(const calib_plugin_api& t);
// Required functions that are NULL, comma-separated ("" when all are there).
std::string missing_functions(const calib_plugin_api& t);
// id (reverse-DNS, no whitespace or control characters), name, version, vendor non-empty; description
// not NULL.
std::string metadata_problems(const calib_plugin_api& t);

// ---- what the plugin fills --------------------------------------------------------------------
std::string device_problems(const calib_device_info& d);
// ABI 1.1 members of the table: device_count and get_device_at both NULL or both set.
std::string device_function_problems(const calib_plugin_api& t);
// A plausible device_count() (1 .. kMaxDevices).
std::string device_count_problem(uint32_t count);
std::string case_problems(const calib_case_info& c);
// ABI 1.1 parts of a case of a plugin of minor `plugin_minor` with `device_count` devices: the device
// list (indices in range, distinct), and a transfer case's operation, device count and bytes. Fields
// beyond `struct_size` are not read (a 1.0 layout has neither).
std::string case_device_problems(const calib_case_info& c, uint32_t struct_size, uint16_t plugin_minor,
                                 uint32_t device_count);
// The transfer operations of ABI 1.1 and how many devices each takes (0: a group of one or more).
bool known_transfer(const std::string& operation_type, uint32_t* devices = nullptr);
std::string instance_problems(const calib_instance_info& i);
std::string peak_problems(const calib_peak_info& p);
// A run's reported time: finite and > 0. The text begins "reported <t> s".
std::string run_time_problem(double seconds);

// ---- the case list as a whole -------------------------------------------------------------------
// "duplicate names: a, b" or "".
std::string duplicate_names(const std::vector<CaseInfo>& cases);
// Each fusion group holds one fused and one unfused case of one pattern. `pairs` gets the group count.
std::string fusion_pair_problems(const std::vector<CaseInfo>& cases, std::size_t* pairs = nullptr);

// Plausibility bounds on counts a plugin reports.
constexpr uint32_t kMaxCases = 100000;
constexpr uint32_t kMaxPeaks = 64;
constexpr uint32_t kMaxDevices = 64;

}  // namespace calib::core::contract
