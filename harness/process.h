// Child processes for tokencluster, tokenload's kill schedule and the tests: start a
// program with its output in a log file, stop it (SIGTERM, then SIGKILL after a grace
// period), kill it outright. Every wait is bounded.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace tokenapp {

class ChildProcess {
 public:
  // Starts argv[0] (a path) with stdout and stderr appended to `log_path` ("" = inherit).
  static token::Result<ChildProcess> Start(const std::vector<std::string>& argv,
                                           const std::string& log_path);
  ChildProcess() = default;
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  // Stops the process if it still runs.
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  bool running();
  // SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit status as from waitpid
  // (-1 when not started). Idempotent.
  int Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));
  // SIGKILL now (a crash of the whole process) and reap it.
  void Kill();
  // Waits up to `limit` for the process to exit by itself; its status, or nullopt.
  std::optional<int> WaitFor(std::chrono::milliseconds limit);

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

// The directory holding the running executable (to find sibling binaries).
std::string SelfDirectory();

// The program to run for `name`: itself when it holds a '/', else the executable of that
// name beside the running one (the project's tools), else the first on $PATH, as a shell
// would find it. INVALID_ARGUMENT when there is none.
token::Result<std::string> FindProgram(const std::string& name);

}  // namespace tokenapp
