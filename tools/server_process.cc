#include "tools/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

namespace touchline::tools {

ServerProcess::ServerProcess(std::string binary, std::string data_dir,
                             std::vector<std::string> extra_args)
    : binary_(std::move(binary)),
      data_dir_(std::move(data_dir)),
      extra_args_(std::move(extra_args)),
      log_path_(data_dir_ + ".log"),
      port_file_(data_dir_ + ".port") {}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    Kill();
  }
}

Status ServerProcess::Start() {
  ::unlink(port_file_.c_str());
  std::vector<std::string> args = {binary_,  "--data-dir", data_dir_,     "--host",  "127.0.0.1",
                                   "--port", "0",          "--port-file", port_file_};
  if (std::find(extra_args_.begin(), extra_args_.end(), "--log-level") == extra_args_.end()) {
    args.insert(args.end(), {"--log-level", "info"});
  }
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  const pid_t pid = ::fork();
  if (pid < 0) {
    return Status::Internal("fork failed");
  }
  if (pid == 0) {
    const int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 2);
      ::dup2(fd, 1);
    }
    std::vector<char*> argv;
    for (auto& a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  pid_ = pid;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream f(port_file_);
    int port = 0;
    if (f >> port && port > 0) {
      port_ = static_cast<std::uint16_t>(port);
      return Status::Ok();
    }
    int wstatus = 0;
    if (::waitpid(pid_, &wstatus, WNOHANG) == pid_) {
      pid_ = -1;
      return Status::Unavailable("touchlined exited during start-up:\n" + LogTail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return Status::Unavailable("touchlined did not start listening within 30 s:\n" + LogTail());
}

int ServerProcess::Signal(int sig) {
  if (pid_ <= 0) {
    return 0;
  }
  ::kill(pid_, sig);
  int wstatus = 0;
  ::waitpid(pid_, &wstatus, 0);
  pid_ = -1;
  return wstatus;
}

int ServerProcess::Stop() {
  const int w = Signal(SIGTERM);
  if (WIFEXITED(w)) {
    return WEXITSTATUS(w);
  }
  return WIFSIGNALED(w) ? -WTERMSIG(w) : -1;
}

std::uint64_t ServerProcess::CpuMicros() const {
  if (pid_ <= 0) {
    return 0;
  }
  std::ifstream f("/proc/" + std::to_string(pid_) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  // Fields after the parenthesised command name: state is field 3, utime 14,
  // stime 15.
  const auto close = stat.rfind(')');
  if (close == std::string::npos) {
    return 0;
  }
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  std::uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) {
      utime = std::stoull(field);
    } else if (i == 15) {
      stime = std::stoull(field);
    }
  }
  return (utime + stime) * 1'000'000 / static_cast<std::uint64_t>(::sysconf(_SC_CLK_TCK));
}

std::string ServerProcess::LogTail(std::size_t bytes) const {
  std::ifstream f(log_path_);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string all = ss.str();
  return all.size() > bytes ? all.substr(all.size() - bytes) : all;
}

}  // namespace touchline::tools
