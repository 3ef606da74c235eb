// Option groups shared by several subcommands.
#pragma once

#include <boost/program_options.hpp>
#include <iostream>
#include <string>
#include <vector>

#include "calib/core/plugin_client.hpp"
#include "commands.hpp"

namespace calib::cli {

namespace po = boost::program_options;

struct DiscoveryArgs {
    std::vector<std::string> plugin_dirs;
    bool allow_insecure = false;
    bool no_default = false;

    void add_to(po::options_description& d) {
        d.add_options()("plugins", po::value(&plugin_dirs)->composing(),
                        "plugin folder (repeatable); also CALIB_PLUGIN_PATH and the built-in folder")(
            "allow-insecure-plugins", po::bool_switch(&allow_insecure),
            "load plugin files or folders that other users can write to")(
            "no-default-plugins", po::bool_switch(&no_default),
            "do not search the built-in plugin folder or CALIB_PLUGIN_PATH");
    }
    core::DiscoveryOptions options() const {
        core::DiscoveryOptions o;
        for (const auto& d : plugin_dirs) o.plugin_dirs.emplace_back(d);
        o.allow_insecure = allow_insecure;
        o.use_default_dir = !no_default;
        o.use_env = !no_default;
        return o;
    }
};

// Parse `args` against `desc` (+ positional). Throws po::error on bad usage.
inline po::variables_map parse(const Args& args, const po::options_description& desc,
                               const po::positional_options_description* pos = nullptr) {
    po::variables_map vm;
    auto parser = po::command_line_parser(args).options(desc);
    if (pos != nullptr) parser.positional(*pos);
    po::store(parser.run(), vm);
    po::notify(vm);
    return vm;
}

// Parses `args` for a subcommand whose `desc` holds --help (`shown`, when given, is the help printed
// instead: `desc` less its hidden positionals). Returns true to go on; false when it has printed the
// help or a usage error, with the exit code in `code`.
inline bool parse_command(const Args& args, const po::options_description& desc, po::variables_map& vm, int& code,
                          const po::positional_options_description* pos = nullptr,
                          const po::options_description* shown = nullptr) {
    try {
        vm = parse(args, desc, pos);
    } catch (const po::error& e) {
        code = usage_error(e.what());
        return false;
    }
    if (vm.count("help")) {
        std::cout << (shown != nullptr ? *shown : desc) << "\n";
        code = kExitOk;
        return false;
    }
    return true;
}

// A subcommand taking one positional profile FILE and the options in `desc` (which should hold --help).
// Returns true to go on; false when it has printed the help or a usage error, with the exit code in `code`.
inline bool parse_file_command(const Args& args, const po::options_description& desc, std::string& file,
                               po::variables_map& vm, int& code) {
    po::options_description hidden;
    hidden.add_options()("file", po::value(&file));
    po::options_description all;
    all.add(desc).add(hidden);
    po::positional_options_description pos;
    pos.add("file", 1);
    if (!parse_command(args, all, vm, code, &pos, &desc)) return false;
    if (file.empty()) {
        code = usage_error("missing profile file");
        return false;
    }
    return true;
}

}  // namespace calib::cli
