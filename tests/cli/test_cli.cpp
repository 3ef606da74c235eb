// End-to-end tests of calib-host: listing, usage errors, show, compare, plot, validate, --json.
#include <boost/json.hpp>
#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <random>
#include <set>

#include "cli_util.hpp"

using namespace calib::test;
namespace json = boost::json;

TEST_CASE("calib-host --version prints a version", "[cli]") {
    auto r = host("--version");
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("calib-host 0.") == 0);
    CHECK(r.out.find("ABI 1.1") != std::string::npos);
}

TEST_CASE("list --json describes the built-in plugins", "[cli][list]") {
    auto r = host(std::string("list --json --no-default-plugins --plugins ") + CALIB_PLUGIN_DIR);
    REQUIRE(r.exit_code == 0);
    json::value doc = json::parse(r.out);
    const auto& plugins = doc.at("plugins").as_array();
    std::size_t loaded_cpu = 0;
    for (const auto& p : plugins) {
        const auto& o = p.as_object();
        if (o.at("status") != "loaded") continue;
        loaded_cpu += o.at("device").at("kind") == "cpu";  // the CUDA plugin, when built, is a gpu one
        CHECK(o.at("id").as_string().find('.') != json::string::npos);
        CHECK(!o.at("version").as_string().empty());
        CHECK(o.at("abi").at("major").as_int64() == 1);
        const auto& cases = o.at("cases").as_array();
        REQUIRE(!cases.empty());
        for (const char* k : {"name", "family", "operation_type", "precision", "shape"})
            CHECK(cases[0].as_object().contains(k));
    }
    CHECK(loaded_cpu == 5);
    // The --list alias gives the same document.
    auto alias = host(std::string("--list --json --no-default-plugins --plugins ") + CALIB_PLUGIN_DIR);
    CHECK(alias.exit_code == 0);
    CHECK(alias.out == r.out);
}

TEST_CASE("list rejects files that are not plugins, each with a reason", "[cli][list]") {
    Scratch dir;
    std::ofstream(dir / "a.so").close();
    std::ofstream(dir / "b.so") << "this is a text file, not an ELF object\n";
    {
        std::ofstream c(dir / "c.so", std::ios::binary);
        std::mt19937 rng(42);
        for (int i = 0; i < 4096; ++i) c.put(static_cast<char>(rng()));
    }
    fs::copy_file(fs::path(CALIB_FIXTURE_DIR) / "fixture_no_entry.so", dir / "d.so");
    auto t0 = std::chrono::steady_clock::now();
    auto r = host("list --json --no-default-plugins --plugins " + dir.path().string());
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    REQUIRE(r.exit_code == 0);
    CHECK(secs < 10);
    json::value doc = json::parse(r.out);
    const auto& plugins = doc.at("plugins").as_array();
    REQUIRE(plugins.size() == 4);
    std::set<std::string> codes;
    for (const auto& p : plugins) {
        CHECK(p.at("status") == "rejected");
        CHECK(!p.at("reason").as_string().empty());
        codes.insert(std::string(p.at("reason_code").as_string()));
    }
    CHECK(codes == std::set<std::string>{"not_a_library", "no_entry_symbol"});
}

TEST_CASE("usage errors: one line on stderr, exit 2, no output file", "[cli][errors]") {
    Scratch dir;
    const std::string out = (dir / "p.json").string();
    const std::string base = std::string("--no-default-plugins --plugins ") + CALIB_PLUGIN_DIR + " --quiet ";
    struct Case {
        std::string args, needle;
    };
    std::vector<Case> cases = {
        {base + "--fusion-patterns linear,bogus --output " + out, "unknown fusion pattern 'bogus'"},
        {base + "--peak-gflops -5 --output " + out, "--peak-gflops"},
        {base + "--peak-bandwidth -1 --output " + out, "--peak-bandwidth"},
        {"--no-default-plugins --plugins " + (dir / "missing").string() + " --output " + out, "missing"},
        {base + "--output " + (dir / "no/such/folder/p.json").string(), "does not exist"},
        {base + "--output /proc/calib-test-profile.json", "not writable"},
        {base + "--operations matmul,gpu --output " + out, "unknown operation 'gpu'"},
        {base + "--precision fp33 --output " + out, "unknown precision"},
        {base + "--filter '(' --output " + out, "--filter"},
        {base + "--no-such-flag", "no-such-flag"},
    };
    for (const auto& c : cases) {
        INFO(c.args);
        auto r = host(c.args);
        CHECK(r.exit_code == 2);
        CHECK(count_lines(r.err) == 1);
        CHECK(r.err.find(c.needle) != std::string::npos);
        CHECK(r.out.empty());
        CHECK(!fs::exists(out));
    }
    // The unknown-pattern message lists the valid names.
    auto r = host(cases[0].args);
    CHECK(r.err.find("linear") != std::string::npos);
    CHECK(r.err.find("attention") != std::string::npos);
}

TEST_CASE("calib-host run --json writes only the profile to stdout", "[cli][run]") {
    auto r = host(std::string("--no-default-plugins --plugins ") + CALIB_PLUGIN_DIR +
                  " --time-budget 0.05 --filter '^matmul_fp32_256$' --json");
    REQUIRE(r.exit_code == 0);
    json::value doc = json::parse(r.out);  // throws if anything else is on stdout
    CHECK(doc.at("operation_profiles").as_object().contains("matmul_matrix_size=256_small"));
}

TEST_CASE("show prints the fusion table with intervals and verdicts", "[cli][show]") {
    auto r = host("show " + sample_profile().string());
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("Fusion (speedup") != std::string::npos);
    CHECK(r.out.find("Linear_Bias_ReLU") != std::string::npos);
    CHECK(r.out.find("128x512x512") != std::string::npos);
    bool verdict = false;
    for (const char* v : {"strong", "moderate", "minimal", "slower"}) verdict |= r.out.find(v) != std::string::npos;
    CHECK(verdict);
    CHECK(r.out.find("interval") != std::string::npos);
    CHECK(r.out.find("Matmul") != std::string::npos);
    CHECK(r.out.find("Memory hierarchy") != std::string::npos);
    CHECK(r.out.find("fp16: unsupported") != std::string::npos);
}

TEST_CASE("compare of a profile with itself is all SAME", "[cli][compare]") {
    auto p = sample_profile().string();
    auto r = host("compare " + p + " " + p + " --fail-on-regression 1");
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("SLOWER") == std::string::npos);
    CHECK(r.out.find("FASTER") == std::string::npos);
    CHECK(r.out.find("UNSURE") == std::string::npos);
    CHECK(r.out.find("SAME") != std::string::npos);
    auto doc = json::parse(slurp(p));
    std::size_t records = doc.at("operation_profiles").as_object().size() + doc.at("fusion_profiles").as_object().size();
    CHECK(r.out.find(std::to_string(records) + " common records: " + std::to_string(records) + " SAME") !=
          std::string::npos);
}

TEST_CASE("compare flags a regression beyond the threshold", "[cli][compare]") {
    Scratch dir;
    auto doc = json::parse(slurp(sample_profile()));
    // The sample run's 0.05 s budget can leave a matmul's cv and interval near +-50%, and compare calls a
    // change inside them UNSURE: pin both so the test asserts the threshold, not that run's noise.
    for (auto& kv : doc.at("operation_profiles").as_object()) {
        auto& rec = kv.value().as_object();
        auto& e = rec.at("extra_params").as_object();
        e["cv"] = 0.02;
        e["noise"] = 0.01;
        const double g = rec.at("measured_gflops").as_double() > 0 ? rec.at("measured_gflops").as_double()
                                                                   : rec.at("achieved_bandwidth_gbps").as_double();
        e["ci_low"] = g * 0.99;
        e["ci_high"] = g * 1.01;
    }
    std::ofstream(dir / "base.json") << json::serialize(doc);
    // Halve every matmul record's throughput in the second profile.
    for (auto& kv : doc.at("operation_profiles").as_object()) {
        auto& rec = kv.value().as_object();
        if (rec.at("operation_type") != "matmul") continue;
        rec["measured_gflops"] = rec.at("measured_gflops").as_double() / 2;
        auto& e = rec.at("extra_params").as_object();
        e["ci_low"] = e.at("ci_low").as_double() / 2;
        e["ci_high"] = e.at("ci_high").as_double() / 2;
    }
    std::ofstream(dir / "slow.json") << json::serialize(doc);
    auto r = host("compare " + (dir / "base.json").string() + " " + (dir / "slow.json").string() +
                  " --fail-on-regression 10");
    CHECK(r.exit_code == 1);
    CHECK(r.out.find("SLOWER") != std::string::npos);
}

TEST_CASE("compare: apart intervals with a change inside the samples' scatter are UNSURE", "[cli][compare]") {
    Scratch dir;
    auto doc = json::parse(slurp(sample_profile()));
    auto& fusion = doc.at("fusion_profiles").as_object();
    REQUIRE(!fusion.empty());
    const std::string key(fusion.begin()->key());
    // A tight interval around the speedup and 3% / 4% scatter on the two sides: 5% for the ratio.
    auto set = [&](json::object& rec, double speedup) {
        rec["speedup_factor"] = speedup;
        auto& e = rec.at("extra_params").as_object();
        e["speedup_ci_low"] = speedup * 0.999;
        e["speedup_ci_high"] = speedup * 1.001;
        e["fused_cv"] = 0.03;
        e["unfused_cv"] = 0.04;
    };
    auto line_of = [&](const std::string& out) {
        for (std::size_t at = out.find(key); at != std::string::npos; at = out.find(key, at + 1)) {
            const std::size_t start = out.rfind('\n', at) + 1;
            const std::string line = out.substr(start, out.find('\n', at) - start);
            if (line.find(" " + key + " ") != std::string::npos) return line;
        }
        return std::string();
    };
    set(fusion.at(key).as_object(), 1.5);
    std::ofstream(dir / "a.json") << json::serialize(doc);
    set(fusion.at(key).as_object(), 1.5 * 0.97);  // 3% slower: inside the 5% scatter
    std::ofstream(dir / "b.json") << json::serialize(doc);
    set(fusion.at(key).as_object(), 1.5 * 0.90);  // 10% slower: beyond it
    std::ofstream(dir / "c.json") << json::serialize(doc);
    auto near = host("compare " + (dir / "a.json").string() + " " + (dir / "b.json").string());
    CHECK(line_of(near.out).rfind("UNSURE", 0) == 0);
    auto far = host("compare " + (dir / "a.json").string() + " " + (dir / "c.json").string() + " --fail-on-regression 5");
    CHECK(line_of(far.out).rfind("SLOWER", 0) == 0);
    CHECK(far.exit_code == 1);
}

TEST_CASE("plot writes an SVG with a series per precision ceiling and memory level", "[cli][plot]") {
    Scratch dir;
    auto svg = dir / "roofline.svg";
    auto r = host("plot " + sample_profile().string() + " --output " + svg.string());
    REQUIRE(r.exit_code == 0);
    namespace pt = boost::property_tree;
    pt::ptree tree;
    REQUIRE_NOTHROW(pt::read_xml(svg.string(), tree));
    std::set<std::string> series;
    for (const auto& child : tree.get_child("svg"))
        if (child.first == "g") {
            auto s = child.second.get_optional<std::string>("<xmlattr>.data-series");
            if (s) series.insert(*s);
        }
    auto doc = json::parse(slurp(sample_profile()));
    for (const auto& kv : doc.at("peaks").at("compute").as_object())
        CHECK(series.count("ceiling-" + std::string(kv.key())) == 1);
    const auto& levels = doc.at("memory_hierarchy").at("levels").as_array();
    REQUIRE(!levels.empty());
    for (const auto& l : levels) CHECK(series.count("bandwidth-" + std::string(l.at("name").as_string())) == 1);
    CHECK(series.count("points-fp32") == 1);
    CHECK(series.count("points-bf16") == 1);
}

TEST_CASE("the profile honours the compatibility rule and validates", "[cli][validate]") {
    Scratch dir;
    auto p = sample_profile_2025(dir).string();
    auto r = host("validate " + p);
    CHECK(r.exit_code == 0);
    auto doc = json::parse(slurp(p)).as_object();
    const std::set<std::string> md_fields = {"hardware_name", "calibration_date", "calibration_tool_version",
                                             "cpu_model", "cpu_count", "total_memory_gb", "python_version",
                                             "pytorch_version", "numpy_version", "num_warmup_runs",
                                             "num_measurement_runs"};
    const std::set<std::string> op_fields = {
        "operation_type", "measured_gflops", "efficiency", "achieved_bandwidth_gbps", "memory_bound",
        "compute_bound", "arithmetic_intensity", "batch_size", "input_shape", "output_shape", "mean_latency_ms",
        "std_latency_ms", "min_latency_ms", "max_latency_ms", "num_trials", "extra_params"};
    const std::set<std::string> fu_fields = {
        "fusion_pattern", "operators", "num_operators", "unfused_latency_ms", "unfused_gflops",
        "unfused_memory_bytes", "fused_latency_ms", "fused_gflops", "fused_memory_bytes", "speedup_factor",
        "memory_reduction", "gflops_improvement", "input_shape", "extra_params", "num_trials"};
    auto keys = [](const json::object& o) {
        std::set<std::string> k;
        for (const auto& kv : o) k.insert(std::string(kv.key()));
        return k;
    };
    CHECK(keys(doc.at("metadata").as_object()) == md_fields);
    REQUIRE(!doc.at("operation_profiles").as_object().empty());
    REQUIRE(!doc.at("fusion_profiles").as_object().empty());
    for (const auto& kv : doc.at("operation_profiles").as_object()) {
        CHECK(keys(kv.value().as_object()) == op_fields);
        CHECK(kv.value().at("batch_size").is_int64());
        CHECK(kv.value().at("num_trials").is_int64());
        CHECK(kv.value().at("memory_bound").is_bool());
        const auto& e = kv.value().at("extra_params").as_object();
        for (const char* k : {"precision", "implementation", "device", "median_latency_ms", "p10_latency_ms",
                              "p90_latency_ms", "cv", "samples", "stopping_reason", "status"})
            CHECK(e.contains(k));
    }
    for (const auto& kv : doc.at("fusion_profiles").as_object()) {
        CHECK(keys(kv.value().as_object()) == fu_fields);
        CHECK(kv.value().at("unfused_memory_bytes").is_int64());
        const auto& e = kv.value().at("extra_params").as_object();
        for (const char* k : {"speedup_ci_low", "speedup_ci_high", "verified", "fused_implementation"})
            CHECK(e.contains(k));
        CHECK(e.at("verified").as_bool());
    }
    // Top-level order of the origin keys.
    std::vector<std::string> order;
    for (const auto& kv : doc) order.push_back(std::string(kv.key()));
    REQUIRE(order.size() > 14);
    CHECK(order[0] == "metadata");
    CHECK(order[11] == "operation_profiles");
    CHECK(order[12] == "fusion_profiles");
    CHECK(order[13] == "precision_matrix");
}

TEST_CASE("validate names the problem in a truncated or corrupted profile", "[cli][validate]") {
    Scratch dir;
    std::string text = slurp(sample_profile());
    std::ofstream(dir / "truncated.json") << text.substr(0, text.size() / 2);
    auto r = host("validate " + (dir / "truncated.json").string());
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("line") != std::string::npos);

    auto doc = json::parse(text);
    auto& ops = doc.at("operation_profiles").as_object();
    std::string key = std::string(ops.begin()->key());
    ops.begin()->value().as_object()["num_trials"] = "ten";
    std::ofstream(dir / "typed.json") << json::serialize(doc);
    r = host("validate " + (dir / "typed.json").string());
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("num_trials") != std::string::npos);
    CHECK(r.err.find(key) != std::string::npos);

    r = host("validate " + (dir / "absent.json").string());
    CHECK(r.exit_code == 2);
}

TEST_CASE("query answers between measured shapes through ProfileQuery", "[cli][query]") {
    auto p = sample_profile().string();
    auto r = host("query " + p + " --fusion Linear_Bias_ReLU --shape 128x512x512");
    REQUIRE(r.exit_code == 0);
    auto doc = json::parse(slurp(p));
    const double measured = doc.at("fusion_profiles").at("Linear_Bias_ReLU@128x512x512").at("speedup_factor").as_double();
    char expect[32];
    std::snprintf(expect, sizeof expect, "speedup %.3fx", measured);
    CHECK(r.out.find(expect) != std::string::npos);
    // Outside the measured range the answer is clamped to the nearest measured shape.
    auto big = host("query " + p + " --fusion Linear_Bias_ReLU --shape 4096x4096x4096");
    CHECK(big.out.find(expect) != std::string::npos);
    auto op = host("query " + p + " --operation matmul --size 256");
    CHECK(op.exit_code == 0);
    CHECK(op.out.find("GFLOPS, efficiency") != std::string::npos);
    CHECK(host("query " + p + " --fusion NoSuchPattern --shape 1x2x3").exit_code == 2);
    CHECK(host("query " + p + " --fusion Linear_Bias_ReLU --shape 12xab").exit_code == 2);
}
