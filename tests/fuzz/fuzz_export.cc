// libFuzzer target: the export verifier (store/log_verifier.h) on exports
// as an auditor might receive them: cut, edited or made up. It must answer
// with a report or an error, never crash, and never call a made-up export
// verified unless its records really make the roots it claims.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "store/log_verifier.h"

using namespace touchline;  // NOLINT(build/namespaces)

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  auto next = [&rest](std::string* line) {
    if (rest.empty()) {
      return false;
    }
    const auto nl = rest.find('\n');
    *line = std::string(rest.substr(0, nl));
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    return true;
  };
  store::VerifyOptions options;
  auto report = store::VerifyExport(next, options);
  if (report.ok() && report->ok() && report->records > 0 && !report->root.has_value()) {
    std::abort();  // a clean report always has its root
  }
  return 0;
}
