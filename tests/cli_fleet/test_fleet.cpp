// End-to-end tests of the fleet: `calib-host merge` of three profiles, and (where MPI is built in)
// `mpirun --oversubscribe` on loopback with the fixture plugin, ranks posing as nodes through
// CALIB_FLEET_NODE: a planted slow node named, the network fitted, a rank killed mid-run marked failed
// while the others are kept, a calibration past its deadline marked failed.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <set>
#include <thread>

#include "../cli/cli_util.hpp"

using namespace calib::test;
namespace json = boost::json;

namespace {

// The run options of every calibration here: the fixture's quick case, no history, no guards.
std::string run_options(const FixtureDir& plugins) {
    return "--no-default-plugins --plugins " + plugins.dir.path().string() +
           " --quick --quiet --no-preflight --no-corunner-check --no-placement-guard --replicas 1 --placement-retry 0 --no-history";
}

const json::object& node_entry(const json::object& doc, const std::string& name) {
    for (const auto& n : doc.at("nodes").as_array())
        if (n.at("name") == name.c_str()) return n.as_object();
    throw std::runtime_error("no node " + name);
}

// The checks every fleet view passes: its sections, and each figure's median/spread/values/outliers.
void check_fleet_shape(const json::object& doc, std::size_t nodes) {
    CHECK(doc.at("fleet_schema_version") == 1);
    CHECK(doc.at("nodes").as_array().size() == nodes);
    REQUIRE(doc.at("figures").is_object());
    REQUIRE(doc.at("figures").as_object().contains("best_gflops.fp32"));
    for (const auto& [name, f] : doc.at("figures").as_object()) {
        for (const char* k : {"unit", "nodes", "median", "min", "max", "mad", "mad_pct", "reference", "values", "outliers", "judged"})
            CHECK(f.as_object().contains(k));
        for (const auto& v : f.at("values").as_array()) {
            CHECK(v.at("ci_low").to_number<double>() <= v.at("value").to_number<double>());
            CHECK(v.at("value").to_number<double>() <= v.at("ci_high").to_number<double>());
            CHECK(v.as_object().contains("verdict"));
        }
    }
    CHECK(doc.at("outliers").is_array());
    CHECK(doc.contains("topology"));
}

// The planted node (100x slower on the fixture's case) named slower on best_gflops.fp32 by more than
// half, and the slowest by far. The other nodes are not asserted SAME: on this 2-CPU machine, shared with
// parallel tests, a sibling can measure truly slower for a while, and then the view rightly says so.
// The plant is large so that its samples are long against a preemption: compare's rule says UNSURE
// when the change is within the samples' scatter (cv), and a loaded machine's short samples scatter.
void check_slow_node(const json::object& doc, const std::string& slow) {
    const auto& fp32 = doc.at("figures").at("best_gflops.fp32").as_object();
    INFO(json::serialize(fp32));
    CHECK(fp32.at("judged") == true);
    bool named = false;
    for (const auto& o : fp32.at("outliers").as_array())
        if (o.at("node") == slow.c_str()) {
            named = true;
            CHECK(o.at("direction") == "slower");
            CHECK(o.at("change_pct").to_number<double>() < -50);
        }
    CHECK(named);
    double planted = 0;
    for (const auto& v : fp32.at("values").as_array())
        if (v.at("node") == slow.c_str()) planted = v.at("value").to_number<double>();
    REQUIRE(planted > 0);
    for (const auto& v : fp32.at("values").as_array())
        if (v.at("node") != slow.c_str()) CHECK(v.at("value").to_number<double>() > 2 * planted);
}

}  // namespace

TEST_CASE("merge: three profiles give the fleet view, the planted slow node named", "[cli][fleet]") {
    FixtureDir plugins;
    Scratch dir;
    std::vector<fs::path> profiles;
    for (int i = 0; i < 3; ++i) {
        std::string name = "p";
        name += std::to_string(i);
        profiles.push_back(dir / (name + ".json"));
        auto r = host("run " + run_options(plugins) + " --time-budget 0.1 --output " + profiles.back().string(),
                      i == 1 ? "CALIB_FIXTURE_SLOWDOWN=100" : "");
        REQUIRE(r.exit_code == 0);
    }
    const fs::path out = dir / "fleet.json";
    const std::string files = profiles[0].string() + " " + profiles[1].string() + " " + profiles[2].string();
    auto r = host("merge " + files + " --name a --name b --name c --output " + out.string());
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const json::object doc = json::parse(slurp(out)).as_object();
    check_fleet_shape(doc, 3);
    CHECK(doc.at("mode") == "merge");
    CHECK(doc.at("topology").is_null());
    CHECK(node_entry(doc, "b").at("profile") == profiles[1].string().c_str());
    CHECK(node_entry(doc, "a").at("status") == "ok");
    check_slow_node(doc, "b");
    CHECK(r.out.find("b slower on best_gflops.fp32") != std::string::npos);

    // Default names: the profiles' host name, made unique.
    const fs::path out2 = dir / "fleet2.json";
    REQUIRE(host("merge " + files + " --output " + out2.string()).exit_code == 0);
    std::set<std::string> names;
    const json::value doc2 = json::parse(slurp(out2));
    for (const auto& n : doc2.at("nodes").as_array()) names.insert(json::value_to<std::string>(n.at("name")));
    CHECK(names.size() == 3);

    // Bad input: one line, exit 2, the fleet file untouched.
    const std::string before = slurp(out);
    std::ofstream(dir / "bad.json") << "{\"metadata\": 1}";
    for (const std::string& args :
         {"merge " + files + " " + (dir / "bad.json").string() + " --output " + out.string(),
          "merge " + files + " " + (dir / "missing.json").string() + " --output " + out.string(),
          "merge " + files + " --name a --output " + out.string(),
          "merge " + files + " --name a --name a --name b --output " + out.string(),
          "merge " + files + " --output " + (dir / "no-such-dir" / "f.json").string(), std::string("merge --output ") + out.string()}) {
        auto bad = host(args);
        INFO(args);
        CHECK(bad.exit_code == 2);
        CHECK(count_lines(bad.err) == 1);
        CHECK(bad.err.rfind("calib-host: error: merge: ", 0) == 0);
        CHECK(slurp(out) == before);
    }
}

#ifndef CALIB_MPIEXEC

TEST_CASE("fleet: --fleet in a calib-host built without MPI says so, exit 5", "[cli][fleet]") {
    Scratch dir;
    auto r = host("--fleet --output " + (dir / "fleet.json").string());
    CHECK(r.exit_code == 5);
    CHECK(count_lines(r.err) == 1);
    CHECK(r.err.find("--fleet is not built in") != std::string::npos);
    CHECK(!fs::exists(dir / "fleet.json"));
}

#else

namespace {

// mpirun as the tests need it on this machine: as root too, oversubscribed, no shared-memory single copy
// (containers refuse it), a rank's death not ending the job (--enable-recovery).
std::string mpirun_env() {
    return "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none "
           "OMPI_MCA_plm_rsh_agent=false";
}

// One MPMD context per rank: `-n 1 -x CALIB_FLEET_NODE=<name> [-x VAR=value] calib-host --fleet ARGS`.
struct Rank {
    std::string node, env, extra;
};
std::string mpirun_command(const std::vector<Rank>& ranks, const std::string& fleet_args) {
    std::string cmd = std::string(CALIB_MPIEXEC) + " --oversubscribe --enable-recovery";
    for (std::size_t i = 0; i < ranks.size(); ++i) {
        cmd += i == 0 ? " " : " : ";
        cmd += "-n 1 -x CALIB_FLEET_NODE=" + ranks[i].node + (ranks[i].env.empty() ? "" : " -x " + ranks[i].env) + " " +
               CALIB_HOST_BIN + " --fleet " + fleet_args + (ranks[i].extra.empty() ? "" : " " + ranks[i].extra);
    }
    return cmd;
}

Result run_shell(const std::string& cmd, const Scratch& s) {
    const std::string full = "env " + mpirun_env() + " timeout 300 " + cmd + " >" + (s / "out").string() + " 2>" + (s / "err").string() + " </dev/null";
    Result r;
    int rc = std::system(full.c_str());
    r.exit_code = WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
    r.out = slurp(s / "out");
    r.err = slurp(s / "err");
    return r;
}

std::string read_all(const fs::path& p) {
    std::string s = slurp(p);
    for (char& c : s)
        if (c == '\0') c = '\n';
    return s;
}

// The rank process whose command line holds `token` and whose environment sets CALIB_FLEET_NODE=node,
// once it has started its calibration (a child process); 0 while there is none.
pid_t calibrating_rank(const std::string& token, const std::string& node) {
    std::vector<std::pair<pid_t, pid_t>> parents;  // (pid, ppid)
    pid_t rank = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/proc", ec)) {
        const std::string name = e.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        const pid_t pid = static_cast<pid_t>(std::stol(name));
        const std::string stat = slurp(e.path() / "stat");
        const auto close = stat.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream rest(stat.substr(close + 2));
        std::string state;
        long ppid = 0;
        rest >> state >> ppid;
        parents.emplace_back(pid, static_cast<pid_t>(ppid));
        const std::string cmdline = read_all(e.path() / "cmdline");
        if (cmdline.find("--fleet\n") == std::string::npos || cmdline.find(token) == std::string::npos) continue;
        if (("\n" + read_all(e.path() / "environ")).find("\nCALIB_FLEET_NODE=" + node + "\n") != std::string::npos) rank = pid;
    }
    if (rank == 0) return 0;
    for (const auto& [pid, ppid] : parents)
        if (ppid == rank) return rank;
    return 0;
}

}  // namespace

TEST_CASE("fleet: mpirun -n 4 as 3 nodes: one calibration per node, the slow node named, the network fitted",
          "[cli][fleet][mpi]") {
    FixtureDir plugins;
    Scratch dir;
    const fs::path out = dir / "fleet.json";
    // One calibration at a time (--fleet-serial): the three "nodes" share this machine's two CPUs.
    const std::string args = "--fleet-serial --output " + out.string() + " " + run_options(plugins) + " --time-budget 0.1";
    // Ranks 1 and 2 pose as one node (n1, planted 100x slower): only rank 1 calibrates it.
    auto r = run_shell(mpirun_command({{"n0", "", ""}, {"n1", "CALIB_FIXTURE_SLOWDOWN=100", ""}, {"n1", "CALIB_FIXTURE_SLOWDOWN=100", ""}, {"n2", "", ""}}, args), dir);
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    const json::object doc = json::parse(slurp(out)).as_object();
    check_fleet_shape(doc, 3);
    CHECK(doc.at("mode") == "mpi");
    CHECK(doc.at("node_counts").at("ok") == 3);
    const auto& n1 = node_entry(doc, "n1");
    CHECK(n1.at("rank") == 1);
    CHECK(n1.at("ranks").as_array().size() == 2);
    CHECK(node_entry(doc, "n2").at("rank") == 3);
    // Each node's profile beside the fleet file, the node's own calibration (3 of them, not 4).
    std::size_t profiles = 0;
    for (const auto& e : fs::directory_iterator(dir / "fleet.nodes")) profiles += e.path().extension() == ".json";
    CHECK(profiles == 3);
    for (const char* n : {"n0", "n1", "n2"}) {
        const fs::path p = dir / json::value_to<std::string>(node_entry(doc, n).at("profile"));
        REQUIRE(fs::exists(p));
        CHECK(host("validate " + p.string()).exit_code == 0);
    }
    check_slow_node(doc, "n1");
    CHECK(r.out.find("n1 slower on best_gflops.fp32") != std::string::npos);

    // The network: ping-pong for every pair of the 3 nodes and one all-reduce over them, fitted.
    const auto& topo = doc.at("topology").as_object();
    CHECK(json::value_to<std::string>(topo.at("transport")).find("Open MPI") != std::string::npos);
    REQUIRE(topo.at("ping_pong").as_array().size() == 3);
    REQUIRE(topo.at("allreduce").as_array().size() == 1);
    for (const char* kind : {"ping_pong", "allreduce"})
        for (const auto& s : topo.at(kind).as_array()) {
            CHECK(s.at("fit_ok") == true);
            CHECK(s.at("alpha_us").to_number<double>() > 0);
            CHECK(s.at("beta_gbps").to_number<double>() > 0);
            CHECK(s.at("fit_residual").to_number<double>() >= 0);
            const auto& pts = s.at("points").as_array();
            REQUIRE(pts.size() == 11);  // 4 B to 4 MiB by x4
            CHECK(pts.front().at("bytes") == 4);
            CHECK(pts.back().at("bytes") == 4 << 20);
            for (const auto& p : pts) CHECK(p.at("time_us").to_number<double>() > 0);
        }
    CHECK(topo.at("allreduce").at(0).at("nodes").as_array().size() == 3);
}

TEST_CASE("fleet: a rank killed mid-run is its node's failure, the other nodes are kept", "[cli][fleet][mpi]") {
    FixtureDir plugins;
    Scratch dir;
    const fs::path out = dir / "fleet.json";
    // n1's calibration is long (100x slower, 2 s budget): the rank is killed while it runs.
    const std::string args = "--fleet-heartbeat 3 --output " + out.string() + " " + run_options(plugins);
    const std::string cmd = mpirun_command(
        {{"n0", "", "--time-budget 0.1"}, {"n1", "CALIB_FIXTURE_SLOWDOWN=100", "--time-budget 2"}, {"n2", "", "--time-budget 0.1"}}, args);
    const std::string full = "env " + mpirun_env() + " timeout 300 " + cmd + " >" + (dir / "out").string() + " 2>" +
                             (dir / "err").string() + " </dev/null";
    const pid_t launcher = ::fork();
    REQUIRE(launcher >= 0);
    if (launcher == 0) {
        ::execl("/bin/sh", "sh", "-c", full.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    pid_t victim = 0;
    for (int i = 0; i < 1200 && victim == 0; ++i) {  // up to 2 minutes for the rank to start calibrating
        victim = calibrating_rank(out.string(), "n1");
        if (victim == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    REQUIRE(victim > 0);
    CHECK(::kill(victim, SIGKILL) == 0);
    int status = 0;
    REQUIRE(::waitpid(launcher, &status, 0) == launcher);
    const std::string stdout_text = slurp(dir / "out");
    INFO(stdout_text << slurp(dir / "err"));
    REQUIRE(fs::exists(out));
    const json::object doc = json::parse(slurp(out)).as_object();
    check_fleet_shape(doc, 3);
    const auto& n1 = node_entry(doc, "n1");
    CHECK(n1.at("status") == "failed");
    CHECK(json::value_to<std::string>(n1.at("reason")).find("rank 1 sent no heartbeat") != std::string::npos);
    CHECK(n1.at("profile").is_null());
    for (const char* n : {"n0", "n2"}) {
        CHECK(node_entry(doc, n).at("status") == "ok");
        CHECK(fs::exists(dir / json::value_to<std::string>(node_entry(doc, n).at("profile"))));
    }
    CHECK(doc.at("node_counts").at("failed") == 1);
    CHECK(doc.at("figures").at("best_gflops.fp32").at("nodes") == 2);
    CHECK(stdout_text.find("n1: failed (rank 1 sent no heartbeat") != std::string::npos);
    CHECK(calibrating_rank(out.string(), "n1") == 0);
    // The killed rank's calibration went with it (it was the rank's child): nothing of this fleet runs on.
    bool left = false;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/proc", ec)) {
        const std::string cmdline = read_all(e.path() / "cmdline");
        left |= cmdline.find(CALIB_HOST_BIN) != std::string::npos && cmdline.find("--fleet") != std::string::npos &&
                cmdline.find(out.string()) != std::string::npos;
    }
    CHECK(!left);
}

TEST_CASE("fleet: a calibration past its deadline or exiting with an error fails its node only", "[cli][fleet][mpi]") {
    FixtureDir plugins;
    Scratch dir;
    const fs::path out = dir / "fleet.json";
    const std::string args = "--output " + out.string() + " " + run_options(plugins);
    // n1's calibration takes longer than its deadline; n2's cannot load any plugin.
    auto r = run_shell(mpirun_command({{"n0", "", "--time-budget 0.1"}, {"n1", "", "--time-budget 30 --fleet-timeout 2"},
                                       {"n2", "", "--time-budget 0.1 --plugins " + (dir / "nothing-here").string()}},
                                      args + " --no-network"),
                       dir);
    INFO(r.out << r.err);
    REQUIRE(fs::exists(out));
    const json::object doc = json::parse(slurp(out)).as_object();
    check_fleet_shape(doc, 3);
    CHECK(node_entry(doc, "n0").at("status") == "ok");
    CHECK(node_entry(doc, "n1").at("status") == "failed");
    CHECK(json::value_to<std::string>(node_entry(doc, "n1").at("reason")).find("did not finish within 2 s") != std::string::npos);
    CHECK(node_entry(doc, "n2").at("status") == "failed");
    CHECK(json::value_to<std::string>(node_entry(doc, "n2").at("reason")).find("exited with status 2: calib-host: error:") != std::string::npos);
    CHECK(node_entry(doc, "n2").at("exit_code") == 2);
    CHECK(doc.at("topology").is_null());  // --no-network
}

#endif
