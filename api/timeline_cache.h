// TimelineCache: rendered timeline pages (GET /v1/customers/{id}/timeline),
// so that agents reopening a busy customer's newest page are answered from
// memory: no stream index walk, no record lookups, no body to build (the
// cached bytes are sent as they are).
//
// A page is valid while every stream it was rendered from still has the
// version it had then: an append to any of them (including the
// customer.erased event an erasure appends to each) changes a version, and
// a merge or split of the profile changes the set of streams, which is part
// of the key. So a page is served only if rendering it again would give the
// same bytes. Bounded in bytes; 0 disables it.
//
// Thread safety: every method is thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "core/event.h"
#include "core/sharded_lru.h"

namespace touchline::api {

class TimelineCache {
 public:
  explicit TimelineCache(std::size_t capacity_bytes) : lru_(capacity_bytes) {}

  bool enabled() const { return lru_.enabled(); }

  // The page cached under `key` if it was rendered at exactly `versions`
  // (one per stream, in the key's order); else null.
  std::shared_ptr<const std::string> Lookup(const std::string& key,
                                            const std::vector<StreamVersion>& versions);

  // Keeps `body`, rendered when the streams had `versions`.
  void Insert(std::string key, std::vector<StreamVersion> versions,
              std::shared_ptr<const std::string> body);

 private:
  struct Page {
    std::vector<StreamVersion> versions;
    std::shared_ptr<const std::string> body;
  };
  ShardedLru<std::string, std::shared_ptr<const Page>> lru_;
};

}  // namespace touchline::api
