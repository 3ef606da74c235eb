// Internal: the one schema reader shared by from_json (throw on the first problem) and validate
// (collect every problem and keep going).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "calib/core/profile.hpp"

namespace calib::core::detail {

// Where problems go: a null sink throws ProfileError on the first one.
class Problems {
public:
    explicit Problems(std::vector<std::string>* sink = nullptr) : sink_(sink) {}
    void add(const std::string& path, const std::string& what);

private:
    std::vector<std::string>* sink_;
};

std::string child_path(const std::string& base, std::string_view key);
std::string index_path(const std::string& base, size_t i);
const char* kind_name(const boost::json::value& v);

// The origin's top-level keys, in order (precision_matrix not included).
const std::vector<std::string_view>& origin_top_keys();
// calib's known extension keys, in the order they are written.
const std::vector<std::string_view>& extension_keys();

struct ReadResult {
    Profile profile;
    bool top_ok = true;              // metadata and top-level fields read without problems
    std::vector<bool> operation_ok;  // per operation_profiles entry, in order
    std::vector<bool> fusion_ok;     // per fusion_profiles entry, in order
};

// Reads what it can; every structural or type problem goes to `pr`.
ReadResult read_profile(const boost::json::value& doc, Problems& pr);

// Reports each NaN or infinity anywhere in `v` (iterative: safe on deep nesting).
void scan_non_finite(const boost::json::value& v, const std::string& path, Problems& pr);

}  // namespace calib::core::detail
