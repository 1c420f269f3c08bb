#include "tools/tlctl_common.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>

namespace touchline::tools {

StatusOr<std::unique_ptr<store::EventLog>> OpenReadOnly(const std::string& dir) {
  store::EventLogOptions options;
  options.path = dir;
  options.read_only = true;
  options.block_cache_bytes = 64u << 20;
  return store::EventLog::Open(options);
}

StatusOr<std::unique_ptr<store::EventLog>> OpenWritable(const std::string& dir,
                                                        std::size_t block_cache_bytes) {
  if (!std::filesystem::exists(dir + "/CURRENT")) {
    return Status::NotFound("no touchline data directory at '" + dir + "'");
  }
  store::EventLogOptions options;
  options.path = dir;
  options.block_cache_bytes = block_cache_bytes;
  return store::EventLog::Open(options);
}

int Fail(const Status& s) {
  std::fprintf(stderr, "tlctl: %s\n", s.ToString().c_str());
  return 1;
}

void PrintProgress(std::uint64_t done, std::uint64_t total,
                   std::chrono::steady_clock::time_point start, bool last) {
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double rate = secs > 0 ? static_cast<double>(done) / secs : 0;
  const double frac =
      total == 0 ? 1.0 : std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
  const int width = 30;
  const int filled = static_cast<int>(frac * width);
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.append(static_cast<std::size_t>(width - filled), '.');
  const double eta = rate > 0 && total > done ? static_cast<double>(total - done) / rate : 0;
  std::fprintf(stderr, "\r[%s] %llu/%llu events  %.0f events/s  %s %.0fs   ", bar.c_str(),
               static_cast<unsigned long long>(done), static_cast<unsigned long long>(total), rate,
               last ? "took" : "ETA", last ? secs : eta);
  if (last) {
    std::fprintf(stderr, "\n");
  }
}

std::string KeyOrEnvironment(std::string key) {
  if (key.empty()) {
    if (const char* env = std::getenv("TOUCHLINE_API_KEY")) {
      key = env;
    }
  }
  return key;
}

}  // namespace touchline::tools
