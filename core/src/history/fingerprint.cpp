// Hardware and software fingerprints of a profile: what must match for two runs to be comparable.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>

#include "calib/core/history.hpp"

namespace calib::core {
namespace {

namespace json = boost::json;

// FNV-1a 64: stable across builds and platforms (std::hash is not).
std::string fnv1a_hex(const std::string& s) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ull;
    }
    char b[17];
    std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(h));
    return b;
}

// Keys sorted at every level so that the text, and so the hash, does not depend on insertion order.
json::value canonical(const json::value& v) {
    if (v.is_object()) {
        std::vector<std::string> keys;
        for (const auto& kv : v.as_object()) keys.emplace_back(kv.key());
        std::sort(keys.begin(), keys.end());
        json::object o;
        for (const auto& k : keys) o[k] = canonical(v.as_object().at(k));
        return o;
    }
    if (v.is_array()) {
        json::array a;
        for (const auto& x : v.as_array()) a.push_back(canonical(x));
        return a;
    }
    return v;
}

Fingerprint make(const json::object& o) {
    Fingerprint f;
    f.json = json::serialize(canonical(o));
    f.hash = fnv1a_hex(f.json);
    return f;
}

const json::object* object_at(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v != nullptr && v->is_object() ? &v->as_object() : nullptr;
}

std::string string_at(const json::object* o, std::string_view key) {
    if (o == nullptr) return {};
    const auto* v = o->if_contains(key);
    return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

// Loaded plugins from the profile's "plugins" section (absent in an origin-layout profile).
template <class F>
void for_each_loaded_plugin(const Profile& p, F&& f) {
    const auto* v = p.extensions.if_contains("plugins");
    if (v == nullptr || !v->is_array()) return;
    for (const auto& e : v->as_array())
        if (e.is_object() && string_at(&e.as_object(), "status") == "loaded") f(e.as_object());
}

}  // namespace

Fingerprint hardware_fingerprint(const Profile& p, const std::string& gpu_driver) {
    const json::object* host = object_at(p.extensions, "host");
    json::object o;
    std::string cpu = string_at(host, "cpu_model");
    o["cpu_model"] = cpu.empty() ? p.metadata.cpu_model : cpu;
    const json::value* cores = host != nullptr ? host->if_contains("physical_cores") : nullptr;
    o["physical_cores"] = cores != nullptr && cores->is_int64() ? cores->as_int64() : p.metadata.cpu_count;
    // Rounded to GiB: MemTotal moves by a few MiB between kernels on the same machine.
    const json::value* mem = host != nullptr ? host->if_contains("total_memory_bytes") : nullptr;
    const double gib = mem != nullptr && mem->is_number() ? mem->to_number<double>() / (1024.0 * 1024 * 1024)
                                                          : p.metadata.total_memory_gb;
    o["memory_gib"] = static_cast<int64_t>(std::llround(gib));
    std::vector<std::string> gpus;
    for_each_loaded_plugin(p, [&](const json::object& pl) {
        const json::object* dev = object_at(pl, "device");
        const auto* avail = dev != nullptr ? dev->if_contains("available") : nullptr;
        if (string_at(dev, "kind") == "gpu" && avail != nullptr && avail->is_bool() && avail->as_bool())
            gpus.push_back(string_at(dev, "name"));
    });
    std::sort(gpus.begin(), gpus.end());
    json::array ga;
    for (const auto& g : gpus) ga.emplace_back(g);
    o["gpus"] = std::move(ga);
    o["gpu_driver"] = gpu_driver;
    return make(o);
}

Fingerprint software_fingerprint(const Profile& p) {
    json::object o;
    std::string calib;
    if (const auto* v = p.extensions.if_contains("calib_version"); v != nullptr && v->is_string())
        calib = std::string(v->as_string());
    o["calib"] = calib.empty() ? p.metadata.calibration_tool_version : calib;
    const json::object* host = object_at(p.extensions, "host");
    const json::object* libs = host != nullptr ? object_at(*host, "libraries") : nullptr;
    o["host_libraries"] = libs != nullptr ? *libs : json::object();
    std::set<std::string> plugins;
    for_each_loaded_plugin(p, [&](const json::object& pl) {
        plugins.insert(string_at(&pl, "id") + " " + string_at(&pl, "version"));
    });
    // The libraries the plugins say they ran (oneDNN, cuBLASLt, NCCL, the CUDA runtime and driver).
    std::set<std::string> libraries;
    auto collect = [&](const json::object& extra) {
        for (const char* k : {"library", "cublaslt", "nccl", "cuda_runtime", "cuda_driver", "onednn"}) {
            std::string s = string_at(&extra, k);
            if (!s.empty()) libraries.insert(std::string(k) + "=" + s);
        }
    };
    for (const auto& [key, r] : p.operation_profiles) collect(r.extra_params);
    for (const auto& [key, r] : p.fusion_profiles) collect(r.extra_params);
    json::array pa, la;
    for (const auto& s : plugins) pa.emplace_back(s);
    for (const auto& s : libraries) la.emplace_back(s);
    o["plugins"] = std::move(pa);
    o["record_libraries"] = std::move(la);
    return make(o);
}

std::string nvidia_driver_version() {
    std::ifstream in("/sys/module/nvidia/version");
    std::string v;
    std::getline(in, v);
    return v;
}

std::filesystem::path default_history_path() {
    const char* xdg = std::getenv("XDG_DATA_HOME");
    std::filesystem::path base;
    if (xdg != nullptr && *xdg == '/') {
        base = xdg;  // the XDG spec: a relative value is invalid and ignored
    } else {
        const char* home = std::getenv("HOME");
        if (home == nullptr || *home == '\0') throw HistoryError("neither XDG_DATA_HOME nor HOME is set");
        base = std::filesystem::path(home) / ".local" / "share";
    }
    return base / "calib" / "history.sqlite";
}

}  // namespace calib::core
