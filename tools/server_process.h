// Runs the real touchlined binary as a child process, for integration and
// crash tests and for the benchmark: on 127.0.0.1, an ephemeral port (learned
// through --port-file), a data directory of the caller's choosing. Its output
// goes to <data_dir>.log so a failure can show it.
//
// Thread safety: one owner thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace touchline::tools {

class ServerProcess {
 public:
  // `binary` is the path of touchlined.
  ServerProcess(std::string binary, std::string data_dir, std::vector<std::string> extra_args = {});
  ~ServerProcess();  // SIGKILLs a server still running
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Starts the server and waits (up to 30 s) until it listens.
  Status Start();
  // Sends `sig` and waits for the process to exit; returns its wait status.
  int Signal(int sig);
  // SIGKILL, as a crash.
  void Kill() { Signal(9); }
  // SIGTERM and wait: returns the exit code (or -signal).
  int Stop();
  bool running() const { return pid_ > 0; }
  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  // User plus system CPU time the server has used so far, in microseconds
  // (0 if it is not running).
  std::uint64_t CpuMicros() const;
  const std::string& log_path() const { return log_path_; }
  // The last `bytes` of the server's log, for failure messages.
  std::string LogTail(std::size_t bytes = 4000) const;

 private:
  const std::string binary_;
  const std::string data_dir_;
  const std::vector<std::string> extra_args_;
  const std::string log_path_;
  const std::string port_file_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace touchline::tools
