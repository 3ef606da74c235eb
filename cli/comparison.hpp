// The table `calib-host compare` prints, shared with `calib-host history compare`.
#pragma once

#include <string>

#include "calib/core/compare.hpp"
#include "calib/core/profile.hpp"

namespace calib::cli {

// One row of the table, newline included.
std::string comparison_line(const core::RecordComparison& c);
// Prints every common record of `a` and `b` classified (core::compare_profiles) and the counts line.
// Returns how many records are SLOWER by more than fail_pct percent (none when fail_pct < 0).
int print_comparison(const core::Profile& a, const core::Profile& b, double same_pct, double fail_pct);

}  // namespace calib::cli
