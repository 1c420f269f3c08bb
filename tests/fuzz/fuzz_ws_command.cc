// libFuzzer target: the WebSocket command parser. Any input is a command or
// InvalidArgument; a parsed command stays within the limits.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "api/ws_protocol.h"

using namespace touchline;  // NOLINT(build/namespaces)

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const api::WsLimits limits;
  auto cmd = api::ParseWsCommand(text, limits);
  if (!cmd.ok()) {
    if (cmd.status().code() != StatusCode::kInvalidArgument) {
      std::abort();
    }
    return 0;
  }
  if (cmd->filter.customers.size() > limits.max_customers ||
      cmd->filter.types.size() > limits.max_filters ||
      cmd->filter.channels.size() > limits.max_filters) {
    std::abort();
  }
  // Whatever was parsed renders without trouble.
  (void)api::RenderWsError(api::WsFormat::kCloudEvents, "bad_command", text.substr(0, 64), cmd->id);
  (void)api::RenderPong(api::WsFormat::kNative, cmd->ping_data);
  return 0;
}
