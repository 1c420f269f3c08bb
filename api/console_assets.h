// The agent console: static files (HTML, CSS, JavaScript) compiled into
// touchlined, served at / and /console/<name>. The sources are in
// api/console/; CMake embeds them (cmake/embed_assets.cmake), so the binary
// needs no files next to it and the page needs no network. The same
// mechanism embeds api/openapi.json, served at GET /v1/openapi.json only.
//
// Thread safety: immutable data.
#pragma once

#include <string_view>

namespace touchline::api {

struct ConsoleAsset {
  std::string_view name;  // "index.html"
  std::string_view content_type;
  std::string_view body;
};

// The asset called `name`, or null.
const ConsoleAsset* FindConsoleAsset(std::string_view name);

}  // namespace touchline::api
