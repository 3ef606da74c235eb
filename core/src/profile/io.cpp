// Profile <-> JSON value, the pretty printer, the precise parser and atomic file writes.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json/basic_parser_impl.hpp>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "reader.hpp"
#include "schema.hpp"

namespace calib::core {

namespace json = boost::json;

namespace {

template <class Record>
json::object records_json(const std::vector<std::pair<std::string, Record>>& recs, const char* name) {
    json::object o;
    o.reserve(recs.size());
    for (const auto& [key, rec] : recs) {
        if (o.contains(key)) throw ProfileError(detail::child_path(name, key) + ": duplicate key");
        o[key] = detail::write_object(rec);
    }
    return o;
}

// ---- printing ------------------------------------------------------------------------------------

void append_double(std::string& out, double d) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, d);  // shortest form that reads back exactly
    std::string_view s(buf, static_cast<size_t>(r.ptr - buf));
    out.append(s);
    // Keep it a float for every reader: "1" would come back as an integer.
    if (s.find_first_of(".eE") == std::string_view::npos) out.append(".0");
}

constexpr int kMaxPrintDepth = 1000;

void print(std::string& out, const json::value& v, int indent, const std::string& path) {
    if (indent / 2 > kMaxPrintDepth) throw ProfileError(path + ": nested too deeply to print");
    auto newline = [&](int n) {
        out.push_back('\n');
        out.append(static_cast<size_t>(n), ' ');
    };
    switch (v.kind()) {
        case json::kind::null:
            out.append("null");
            return;
        case json::kind::bool_:
            out.append(v.get_bool() ? "true" : "false");
            return;
        case json::kind::int64:
            out.append(std::to_string(v.get_int64()));
            return;
        case json::kind::uint64:
            out.append(std::to_string(v.get_uint64()));
            return;
        case json::kind::double_:
            if (!std::isfinite(v.get_double()))
                throw ProfileError((path.empty() ? std::string("<root>") : path) +
                                   ": non-finite number cannot be written as JSON");
            append_double(out, v.get_double());
            return;
        case json::kind::string:
            out.append(json::serialize(v));
            return;
        case json::kind::array: {
            const auto& a = v.get_array();
            if (a.empty()) return out.append("[]"), void();
            bool scalars = std::none_of(a.begin(), a.end(),
                                        [](const json::value& e) { return e.is_array() || e.is_object(); });
            out.push_back('[');
            for (size_t i = 0; i < a.size(); ++i) {
                if (i) out.push_back(',');
                if (scalars) {
                    if (i) out.push_back(' ');
                } else {
                    newline(indent + 2);
                }
                print(out, a[i], indent + 2, detail::index_path(path, i));
            }
            if (!scalars) newline(indent);
            out.push_back(']');
            return;
        }
        case json::kind::object: {
            const auto& o = v.get_object();
            if (o.empty()) return out.append("{}"), void();
            out.push_back('{');
            bool first = true;
            for (const auto& kv : o) {
                if (!first) out.push_back(',');
                first = false;
                newline(indent + 2);
                out.append(json::serialize(json::string_view(kv.key())));
                out.append(": ");
                print(out, kv.value(), indent + 2, detail::child_path(path, kv.key()));
            }
            newline(indent);
            out.push_back('}');
            return;
        }
    }
}

// ---- parsing -------------------------------------------------------------------------------------

// Boost.JSON 1.81 does not round doubles correctly; this handler builds the same value tree but
// re-reads every double with std::from_chars (correctly rounded) from the number's own text.
struct PreciseHandler {
    static constexpr std::size_t max_object_size = json::object::max_size();
    static constexpr std::size_t max_array_size = json::array::max_size();
    static constexpr std::size_t max_key_size = json::string::max_size();
    static constexpr std::size_t max_string_size = json::string::max_size();

    json::value_stack st;
    std::string number;  // parts of a number split across buffers
    bool out_of_range = false;

    bool on_document_begin(json::error_code&) { return true; }
    bool on_document_end(json::error_code&) { return true; }
    bool on_object_begin(json::error_code&) { return true; }
    bool on_object_end(std::size_t n, json::error_code&) { return st.push_object(n), true; }
    bool on_array_begin(json::error_code&) { return true; }
    bool on_array_end(std::size_t n, json::error_code&) { return st.push_array(n), true; }
    bool on_key_part(json::string_view s, std::size_t, json::error_code&) { return st.push_chars(s), true; }
    bool on_key(json::string_view s, std::size_t, json::error_code&) { return st.push_key(s), true; }
    bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
        return st.push_chars(s), true;
    }
    bool on_string(json::string_view s, std::size_t, json::error_code&) { return st.push_string(s), true; }
    bool on_number_part(json::string_view s, json::error_code&) { return number.append(s), true; }
    bool on_int64(std::int64_t i, json::string_view, json::error_code&) {
        number.clear();
        return st.push_int64(i), true;
    }
    bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
        number.clear();
        return st.push_uint64(u), true;
    }
    bool on_double(double approx, json::string_view s, json::error_code& ec) {
        number.append(s);
        double d = 0;
        auto r = std::from_chars(number.data(), number.data() + number.size(), d);
        number.clear();
        if (r.ec == std::errc::result_out_of_range && std::isfinite(approx) && std::fabs(approx) < 1) {
            d = approx;  // underflow: the approximation is as good as zero or a denormal
        } else if (r.ec != std::errc() || !std::isfinite(d)) {
            out_of_range = true;
            ec = json::error::exponent_overflow;
            return false;
        }
        return st.push_double(d), true;
    }
    bool on_bool(bool b, json::error_code&) { return st.push_bool(b), true; }
    bool on_null(json::error_code&) { return st.push_null(), true; }
    bool on_comment_part(json::string_view, json::error_code&) { return true; }
    bool on_comment(json::string_view, json::error_code&) { return true; }
};

std::string location(const std::string& text, size_t offset) {
    offset = std::min(offset, text.size());
    size_t line = 1, line_start = 0;
    for (size_t i = 0; i < offset; ++i) {
        if (text[i] == '\n') {
            ++line;
            line_start = i + 1;
        }
    }
    return "line " + std::to_string(line) + ", column " + std::to_string(offset - line_start + 1) +
           " (byte " + std::to_string(offset) + ")";
}

json::value parse_json(const std::string& text) {
    json::parse_options opt;
    opt.max_depth = 64;  // profiles nest a few levels; deeper input is rejected, not recursed into
    json::basic_parser<PreciseHandler> p(opt);
    p.handler().st.reset();
    json::error_code ec;
    size_t n = p.write_some(false, text.data(), text.size(), ec);
    if (!ec && n != text.size()) ec = json::error::extra_data;
    if (ec) {
        std::string what = p.handler().out_of_range ? "number out of range" : ec.message();
        throw ProfileError("JSON parse error at " + location(text, n) + ": " + what);
    }
    return p.handler().st.release();
}

std::string errno_text(int err) { return std::strerror(err); }

}  // namespace

json::value to_json(const Profile& p) {
    json::object o;
    o.reserve(14 + p.extensions.size());
    o["metadata"] = detail::write_object(p.metadata);
    for (const auto& [name, member] : detail::kTopNumbers) o[name] = p.*member;
    o["operation_profiles"] = records_json<OperationRecord>(p.operation_profiles, "operation_profiles");
    o["fusion_profiles"] = records_json<FusionRecord>(p.fusion_profiles, "fusion_profiles");
    if (!p.precision_matrix.is_null() && !p.precision_matrix.is_object())
        throw ProfileError("precision_matrix: expected object or null");
    o["precision_matrix"] = p.precision_matrix;
    for (const auto& kv : p.extensions) {
        if (o.contains(kv.key()))
            throw ProfileError(std::string(kv.key()) + ": extension key collides with an origin key");
    }
    // Known extensions first in their documented order, then the rest as they come.
    for (auto k : detail::extension_keys()) {
        if (const auto* v = p.extensions.if_contains(k)) o[k] = *v;
    }
    for (const auto& kv : p.extensions) {
        if (!o.contains(kv.key())) o[kv.key()] = kv.value();
    }
    return o;
}

Profile from_json(const json::value& v) {
    detail::Problems throw_first;
    detail::scan_non_finite(v, "", throw_first);
    return detail::read_profile(v, throw_first).profile;
}

std::string pretty_print(const json::value& v) {
    std::string out;
    print(out, v, 0, "");
    out.push_back('\n');
    return out;
}

std::string to_json_text(const Profile& p) { return pretty_print(to_json(p)); }

Profile parse_profile(const std::string& text) { return from_json(parse_json(text)); }

Profile load_profile(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ProfileError(path.string() + ": cannot open: " + errno_text(errno));
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) throw ProfileError(path.string() + ": read error");
    try {
        return parse_profile(ss.str());
    } catch (const ProfileError& e) {
        throw ProfileError(path.string() + ": " + e.what());
    }
}

void save_text_atomic(const std::filesystem::path& path, const std::string& text) {
    auto fail = [&](const std::string& what, int err) {
        throw std::runtime_error("cannot write " + path.string() + ": " + what + ": " + errno_text(err));
    };
    const std::filesystem::path dir =
        path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    std::string name = path.filename().string();
    name.insert(name.begin(), '.');  // hidden; built in place (GCC 12 warns falsely on "." + string)
    name += ".tmp.XXXXXX";
    std::string tmp = (dir / name).string();
    int fd = ::mkstemp(tmp.data());  // unique name in the same folder, so rename is atomic
    if (fd < 0) fail("cannot create a temporary file in " + dir.string(), errno);
    auto abandon = [&](const std::string& what) {
        int err = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        fail(what, err);
    };
    const char* data = text.data();
    size_t left = text.size();
    while (left > 0) {
        ssize_t w = ::write(fd, data, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            abandon("write failed");
        }
        data += w;
        left -= static_cast<size_t>(w);
    }
    if (::fchmod(fd, 0644) != 0) abandon("chmod failed");  // mkstemp creates 0600
    if (::fsync(fd) != 0) abandon("fsync failed");
    if (::close(fd) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        fail("close failed", err);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        fail("rename failed", err);
    }
    // Persist the rename itself; best effort (some filesystems refuse fsync on a directory).
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

void save_profile(const std::filesystem::path& path, const Profile& p) {
    save_text_atomic(path, to_json_text(p));
}

}  // namespace calib::core
