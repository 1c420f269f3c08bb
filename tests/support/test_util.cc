#include "tests/support/test_util.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>

namespace touchline::testing {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "touchline-test-XXXXXX").string();
  char* made = ::mkdtemp(tmpl.data());
  if (made == nullptr) {
    std::abort();
  }
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

Event MakeEvent(std::string customer, std::string type, std::string id, int n) {
  Event e;
  e.customer = std::move(customer);
  e.type = std::move(type);
  e.id = std::move(id);
  e.data = "{\"n\":" + std::to_string(n) + "}";
  return e;
}

}  // namespace touchline::testing
