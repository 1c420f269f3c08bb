// What tlctl's commands share (tools/tlctl.cc, tools/tlctl_audit.cc):
// opening a data directory, error exits, the progress bar, and plain-HTTP
// requests to a running touchlined (tools/tlctl_http.cc, the one file here
// that includes Beast).
//
// Thread safety: single-threaded tool code.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/status.h"
#include "store/event_log.h"

namespace touchline::tools {

// Opens `dir` without the write lock (safe beside a running server).
StatusOr<std::unique_ptr<store::EventLog>> OpenReadOnly(const std::string& dir);
// Opens an existing data directory for writing (the server must be
// stopped: RocksDB's lock keeps a second writer out). NotFound if none.
StatusOr<std::unique_ptr<store::EventLog>> OpenWritable(const std::string& dir,
                                                        std::size_t block_cache_bytes);

// Prints "tlctl: <status>" on stderr and returns exit code 1.
int Fail(const Status& s);

// "[#####.....] done/total events  rate  ETA" on stderr, redrawn in place.
void PrintProgress(std::uint64_t done, std::uint64_t total,
                   std::chrono::steady_clock::time_point start, bool last);

struct HttpAnswer {
  int status = 0;
  std::string body;
};

// One request to `server` ("http://host:port"; tlctl speaks plain HTTP
// only), with `key` as a Bearer token if not empty. InvalidArgument for a
// malformed server URL, Unavailable if it cannot be reached.
StatusOr<HttpAnswer> HttpRequest(const std::string& server, const std::string& method,
                                 const std::string& path, const std::string& key,
                                 const std::string& body);

// A GET whose body is read line by line as it arrives (an NDJSON stream).
class HttpLines {
 public:
  // Sends the request and reads the response header. A status other than
  // 2xx is an error carrying the server's message.
  static StatusOr<std::unique_ptr<HttpLines>> Get(const std::string& server,
                                                  const std::string& path, const std::string& key);
  virtual ~HttpLines() = default;
  // The next line without its '\n'; false at the end or on an error
  // (then status() says which).
  virtual bool Next(std::string* line) = 0;
  virtual Status status() const = 0;
};

// $TOUCHLINE_API_KEY when `key` is empty.
std::string KeyOrEnvironment(std::string key);

}  // namespace touchline::tools
