#include "tools/bench/bench_util.h"

#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace touchline::bench {

std::string MakeTempDir(const std::string& base) {
  std::string tmpl = (std::filesystem::path(base) / "round-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    std::exit(1);
  }
  return tmpl;
}

std::string Machine() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line, model = "unknown CPU";
  while (std::getline(cpuinfo, line)) {
    if (line.starts_with("model name")) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  std::ifstream meminfo("/proc/meminfo");
  std::string mem;
  std::getline(meminfo, mem);
  utsname u{};
  ::uname(&u);
  std::ostringstream s;
  s << model << ", " << std::thread::hardware_concurrency() << " cores, "
    << mem.substr(mem.find_first_of("0123456789")) << " RAM, Linux " << u.release;
  return s.str();
}

std::uint64_t ProcessCpuMicros() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<std::uint64_t>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1'000'000 +
         static_cast<std::uint64_t>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

std::uint64_t DirectoryBytes(const std::string& dir) {
  std::error_code ec;
  std::uint64_t total = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec)) {
      total += it->file_size(ec);
    }
  }
  return total;
}

}  // namespace touchline::bench
