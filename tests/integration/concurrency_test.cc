// Optimistic concurrency over HTTP: many clients race to append to one
// customer, each with the exact expected_version it last saw. Exactly one
// append may win each version, and the stream's versions stay contiguous.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <mutex>
#include <set>
#include <thread>

#include "tests/support/http_client.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_util.h"
#include "tests/support/touchlined.h"

namespace touchline::testing {
namespace {

using ::testing::HasSubstr;
namespace json = boost::json;

TEST(ConcurrencyTest, ExactlyOneWinnerPerVersion) {
  TempDir dir;
  ServerProcess server(dir.Sub("data"));
  ASSERT_OK(server.Start());
  constexpr int kClients = 16;
  constexpr std::int64_t kTargetVersion = 300;

  std::mutex mu;
  std::vector<std::int64_t> won_versions;
  std::set<std::string> won_ids;
  std::atomic<int> conflicts{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      HttpClient http(server.port());
      for (int attempt = 0;; ++attempt) {
        // Learn the current version from the timeline's ETag.
        std::int64_t current = 0;
        auto t = http.Get("/v1/customers/hot/timeline?limit=1");
        ASSERT_OK(t);
        if (t->status == 200) {
          current = json::parse(t->body).at("version").as_int64();
        }
        if (current >= kTargetVersion) {
          return;
        }
        const std::string id = "c" + std::to_string(c) + "-" + std::to_string(attempt);
        auto r = http.PostJson("/v1/events", R"({"id":")" + id +
                                                 R"(","customer":"hot","type":"counter.bumped",)"
                                                 R"("expected_version":)" +
                                                 std::to_string(current) + "}");
        ASSERT_OK(r);
        if (r->status == 201) {
          const auto v = json::parse(r->body).at("events").as_array()[0].at("version").as_int64();
          EXPECT_EQ(v, current + 1);
          std::lock_guard<std::mutex> lock(mu);
          won_versions.push_back(v);
          won_ids.insert(id);
        } else {
          ASSERT_EQ(r->status, 409) << r->body;
          EXPECT_THAT(r->body, HasSubstr("failed_precondition"));
          EXPECT_THAT(r->body, HasSubstr("is at version"));
          conflicts++;
        }
      }
    });
  }
  for (auto& t : clients) {
    t.join();
  }
  // Every version 1..N was won exactly once.
  std::sort(won_versions.begin(), won_versions.end());
  ASSERT_FALSE(won_versions.empty());
  for (std::size_t i = 0; i < won_versions.size(); ++i) {
    ASSERT_EQ(won_versions[i], static_cast<std::int64_t>(i + 1));
  }
  EXPECT_GE(won_versions.size(), static_cast<std::size_t>(kTargetVersion));
  EXPECT_GT(conflicts.load(), 0) << "the clients never actually raced";

  // The stored stream agrees: contiguous versions, only winners' ids.
  HttpClient http(server.port());
  std::set<std::string> stored_ids;
  std::int64_t expected_version = static_cast<std::int64_t>(won_versions.size());
  std::string cursor;
  while (true) {
    auto r = http.Get("/v1/customers/hot/timeline?limit=100" +
                      (cursor.empty() ? "" : "&before=" + cursor));
    ASSERT_OK(r);
    ASSERT_EQ(r->status, 200);
    auto page = json::parse(r->body);
    for (const auto& e : page.at("events").as_array()) {
      EXPECT_EQ(e.at("version").as_int64(), expected_version--);
      stored_ids.insert(std::string(e.at("id").as_string()));
    }
    if (page.at("next").is_null()) {
      break;
    }
    cursor = std::string(page.at("next").as_string());
  }
  EXPECT_EQ(expected_version, 0);
  EXPECT_EQ(stored_ids, won_ids);
}

}  // namespace
}  // namespace touchline::testing
