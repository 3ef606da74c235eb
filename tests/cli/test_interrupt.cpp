// SIGINT in the middle of a run: the existing profile stays byte for byte, <output>.partial holds the
// finished cases and says it is incomplete.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "cli_util.hpp"

using namespace calib::test;
namespace json = boost::json;

namespace {

pid_t spawn_host(const std::vector<std::string>& args, const fs::path& err_file) {
    pid_t pid = ::fork();
    if (pid == 0) {
        int fd = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::dup2(fd, STDERR_FILENO);
        int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, STDOUT_FILENO);
        std::vector<char*> argv;
        std::string bin = CALIB_HOST_BIN;
        argv.push_back(bin.data());
        std::vector<std::string> copy = args;
        for (auto& a : copy) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv(bin.c_str(), argv.data());
        ::_exit(127);
    }
    return pid;
}

// Finished-case lines in the --verbose log ("[k/N] plugin case: status ...").
std::size_t finished_cases(const fs::path& err_file) {
    std::string s = slurp(err_file);
    std::size_t n = 0;
    for (std::size_t i = 0; (i = s.find(": ok", i)) != std::string::npos; ++i) ++n;
    return n;
}

int wait_exit(pid_t pid, double timeout_s) {
    auto t0 = std::chrono::steady_clock::now();
    int status = 0;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
        if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > timeout_s) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            return -1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

TEST_CASE("SIGINT keeps the existing profile and writes <output>.partial", "[cli][interrupt]") {
    Scratch dir;
    const fs::path out = dir / "profile.json";
    const std::string previous = "{\"previous\": \"profile, must survive\"}\n";
    std::ofstream(out) << previous;
    const fs::path err = dir / "stderr.txt";
    pid_t pid = spawn_host({"--no-default-plugins", "--plugins", CALIB_PLUGIN_DIR, "--verbose", "--time-budget",
                            "0.2", "--filter", "^stream_(copy|triad)_", "--output", out.string()},
                           err);
    REQUIRE(pid > 0);
    // Wait for two finished cases, then interrupt once: the run stops after the current case.
    auto t0 = std::chrono::steady_clock::now();
    while (finished_cases(err) < 2 &&
           std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 60)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    REQUIRE(finished_cases(err) >= 2);
    ::kill(pid, SIGINT);
    int code = wait_exit(pid, 30);
    INFO(slurp(err));
    CHECK(code == 130);
    CHECK(slurp(out) == previous);
    const fs::path partial = out.string() + ".partial";
    REQUIRE(fs::exists(partial));
    json::value doc = json::parse(slurp(partial));
    CHECK(doc.at("run").at("complete") == false);
    const auto& sweep = doc.at("memory_sweep").as_array();
    CHECK(sweep.size() >= 2);
    CHECK(sweep.size() < 30);  // it did stop early
    CHECK(host("validate " + partial.string()).exit_code == 0);
}

TEST_CASE("a second SIGINT stops at once", "[cli][interrupt]") {
    Scratch dir;
    const fs::path out = dir / "profile.json";
    const fs::path err = dir / "stderr.txt";
    // A long case (4096^3 fp32 matmul takes seconds) so that the first signal alone would wait for it.
    pid_t pid = spawn_host({"--no-default-plugins", "--plugins", CALIB_PLUGIN_DIR, "--verbose", "--time-budget",
                            "30", "--filter", "^(matmul_fp32_256|matmul_fp32_4096)$", "--output", out.string()},
                           err);
    REQUIRE(pid > 0);
    auto t0 = std::chrono::steady_clock::now();
    while (finished_cases(err) < 1 &&
           std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 60)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    REQUIRE(finished_cases(err) >= 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ::kill(pid, SIGINT);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ::kill(pid, SIGINT);
    auto t1 = std::chrono::steady_clock::now();
    int code = wait_exit(pid, 20);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    INFO(slurp(err));
    CHECK(code == 130);
    CHECK(secs < 5);
    CHECK(!fs::exists(out));
    REQUIRE(fs::exists(out.string() + ".partial"));
    json::value doc = json::parse(slurp(out.string() + ".partial"));
    CHECK(doc.at("operation_profiles").as_object().contains("matmul_matrix_size=256_small"));
}
