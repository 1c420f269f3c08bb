#include "core/event.h"

namespace touchline {

bool ExpectedVersion::Matches(StreamVersion current) const {
  switch (kind_) {
    case Kind::kAny:
      return true;
    case Kind::kNoStream:
      return current == 0;
    case Kind::kExists:
      return current > 0;
    case Kind::kExact:
      return current == value_;
  }
  return false;
}

std::string ExpectedVersion::ToString() const {
  switch (kind_) {
    case Kind::kAny:
      return "any";
    case Kind::kNoStream:
      return "no_stream";
    case Kind::kExists:
      return "exists";
    case Kind::kExact:
      return std::to_string(value_);
  }
  return "any";
}

}  // namespace touchline
