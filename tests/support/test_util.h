// Small helpers shared by tests: temporary directories and event builders.
#pragma once

#include <filesystem>
#include <string>

#include "core/event.h"

namespace touchline::testing {

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// An event with the given fields and `data` {"n":<n>}.
Event MakeEvent(std::string customer, std::string type = "note.added", std::string id = "",
                int n = 0);

inline ProposedEvent Propose(Event e, ExpectedVersion ev = ExpectedVersion::Any()) {
  return ProposedEvent{std::move(e), ev};
}

}  // namespace touchline::testing
