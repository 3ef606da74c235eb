// The table `calib-host compare` prints, shared with `calib-host history compare`.
#pragma once

#include "calib/core/profile.hpp"

namespace calib::cli {

// Prints every common record of `a` and `b` classified (core::compare_profiles) and the counts line.
// Returns how many records are SLOWER by more than fail_pct percent (none when fail_pct < 0).
int print_comparison(const core::Profile& a, const core::Profile& b, double same_pct, double fail_pct);

}  // namespace calib::cli
