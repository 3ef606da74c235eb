// Host description from /proc, /sys and uname: cheap reads only, no measurement.
#include "calib/core/host_info.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <tuple>
#include <set>
#include <sstream>

namespace calib::core {
namespace {

namespace fs = std::filesystem;

std::string read_first_line(const fs::path& p) {
    std::ifstream in(p);
    std::string line;
    std::getline(in, line);
    return line;
}

std::string trim(std::string s) {
    const auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return {};
    const auto e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
}

// Value of the first "key : value" line of /proc/cpuinfo with this key.
std::string cpuinfo_field(const std::string& text, const std::string& key) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        if (trim(line.substr(0, colon)) == key) return trim(line.substr(colon + 1));
    }
    return {};
}

// "0-3,8,10-11" -> 7. Empty or malformed -> 0.
int count_cpu_list(const std::string& list) {
    int count = 0;
    std::istringstream in(list);
    std::string part;
    while (std::getline(in, part, ',')) {
        part = trim(part);
        if (part.empty()) continue;
        try {
            const auto dash = part.find('-');
            if (dash == std::string::npos)
                ++count;
            else
                count += std::stoi(part.substr(dash + 1)) - std::stoi(part.substr(0, dash)) + 1;
        } catch (const std::exception&) {
            return 0;
        }
    }
    return count;
}

// "32K", "1024K", "32M" -> bytes.
uint64_t parse_size(const std::string& s) {
    try {
        std::size_t pos = 0;
        const uint64_t v = std::stoull(s, &pos);
        const char unit = pos < s.size() ? s[pos] : ' ';
        switch (unit) {
        case 'K': return v << 10;
        case 'M': return v << 20;
        case 'G': return v << 30;
        default: return v;
        }
    } catch (const std::exception&) {
        return 0;
    }
}

bool is_cpu_dir(const std::string& name) {
    return name.size() > 3 && name.compare(0, 3, "cpu") == 0 &&
           std::all_of(name.begin() + 3, name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int count_physical_cores(const std::string& cpuinfo) {
    std::set<std::pair<std::string, std::string>> cores;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/sys/devices/system/cpu", ec)) {
        if (!is_cpu_dir(e.path().filename().string())) continue;
        if (fs::exists(e.path() / "online") && read_first_line(e.path() / "online") == "0") continue;
        const auto topo = e.path() / "topology";
        if (!fs::exists(topo / "core_id")) continue;
        cores.emplace(read_first_line(topo / "physical_package_id"), read_first_line(topo / "core_id"));
    }
    if (!cores.empty()) return static_cast<int>(cores.size());
    // Fallback: (physical id, core id) pairs of /proc/cpuinfo.
    std::istringstream in(cpuinfo);
    std::string line, phys = "0";
    while (std::getline(in, line)) {
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        const std::string key = trim(line.substr(0, colon)), value = trim(line.substr(colon + 1));
        if (key == "physical id") phys = value;
        if (key == "core id") cores.emplace(phys, value);
    }
    return static_cast<int>(cores.size());
}

std::vector<CacheInfo> read_caches() {
    std::vector<CacheInfo> caches;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/sys/devices/system/cpu/cpu0/cache", ec)) {
        if (e.path().filename().string().rfind("index", 0) != 0) continue;
        CacheInfo c;
        try {
            c.level = std::stoi(read_first_line(e.path() / "level"));
        } catch (const std::exception&) {
            continue;
        }
        c.type = read_first_line(e.path() / "type");
        c.size_bytes = parse_size(read_first_line(e.path() / "size"));
        c.shared_cpu_count = count_cpu_list(read_first_line(e.path() / "shared_cpu_list"));
        caches.push_back(c);
    }
    std::sort(caches.begin(), caches.end(),
              [](const CacheInfo& a, const CacheInfo& b) { return std::tie(a.level, a.type) < std::tie(b.level, b.type); });
    return caches;
}

std::string os_pretty_name() {
    std::ifstream in("/etc/os-release");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("PRETTY_NAME=", 0) != 0) continue;
        std::string v = line.substr(12);
        if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'')) v = v.substr(1, v.size() - 2);
        return v;
    }
    return {};
}

}  // namespace

const std::vector<std::string>& isa_flags_of_interest() {
    static const std::vector<std::string> flags = {
        "sse4_2",      "avx",         "avx2",        "fma",      "avx512f",  "avx512bw",
        "avx512vl",    "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16",
        "amx_int8",    "amx_fp16",    "avx_vnni"};
    return flags;
}

bool HostInfo::has(const std::string& flag) const { return std::find(isa.begin(), isa.end(), flag) != isa.end(); }

HostInfo detect_host() {
    HostInfo h;
    std::string cpuinfo;
    {
        std::ifstream in("/proc/cpuinfo");
        std::ostringstream ss;
        ss << in.rdbuf();
        cpuinfo = ss.str();
    }
    h.cpu_model = cpuinfo_field(cpuinfo, "model name");
    if (h.cpu_model.empty()) h.cpu_model = cpuinfo_field(cpuinfo, "Model");  // some ARM kernels
    if (h.cpu_model.empty()) h.cpu_model = "unknown";
    h.cpu_vendor = cpuinfo_field(cpuinfo, "vendor_id");
    if (h.cpu_vendor.empty()) h.cpu_vendor = cpuinfo_field(cpuinfo, "CPU implementer");

    h.logical_cpus = count_cpu_list(read_first_line("/sys/devices/system/cpu/online"));
    if (h.logical_cpus <= 0) h.logical_cpus = static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
    h.physical_cores = count_physical_cores(cpuinfo);
    if (h.physical_cores <= 0) h.physical_cores = h.logical_cpus;
    h.caches = read_caches();

    std::string flags = cpuinfo_field(cpuinfo, "flags");
    if (flags.empty()) flags = cpuinfo_field(cpuinfo, "Features");
    std::set<std::string> present;
    std::istringstream fin(flags);
    for (std::string f; fin >> f;) present.insert(f);
    for (const auto& f : isa_flags_of_interest())
        if (present.count(f)) h.isa.push_back(f);

    {
        std::ifstream in("/proc/meminfo");
        std::string key;
        uint64_t kb = 0;
        while (in >> key >> kb) {
            if (key == "MemTotal:") {
                h.total_memory_bytes = kb * 1024;
                break;
            }
            in.ignore(1 << 10, '\n');
        }
    }
    h.os = os_pretty_name();
    utsname u{};
    if (uname(&u) == 0) {
        h.kernel = std::string(u.sysname) + " " + u.release + " " + u.machine;
        h.hostname = u.nodename;
    }
#ifdef CALIB_CXX_COMPILER
    h.compiler = CALIB_CXX_COMPILER;
#endif
    {
        std::ifstream in("/proc/loadavg");
        in >> h.load_average[0] >> h.load_average[1] >> h.load_average[2];
    }
    h.cpufreq_governor = read_first_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor");
    h.conditions = read_cpu_conditions();
    return h;
}

boost::json::object to_json(const HostInfo& h) {
    boost::json::array caches;
    for (const auto& c : h.caches)
        caches.push_back(boost::json::object{
            {"level", c.level}, {"type", c.type}, {"size_bytes", c.size_bytes}, {"shared_cpu_count", c.shared_cpu_count}});
    boost::json::array isa;
    for (const auto& f : h.isa) isa.push_back(boost::json::value(f));
    boost::json::object o{
        {"hostname", h.hostname},
        {"cpu_model", h.cpu_model},
        {"cpu_vendor", h.cpu_vendor},
        {"physical_cores", h.physical_cores},
        {"logical_cpus", h.logical_cpus},
        {"caches", std::move(caches)},
        {"isa", std::move(isa)},
        {"total_memory_bytes", h.total_memory_bytes},
        {"os", h.os},
        {"kernel", h.kernel},
        {"compiler", h.compiler},
        {"load_average", boost::json::array{h.load_average[0], h.load_average[1], h.load_average[2]}},
        {"cpufreq_governor", h.cpufreq_governor},
        {"sustained_clock_ghz", h.sustained_clock_ghz},
        {"avx512_clock_ghz", h.avx512_clock_ghz},
        {"clock_readings_ghz", boost::json::value_from(h.clock_readings_ghz)},
        {"fma_pipes", h.fma_pipes},
    };
    add_to_json(o, h.conditions);
    return o;
}

}  // namespace calib::core
