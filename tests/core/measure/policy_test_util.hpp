// Shared by the measure suite's files: the policy configuration the synthetic-stream tests start from.
#pragma once

#include "calib/core/measure.hpp"

namespace calib::core::test {

inline PolicyConfig base_config() {
    PolicyConfig c;
    c.warmup_seconds = 0.01;
    c.min_sample_seconds = 0.002;
    c.target_noise = 0.01;
    c.min_samples = 10;
    c.max_samples = 2000;
    c.time_budget_seconds = 1.0;
    return c;
}

}  // namespace calib::core::test
