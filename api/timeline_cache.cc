#include "api/timeline_cache.h"

namespace touchline::api {

std::shared_ptr<const std::string> TimelineCache::Lookup(
    const std::string& key, const std::vector<StreamVersion>& versions) {
  auto page = lru_.Lookup(key);
  if (!page.has_value() || (*page)->versions != versions) {
    return nullptr;
  }
  return (*page)->body;
}

void TimelineCache::Insert(std::string key, std::vector<StreamVersion> versions,
                           std::shared_ptr<const std::string> body) {
  const std::size_t charge =
      2 * key.capacity() + body->capacity() + versions.capacity() * sizeof(StreamVersion) + 256;
  lru_.Insert(std::move(key),
              std::make_shared<const Page>(Page{std::move(versions), std::move(body)}), charge);
}

}  // namespace touchline::api
