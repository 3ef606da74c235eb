// RAPL energy counters through powercap sysfs (energy.hpp).
#include "calib/core/energy.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <system_error>

namespace calib::core {

namespace {

namespace fs = std::filesystem;

// The whole (small) file, or nullopt when it cannot be opened or read (EACCES, EISDIR, ...).
std::optional<std::string> read_small(const fs::path& p) {
    const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    char buf[256];
    const ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n < 0) return std::nullopt;
    std::string s(buf, static_cast<std::size_t>(n));
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    return s;
}

std::optional<uint64_t> read_u64(const fs::path& p) {
    const auto s = read_small(p);
    if (!s || s->empty() || !std::isdigit(static_cast<unsigned char>(s->front()))) return std::nullopt;
    return std::strtoull(s->c_str(), nullptr, 10);
}

// "intel-rapl:3" -> {3, -1}; "intel-rapl:3:1" -> {3, 1}; anything else -> {-1, -1}.
std::pair<int, int> parse_id(const std::string& name) {
    static const std::string prefix = "intel-rapl:";
    if (name.rfind(prefix, 0) != 0) return {-1, -1};
    const std::string rest = name.substr(prefix.size());
    const auto colon = rest.find(':');
    auto number = [](const std::string& s) {
        if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
            return -1;
        return std::atoi(s.c_str());
    };
    if (colon == std::string::npos) return {number(rest), -1};
    const int sub = number(rest.substr(colon + 1));
    const int pkg = number(rest.substr(0, colon));
    return sub < 0 || pkg < 0 ? std::pair{-1, -1} : std::pair{pkg, sub};
}

std::string kind_of(const std::string& name) {
    for (const char* k : {"package", "dram", "core", "uncore", "psys"})
        if (name.rfind(k, 0) == 0) return k;
    return name;
}

double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

uint64_t rapl_delta_uj(uint64_t a, uint64_t b, uint64_t max_range_uj) {
    if (b >= a) return b - a;
    return max_range_uj >= a ? (max_range_uj - a) + b : b;  // a above the range: count from the wrap
}

RaplReader::RaplReader(fs::path powercap_root) : root_(std::move(powercap_root)) {
    std::error_code ec;
    std::vector<std::pair<std::pair<int, int>, fs::path>> entries;
    for (fs::directory_iterator it(root_, ec), end; !ec && it != end; it.increment(ec)) {
        const auto id = parse_id(it->path().filename().string());
        if (id.first >= 0) entries.emplace_back(id, it->path());
    }
    std::sort(entries.begin(), entries.end());
    if (entries.empty()) {
        reason_ = "no " + (root_ / "intel-rapl*").string() + " (RAPL not exposed: a VM, or a CPU without it)";
        return;
    }
    std::string parent_name;
    for (const auto& [id, path] : entries) {
        RaplDomain d;
        d.id = path.filename().string();
        d.package = id.first;
        d.subdomain = id.second >= 0;
        d.name = read_small(path / "name").value_or(d.id);
        d.kind = kind_of(d.name);
        if (!d.subdomain) parent_name = d.name;
        d.label = d.subdomain ? (parent_name.empty() ? "intel-rapl:" + std::to_string(d.package) : parent_name) + "/" + d.name
                              : d.name;
        d.max_energy_range_uj = read_u64(path / "max_energy_range_uj").value_or(0);
        d.energy_file = path / "energy_uj";
        if (!fs::exists(d.energy_file, ec)) {
            if (reason_.empty()) reason_ = "no energy_uj in " + path.string();
            continue;
        }
        if (!read_u64(d.energy_file)) {
            if (reason_.empty())
                reason_ = "energy_uj not readable (root only since Linux 5.10: run as root or chmod): " +
                          d.energy_file.string();
            continue;
        }
        domains_.push_back(std::move(d));
    }
    available_ = reason_.empty() && !domains_.empty();
    if (!available_ && reason_.empty()) reason_ = "no RAPL domain with an energy counter under " + root_.string();
}

RaplSnapshot RaplReader::snapshot() const {
    RaplSnapshot s;
    s.energy_uj.reserve(domains_.size());
    for (const auto& d : domains_) s.energy_uj.push_back(read_u64(d.energy_file));
    s.t = now_s();
    return s;
}

RaplEnergy RaplReader::joules_between(const RaplSnapshot& a, const RaplSnapshot& b) const {
    RaplEnergy e;
    e.seconds = b.t - a.t;
    for (std::size_t i = 0; i < domains_.size() && i < a.energy_uj.size() && i < b.energy_uj.size(); ++i) {
        if (!a.energy_uj[i] || !b.energy_uj[i]) continue;
        const auto& d = domains_[i];
        if (*b.energy_uj[i] < *a.energy_uj[i]) ++e.wraps;
        const double j = static_cast<double>(rapl_delta_uj(*a.energy_uj[i], *b.energy_uj[i], d.max_energy_range_uj)) * 1e-6;
        e.domains.emplace_back(d.label, j);
        if (d.kind == "package" && !d.subdomain) e.package_joules = e.package_joules.value_or(0) + j;
        if (d.kind == "dram") e.dram_joules = e.dram_joules.value_or(0) + j;
    }
    return e;
}

boost::json::object RaplReader::status_json() const {
    boost::json::object o;
    o["available"] = available_;
    if (!available_) o["reason"] = reason_;
    boost::json::array ds;
    for (const auto& d : domains_)
        ds.push_back(boost::json::object{{"label", d.label},
                                         {"id", d.id},
                                         {"kind", d.kind},
                                         {"max_energy_range_uj", d.max_energy_range_uj}});
    o["domains"] = std::move(ds);
    return o;
}

boost::json::object to_json(const RaplEnergy& e) {
    boost::json::object o;
    o["seconds"] = e.seconds;
    if (e.package_joules) o["package_joules"] = *e.package_joules;
    if (e.dram_joules) o["dram_joules"] = *e.dram_joules;
    boost::json::object ds;
    for (const auto& [k, v] : e.domains) ds[k] = v;
    o["domains"] = std::move(ds);
    if (e.wraps > 0) o["wraps"] = static_cast<int64_t>(e.wraps);
    return o;
}

}  // namespace calib::core
