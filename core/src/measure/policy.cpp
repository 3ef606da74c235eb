// The measurement policies: warm-up, iterations per sample, the stopping rule, and the interleaved
// pair measurement with its bootstrap speedup interval.
#include "calib/core/measure.hpp"

#include "calib/core/corunner.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <stdexcept>
#include <thread>

namespace calib::core {
namespace {

constexpr uint64_t kMaxIterations = 1'000'000'000;  // a sample of 1e9 calls means the case is ~free
constexpr std::size_t kMaxWarmupCalls = 10'000;     // guards against a clock that never advances
constexpr int kBootstrapResamples = 1000;
constexpr uint64_t kBootstrapSeed = 0x5eed'ca11'b000'0001ULL;

constexpr std::size_t kLatencyBins = 4096;  // 1 ns bins of probe latency (the last one: >= 4095 ns)
std::size_t latency_bin(double ns) {
    return std::min<std::size_t>(kLatencyBins - 1, static_cast<std::size_t>(std::max(0.0, ns)));
}
double steady_seconds() {
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// Warm-up state for one case: calls the case until warm-up time has passed and one call lasts at
// least min_sample_seconds; the iteration count grows geometrically from 1 on the observed times.
class Warmup {
public:
    explicit Warmup(const PolicyConfig& cfg) : cfg_(cfg) {}

    // One warm-up call; returns its elapsed seconds.
    double step(const RunFn& run) {
        const double t = run(iterations_);
        ++calls_;
        if (t >= cfg_.min_sample_seconds || iterations_ >= kMaxIterations) {
            calibrated_ = true;
        } else {
            // Aim 40% past the target so the next call likely clears it; at most x10 per step since a
            // tiny t is mostly timer overhead.
            const double want = t > 0 ? 1.4 * cfg_.min_sample_seconds / t : 10.0;
            const double factor = std::clamp(want, 2.0, 10.0);
            iterations_ = std::min<uint64_t>(
                kMaxIterations, static_cast<uint64_t>(std::ceil(static_cast<double>(iterations_) * factor)));
        }
        return t;
    }
    bool calibrated() const { return calibrated_; }
    std::size_t calls() const { return calls_; }
    uint64_t iterations() const { return iterations_; }

private:
    const PolicyConfig& cfg_;
    uint64_t iterations_ = 1;
    bool calibrated_ = false;
    std::size_t calls_ = 0;
};

// Runs the warm-up to completion (time and iteration count) unless the budget runs out first.
// Returns the chosen iterations per sample.
uint64_t warm_up(const RunFn& run, const PolicyConfig& cfg, const ClockFn& clock, double start,
                 bool use_budget, double& warmup_seconds) {
    Warmup w(cfg);
    const double t0 = clock();
    while (true) {
        w.step(run);
        const double now = clock();
        const bool time_done = now - t0 >= cfg.warmup_seconds;
        if ((time_done && w.calibrated()) || w.calls() >= kMaxWarmupCalls) break;
        if (use_budget && now - start >= cfg.time_budget_seconds) break;
    }
    warmup_seconds += clock() - t0;
    return w.iterations();
}

double median_of(std::vector<double>& v) {
    const std::size_t n = v.size();
    auto mid = v.begin() + static_cast<std::ptrdiff_t>(n / 2);
    std::nth_element(v.begin(), mid, v.end());
    if (n % 2 == 1) return *mid;
    return (*mid + *std::max_element(v.begin(), mid)) / 2;
}

// 95% percentile-bootstrap interval of median(b)/median(a) over paired samples; deterministic (fixed
// seed) so the same samples always give the same interval.
std::pair<double, double> bootstrap_speedup_ci(const std::vector<double>& a, const std::vector<double>& b) {
    const std::size_t n = std::min(a.size(), b.size());
    if (n == 0) return {0, 0};
    std::mt19937_64 rng(kBootstrapSeed);
    std::vector<double> ra(n), rb(n), ratios;
    ratios.reserve(kBootstrapResamples);
    for (int r = 0; r < kBootstrapResamples; ++r) {
        for (std::size_t i = 0; i < n; ++i) {
            const std::size_t j = static_cast<std::size_t>(rng() % n);  // modulo bias ~n/2^64: negligible
            ra[i] = a[j];
            rb[i] = b[j];
        }
        const double ma = median_of(ra);
        if (ma > 0) ratios.push_back(median_of(rb) / ma);
    }
    if (ratios.empty()) return {0, 0};
    std::sort(ratios.begin(), ratios.end());
    auto at = [&](double p) {
        const double h = (static_cast<double>(ratios.size()) - 1) * p;
        const auto lo = static_cast<std::size_t>(std::floor(h));
        if (lo + 1 >= ratios.size()) return ratios.back();
        return ratios[lo] + (h - static_cast<double>(lo)) * (ratios[lo + 1] - ratios[lo]);
    };
    return {at(0.025), at(0.975)};
}

// What one measurement loop needs from its caller: the samples kept so far, taking one sample (or one
// A-B pair) aside, keeping the one taken, and whether the kept samples meet the stopping rule.
struct LoopHooks {
    std::function<std::size_t()> count;
    std::function<void()> take;
    std::function<void()> keep;
    std::function<bool()> converged;
    std::function<bool()> too_wide;  // optional: at the budget, still too uncertain to stop (pairs)
    double budget_extension = 1.0;   // then the budget may stretch to this factor
    std::size_t floor = 1;           // fewest samples before a budget stop
};

struct LoopResult {
    StopReason reason = StopReason::converged;
    std::size_t discarded = 0, displaced = 0, disturbed_discarded = 0, disturbed = 0;
    double placement_seconds = 0;
};

class Policy final : public MeasurementPolicy {
public:
    Policy(std::string name, PolicyConfig cfg, ClockFn clock, bool fixed)
        : name_(std::move(name)), cfg_(cfg), clock_(std::move(clock)), fixed_(fixed) {
        if (fixed_ && cfg_.fixed_samples == 0) cfg_.fixed_samples = 10;
        cfg_.min_samples = std::max<std::size_t>(cfg_.min_samples, 1);
        cfg_.pair_ci_every = std::max<std::size_t>(cfg_.pair_ci_every, 1);
        if (!clock_) clock_ = steady_seconds;
    }

    std::string name() const override { return name_; }
    const PolicyConfig& config() const override { return cfg_; }

    Measurement measure(const RunFn& run, const CancelFn& cancelled, PlacementGuard* guard) const override {
        Measurement m;
        const double start = clock_();
        m.iterations_per_sample = warm_up(run, cfg_, clock_, start, !fixed_, m.warmup_seconds);
        const double iters = static_cast<double>(m.iterations_per_sample);
        double pending = 0;
        LoopHooks h;
        h.count = [&] { return m.samples.size(); };
        h.floor = budget_floor();
        h.take = [&] { pending = run(m.iterations_per_sample) / iters; };
        h.keep = [&] { m.samples.push_back(pending); };
        h.converged = [&] {
            return !fixed_ && m.samples.size() >= cfg_.min_samples &&
                   compute_stats(m.samples).noise <= cfg_.target_noise;
        };
        const LoopResult r = loop(h, cancelled, guard, start);
        m.reason = r.reason;
        record(m, r);
        m.stats = compute_stats(m.samples);
        m.elapsed_seconds = clock_() - start;
        return m;
    }

    PairMeasurement measure_pair(const RunFn& a, const RunFn& b, const CancelFn& cancelled,
                                 PlacementGuard* guard) const override {
        PairMeasurement p;
        const double start = clock_();
        p.a.iterations_per_sample = warm_up(a, cfg_, clock_, start, !fixed_, p.a.warmup_seconds);
        p.b.iterations_per_sample = warm_up(b, cfg_, clock_, start, !fixed_, p.b.warmup_seconds);
        const double ia = static_cast<double>(p.a.iterations_per_sample);
        const double ib = static_cast<double>(p.b.iterations_per_sample);
        std::size_t last_ci = 0;  // sample count at the last bootstrap evaluation
        double pending_a = 0, pending_b = 0;
        LoopHooks h;
        h.count = [&] { return p.a.samples.size(); };
        h.take = [&] {
            // Interleaved so that drift (clock, thermal, neighbours) hits both sides alike.
            pending_a = a(p.a.iterations_per_sample) / ia;
            pending_b = b(p.b.iterations_per_sample) / ib;
        };
        h.keep = [&] {
            p.a.samples.push_back(pending_a);
            p.b.samples.push_back(pending_b);
        };
        h.converged = [&] {
            const std::size_t m = p.a.samples.size();
            if (fixed_ || m < cfg_.min_samples) return false;
            if (compute_stats(p.a.samples).noise > cfg_.target_noise ||
                compute_stats(p.b.samples).noise > cfg_.target_noise)
                return false;
            // The bootstrap costs ~1000 medians: evaluate it only every few samples (and at least
            // every 10% growth, so the total stays ~linear in the final count).
            const std::size_t every = std::max(cfg_.pair_ci_every, m / 10);
            if (last_ci != 0 && m - last_ci < every) return false;
            last_ci = m;
            return speedup_converged(p.a.samples, p.b.samples);
        };
        // Past the budget, every few samples: is the speedup interval still wider than allowed?
        std::size_t last_wide = 0;
        bool wide = true;
        h.budget_extension = std::max(1.0, cfg_.pair_budget_extension);
        // A bootstrap over 3 pairs is far narrower than the run-to-run spread it should cover (a
        // 2048^3 Linear pair read 1.00 / 1.08 / 1.02 in three runs, each interval +-2-4%).
        h.floor = std::min(cfg_.min_samples, std::max(cfg_.pair_min_samples, cfg_.budget_floor_samples));
        h.too_wide = [&] {
            const std::size_t m = p.a.samples.size();
            if (last_wide != 0 && m - last_wide < cfg_.pair_ci_every) return wide;
            last_wide = m;
            const double hw = speedup_halfwidth(p.a.samples, p.b.samples);
            wide = hw >= 0 && hw > cfg_.pair_max_halfwidth;
            return wide;
        };
        const LoopResult r = loop(h, cancelled, guard, start);
        p.reason = r.reason;
        record(p.a, r);
        record(p.b, r);
        p.a.stats = compute_stats(p.a.samples);
        p.b.stats = compute_stats(p.b.samples);
        if (p.a.stats.median > 0) p.speedup = p.b.stats.median / p.a.stats.median;
        std::tie(p.speedup_ci_low, p.speedup_ci_high) = bootstrap_speedup_ci(p.a.samples, p.b.samples);
        p.a.reason = p.b.reason = p.reason;
        p.a.elapsed_seconds = p.b.elapsed_seconds = clock_() - start;
        return p;
    }

private:
    std::size_t budget_floor() const { return std::min(cfg_.min_samples, std::max<std::size_t>(1, cfg_.budget_floor_samples)); }

    // Samples until a stopping rule holds. With a guard, a sample is kept only when the placement was
    // the reference one both before and after it; otherwise it is discarded and the loop waits for the
    // reference placement, as long as the allowance lasts. Waiting and discarded samples do not count
    // against the time budget.
    LoopResult loop(const LoopHooks& h, const CancelFn& cancelled, PlacementGuard* guard, double start) const {
        LoopResult r;
        double case_used = 0;
        bool ok_before = guard == nullptr || guard->wait_for_reference(case_used);
        while (true) {
            if (cancelled && cancelled()) {
                r.reason = StopReason::cancelled;
                break;
            }
            const std::size_t n = h.count();
            if (fixed_) {
                if (n >= cfg_.fixed_samples) {
                    r.reason = StopReason::fixed_count;
                    break;
                }
            } else {
                if (n >= cfg_.max_samples) {
                    r.reason = StopReason::max_samples;
                    break;
                }
                const double spent = clock_() - start - case_used;
                if (n >= h.floor && spent >= cfg_.time_budget_seconds &&
                    (spent >= cfg_.time_budget_seconds * h.budget_extension || !h.too_wide || !h.too_wide())) {
                    r.reason = StopReason::time_budget;
                    break;
                }
            }
            const double t0 = clock_();
            h.take();
            if (guard != nullptr) {
                const bool ok_after = guard->in_reference();
                const bool quiet = guard->quiet();  // no co-runner over the window that ends now
                if (!(ok_before && ok_after && quiet) && guard->may_wait(case_used)) {
                    guard->charge(clock_() - t0, case_used);
                    ++r.discarded;
                    if (!quiet) ++r.disturbed_discarded;
                    ok_before = (ok_after && quiet) || guard->wait_for_reference(case_used);
                    continue;
                }
                if (!(ok_before && ok_after)) ++r.displaced;
                if (!quiet) ++r.disturbed;
                ok_before = ok_after;
            }
            h.keep();
            if (h.converged()) {
                r.reason = StopReason::converged;
                break;
            }
        }
        r.placement_seconds = case_used;
        return r;
    }

    static void record(Measurement& m, const LoopResult& r) {
        m.discarded_samples = r.discarded;
        m.displaced_samples = r.displaced;
        m.disturbed_discarded = r.disturbed_discarded;
        m.disturbed_samples = r.disturbed;
        m.placement_wait_seconds = r.placement_seconds;
    }

    // Relative half-width of the speedup's bootstrap interval; -1 when the speedup is not positive.
    static double speedup_halfwidth(const std::vector<double>& a, const std::vector<double>& b) {
        const double ma = compute_stats(a).median;
        if (ma <= 0) return -1;
        const double speedup = compute_stats(b).median / ma;
        if (!(speedup > 0)) return -1;
        const auto [lo, hi] = bootstrap_speedup_ci(a, b);
        return (hi - lo) / 2 / speedup;
    }

    bool speedup_converged(const std::vector<double>& a, const std::vector<double>& b) const {
        const double hw = speedup_halfwidth(a, b);
        return hw >= 0 && hw <= cfg_.target_noise;
    }

    std::string name_;
    PolicyConfig cfg_;
    ClockFn clock_;
    bool fixed_;
};

void validate(const PolicyConfig& c) {
    if (!(c.warmup_seconds >= 0) || !(c.min_sample_seconds >= 0) || !(c.time_budget_seconds >= 0) ||
        !(c.target_noise >= 0))
        throw std::invalid_argument("measurement policy: times and target_noise must be >= 0");
    if (c.max_samples == 0) throw std::invalid_argument("measurement policy: max_samples must be >= 1");
}

}  // namespace

PlacementGuard::PlacementGuard(ProbeFn probe, PlacementConfig cfg, ClockFn clock, SleepFn sleep)
    : probe_(std::move(probe)), cfg_(cfg), clock_(std::move(clock)), sleep_(std::move(sleep)) {
    if (!clock_) clock_ = steady_seconds;
    if (!sleep_)
        sleep_ = [](double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); };
}

void PlacementGuard::settle(double min_seconds, double max_seconds) {
    if (!probe_) return;  // a guard for co-runners only: nothing to settle
    const double t0 = clock_();
    const std::size_t w = std::max<std::size_t>(cfg_.reference_window, 1);
    double best = 0;     // lowest full-window median seen while settling
    double current = 0;  // the window's median now
    std::vector<double> v;
    while (true) {
        const double ns = probe_ ? probe_() : 0;
        if (ns > 0) observe(ns);
        if (!window_.empty()) {
            v = window_;
            current = median_of(v);
            if (window_.size() >= w && (best == 0 || current < best)) best = current;
        }
        sleep_(cfg_.poll_seconds);
        const double t = clock_() - t0;
        if (t >= std::max(min_seconds, max_seconds)) break;
        // Past the minimum, go on only while a faster placement has held a full window and the CPUs
        // are not in it now.
        if (t >= min_seconds && (best == 0 || current <= cfg_.displaced_ratio * best)) break;
    }
    settle_seconds_ = clock_() - t0;
    if (window_.empty()) return;
    // Measuring starts in the placement the CPUs are in now, and the settle counts as min_seconds of
    // the run's time in it: the time spent waiting for it to come back does not weigh against it.
    reference_ns_ = current;
    established_ = true;
    reference_since_ = clock_();
    std::fill(latency_weights_.begin(), latency_weights_.end(), 0.0);
    const double each = std::max(min_seconds, cfg_.poll_seconds) / static_cast<double>(window_.size());
    for (double x : window_) latency_weights_[latency_bin(x)] += each;
    latency_total_ = each * static_cast<double>(window_.size());
}

void PlacementGuard::observe(double ns) {
    const std::size_t w = std::max<std::size_t>(cfg_.reference_window, 1);
    if (window_.size() < w) {
        window_.push_back(ns);
    } else {
        window_[window_next_] = ns;
        window_next_ = (window_next_ + 1) % w;
    }
    if (latency_weights_.empty()) {
        latency_weights_.assign(kLatencyBins, 0.0);
        candidates_.assign(kLatencyBins, 0.0);
    }
    // Each probe stands for the time since the one before (at most 1 s): shares are shares of time, so
    // the dense probes of a wait (every 10 ms) weigh no more than a sample's one.
    const double t = clock_();
    const double weight = last_probe_at_ < 0 ? cfg_.poll_seconds : std::clamp(t - last_probe_at_, 1e-4, 1.0);
    last_probe_at_ = t;
    latency_weights_[latency_bin(ns)] += weight;
    latency_total_ += weight;
    // Until kEstablishProbes probes exist, their median stands in (up or down); from then on every
    // window median is a candidate, and the reference is the lowest candidate whose placement (it and
    // anything faster: probes up to displaced_ratio x it) holds at least reference_min_share of the
    // run's time so far.
    constexpr std::size_t kEstablishProbes = 5;
    std::vector<double> v = window_;
    const double m = median_of(v);
    if (!established_) {
        reference_ns_ = m;
        established_ = window_.size() >= std::min(w, kEstablishProbes);
        if (!established_) return;
        reference_since_ = t;
    }
    double& slot = candidates_[latency_bin(m)];
    if (slot == 0 || m < slot) slot = m;
    double below = 0;  // probe time in bins up to the one being scanned
    std::size_t scanned = 0;
    for (std::size_t b = 0; b < kLatencyBins; ++b) {
        if (candidates_[b] == 0) continue;
        const std::size_t limit = latency_bin(cfg_.displaced_ratio * candidates_[b]);
        for (; scanned <= limit; ++scanned) below += latency_weights_[scanned];
        if (below >= cfg_.reference_min_share * latency_total_) {
            set_reference(candidates_[b], t);
            return;
        }
    }
}

// A move to another placement (more than displaced_ratio away) restarts the hold time; a reference
// held for reference_confirm_seconds may still move down but never up again.
void PlacementGuard::set_reference(double ns, double now) {
    const bool other_placement =
        ns * cfg_.displaced_ratio < reference_ns_ || ns > cfg_.displaced_ratio * reference_ns_;
    if (ns > reference_ns_ && reference_since_ >= 0 && now - reference_since_ >= cfg_.reference_confirm_seconds)
        return;
    if (other_placement || reference_since_ < 0) reference_since_ = now;
    reference_ns_ = ns;
}

bool PlacementGuard::in_reference() {
    const double t0 = clock_();
    const double ns = probe_ ? probe_() : 0;
    probe_seconds_ += clock_() - t0;
    if (!(ns > 0)) return true;
    ++probes_;
    observe(ns);
    const bool ok = ns <= cfg_.displaced_ratio * reference_ns_;
    if (!ok) ++displaced_;
    return ok;
}

bool PlacementGuard::quiet() {
    if (monitor_ == nullptr) return true;
    const bool q = monitor_->quiet();
    if (!q) ++disturbed_;
    return q;
}

bool PlacementGuard::may_wait(double case_used) const {
    return case_used < cfg_.max_wait_per_case && used_allowance_ < cfg_.max_wait_per_plugin;
}

void PlacementGuard::charge(double seconds, double& case_used) {
    case_used += seconds;
    used_allowance_ += seconds;
    used_total_ += seconds;
}

bool PlacementGuard::wait_for_reference(double& case_used) {
    while (true) {
        const double t0 = clock_();
        if (in_reference() && quiet()) return true;
        if (!may_wait(case_used)) return false;
        sleep_(cfg_.poll_seconds);
        charge(clock_() - t0, case_used);
    }
}

bool PlacementGuard::wait_within(double seconds) {
    const double t0 = clock_();
    bool back = false;
    while (!(back = in_reference() && quiet()) && clock_() - t0 < seconds) sleep_(cfg_.poll_seconds);
    used_total_ += clock_() - t0;
    return back;
}

std::unique_ptr<MeasurementPolicy> make_policy(const std::string& name, const PolicyConfig& config,
                                               ClockFn clock) {
    validate(config);
    if (name == "fixed" || (name == "adaptive" && config.fixed_samples > 0))
        return std::make_unique<Policy>("fixed", config, std::move(clock), true);
    if (name == "adaptive") return std::make_unique<Policy>("adaptive", config, std::move(clock), false);
    std::string known;
    for (const auto& n : policy_names()) known += (known.empty() ? "" : ", ") + n;
    throw std::invalid_argument("unknown measurement policy '" + name + "' (known: " + known + ")");
}

std::vector<std::string> policy_names() { return {"adaptive", "fixed"}; }

PolicyConfig policy_preset(Preset p) {
    PolicyConfig c;
    if (p == Preset::quick) c.time_budget_seconds = 0.08;
    return c;
}

}  // namespace calib::core
