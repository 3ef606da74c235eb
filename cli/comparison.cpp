// The compare table: one line per common record, then the counts per class.
#include "comparison.hpp"

#include <cstdio>
#include <iostream>
#include <map>
#include <string>

#include "calib/core/compare.hpp"

namespace calib::cli {

std::string comparison_line(const core::RecordComparison& c) {
    char line[512];
    std::snprintf(line, sizeof line, "%-8s %-58s %10.3g %10.3g %-7s %+7.1f%%\n", c.verdict, c.key.c_str(), c.a.value,
                  c.b.value, c.unit, c.change_pct);
    return line;
}

int print_comparison(const core::Profile& a, const core::Profile& b, double same_pct, double fail_pct) {
    int regressions = 0, compared = 0;
    std::map<std::string, int> counts;
    std::printf("%-8s %-58s %10s %10s %-7s %8s\n", "CLASS", "RECORD", "A", "B", "UNIT", "CHANGE");
    for (const auto& c : core::compare_profiles(a, b, same_pct)) {
        std::cout << comparison_line(c);
        ++counts[c.verdict];
        ++compared;
        if (std::string(c.verdict) == "SLOWER" && fail_pct >= 0 && -c.change_pct > fail_pct) ++regressions;
    }
    std::fflush(stdout);
    std::cout << compared << " common records:";
    for (const auto& [cls, n] : counts) std::cout << " " << n << " " << cls;
    std::cout << "\n";
    return regressions;
}

}  // namespace calib::cli
