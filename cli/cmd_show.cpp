// `calib-host show FILE` and `calib-host validate FILE`.
#include <fstream>
#include <iostream>
#include <sstream>

#include "calib/core/profile.hpp"
#include "options.hpp"
#include "summary.hpp"

namespace calib::cli {
namespace {

// One positional FILE plus --help.
bool parse_file_arg(const Args& args, const char* usage, std::string& file, int& exit_code) {
    po::options_description desc(usage);
    desc.add_options()("help,h", "this help");
    po::variables_map vm;
    return parse_file_command(args, desc, file, vm, exit_code);
}

}  // namespace

int cmd_show(const Args& args) {
    std::string file;
    int code = 0;
    if (!parse_file_arg(args, "calib-host show FILE: print a readable summary of a profile", file, code))
        return code;
    try {
        print_summary(std::cout, core::load_profile(file));
    } catch (const std::exception& e) {
        return usage_error(e.what());
    }
    return kExitOk;
}

int cmd_validate(const Args& args) {
    std::string file;
    int code = 0;
    if (!parse_file_arg(args,
                        "calib-host validate FILE: check structure, types, the compatibility rule and\n"
                        "consistency. Exit 0 valid, 1 problems found (each printed), 2 unreadable file",
                        file, code))
        return code;
    std::ifstream in(file, std::ios::binary);
    if (!in) return usage_error("cannot read " + file);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    boost::system::error_code ec;
    boost::json::value doc = boost::json::parse(text, ec);
    std::vector<std::string> problems;
    if (ec) {
        try {
            core::parse_profile(text);  // for the line/column of the parse error
            problems.push_back("not valid JSON: " + ec.message());
        } catch (const core::ProfileError& e) {
            problems.push_back(e.what());
        }
    } else {
        problems = core::validate(doc);
    }
    if (problems.empty()) {
        std::cout << file << ": valid\n";
        return kExitOk;
    }
    for (const auto& p : problems) std::cerr << file << ": " << p << "\n";
    std::cerr << file << ": " << problems.size() << " problem(s)\n";
    return kExitCaseFailures;
}

}  // namespace calib::cli
