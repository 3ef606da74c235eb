// `mpirun -n N calib-host --fleet --output fleet.json [run options]` (docs/fleet.md): the ranks agree
// which one calibrates each node (the lowest rank of each node name), measure the network between the
// nodes (ping-pong and all-reduce over a size sweep, before any calibration), then every node leader
// runs `calib-host run` as a CHILD process with a deadline and sends its profile to rank 0, which
// gathers with non-blocking receives, heartbeats and a deadline (never a collective a dead rank would
// hang) and writes the fleet file (core/src/fleet) and the node profiles beside it.
// Compiled only where CMake found MPI (cmake/CalibMpi.cmake).
// The C API only: Open MPI and MPICH add their deprecated C++ bindings to a C++ unit unless told not to.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "../commands.hpp"
#include "../fleet_output.hpp"

namespace calib::cli {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

constexpr int kTagReport = 7101, kTagHeartbeat = 7102, kTagDone = 7103, kTagGo = 7104;
constexpr int kTagPing = 7110, kTagStop = 7111;
constexpr int kNameLen = 256;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
void nap(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

const char* kFleetHelp = R"(mpirun [--enable-recovery] -n N calib-host --fleet --output fleet.json [options] [run options]
Calibrates every node (the lowest rank of each node name runs `calib-host run` with the run options as a
child process), measures the network between the nodes first, and writes the fleet view (docs/fleet.md).
  --output FILE          the fleet file; node profiles go to <stem>.nodes/ beside it
  --fleet-timeout S      seconds one node's calibration may take (default 7200)
  --fleet-heartbeat S    seconds without word from a node's rank before it is failed (default 60)
  --no-network           skip the network measurement
  --fleet-serial         calibrate the nodes one after another (nodes sharing CPUs, ranks posing as nodes)
  CALIB_FLEET_NODE       (environment) the rank's node name; a comma list: one per rank
Exit codes (rank 0): 0 every node ok; 1 some node failed (the others kept); 2 usage or output error.
mpirun --enable-recovery is needed for a dying rank not to end the job; it then exits 0 itself.
)";

struct FleetArgs {
    std::string output;
    bool help = false;
    double timeout = 7200;    // seconds one node's calibration may take
    double heartbeat = 60;    // seconds without a word from a node leader before rank 0 calls it failed
    bool network = true, quiet = false;
    bool serial = false;  // one node's calibration at a time (--fleet-serial)
    std::vector<std::string> run_args;  // forwarded to `calib-host run`
};

// The fleet's own options; everything else goes to `calib-host run`. The usage error, or empty.
std::string parse_fleet_args(const Args& args, FleetArgs& a) {
    auto number = [](const std::string& opt, const std::string& v, double& out) -> std::string {
        try {
            std::size_t used = 0;
            out = std::stod(v, &used);
            if (used != v.size() || !(out > 0)) throw std::invalid_argument(v);
        } catch (const std::exception&) {
            return opt + " must be a positive number of seconds (got '" + v + "')";
        }
        return {};
    };
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& s = args[i];
        auto value = [&](const std::string& opt, std::string& out) -> bool {
            if (s == opt && i + 1 < args.size()) {
                out = args[++i];
                return true;
            }
            if (s.rfind(opt + "=", 0) == 0) {
                out = s.substr(opt.size() + 1);
                return true;
            }
            return false;
        };
        std::string v;
        if (value("--output", v) || value("-o", v)) a.output = v;
        else if (value("--fleet-timeout", v)) {
            if (auto e = number("--fleet-timeout", v, a.timeout); !e.empty()) return e;
        } else if (value("--fleet-heartbeat", v)) {
            if (auto e = number("--fleet-heartbeat", v, a.heartbeat); !e.empty()) return e;
        } else if (s == "--no-network") a.network = false;
        else if (s == "--fleet-serial") a.serial = true;
        else if (s == "--json") return "--json cannot be used with --fleet (the fleet file is --output)";
        else if (s == "--output" || s == "-o" || s == "--fleet-timeout" || s == "--fleet-heartbeat")
            return s + " needs a value";
        else {
            if (s == "--quiet" || s == "-q") a.quiet = true;
            a.run_args.push_back(s);
        }
    }
    return check_fleet_output(a.output);
}

// This rank's node name: CALIB_FLEET_NODE (a comma list: the rank's item; for tests, ranks posing as
// nodes), else the host name.
std::string node_name(int rank, std::string& error) {
    const char* env = std::getenv("CALIB_FLEET_NODE");
    if (env != nullptr && *env != '\0') {
        std::vector<std::string> items;
        std::stringstream ss(env);
        for (std::string item; std::getline(ss, item, ',');) items.push_back(item);
        if (items.size() == 1) return items[0];
        if (static_cast<std::size_t>(rank) >= items.size() || items[static_cast<std::size_t>(rank)].empty()) {
            error = "CALIB_FLEET_NODE names " + std::to_string(items.size()) + " nodes, none for rank " + std::to_string(rank);
            return {};
        }
        return items[static_cast<std::size_t>(rank)];
    }
    char host[kNameLen] = {};
    ::gethostname(host, sizeof host - 1);
    return host;
}

// ---- the network between node leaders ---------------------------------------------------------------

std::vector<double> sweep_sizes() {
    std::vector<double> s;
    for (double b = 4; b <= 4.0 * 1024 * 1024; b *= 4) s.push_back(b);
    return s;
}
constexpr int kBatches = 5;

// A barrier that sleeps between looks: a rank waiting here must not spin on CPUs that others measure on.
void quiet_barrier(MPI_Comm comm, double poll = 0.001) {
    MPI_Request q;
    MPI_Ibarrier(comm, &q);
    for (int done = 0;;) {
        MPI_Test(&q, &done, MPI_STATUS_IGNORE);
        if (done) return;
        nap(poll);
    }
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

// Ping-pong between `me` (initiator, timing) and `peer` on `comm`: one-way seconds per size. The peer
// echoes every message until kTagStop, so the initiator alone decides the repetitions.
void ping_pong_initiate(MPI_Comm comm, int peer, std::vector<char>& buf, std::vector<double>& seconds, std::vector<int>& reps) {
    for (double bytes : sweep_sizes()) {
        const int n = static_cast<int>(bytes);
        auto round_trips = [&](int count) {
            const auto t0 = Clock::now();
            for (int i = 0; i < count; ++i) {
                MPI_Send(buf.data(), n, MPI_BYTE, peer, kTagPing, comm);
                MPI_Recv(buf.data(), n, MPI_BYTE, peer, kTagPing, comm, MPI_STATUS_IGNORE);
            }
            return since(t0);
        };
        const double one = std::max(1e-7, round_trips(2) / 2);  // warm-up and an estimate
        const int r = static_cast<int>(std::clamp(0.01 / one, 1.0, 1000.0));  // about 10 ms a batch
        std::vector<double> batch;
        for (int b = 0; b < kBatches; ++b) batch.push_back(round_trips(r) / (2.0 * r));
        seconds.push_back(median(batch));
        reps.push_back(r);
    }
    MPI_Send(buf.data(), 0, MPI_BYTE, peer, kTagStop, comm);
}

void ping_pong_echo(MPI_Comm comm, int peer, std::vector<char>& buf) {
    for (;;) {
        MPI_Status st;
        MPI_Recv(buf.data(), static_cast<int>(buf.size()), MPI_BYTE, peer, MPI_ANY_TAG, comm, &st);
        if (st.MPI_TAG == kTagStop) return;
        int n = 0;
        MPI_Get_count(&st, MPI_BYTE, &n);
        MPI_Send(buf.data(), n, MPI_BYTE, peer, kTagPing, comm);
    }
}

// All-reduce (sum of floats) over every leader: per size the slowest leader's time per operation, the
// median of the batches. Leader 0 decides the repetitions and broadcasts them (outside the timing).
void allreduce_sweep(MPI_Comm comm, int me, std::vector<double>& seconds, std::vector<int>& reps) {
    std::vector<float> in(1024 * 1024, 1.0f), out(in.size());
    for (double bytes : sweep_sizes()) {
        const int n = static_cast<int>(bytes / sizeof(float));
        auto timed = [&](int count) {
            MPI_Barrier(comm);
            const auto t0 = Clock::now();
            for (int i = 0; i < count; ++i) MPI_Allreduce(in.data(), out.data(), n, MPI_FLOAT, MPI_SUM, comm);
            double t = since(t0) / count, worst = 0;
            MPI_Allreduce(&t, &worst, 1, MPI_DOUBLE, MPI_MAX, comm);
            return worst;
        };
        int r = static_cast<int>(std::clamp(0.01 / std::max(1e-7, timed(2)), 1.0, 1000.0));
        MPI_Bcast(&r, 1, MPI_INT, 0, comm);
        std::vector<double> batch;
        for (int b = 0; b < kBatches; ++b) batch.push_back(timed(r));
        if (me == 0) {
            seconds.push_back(median(batch));
            reps.push_back(r);
        }
    }
}

// Every series, on leader 0 of `comm` (the other leaders send theirs there). All leaders call this.
std::vector<core::NetworkSeries> measure_network(MPI_Comm comm, const std::vector<std::string>& names,
                                                 const std::vector<int>& ranks) {
    int me = 0, count = 0;
    MPI_Comm_rank(comm, &me);
    MPI_Comm_size(comm, &count);
    std::vector<std::pair<int, int>> pairs;  // every pair for a small fleet, else leader 0 with each other
    for (int i = 0; i < count; ++i)
        for (int j = i + 1; j < count; ++j)
            if (count <= 8 || i == 0) pairs.emplace_back(i, j);
    const std::size_t nsizes = sweep_sizes().size();
    std::vector<double> times(pairs.size() * nsizes, 0.0), all_times(times.size(), 0.0);
    std::vector<int> counts(pairs.size() * nsizes, 0), all_counts(counts.size(), 0);
    std::vector<char> buf(static_cast<std::size_t>(sweep_sizes().back()));
    for (std::size_t p = 0; p < pairs.size(); ++p) {
        const auto [a, b] = pairs[p];
        if (me == a) {
            std::vector<double> s;
            std::vector<int> r;
            ping_pong_initiate(comm, b, buf, s, r);
            std::copy(s.begin(), s.end(), times.begin() + static_cast<long>(p * nsizes));
            std::copy(r.begin(), r.end(), counts.begin() + static_cast<long>(p * nsizes));
        } else if (me == b) {
            ping_pong_echo(comm, a, buf);
        }
        quiet_barrier(comm);  // one pair at a time; the leaders not in it sleep
    }
    MPI_Reduce(times.data(), all_times.data(), static_cast<int>(times.size()), MPI_DOUBLE, MPI_SUM, 0, comm);
    MPI_Reduce(counts.data(), all_counts.data(), static_cast<int>(counts.size()), MPI_INT, MPI_SUM, 0, comm);
    core::NetworkSeries ar;
    ar.kind = "allreduce";
    allreduce_sweep(comm, me, ar.seconds, ar.repetitions);
    std::vector<core::NetworkSeries> out;
    if (me != 0) return out;
    for (std::size_t p = 0; p < pairs.size(); ++p) {
        core::NetworkSeries s;
        s.kind = "ping_pong";
        const auto [a, b] = pairs[p];
        s.nodes = {names[static_cast<std::size_t>(a)], names[static_cast<std::size_t>(b)]};
        s.ranks = {ranks[static_cast<std::size_t>(a)], ranks[static_cast<std::size_t>(b)]};
        s.bytes = sweep_sizes();
        s.seconds.assign(all_times.begin() + static_cast<long>(p * nsizes), all_times.begin() + static_cast<long>((p + 1) * nsizes));
        s.repetitions.assign(all_counts.begin() + static_cast<long>(p * nsizes), all_counts.begin() + static_cast<long>((p + 1) * nsizes));
        s.batches = kBatches;
        out.push_back(std::move(s));
    }
    ar.nodes = names;
    ar.ranks = ranks;
    ar.bytes = sweep_sizes();
    ar.batches = kBatches;
    out.push_back(std::move(ar));
    return out;
}

// ---- one node's calibration: `calib-host run` as a child process with a deadline ----------------------

struct Report {
    std::string status = "failed", reason, profile_text, log;
    int exit_code = -1;
    double seconds = 0;
    bool heard = true;  // false: rank 0 gave up on the rank (no heartbeat, no report): no word to it at the end
};

class Calibration {
public:
    explicit Calibration(const FleetArgs& a) : deadline_(a.timeout) {
        std::string t = (fs::temp_directory_path() / "calib-fleet-XXXXXX").string();
        if (::mkdtemp(t.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        dir_ = t;
        std::vector<std::string> argv = {"calib-host", "run"};
        argv.insert(argv.end(), a.run_args.begin(), a.run_args.end());
        argv.push_back("--output");
        argv.push_back((dir_ / "profile.json").string());
        const std::string err = (dir_ / "stderr").string();
        t0_ = Clock::now();
        const pid_t parent = ::getpid();
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            ::setpgid(0, 0);                   // its workers die with it at the deadline
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // and with the rank, when the rank is killed
            if (::getppid() != parent) ::_exit(127);
            FILE* e = std::freopen(err.c_str(), "w", stderr);
            FILE* o = std::freopen("/dev/null", "w", stdout);
            (void)e, (void)o;
            std::vector<char*> cargv;
            for (auto& s : argv) cargv.push_back(s.data());
            cargv.push_back(nullptr);
            ::execv("/proc/self/exe", cargv.data());
            std::fprintf(stderr, "calib-host: error: cannot start calib-host run: %s\n", std::strerror(errno));
            ::_exit(127);
        }
        ::setpgid(pid_, pid_);
    }
    ~Calibration() {
        if (pid_ > 0) {
            ::kill(-pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    Calibration(const Calibration&) = delete;
    Calibration& operator=(const Calibration&) = delete;

    // The report once the child has ended (or was killed at the deadline); empty while it runs.
    std::optional<Report> poll() {
        if (pid_ <= 0) return std::nullopt;
        int status = 0;
        const pid_t r = ::waitpid(pid_, &status, WNOHANG);
        Report rep;
        if (r == 0) {
            if (since(t0_) < deadline_) return std::nullopt;
            ::kill(-pid_, SIGKILL);
            ::waitpid(pid_, &status, 0);
            pid_ = -1;
            rep.reason = "calibration did not finish within " + fmt(deadline_) + " s (--fleet-timeout); killed";
            return finish(rep);
        }
        pid_ = -1;
        if (WIFSIGNALED(status)) {
            rep.reason = std::string("calibration killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
                         ::strsignal(WTERMSIG(status)) + ")";
            return finish(rep);
        }
        rep.exit_code = WEXITSTATUS(status);
        const fs::path out = dir_ / "profile.json";
        if ((rep.exit_code == kExitOk || rep.exit_code == kExitCaseFailures) && fs::exists(out)) {
            std::ifstream in(out, std::ios::binary);
            std::stringstream ss;
            ss << in.rdbuf();
            rep.profile_text = ss.str();
            rep.status = "ok";
            if (rep.exit_code == kExitCaseFailures) rep.reason = "some cases failed (listed in the profile's failed_cases)";
            return finish(rep);
        }
        rep.reason = "calibration exited with status " + std::to_string(rep.exit_code);
        return finish(rep);
    }

private:
    static std::string fmt(double v) {
        std::ostringstream os;
        os << v;
        return os.str();
    }
    Report finish(Report& rep) {
        rep.seconds = since(t0_);
        std::ifstream in(dir_ / "stderr");
        std::string line, last;
        std::ostringstream log;
        while (std::getline(in, line)) {
            log << line << "\n";
            if (!line.empty()) last = line;
        }
        rep.log = log.str();
        if (rep.status != "ok" && !last.empty()) rep.reason += ": " + last;
        return rep;
    }

    double deadline_;
    fs::path dir_;
    pid_t pid_ = -1;
    Clock::time_point t0_;
};

std::string report_json(const Report& r) {
    json::object o{{"status", r.status}, {"reason", r.reason}, {"exit_code", r.exit_code}, {"seconds", r.seconds},
                   {"profile", r.profile_text}, {"log", r.log}};
    return json::serialize(o);
}

Report report_from(const std::string& text) {
    Report r;
    try {
        const auto o = json::parse(text).as_object();
        r.status = json::value_to<std::string>(o.at("status"));
        r.reason = json::value_to<std::string>(o.at("reason"));
        r.exit_code = static_cast<int>(o.at("exit_code").as_int64());
        r.seconds = o.at("seconds").to_number<double>();
        r.profile_text = json::value_to<std::string>(o.at("profile"));
        r.log = json::value_to<std::string>(o.at("log"));
    } catch (const std::exception& e) {
        r = Report{};
        r.reason = std::string("unreadable report from the node: ") + e.what();
    }
    return r;
}

void relay_log(const std::string& node, const std::string& log) {
    std::istringstream in(log);
    for (std::string line; std::getline(in, line);) std::cerr << "[" << node << "] " << line << "\n";
}

// Receives one message of `tag` from `source` (probed) as bytes.
std::string receive_text(const MPI_Status& probed) {
    int n = 0;
    MPI_Get_count(&probed, MPI_CHAR, &n);
    std::string s(static_cast<std::size_t>(n), '\0');
    MPI_Recv(s.data(), n, MPI_CHAR, probed.MPI_SOURCE, probed.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    return s;
}

// A leader other than rank 0: runs its node's calibration, with a heartbeat to rank 0 meanwhile, then
// sends the report and gives up on it after a deadline (rank 0 may be gone).
void lead_node(const FleetArgs& a) {
    const double beat = std::clamp(a.heartbeat / 4, 0.2, 5.0);
    auto last = Clock::now() - std::chrono::hours(1);
    static int token = 1;
    auto heartbeat = [&] {
        if (since(last) < beat) return;
        MPI_Request q;
        MPI_Isend(&token, 1, MPI_INT, 0, kTagHeartbeat, MPI_COMM_WORLD, &q);
        MPI_Request_free(&q);
        last = Clock::now();
    };
    if (a.serial) {  // wait for this node's turn, heartbeating meanwhile
        for (int flag = 0; !flag;) {
            MPI_Status st;
            MPI_Iprobe(0, kTagGo, MPI_COMM_WORLD, &flag, &st);
            if (flag) {
                int go = 0;
                MPI_Recv(&go, 1, MPI_INT, 0, kTagGo, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                break;
            }
            heartbeat();
            nap(0.1);
        }
    }
    Calibration cal(a);
    std::optional<Report> rep;
    while (!(rep = cal.poll())) {
        heartbeat();
        nap(0.1);
    }
    const std::string text = report_json(*rep);
    MPI_Request q;
    MPI_Isend(text.data(), static_cast<int>(text.size()), MPI_CHAR, 0, kTagReport, MPI_COMM_WORLD, &q);
    const auto t0 = Clock::now();
    int done = 0;
    while (!done && since(t0) < a.heartbeat + 60) {
        MPI_Test(&q, &done, MPI_STATUS_IGNORE);
        if (!done) nap(0.05);
    }
    if (!done) {
        MPI_Cancel(&q);
        MPI_Request_free(&q);
    }
}

// Every rank but 0, at the end: waits for rank 0's word that the fleet file is written, sleeping
// between looks (an idle rank must not spin on the CPUs a calibration uses), up to `limit` seconds.
// True when every rank was accounted for: only then may MPI_Finalize be called (its closing fence
// waits forever for a rank that died, even under --enable-recovery).
bool wait_for_done(double limit) {
    const auto t0 = Clock::now();
    while (since(t0) < limit) {
        int flag = 0;
        MPI_Status st;
        MPI_Iprobe(0, kTagDone, MPI_COMM_WORLD, &flag, &st);
        if (flag) {
            int all_alive = 0;
            MPI_Recv(&all_alive, 1, MPI_INT, 0, kTagDone, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            return all_alive == 1;
        }
        nap(0.2);
    }
    return false;
}

struct NodeInfo {
    std::string name;
    std::vector<int> ranks;  // ranks[0]: the leader
};

// Rank 0: its own node's calibration and every other leader's report, with heartbeats and deadlines.
std::vector<Report> gather(const FleetArgs& a, const std::vector<NodeInfo>& nodes) {
    std::vector<std::optional<Report>> got(nodes.size());
    std::map<int, std::size_t> by_leader;
    std::vector<Clock::time_point> heard(nodes.size(), Clock::now());
    for (std::size_t i = 0; i < nodes.size(); ++i) by_leader[nodes[i].ranks[0]] = i;
    const auto start = Clock::now();
    const double grace = 30;
    auto fail = [](const std::string& why) {
        Report r;
        r.reason = why;
        r.heard = false;
        return r;
    };
    // Together, or (--fleet-serial) one after another: rank 0's own node first, then each leader on a word.
    std::optional<Calibration> own;
    std::vector<std::optional<Clock::time_point>> started(nodes.size());
    std::size_t turn = 0;
    static int go = 1;
    if (!a.serial) {
        own.emplace(a);
        for (auto& t : started) t = start;
    }
    for (;;) {
        if (a.serial && !started[turn]) {
            if (turn == 0) own.emplace(a);
            else {
                MPI_Request q;
                MPI_Isend(&go, 1, MPI_INT, nodes[turn].ranks[0], kTagGo, MPI_COMM_WORLD, &q);
                MPI_Request_free(&q);
            }
            started[turn] = Clock::now();
        }
        if (!got[0]) got[0] = own->poll();
        for (;;) {
            int flag = 0;
            MPI_Status st;
            MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
            if (!flag) break;
            const std::string text = receive_text(st);
            auto it = by_leader.find(st.MPI_SOURCE);
            if (it == by_leader.end()) continue;
            heard[it->second] = Clock::now();
            if (st.MPI_TAG == kTagReport && !got[it->second]) got[it->second] = report_from(text);
        }
        bool pending = false;
        for (std::size_t i = 1; i < nodes.size(); ++i) {
            if (got[i]) continue;
            const std::string who = "rank " + std::to_string(nodes[i].ranks[0]);
            if (since(heard[i]) > a.heartbeat)
                got[i] = fail(who + " sent no heartbeat for " + std::to_string(static_cast<int>(a.heartbeat)) +
                              " s (--fleet-heartbeat): the rank died or hung");
            else if (started[i] && since(*started[i]) > a.timeout + grace)
                got[i] = fail(who + " sent no report within the calibration deadline (--fleet-timeout) and " +
                              std::to_string(static_cast<int>(grace)) + " s");
            else pending = true;
        }
        if (got[0] && !pending) break;
        if (a.serial && got[turn] && turn + 1 < nodes.size()) {
            ++turn;
            continue;
        }
        nap(0.1);
    }
    std::vector<Report> out;
    for (auto& g : got) out.push_back(std::move(*g));
    return out;
}

// The rank's end. MPI_Finalize only when no rank was lost: Open MPI 4.1's finalize fence never
// completes without the dead rank (seen with --enable-recovery), so then the rank leaves without it
// (mpirun --enable-recovery lets it).
int finish_rank(int code, bool finalize = true) {
    if (finalize) {
        MPI_Finalize();
        return code;
    }
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    ::_exit(code);
}

}  // namespace

int fleet_mpi_main(const Args& args) {
    MPI_Init(nullptr, nullptr);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);

    FleetArgs a;
    std::string err = parse_fleet_args(args, a);
    std::string name;
    if (err.empty()) name = node_name(rank, err);
    // A usage error on any rank stops every rank before any work.
    int bad = err.empty() ? 0 : 1, any_bad = 0;
    MPI_Allreduce(&bad, &any_bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (any_bad) {
        if (bad && (rank == 0 || err.find("CALIB_FLEET_NODE") != std::string::npos)) usage_error(err);
        return finish_rank(kExitUsage);
    }
    if (a.help) {
        if (rank == 0) std::cout << kFleetHelp;
        return finish_rank(kExitOk);
    }
    if (rank == 0 && !a.quiet) {
        const char* rec = std::getenv("OMPI_MCA_orte_enable_recovery");
        if (std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr && (rec == nullptr || std::string(rec) == "0" || std::string(rec) == "false"))
            std::cerr << "calib-host: warning: fleet: mpirun without --enable-recovery ends the whole job when one rank "
                         "dies (docs/fleet.md)\n";
    }

    // Node election: every rank's node name; the lowest rank of each name calibrates that node.
    std::vector<char> mine(kNameLen, '\0'), all(static_cast<std::size_t>(kNameLen) * static_cast<std::size_t>(size));
    std::strncpy(mine.data(), name.c_str(), kNameLen - 1);
    MPI_Allgather(mine.data(), kNameLen, MPI_CHAR, all.data(), kNameLen, MPI_CHAR, MPI_COMM_WORLD);
    std::vector<NodeInfo> nodes;
    for (int r = 0; r < size; ++r) {
        const std::string n(all.data() + static_cast<std::size_t>(r) * kNameLen);
        auto it = std::find_if(nodes.begin(), nodes.end(), [&](const NodeInfo& x) { return x.name == n; });
        if (it == nodes.end()) nodes.push_back({n, {r}});
        else it->ranks.push_back(r);
    }
    const bool leader = std::any_of(nodes.begin(), nodes.end(), [&](const NodeInfo& n) { return n.ranks[0] == rank; });
    if (rank == 0 && !a.quiet) {
        std::cerr << "fleet: " << size << " rank(s) on " << nodes.size() << " node(s):";
        for (const auto& n : nodes) std::cerr << " " << n.name << " (rank " << n.ranks[0] << ")";
        std::cerr << "\n";
    }

    // The network between the node leaders, before any calibration runs.
    MPI_Comm leaders = MPI_COMM_NULL;
    MPI_Comm_split(MPI_COMM_WORLD, leader ? 0 : MPI_UNDEFINED, rank, &leaders);
    json::value topology = nullptr;
    if (leader && nodes.size() >= 2 && a.network) {
        std::vector<std::string> names;
        std::vector<int> ranks;
        for (const auto& n : nodes) names.push_back(n.name), ranks.push_back(n.ranks[0]);
        if (rank == 0 && !a.quiet) std::cerr << "fleet: measuring the network between " << nodes.size() << " nodes\n";
        auto series = measure_network(leaders, names, ranks);
        if (rank == 0) {
            char lib[MPI_MAX_LIBRARY_VERSION_STRING] = {};
            int len = 0;
            MPI_Get_library_version(lib, &len);
            std::string transport = std::string(lib).substr(0, std::string(lib).find_first_of(",\n"));
            topology = core::topology_json("MPI: " + transport, series);
        }
    }
    if (leaders != MPI_COMM_NULL) MPI_Comm_free(&leaders);
    quiet_barrier(MPI_COMM_WORLD, 0.01);  // every rank here: from now on, point to point only

    if (rank != 0) {
        if (leader) lead_node(a);
        const bool all_alive = wait_for_done(a.timeout + 2 * a.heartbeat + 120);
        return finish_rank(kExitOk, all_alive);
    }

    if (!a.quiet) std::cerr << "fleet: calibrating " << nodes.size() << " node(s)\n";
    std::vector<Report> reports = gather(a, nodes);
    std::vector<core::FleetNode> fleet;
    std::vector<std::string> texts;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        Report& r = reports[i];
        core::FleetNode n;
        n.name = nodes[i].name;
        n.rank = nodes[i].ranks[0];
        n.ranks = nodes[i].ranks;
        if (!a.quiet) relay_log(n.name, r.log);
        if (r.status == "ok") {
            try {
                n.profile = core::parse_profile(r.profile_text);
            } catch (const std::exception& e) {
                r.status = "failed";
                r.reason = std::string("the node's profile cannot be read: ") + e.what();
            }
        }
        n.status = r.status;
        n.reason = r.reason;
        n.extra["exit_code"] = r.exit_code;
        n.extra["seconds"] = r.seconds;
        texts.push_back(r.status == "ok" ? r.profile_text : std::string());
        fleet.push_back(std::move(n));
    }
    core::FleetOptions o;
    o.mode = "mpi";
    int code = kExitOk;
    try {
        json::object doc = write_fleet(a.output, fleet, texts, o, std::move(topology));
        if (!a.quiet) std::cerr << "fleet view written to " << a.output << "\n";
        print_fleet_summary(std::cout, doc);
        std::cout.flush();
        for (const auto& n : fleet)
            if (n.status != "ok") code = kExitCaseFailures;
    } catch (const std::exception& e) {
        std::cerr << "calib-host: error: fleet: " << e.what() << "\n";
        code = kExitUsage;
    }
    // The other ranks may end now (a rank rank 0 gave up on may be gone: no word to it), and finalize
    // only when none was lost.
    int all_alive = 1;
    for (const auto& r : reports) all_alive &= r.heard ? 1 : 0;
    std::vector<MPI_Request> sent;
    for (std::size_t i = 0; i < nodes.size(); ++i)
        for (int r : nodes[i].ranks) {
            if (r == 0 || (r == nodes[i].ranks[0] && !reports[i].heard)) continue;
            sent.emplace_back();
            MPI_Isend(&all_alive, 1, MPI_INT, r, kTagDone, MPI_COMM_WORLD, &sent.back());
        }
    const auto t0 = Clock::now();
    for (int done = 0; !done && since(t0) < 30;) {
        MPI_Testall(static_cast<int>(sent.size()), sent.data(), &done, MPI_STATUSES_IGNORE);
        if (!done) nap(0.01);
    }
    return finish_rank(code, all_alive == 1);
}

}  // namespace calib::cli
