// One judge: every rule `calib-host check` and the host once judged differently, decided once
// (docs/abi.md, "One judge"), gives the same verdict from a scan (as `list` and `run` use) and from
// the conformance check, both asked of the same worker. Plus the contract's rules on their own.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "calib/core/plugin_contract.hpp"
#include "fixtures.hpp"

using calib::core::CheckEvent;
using calib::core::CheckEventKind;
using calib::core::RejectReason;
using calib::test::fixture;
using calib::test::worker_options;
namespace contract = calib::core::contract;

namespace {

struct CheckRun {
    calib::core::CheckTally tally;
    std::vector<CheckEvent> failures;
    std::string first_failure() const { return failures.empty() ? "" : failures[0].check + ": " + failures[0].detail; }
};

CheckRun check(const std::string& variant) {
    calib::core::CheckOptions o;
    o.host_executable = worker_options().host_executable;
    o.timeout_seconds = 60;
    CheckRun r;
    r.tally = calib::core::check_plugin(fixture(variant), o, [&](const CheckEvent& e) {
        if (e.kind == CheckEventKind::fail) r.failures.push_back(e);
    });
    return r;
}

}  // namespace

TEST_CASE("contract: each formerly disputed rule gets one verdict from scan and check", "[contract]") {
    struct Rule {
        std::string variant;
        RejectReason reason;    // the scan's verdict
        std::string failed;     // the check that FAILs
        std::string because;    // in both the scan's reason and the check's detail
    };
    const Rule rule = GENERATE(Rule{"space_name", RejectReason::init_failed, "case list", "whitespace"},
                               Rule{"nan_flops", RejectReason::init_failed, "case list", "flops not finite"},
                               Rule{"inexact_size", RejectReason::bad_table, "table size", "differs from the ABI"},
                               Rule{"short_table", RejectReason::bad_table, "table size", "the ABI 1.0 table size"});
    INFO("fixture " << rule.variant);
    const calib::core::PluginRecord scanned = calib::core::scan_plugin(fixture(rule.variant), worker_options());
    INFO("scan: " << scanned.reason);
    CHECK_FALSE(scanned.loaded);
    CHECK(scanned.reason_code == rule.reason);
    CHECK_THAT(scanned.reason, Catch::Contains(rule.because));

    const CheckRun checked = check(rule.variant);
    INFO("check: " << checked.first_failure());
    REQUIRE(checked.tally.fail >= 1);
    CHECK(checked.failures[0].check == rule.failed);
    CHECK_THAT(checked.failures[0].detail, Catch::Contains(rule.because));
}

TEST_CASE("contract: good and newer-minor plugins pass both judges", "[contract]") {
    for (const char* variant : {"good", "newer_minor"}) {
        INFO("fixture " << variant);
        CHECK(calib::core::scan_plugin(fixture(variant), worker_options()).loaded);
        const CheckRun checked = check(variant);
        INFO("check: " << checked.first_failure());
        CHECK(checked.tally.fail == 0);
        CHECK(checked.tally.pass > 10);
    }
}

TEST_CASE("contract: table sizes, PJRT style", "[contract]") {
    calib_plugin_api t{};
    t.abi_major = CALIB_ABI_VERSION_MAJOR;
    t.abi_minor = CALIB_ABI_VERSION_MINOR;
    const uint32_t exact = CALIB_STRUCT_SIZE(calib_plugin_api, read_device_state);
    t.struct_size = exact;
    CHECK(contract::version_problem(t).empty());
    CHECK(contract::table_size_problem(t).empty());
    // A 1.0 table ends at get_peaks; declaring 1.1 it is too short, declaring 1.0 the 1.1 size is wrong.
    t.struct_size = CALIB_STRUCT_SIZE(calib_plugin_api, get_peaks);
    CHECK_THAT(contract::table_size_problem(t), Catch::Contains("differs"));
    t.abi_minor = 0;
    CHECK(contract::table_size_problem(t).empty());
    t.struct_size = exact;
    CHECK_THAT(contract::table_size_problem(t), Catch::Contains("differs"));
    t.abi_minor = CALIB_ABI_VERSION_MINOR;
    t.struct_size = CALIB_STRUCT_SIZE(calib_plugin_api, release);
    CHECK_THAT(contract::table_size_problem(t), Catch::Contains("<"));
    t.struct_size = exact + 8;  // inexact for a minor the host knows
    CHECK_THAT(contract::table_size_problem(t), Catch::Contains("differs"));
    t.abi_minor = CALIB_ABI_VERSION_MINOR + 1;  // a newer minor may be longer
    CHECK(contract::table_size_problem(t).empty());
    t.struct_size = exact + 3;
    CHECK_THAT(contract::table_size_problem(t), Catch::Contains("implausible"));
    t.struct_size = 2;
    CHECK_THAT(contract::version_problem(t), Catch::Contains("does not even cover"));
    t.struct_size = exact;
    t.abi_major = CALIB_ABI_VERSION_MAJOR + 1;
    CHECK_THAT(contract::version_problem(t), Catch::Contains("host ABI major"));
}

TEST_CASE("contract: case rules", "[contract]") {
    calib_case_info c{};
    c.struct_size = CALIB_STRUCT_SIZE(calib_case_info, params);
    c.name = "matmul_fp32_64";
    c.family = CALIB_FAMILY_COMPUTE;
    c.operation_type = "matmul";
    c.precision = "fp32";
    c.rank = 1;
    c.shape[0] = 64;
    c.flops = 1;
    CHECK(contract::case_problems(c).empty());
    for (const char* bad : {"a b", "tab\there", "new\nline", "del\x7f"}) {
        c.name = bad;
        CHECK_THAT(contract::case_problems(c), Catch::Contains("whitespace or control"));
    }
    c.name = "ok";
    for (double v : {std::nan(""), std::numeric_limits<double>::infinity(), -1.0}) {
        c.flops = v;
        CHECK_THAT(contract::case_problems(c), Catch::Contains("flops"));
        c.flops = 1;
        c.bytes = v;
        CHECK_THAT(contract::case_problems(c), Catch::Contains("bytes"));
        c.bytes = 0;
    }
}

TEST_CASE("contract: metadata, run times and status names", "[contract]") {
    calib_plugin_api t{};
    t.id = "org.example.plugin";
    t.name = "n";
    t.version = "1";
    t.vendor = "v";
    t.description = "";
    CHECK(contract::metadata_problems(t).empty());
    t.id = "org.example.my plugin";
    CHECK_THAT(contract::metadata_problems(t), Catch::Contains("whitespace"));
    t.id = "noreversedns";
    CHECK_THAT(contract::metadata_problems(t), Catch::Contains("reverse-DNS"));

    CHECK(contract::run_time_problem(1e-3).empty());
    CHECK_THAT(contract::run_time_problem(0), Catch::Contains("non-positive"));
    CHECK_THAT(contract::run_time_problem(std::nan("")), Catch::Contains("non-finite"));

    CHECK(std::string(contract::status_name(CALIB_UNSUPPORTED)) == "CALIB_UNSUPPORTED");
    CHECK(std::string(contract::status_name(99)) == "unknown status");
    using calib::core::FailureKind;
    using calib::core::WorkerFailure;
    CHECK(std::string(failure_status(WorkerFailure(FailureKind::error, "", CALIB_UNSUPPORTED))) == "unsupported");
    CHECK(std::string(failure_status(WorkerFailure(FailureKind::error, "", CALIB_OUT_OF_MEMORY))) == "failed");
    CHECK(std::string(failure_status(WorkerFailure(FailureKind::crashed, ""))) == "crashed");
}
