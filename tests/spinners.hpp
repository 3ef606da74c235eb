// Real co-runners for the tests: child processes that spin on the CPUs until the object goes away.
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

namespace calib::test {

struct Spinners {
    std::vector<pid_t> pids;
    explicit Spinners(int n) {
        for (int i = 0; i < n; ++i) {
            const pid_t pid = ::fork();
            if (pid == 0) {
                volatile unsigned long x = 0;
                for (;;) x = x + 1;
            }
            pids.push_back(pid);
        }
    }
    ~Spinners() {
        for (pid_t p : pids) ::kill(p, SIGKILL);
        for (pid_t p : pids) ::waitpid(p, nullptr, 0);
    }
    Spinners(const Spinners&) = delete;
    Spinners& operator=(const Spinners&) = delete;
};

}  // namespace calib::test
