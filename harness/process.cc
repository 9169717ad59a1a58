#include "harness/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <thread>

#include <fmt/format.h>

#include "core/file.h"

namespace tokenapp {

using token::Result;
using token::Status;

Result<ChildProcess> ChildProcess::Start(const std::vector<std::string>& argv,
                                         const std::string& log_path) {
  if (argv.empty()) return Status::InvalidArgument("no program to start");
  if (access(argv[0].c_str(), X_OK) != 0) {
    return Status::InvalidArgument(fmt::format("{}: not an executable program", argv[0]));
  }
  token::UniqueFd log_fd;
  if (!log_path.empty()) {
    log_fd.reset(open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (!log_fd.valid()) {
      return Status::InvalidArgument(
          fmt::format("{}: cannot open log file: {}", log_path, std::strerror(errno)));
    }
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    return Status::Unavailable(fmt::format("fork failed: {}", std::strerror(errno)));
  }
  if (pid == 0) {
    // Child: a fresh signal mask (the parent may block SIGINT/SIGTERM for sigwait).
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (log_fd.valid()) {
      dup2(log_fd.get(), STDOUT_FILENO);
      dup2(log_fd.get(), STDERR_FILENO);
    }
    execv(args[0], args.data());
    _exit(127);
  }
  ChildProcess p;
  p.pid_ = pid;
  return p;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(other.pid_), status_(other.status_) {
  other.pid_ = -1;
}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    Stop();
    pid_ = other.pid_;
    status_ = other.status_;
    other.pid_ = -1;
  }
  return *this;
}

ChildProcess::~ChildProcess() { Stop(); }

bool ChildProcess::running() {
  if (pid_ < 0) return false;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    status_ = status;
    pid_ = -1;
    return false;
  }
  return true;
}

std::optional<int> ChildProcess::WaitFor(std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (!running()) return status_;
    if (std::chrono::steady_clock::now() >= end) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

int ChildProcess::Stop(std::chrono::milliseconds grace) {
  if (pid_ < 0) return status_;
  kill(pid_, SIGTERM);
  if (WaitFor(grace)) return status_;
  Kill();
  return status_;
}

void ChildProcess::Kill() {
  if (pid_ < 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  status_ = status;
  pid_ = -1;
}

std::string SelfDirectory() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  std::string path(buf, static_cast<std::size_t>(n));
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

Result<std::string> FindProgram(const std::string& name) {
  if (name.empty()) return Status::InvalidArgument("no program given");
  if (name.find('/') != std::string::npos) return name;
  const std::string sibling = fmt::format("{}/{}", SelfDirectory(), name);
  if (access(sibling.c_str(), X_OK) == 0) return sibling;
  const char* path = std::getenv("PATH");
  std::string_view dirs = path == nullptr ? "" : path;
  while (!dirs.empty()) {
    const std::size_t colon = dirs.find(':');
    const std::string_view dir = dirs.substr(0, colon);
    dirs = colon == std::string_view::npos ? "" : dirs.substr(colon + 1);
    // An empty entry is the current directory.
    const std::string candidate = fmt::format("{}/{}", dir.empty() ? "." : dir, name);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return Status::InvalidArgument(
      fmt::format("{}: no such program beside {} or on PATH", name, SelfDirectory()));
}

}  // namespace tokenapp
