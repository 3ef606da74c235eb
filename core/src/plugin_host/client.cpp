// The host side of the worker: spawn, framed requests with deadlines, failure classification,
// transparent restart. Nothing here runs plugin code.
#include <cmath>
#include <string>

#include "calib/core/plugin_client.hpp"
#include "calib/core/plugin_contract.hpp"
#include "calib/plugin.h"
#include "protocol.hpp"
#include "worker_process.hpp"

namespace calib::core {

using namespace detail;

const char* to_string(FailureKind k) {
    switch (k) {
        case FailureKind::error: return "error";
        case FailureKind::crashed: return "crashed";
        case FailureKind::timed_out: return "timed_out";
        case FailureKind::exited: return "exited";
        case FailureKind::protocol: return "protocol";
    }
    return "unknown";
}

namespace {

RejectReason reason_for(FailureKind k) {
    switch (k) {
        case FailureKind::timed_out: return RejectReason::timed_out;
        case FailureKind::exited: return RejectReason::exited;
        default: return RejectReason::crashed;
    }
}

}  // namespace

PluginRecord scan_plugin(const fs::path& library, const WorkerOptions& options) {
    PluginRecord rec;
    rec.path = library.string();
    try {
        WorkerProcess w(options, library.filename().string());
        Message m = open_library(w, library, options.scan_timeout_seconds);
        wire::Reader r = m.reader();
        if (m.type == wire::Type::opened) {
            try {
                wire::get_record(r, rec);
                r.expect_end();
            } catch (const wire::ProtocolError& e) {
                w.protocol_failure(e.what());
            }
            rec.loaded = true;
        } else {
            try {
                uint8_t code = r.u8();
                r.i32();
                rec.reason = r.str();
                if (code > static_cast<uint8_t>(RejectReason::insecure)) throw wire::ProtocolError("bad reject reason");
                rec.reason_code = static_cast<RejectReason>(code);
            } catch (const wire::ProtocolError& e) {
                w.protocol_failure(e.what());
            }
        }
        w.shutdown(kShutdownTimeout);
    } catch (const WorkerFailure& f) {
        rec = PluginRecord{};
        rec.path = library.string();
        rec.reason_code = reason_for(f.kind);
        rec.reason = std::string("worker ") + f.what() + " while loading";
    } catch (const std::exception& e) {
        rec = PluginRecord{};
        rec.path = library.string();
        rec.reason_code = RejectReason::crashed;
        rec.reason = std::string("cannot start worker: ") + e.what();
    }
    return rec;
}

PluginRecord scan_candidate(const Candidate& candidate, const WorkerOptions& options) {
    if (!candidate.insecure) return scan_plugin(candidate.path, options);
    PluginRecord rec;
    rec.path = candidate.path.string();
    rec.reason_code = RejectReason::insecure;
    rec.reason = candidate.insecure_reason;
    return rec;
}

struct PluginClient::Impl {
    fs::path library;
    WorkerOptions options;
    std::unique_ptr<WorkerProcess> worker;
    uint32_t next_instance = 1;  // unique across restarts, so a stale id never names a new instance

    WorkerProcess& ensure() {
        if (worker && worker->alive()) return *worker;
        worker.reset();
        auto w = std::make_unique<WorkerProcess>(options, library.filename().string());
        Message m = open_library(*w, library, options.scan_timeout_seconds);
        if (m.type == wire::Type::open_failed) {
            wire::Reader r = m.reader();
            uint8_t code = r.u8();
            int32_t status = r.i32();
            std::string msg = r.str();
            w->shutdown(kShutdownTimeout);
            throw WorkerFailure(FailureKind::error,
                                "cannot load " + library.string() + ": " +
                                    to_string(static_cast<RejectReason>(std::min<uint8_t>(code, 9))) + ": " + msg,
                                status == CALIB_OK ? CALIB_ERROR : status);
        }
        worker = std::move(w);
        return *worker;
    }

    // Run one request/reply exchange; a dead worker is dropped so that the next call restarts it.
    template <class F>
    auto guarded(F&& f) {
        try {
            return f();
        } catch (const WorkerFailure& e) {
            if (e.kind != FailureKind::error) worker.reset();
            throw;
        } catch (const wire::ProtocolError& e) {
            worker.reset();
            throw WorkerFailure(FailureKind::protocol, std::string("protocol error: ") + e.what());
        }
    }

};

PluginClient::PluginClient(fs::path library, WorkerOptions options) : impl_(std::make_unique<Impl>()) {
    impl_->library = std::move(library);
    impl_->options = std::move(options);
}

PluginClient::~PluginClient() {
    if (impl_->worker) impl_->worker->shutdown(kShutdownTimeout);
}

PluginClient::Prepared PluginClient::prepare(uint32_t case_index, double timeout_seconds) {
    return impl_->guarded([&] {
        WorkerProcess& w = impl_->ensure();
        uint32_t id = impl_->next_instance++;
        w.send(std::move(wire::Writer(wire::Type::prepare).u32(id).u32(case_index)));
        Message m = w.receive(deadline_after(timeout_seconds), timeout_seconds);
        if (m.type == wire::Type::status_error) throw_status_error(m);
        if (m.type != wire::Type::prepared) w.protocol_failure("unexpected reply to prepare");
        wire::Reader r = m.reader();
        Prepared p{id, wire::get_instance(r)};
        r.expect_end();
        return p;
    });
}

double PluginClient::run(uint32_t instance, uint64_t iterations, double timeout_seconds) {
    if (iterations == 0) throw WorkerFailure(FailureKind::error, "iterations must be at least 1", CALIB_INVALID_ARGUMENT);
    return impl_->guarded([&] {
        double s = request_run(impl_->ensure(), instance, iterations, deadline_after(timeout_seconds), timeout_seconds);
        if (std::string why = contract::run_time_problem(s); !why.empty())
            throw WorkerFailure(FailureKind::error, "plugin " + why, CALIB_ERROR);
        return s;
    });
}

void PluginClient::release(uint32_t instance) {
    if (!impl_->worker || !impl_->worker->alive()) return;  // its instances died with it
    try {
        impl_->guarded([&] {
            WorkerProcess& w = *impl_->worker;
            w.send(std::move(wire::Writer(wire::Type::release).u32(instance)));
            Message m = w.receive(deadline_after(kReleaseTimeout), kReleaseTimeout);
            if (m.type != wire::Type::ack) w.protocol_failure("unexpected reply to release");
            return 0;
        });
    } catch (const std::exception&) {
        // The worker is gone and will be restarted by the next call; nothing left to release.
    }
}

std::optional<DeviceState> PluginClient::read_state(uint32_t device, double timeout_seconds) {
    try {
        return impl_->guarded([&]() -> std::optional<DeviceState> {
            WorkerProcess& w = impl_->ensure();
            w.send(std::move(wire::Writer(wire::Type::read_state).u32(device)));
            Message m = w.receive(deadline_after(timeout_seconds), timeout_seconds);
            if (m.type == wire::Type::status_error) return std::nullopt;
            if (m.type != wire::Type::state) w.protocol_failure("unexpected reply to read_state");
            wire::Reader r = m.reader();
            DeviceState s = wire::get_state(r);
            r.expect_end();
            return s;
        });
    } catch (const WorkerFailure& e) {
        if (e.kind == FailureKind::error) return std::nullopt;
        throw;
    }
}

void PluginClient::terminate() { impl_->worker.reset(); }

}  // namespace calib::core
