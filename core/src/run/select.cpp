// Stage 1 of a run: which cases the options select (--quick, --filter, --precision, --operations,
// --fusion-patterns), and the names those options accept.
#include <algorithm>
#include <cctype>
#include <set>

#include "stages.hpp"

namespace calib::core {
namespace {

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

// The --operations name a non-fusion case belongs to.
std::string operation_category(const CaseInfo& c) {
    if (c.family == Family::memory) return "memory";
    if (c.family == Family::transfer) return "transfer";
    return c.operation_type;
}

bool selected_common(const RunOptions& o, const CaseInfo& c) {
    if (o.quick && !c.quick) return false;
    if (!o.precisions.empty() && !contains(o.precisions, c.precision)) return false;
    return true;
}

bool name_matches(const RunOptions& o, const CaseInfo& c) {
    return !o.filter || std::regex_search(c.name, *o.filter);
}

bool pattern_selected(const RunOptions& o, const std::string& pattern) {
    return o.fusion_patterns.empty() || contains(o.fusion_patterns, "all") ||
           contains(o.fusion_patterns, fusion_category(pattern)) || contains(o.fusion_patterns, pattern);
}

const CaseInfo* unfused_partner(const PluginRecord& p, const CaseInfo& fused) {
    const CaseInfo* partner = nullptr;
    for (const auto& u : p.cases)
        if (u.family == Family::fusion && u.fusion_role == FusionRole::unfused && u.fusion_group == fused.fusion_group)
            partner = &u;
    return partner;
}

}  // namespace

namespace detail {

std::vector<Selected> select_cases(const RunOptions& o, const PluginRecord& p) {
    const bool want_ops = o.operations_given || !o.fusion_given;
    const bool want_fusion = o.fusion_given || !o.operations_given;
    std::vector<Selected> out;
    for (const auto& c : p.cases) {
        if (!selected_common(o, c)) continue;
        if (c.family != Family::fusion) {
            if (!want_ops || !name_matches(o, c)) continue;
            if (!o.operations.empty() && !contains(o.operations, operation_category(c))) continue;
            out.push_back({&c, nullptr});
            continue;
        }
        if (c.fusion_role != FusionRole::fused || !want_fusion || !pattern_selected(o, c.fusion_pattern)) continue;
        const CaseInfo* partner = unfused_partner(p, c);
        if (partner == nullptr) continue;  // reported by the plugin check; nothing to compare here
        if (!name_matches(o, c) && !name_matches(o, *partner)) continue;
        out.push_back({&c, partner});
    }
    return out;
}

}  // namespace detail

std::vector<std::string> operation_names() { return {"matmul", "memory", "transfer"}; }

std::string fusion_category(const std::string& pattern) {
    std::string l = lower(pattern);
    if (l.rfind("linear", 0) == 0) return "linear";
    if (l.find("conv") != std::string::npos) return "conv";
    if (l.rfind("qk_", 0) == 0 || l.find("attention") != std::string::npos) return "attention";
    return l;
}

std::vector<std::string> fusion_pattern_names(const std::vector<PluginRecord>& plugins) {
    std::set<std::string> categories, patterns;
    for (const auto& p : plugins)
        for (const auto& c : p.cases)
            if (c.family == Family::fusion && !c.fusion_pattern.empty()) {
                categories.insert(fusion_category(c.fusion_pattern));
                patterns.insert(c.fusion_pattern);
            }
    std::vector<std::string> out{"all"};
    out.insert(out.end(), categories.begin(), categories.end());
    for (const auto& p : patterns)
        if (!categories.count(p)) out.push_back(p);
    return out;
}

}  // namespace calib::core
