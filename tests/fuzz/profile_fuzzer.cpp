// libFuzzer target for the profile loader and validator (docs/testing.md: bounded run with run.sh).
// Properties checked on arbitrary bytes:
//   - parse_profile either returns or throws ProfileError (never crashes, leaks or hits UB);
//   - validate() accepts any JSON document without crashing;
//   - whatever parse_profile accepts can be written and read back, and the second write is identical.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "calib/core/profile.hpp"

namespace {

[[noreturn]] void fail(const char* what, const std::string& detail) {
    std::fprintf(stderr, "profile_fuzzer: %s\n%s\n", what, detail.c_str());
    std::abort();  // libFuzzer records the input as a crash
}

void check_round_trip(const calib::core::Profile& first) {
    using namespace calib::core;
    std::string text1, text2;
    try {
        text1 = to_json_text(first);
    } catch (const ProfileError& e) {
        fail("a profile that loaded cannot be written", e.what());
    }
    try {
        text2 = to_json_text(parse_profile(text1));
    } catch (const ProfileError& e) {
        fail("the written profile does not load back", std::string(e.what()) + "\n--- written:\n" + text1);
    }
    if (text1 != text2) fail("write -> load -> write changed the text", "--- first:\n" + text1 + "\n--- second:\n" + text2);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);

    try {
        check_round_trip(calib::core::parse_profile(text));
    } catch (const calib::core::ProfileError&) {
        // Malformed input is expected; any other exception escapes and is reported as a crash.
    }

    boost::json::error_code ec;
    boost::json::value doc = boost::json::parse(text, ec);
    if (!ec) (void)calib::core::validate(doc);
    return 0;
}
