// The stages of run_calibration() (run.cpp), internal to core/run: case selection (select.cpp), then
// measuring every selected case and the end-of-run retry pass (schedule.cpp).
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "calib/core/energy.hpp"
#include "calib/core/run.hpp"

namespace calib::core::detail {

double now_seconds();

// One unit of work: a compute or memory case, or a fused/unfused pair.
struct Selected {
    const CaseInfo* primary;  // compute/memory case, or the fused case of a pair
    const CaseInfo* unfused;  // fusion pairs only
};

// The cases of `p` that the options select, in the plugin's order.
std::vector<Selected> select_cases(const RunOptions& o, const PluginRecord& p);

// Measures selected cases into `result.outcomes`, one worker per plugin, under the run's policy and
// placement guard (may be null), then gives deferred and displaced cases an end-of-run pass.
class Scheduler {
public:
    Scheduler(const RunOptions& o, const std::atomic<bool>& cancel, ProgressSink* progress, PlacementGuard* guard,
              RunResult& result);
    // Every selected case of every loaded plugin with an available device.
    void measure_all(const std::vector<PluginRecord>& plugins);
    // Clean cases measured under a reference the run later left for a faster placement join the pass.
    void list_stale();
    // The end-of-run pass (see schedule.cpp).
    void retry_pass();
    // After the pass: outcomes still disturbed by a co-runner get CaseOutcome::disturbed.
    void flag_disturbed();
    // After the run: intervals of cases measured in several replicas (moderated between-replica spread).
    void replica_intervals();

private:
    // A case for the end-of-run pass, or a clean case with the reference it was measured in.
    struct Later {
        std::size_t outcome;  // index into result.outcomes
        const PluginRecord* plugin;
        Selected sel;
        bool deferred;
        double displaced;         // how far off: share of samples kept displaced or of time stolen (1 when deferred)
        double reference_ns = 0;  // the reference placement it was measured in (clean cases)
    };
    CaseOutcome outcome_for(const PluginRecord& plugin, const Selected& s) const;
    CaseOutcome measure_one(PluginClient& client, const PluginRecord& plugin, const Selected& s);
    void measure_plugin(const PluginRecord& plugin, const std::vector<Selected>& cases);
    void add_replica(CaseOutcome& out, CaseOutcome&& again) const;
    void replicate(const std::vector<Later>& cases);
    void defer(const PluginRecord& plugin, const Selected& s);
    void retry_one(const Later& lt, PluginClient& client);
    void onset_neighbours(double t_start);
    double off_fraction(const CaseOutcome& out) const;
    std::vector<double> steal_now() const;
    CoRunnerMonitor* monitor() const;
    // ABI 1.1 device state: read once at a plugin's start (idle), around measurements and sustained runs.
    void read_idle(PluginClient& client, const PluginRecord& plugin);
    std::optional<DeviceState> state_of(PluginClient& client, const PluginRecord& plugin, uint32_t device);
    void sustain(PluginClient& client, uint32_t instance, const PluginRecord& plugin, CaseOutcome& out);

    const RunOptions& o_;
    const std::atomic<bool>& cancel_;
    ProgressSink* progress_;
    PlacementGuard* guard_;
    RunResult& result_;
    std::unique_ptr<MeasurementPolicy> policy_;
    double run_timeout_;
    std::vector<Later> later_;        // for the end-of-run pass
    std::vector<Later> measured_in_;  // clean cases, with their reference
    std::vector<Later> replicable_;   // measured clean in the first pass: the further replicas' cases
    // Clean first-pass cases that saw some foreign CPU time, with when they ended (onset_neighbours).
    std::vector<std::pair<Later, double>> recent_;
    std::size_t done_ = 0, total_ = 0;
    std::set<std::string> stateless_;  // plugins that read no device state
    bool main_pass_ = false;
    RaplReader rapl_;                  // CPU energy around CPU plugins' cases (the host's job)           // measuring the main pass (sustained windows run only there)
};

}  // namespace calib::core::detail
