// The worker's side of `calib-host check`: the same plugin, loaded and judged by the same rules as for
// a scan or run (worker.cpp, plugin_contract.hpp), each step reported as a check event. Timing that
// grows with iterations is checked by the host through the ordinary run path (check_client.cpp).
#include <sys/resource.h>

#include <cstdio>

#include "calib/core/plugin_contract.hpp"
#include "worker.hpp"

namespace calib::core::detail {

namespace {

using contract::status_name;
using contract::status_text;

// Stages a check_open reply announces.
constexpr uint8_t kStop = 0;       // nothing more can be checked
constexpr uint8_t kTailOnly = 1;   // no cases to run: go on with the closing checks
constexpr uint8_t kWithCases = 2;  // the record follows: run its cases, then the closing checks

std::string text_of(const char* buf, std::size_t capacity) { return std::string(buf, ::strnlen(buf, capacity)); }

}  // namespace

void Worker::begin(const std::string& check) {
    check_ = check;
    verdict(CheckEventKind::begin);
}

void Worker::verdict(CheckEventKind kind, const std::string& detail) {
    send(std::move(wire::Writer(wire::Type::check_event).u8(static_cast<uint8_t>(kind)).str(check_).str(detail)));
}

void Worker::handle_check_open(const std::string& path) {
    const rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);  // a crashing plugin is expected here: no core dumps
    PluginRecord rec;
    uint8_t stage = kStop;
    const calib_plugin_api* table = lib_.is_loaded() ? nullptr : check_load(path);
    if (table != nullptr && check_table(*table) && check_init()) {
        check_device();
        stage = check_case_list(rec);
    }
    wire::Writer w(wire::Type::check_reply);
    w.u8(stage);
    if (stage == kWithCases) wire::put_record(w, rec);
    send(std::move(w));
}

const calib_plugin_api* Worker::check_load(const std::string& path) {
    begin("load");
    if (std::string why = load(path); !why.empty()) {
        verdict(CheckEventKind::fail, why);
        return nullptr;
    }
    verdict(CheckEventKind::pass, "dlopen(RTLD_NOW)");
    begin("entry symbol");
    const calib_plugin_api* table = nullptr;
    RejectReason reason = RejectReason::none;
    if (std::string why = find_table(table, reason); !why.empty()) {
        verdict(CheckEventKind::fail, why);
        return nullptr;
    }
    verdict(CheckEventKind::pass, CALIB_PLUGIN_ENTRY_SYMBOL "() returns a static table");
    return table;
}

bool Worker::check_table(const calib_plugin_api& t) {
    // The rules of Worker::judge_table, one check each.
    begin("abi version");
    if (std::string why = contract::version_problem(t); !why.empty()) {
        verdict(CheckEventKind::fail, why);
        return false;
    }
    verdict(CheckEventKind::pass, std::to_string(t.abi_major) + "." + std::to_string(t.abi_minor));
    begin("table size");
    if (std::string why = contract::table_size_problem(t); !why.empty()) {
        verdict(CheckEventKind::fail, why);
        return false;
    }
    verdict(CheckEventKind::pass, std::to_string(t.struct_size) + " bytes");
    begin("required functions");
    if (std::string missing = contract::missing_functions(t); !missing.empty()) {
        verdict(CheckEventKind::fail, "NULL: " + missing);
        return false;
    }
    if (std::string why = contract::device_function_problems(t); !why.empty()) {
        verdict(CheckEventKind::fail, why);
        return false;
    }
    verdict(CheckEventKind::pass);
    begin("metadata");
    if (std::string why = contract::metadata_problems(t); !why.empty()) verdict(CheckEventKind::fail, why);
    else verdict(CheckEventKind::pass, std::string(t.id) + " " + t.version + " by " + t.vendor);
    adopt_table(t);
    return true;
}

bool Worker::check_init() {
    begin("init");
    char err[512] = "";
    calib_status s = api_.init(&services_, &ctx_, calib_message{err, sizeof err});
    if (s == CALIB_UNAVAILABLE || s == CALIB_UNSUPPORTED) {
        verdict(CheckEventKind::skip, status_text(s, text_of(err, sizeof err)) + "; nothing more can be checked on this machine");
        return false;
    }
    if (s != CALIB_OK) {
        verdict(CheckEventKind::fail, "init returned " + status_text(s, text_of(err, sizeof err)));
        return false;
    }
    initialised_ = true;
    verdict(CheckEventKind::pass);
    return true;
}

void Worker::check_device() {
    begin("get_device");
    PluginRecord rec;
    if (std::string why = read_device(rec); !why.empty()) verdict(CheckEventKind::fail, why);
    else
        verdict(CheckEventKind::pass,
                rec.device_name + (rec.device_available ? "" : " (unavailable: " + rec.unavailable_reason + ")") +
                    (rec.devices.size() > 1 ? " and " + std::to_string(rec.devices.size() - 1) + " more device(s)" : ""));
}

uint8_t Worker::check_case_list(PluginRecord& rec) {
    begin("case list");
    std::vector<CaseInfo> cases;
    std::string why = read_cases(cases);
    listed_ = why.empty();
    if (!listed_) {
        verdict(CheckEventKind::fail, why);
        return kTailOnly;
    }
    if (cases.empty()) {
        verdict(CheckEventKind::fail, "case_count() is 0: the plugin measures nothing");
        return kTailOnly;
    }
    verdict(CheckEventKind::pass, std::to_string(cases.size()) + " cases");
    cases_ = cases;
    case_count_ = static_cast<uint32_t>(cases.size());
    check_case_list_rules(cases);
    rec.cases = std::move(cases);
    return kWithCases;
}

void Worker::check_case_list_rules(const std::vector<CaseInfo>& cases) {
    begin("case list stable");
    std::vector<CaseInfo> again;
    if (std::string why = read_cases(again); !why.empty()) {
        verdict(CheckEventKind::fail, why);
    } else if (again.size() != cases.size()) {
        verdict(CheckEventKind::fail, "case_count changed from " + std::to_string(cases.size()) + " to " +
                                          std::to_string(again.size()));
    } else if (again != cases) {
        std::size_t i = 0;
        while (i < cases.size() && cases[i] == again[i]) ++i;
        verdict(CheckEventKind::fail, "case " + std::to_string(i) + " ('" + cases[i].name + "') differs between two listings");
    } else {
        verdict(CheckEventKind::pass);
    }
    begin("case names unique");
    if (std::string why = contract::duplicate_names(cases); !why.empty()) verdict(CheckEventKind::fail, why);
    else verdict(CheckEventKind::pass);
    begin("fusion pairs");
    std::size_t pairs = 0;
    if (std::string why = contract::fusion_pair_problems(cases, &pairs); !why.empty()) verdict(CheckEventKind::fail, why);
    else if (pairs == 0) verdict(CheckEventKind::skip, "no fusion cases");
    else verdict(CheckEventKind::pass, std::to_string(pairs) + " fused/unfused pairs");
}

void Worker::handle_check_case(uint32_t id, uint32_t index, bool check_zero) {
    uint8_t prepared = 0, ran = 0;
    if (initialised_ && index < cases_.size() && instances_.count(id) == 0) {
        begin("lifecycle " + cases_[index].name);
        void* inst = nullptr;
        char err[512] = "";
        calib_status s = api_.prepare(ctx_, index, &inst, calib_message{err, sizeof err});
        if (s == CALIB_UNSUPPORTED || s == CALIB_UNAVAILABLE) {
            verdict(CheckEventKind::skip, "prepare: " + status_text(s, text_of(err, sizeof err)));
        } else if (s != CALIB_OK) {
            verdict(CheckEventKind::fail, "prepare returned " + status_text(s, text_of(err, sizeof err)));
        } else {
            prepared = 1;
            instances_[id] = inst;
            ran = check_lifecycle(inst) ? 1 : 0;
            if (ran != 0 && check_zero) check_run_zero(inst);
        }
    }
    send(std::move(wire::Writer(wire::Type::check_reply).u8(prepared).u8(ran)));
}

bool Worker::check_lifecycle(void* inst) {
    InstanceInfo info;
    if (std::string why = read_instance(inst, info); !why.empty()) {
        verdict(CheckEventKind::fail, why);
        return false;
    }
    double t = -1;
    std::string message;
    calib_status s = run_instance(inst, 1, t, message);
    if (s != CALIB_OK) {
        verdict(CheckEventKind::fail, "run(1) returned " + status_text(s, message));
        return false;
    }
    if (std::string why = contract::run_time_problem(t); !why.empty()) {
        verdict(CheckEventKind::fail, "run(1) " + why);
        return false;
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, ", run(1) = %.3g ms", t * 1e3);
    verdict(CheckEventKind::pass, "implementation " + info.implementation + (info.verified ? ", verified" : ", not verified") + buf);
    return true;
}

void Worker::check_run_zero(void* inst) {
    begin("run(0) is an error");
    double t = 0;
    std::string message;
    calib_status s = run_instance(inst, 0, t, message);
    if (s == CALIB_OK) verdict(CheckEventKind::fail, "run with iterations = 0 returned CALIB_OK");
    else verdict(CheckEventKind::pass, status_text(s, message));
}

void Worker::handle_check_tail() {
    if (initialised_) {
        check_out_of_range();
        check_peaks();
        begin("shutdown");
        close_plugin();
        verdict(CheckEventKind::pass);
        // No dlclose: the worker exits right away, and some libraries' unload hooks are fragile.
    }
    send(wire::Writer(wire::Type::check_reply));
}

void Worker::check_out_of_range() {
    begin("get_case out of range");
    const uint32_t count = api_.case_count(ctx_);
    if (listed_) {
        std::string bad;
        for (uint32_t idx : {count, UINT32_MAX}) {
            Guarded<calib_case_info> g(kCaseSize);
            char err[512] = "";
            calib_status s = api_.get_case(ctx_, idx, g.ptr(), calib_message{err, sizeof err});
            if (s != CALIB_INVALID_ARGUMENT)
                bad += (bad.empty() ? "" : "; ") + ("get_case(" + std::to_string(idx) + ") returned " +
                                                    status_text(s, text_of(err, sizeof err)));
        }
        if (bad.empty()) verdict(CheckEventKind::pass, "CALIB_INVALID_ARGUMENT");
        else verdict(CheckEventKind::fail, bad + " (expected CALIB_INVALID_ARGUMENT)");
    } else {
        verdict(CheckEventKind::skip, "case list unusable");
    }
    begin("prepare out of range");
    void* inst = nullptr;
    char err[512] = "";
    calib_status s = api_.prepare(ctx_, count, &inst, calib_message{err, sizeof err});
    if (s == CALIB_OK) {
        api_.release(ctx_, inst);
        verdict(CheckEventKind::fail, "prepare(case_count()) returned CALIB_OK");
    } else if (s != CALIB_INVALID_ARGUMENT) {
        verdict(CheckEventKind::fail, "prepare(case_count()) returned " + status_text(s, text_of(err, sizeof err)) +
                                          " (expected CALIB_INVALID_ARGUMENT)");
    } else {
        verdict(CheckEventKind::pass, "CALIB_INVALID_ARGUMENT");
    }
}

void Worker::check_peaks() {
    begin("get_peaks");
    std::vector<PeakInfo> peaks;
    if (!has_get_peaks()) verdict(CheckEventKind::skip, "optional, not provided");
    else if (std::string why = read_peaks(peaks); !why.empty()) verdict(CheckEventKind::fail, why);
    else verdict(CheckEventKind::pass, std::to_string(peaks.size()) + " peaks");
}

}  // namespace calib::core::detail
