// core's precision table is the one calib/vocabulary.h publishes: validate accepts exactly the origin
// precisions on a record, and a math-only precision (tf32) is not a record's precision.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "calib/vocabulary.h"
#include "profile_test_util.hpp"

using namespace calib::core;
using namespace calib::core::test;
namespace json = boost::json;

namespace {

bool precision_rejected(const std::string& precision) {
    json::value doc = sample_doc("good.json");
    auto& records = doc.as_object()["operation_profiles"].as_object();
    records.begin()->value().as_object()["extra_params"].as_object()["precision"] = precision;
    for (const auto& p : validate(doc))
        if (p.find("unknown precision") != std::string::npos) return true;
    return false;
}

}  // namespace

TEST_CASE("validate's precisions are the vocabulary's origin precisions", "[profile][vocabulary]") {
    struct Entry {
        const char* name;
        int origin;
    };
#define CALIB_ENTRY(name, origin) Entry{name, origin},
    const std::vector<Entry> all = {CALIB_PRECISIONS(CALIB_ENTRY)};
#undef CALIB_ENTRY
    REQUIRE(all.size() == 13);
    for (const auto& e : all) {
        INFO(e.name);
        CHECK(precision_rejected(e.name) == (e.origin == 0));
    }
    CHECK(precision_rejected("fp12"));
}
