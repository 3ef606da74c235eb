// The host side of `calib-host check`: one worker judges the plugin (worker_check.cpp); this side
// picks the cases to run, times run() through the worker's ordinary run path to check that time grows
// with iterations, and turns a worker that died, exited or hung into one final FAIL event.
#include <cstring>
#include <map>
#include <set>
#include <tuple>

#include "calib/core/plugin_client.hpp"
#include "calib/core/plugin_contract.hpp"
#include "worker_process.hpp"

namespace calib::core {

using namespace detail;

namespace {

// Cases to run: by default, per (family, operation, precision, fusion pattern) the cheapest one, or
// for fusion the cheapest group (both its cases): every kind of kernel once, at the smallest size.
std::vector<uint32_t> select_cases(const std::vector<CaseInfo>& cases, bool all) {
    std::vector<uint32_t> out;
    if (all) {
        for (uint32_t i = 0; i < cases.size(); ++i) out.push_back(i);
        return out;
    }
    using Key = std::tuple<Family, std::string, std::string, std::string>;
    std::map<Key, std::pair<double, std::string>> best;  // cost and unit (case name or fusion group)
    auto unit_of = [](const CaseInfo& c) {
        return c.family == Family::fusion ? "group:" + c.fusion_group : "case:" + c.name;
    };
    std::map<std::string, double> unit_cost;
    for (const auto& c : cases) unit_cost[unit_of(c)] += c.flops + c.bytes;
    for (const auto& c : cases) {
        Key k{c.family, c.operation_type, c.precision, c.fusion_pattern};
        const std::string u = unit_of(c);
        auto it = best.find(k);
        if (it == best.end() || unit_cost[u] < it->second.first) best[k] = {unit_cost[u], u};
    }
    std::set<std::string> chosen;
    for (const auto& [k, v] : best) chosen.insert(v.second);
    for (uint32_t i = 0; i < cases.size(); ++i)
        if (chosen.count(unit_of(cases[i]))) out.push_back(i);
    return out;
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string signal_text(int sig) {
    const char* d = ::strsignal(sig);
    return "signal " + std::to_string(sig) + (d != nullptr ? std::string(", ") + d : std::string());
}

// Stages of a check_open reply (worker_check.cpp).
constexpr uint8_t kStop = 0;
constexpr uint8_t kWithCases = 2;

class CheckSession {
public:
    CheckSession(const fs::path& library, const CheckOptions& options, const std::function<void(const CheckEvent&)>& sink)
        : library_(library), options_(options), sink_(sink), deadline_(deadline_after(options.timeout_seconds)) {}

    CheckTally run() {
        try {
            WorkerOptions wo;
            wo.host_executable = options_.host_executable;
            WorkerProcess w(wo, library_.filename().string());
            w_ = &w;
            w.on_log([this](int32_t level, const std::string& text) {
                if (!options_.verbose) return;
                std::string line = "[";
                line += std::to_string(level);
                line += "] ";
                line += text;
                emit(CheckEventKind::log, current_, line);
            });
            converse();
            w.shutdown(kShutdownTimeout);
        } catch (const WorkerFailure& f) {
            died(f);
        } catch (const std::exception& e) {
            emit(CheckEventKind::fail, "", std::string("cannot run the worker: ") + e.what());
        }
        return tally_;
    }

private:
    void emit(CheckEventKind kind, const std::string& check, const std::string& detail = "") {
        switch (kind) {
            case CheckEventKind::begin: current_ = check; break;
            case CheckEventKind::pass: ++tally_.pass; current_.clear(); break;
            case CheckEventKind::fail: ++tally_.fail; current_.clear(); break;
            case CheckEventKind::skip: ++tally_.skip; current_.clear(); break;
            case CheckEventKind::log: break;
        }
        sink_(CheckEvent{kind, check, detail});
    }

    // Sends a request, forwards the worker's check events, returns its check_reply.
    Message ask(wire::Writer&& request) {
        w_->send(std::move(request));
        for (;;) {
            Message m = w_->receive(deadline_, options_.timeout_seconds);
            if (m.type == wire::Type::check_reply) return m;
            if (m.type != wire::Type::check_event) w_->protocol_failure("unexpected reply during check");
            try {
                wire::Reader r = m.reader();
                uint8_t kind = r.u8();
                std::string check = r.str();
                std::string detail = r.str();
                if (kind > static_cast<uint8_t>(CheckEventKind::log)) throw wire::ProtocolError("bad check event");
                emit(static_cast<CheckEventKind>(kind), check, detail);
            } catch (const wire::ProtocolError& e) {
                w_->protocol_failure(e.what());
            }
        }
    }

    void converse() {
        Message m = ask(std::move(wire::Writer(wire::Type::check_open).str(library_.string())));
        PluginRecord rec;
        uint8_t stage = kStop;
        try {
            wire::Reader r = m.reader();
            stage = r.u8();
            if (stage == kWithCases) wire::get_record(r, rec);
        } catch (const wire::ProtocolError& e) {
            w_->protocol_failure(e.what());
        }
        if (stage == kStop) return;
        bool zero_checked = false;
        for (uint32_t i : select_cases(rec.cases, options_.all_cases)) check_case(i, rec.cases[i].name, zero_checked);
        ask(wire::Writer(wire::Type::check_tail));
    }

    // The worker checks the case's lifecycle; timing and release go through the ordinary requests.
    void check_case(uint32_t index, const std::string& name, bool& zero_checked) {
        const uint32_t id = next_instance_++;
        Message m = ask(std::move(wire::Writer(wire::Type::check_case).u32(id).u32(index).u8(zero_checked ? 0 : 1)));
        bool prepared = false, ran = false;
        try {
            wire::Reader r = m.reader();
            prepared = r.u8() != 0;
            ran = r.u8() != 0;
        } catch (const wire::ProtocolError& e) {
            w_->protocol_failure(e.what());
        }
        if (ran) {
            zero_checked = true;
            emit(CheckEventKind::begin, "timing scales " + name);
            check_scaling(id);
        }
        if (!prepared) return;
        emit(CheckEventKind::begin, "release " + name);
        w_->send(std::move(wire::Writer(wire::Type::release).u32(id)));
        if (w_->receive(deadline_, options_.timeout_seconds).type != wire::Type::ack)
            w_->protocol_failure("unexpected reply to release");
        emit(CheckEventKind::pass, "release " + name);
    }

    // One run through the worker's run path; false after reporting a failure.
    bool timed(uint32_t id, uint64_t n, double& t) {
        try {
            t = request_run(*w_, id, n, deadline_, options_.timeout_seconds);
        } catch (const WorkerFailure& f) {
            if (f.kind != FailureKind::error) throw;
            emit(CheckEventKind::fail, current_, "run(" + std::to_string(n) + ") returned " + contract::status_text(f.status, f.what()));
            return false;
        } catch (const wire::ProtocolError& e) {
            w_->protocol_failure(e.what());
        }
        if (!std::isfinite(t) || t < 0) {
            emit(CheckEventKind::fail, current_, "run(" + std::to_string(n) + ") reported " + std::to_string(t) + " s");
            return false;
        }
        return true;
    }

    // The fastest of `runs` timings: noise only ever adds time.
    bool fastest(uint32_t id, uint64_t n, int runs, double& best) {
        for (int r = 0; r < runs; ++r) {
            double u = 0;
            if (!timed(id, n, u)) return false;
            best = r == 0 ? u : std::min(best, u);
        }
        return true;
    }

    // run() must report time that grows with the iteration count: t(4N) >= 2 t(N), N chosen so that
    // t(N) is well above clock resolution. A few attempts absorb a noisy machine.
    void check_scaling(uint32_t id) {
        const auto start = Clock::now();
        const std::string check = current_;
        uint64_t n = 1;
        double t = 0;
        // The faster of two runs: a first (cold) run can be much slower than the rest.
        if (!fastest(id, n, 2, t)) return;
        // Grow N until one timing is >= 2 ms (bounded: a kernel that reports no time ends here too).
        while (t < 2e-3 && n < (uint64_t{1} << 30) && seconds_since(start) < 2.0) {
            n *= t > 0 ? std::clamp<uint64_t>(static_cast<uint64_t>(2.5e-3 / t) + 1, 2, 64) : 2;
            if (!fastest(id, n, 2, t)) return;
        }
        if (!(t > 0)) {
            emit(CheckEventKind::fail, check, "run() reports no elapsed time even at " + std::to_string(n) + " iterations");
            return;
        }
        double ratio = 0, last_a = 0, last_c = 0;
        uint64_t last_n = n;
        for (int attempt = 0; attempt < 8 && (attempt < 2 || seconds_since(start) < 10.0); ++attempt) {
            double a = 0, c = 0;
            if (!fastest(id, n, 3, a) || !fastest(id, 4 * n, 3, c)) return;
            ratio = a > 0 ? c / a : 0;
            last_a = a;
            last_c = c;
            last_n = n;
            if (ratio >= 2.0) {
                char buf[96];
                std::snprintf(buf, sizeof buf, "t(4N)/t(N) = %.2f at N = %llu", ratio, static_cast<unsigned long long>(n));
                emit(CheckEventKind::pass, check, buf);
                return;
            }
            // A fixed cost per call (thread wake-up on a busy machine) can hide the work at small N:
            // retry with more work per call while that stays cheap.
            if (c < 1.0 && n < (uint64_t{1} << 30)) n *= 4;
        }
        char buf[192];
        std::snprintf(buf, sizeof buf,
                      "time does not grow with iterations: t(4N)/t(N) = %.3g ms / %.3g ms = %.2f at N = %llu (need >= 2)",
                      last_c * 1e3, last_a * 1e3, ratio, static_cast<unsigned long long>(last_n));
        emit(CheckEventKind::fail, check, buf);
    }

    void died(const WorkerFailure& f) {
        const std::string during = current_.empty() ? "" : " during " + current_;
        switch (f.kind) {
            case FailureKind::timed_out:
                emit(CheckEventKind::fail, "", "timed out after " + seconds_text(options_.timeout_seconds) + " s" + during);
                break;
            case FailureKind::crashed: emit(CheckEventKind::fail, "", "crashed (" + signal_text(f.signal) + ")" + during); break;
            case FailureKind::exited:
                emit(CheckEventKind::fail, "", "the plugin ended the process (exit status " + std::to_string(f.exit_code) + ")" + during);
                break;
            default: emit(CheckEventKind::fail, "", std::string("the worker failed: ") + f.what() + during); break;
        }
    }

    fs::path library_;
    const CheckOptions& options_;
    const std::function<void(const CheckEvent&)>& sink_;
    Clock::time_point deadline_;
    WorkerProcess* w_ = nullptr;
    std::string current_;
    CheckTally tally_;
    uint32_t next_instance_ = 1;
};

}  // namespace

CheckTally check_plugin(const fs::path& library, const CheckOptions& options,
                        const std::function<void(const CheckEvent&)>& on_event) {
    return CheckSession(library, options, on_event).run();
}

}  // namespace calib::core
