#pragma once

#include <ostream>

#include "calib/core/profile.hpp"

namespace calib::cli {

// The human summary of a profile: specs and peaks with sources, aggregates, matmul table, memory hierarchy,
// fusion table with intervals and verdicts, warnings.
void print_summary(std::ostream& os, const core::Profile& p);

}  // namespace calib::cli
