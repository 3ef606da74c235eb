// Plugin discovery: which files are candidates, in which order, and whether we trust them.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>

#include <sys/stat.h>

#include "calib/core/plugin_client.hpp"

namespace calib::core {

namespace fs = std::filesystem;

namespace {

std::string octal_mode(mode_t m) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
    return buf;
}

// "" when neither group nor others may write `p`; else which of them may, and the mode.
std::string writable_by_others(const fs::path& p, const char* what) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return std::string(what) + " " + p.string() + " cannot be inspected";
    const char* who = (st.st_mode & S_IWOTH) ? "world-writable" : (st.st_mode & S_IWGRP) ? "group-writable" : nullptr;
    if (who == nullptr) return {};
    return std::string(what) + " " + p.string() + " is " + who + " (mode " + octal_mode(st.st_mode) + ")";
}

void scan_folder(const fs::path& dir, bool named, const DiscoveryOptions& options, std::set<fs::path>& seen,
                 std::vector<Candidate>& out) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        if (named) throw std::runtime_error("plugin folder not found: " + dir.string());
        return;
    }
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        if (entry.path().extension() != ".so") continue;
        std::error_code fec;
        if (!entry.is_regular_file(fec)) continue;  // follows symlinks
        files.push_back(entry.path());
    }
    if (ec) throw std::runtime_error("cannot read plugin folder " + dir.string() + ": " + ec.message());
    const fs::path dir_canon = fs::canonical(dir, ec);
    std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });
    for (const fs::path& f : files) {
        std::error_code cec;
        fs::path canon = fs::canonical(f, cec);
        if (cec) continue;  // vanished or dangling since listing
        if (!seen.insert(canon).second) continue;
        Candidate c{canon, false, {}};
        if (!options.allow_insecure) {
            // The real file and the folder that really holds it: a symlink does not launder trust.
            std::string why = writable_by_others(canon, "file");
            if (why.empty()) why = writable_by_others(canon.parent_path(), "folder");
            if (why.empty() && !dir_canon.empty() && canon.parent_path() != dir_canon)
                why = writable_by_others(dir_canon, "folder");
            c.insecure = !why.empty();
            c.insecure_reason = std::move(why);
        }
        out.push_back(std::move(c));
    }
}

}  // namespace

std::vector<Candidate> discover(const DiscoveryOptions& options) {
    std::vector<Candidate> out;
    std::set<fs::path> seen;
    for (const fs::path& d : options.plugin_dirs) scan_folder(d, true, options, seen, out);
    if (options.use_env) {
        if (const char* env = std::getenv("CALIB_PLUGIN_PATH")) {
            std::string s = env;
            std::size_t start = 0;
            while (start <= s.size()) {
                std::size_t end = s.find(':', start);
                if (end == std::string::npos) end = s.size();
                // An empty entry means nothing (unlike PATH, never the current directory).
                if (end > start) scan_folder(s.substr(start, end - start), true, options, seen, out);
                start = end + 1;
            }
        }
    }
    if (options.use_default_dir) scan_folder(default_plugin_dir(), false, options, seen, out);
    return out;
}

fs::path default_plugin_dir() {
    std::error_code ec;
    fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (ec) return fs::path(CALIB_INSTALL_PLUGIN_DIR);
    fs::path prefix = exe.parent_path().parent_path();
    fs::path build_tree = prefix / "plugins";
    if (fs::is_directory(build_tree, ec)) return build_tree;
    fs::path installed(CALIB_INSTALL_PLUGIN_DIR);
    return installed.is_absolute() ? installed : prefix / installed;
}

}  // namespace calib::core
