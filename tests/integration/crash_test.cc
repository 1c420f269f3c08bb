// Crash test: writers append continuously over many connections while the
// server is killed with SIGKILL at random moments and restarted, several
// times. After every restart:
//  - seq runs 1..head with no gap, and no event id appears twice;
//  - every event that got a 2xx is present with the seq it was given, with
//    the body that was sent, and byte-identical to how it read after the
//    previous restart;
//  - requests that were in flight at the kill ("unknown" outcome) are
//    retried with the same ids and must resolve to exactly one copy.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "tests/support/http_client.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_util.h"
#include "tests/support/touchlined.h"

namespace touchline::testing {
namespace {

namespace json = boost::json;

struct SentEvent {
  std::string customer;
  std::string type;
  std::string data;  // minified JSON, exactly as stored
};

struct Acked {
  std::int64_t seq = 0;
  std::string stored;  // the record bytes as first read back ("" until then)
};

class CrashTest : public ::testing::Test {
 protected:
  static constexpr int kWriters = 12;
  static constexpr int kRounds = 6;

  // Builds the JSON body for events [first, first + n) of writer `w`.
  std::string Body(int w, int first, int n) {
    std::string body = n > 1 ? "[" : "";
    for (int i = first; i < first + n; ++i) {
      const std::string id = "w" + std::to_string(w) + "-" + std::to_string(i);
      SentEvent e{"cust-" + std::to_string((w * 7 + i) % 23),
                  i % 3 == 0 ? "ticket.opened" : "email.sent",
                  R"({"writer":)" + std::to_string(w) + R"(,"i":)" + std::to_string(i) +
                      R"(,"pad":")" + std::string(200 + (i % 5) * 100, 'p') + "\"}"};
      {
        std::lock_guard<std::mutex> lock(mu_);
        sent_[id] = e;
      }
      if (i > first) {
        body += ",";
      }
      body += R"({"id":")" + id + R"(","customer":")" + e.customer + R"(","type":")" + e.type +
              R"(","data":)" + e.data + "}";
    }
    return body + (n > 1 ? "]" : "");
  }

  // Posts `body`; records acks. Returns false on a connection error.
  bool Send(HttpClient* http, const std::string& body, const std::vector<std::string>& ids) {
    auto r = http->PostJson("/v1/events", body);
    if (!r.ok()) {
      return false;
    }
    EXPECT_TRUE(r->status == 201 || r->status == 200) << r->status << " " << r->body;
    if (r->status != 201 && r->status != 200) {
      return true;
    }
    const json::value parsed = json::parse(r->body);
    const auto& results = parsed.at("events").as_array();
    std::lock_guard<std::mutex> lock(mu_);
    for (std::size_t k = 0; k < ids.size(); ++k) {
      const auto seq = results[k].at("seq").as_int64();
      auto [it, inserted] = acked_.try_emplace(ids[k], Acked{seq, ""});
      EXPECT_EQ(it->second.seq, seq) << ids[k] << " acknowledged twice with different seqs";
    }
    return true;
  }

  void Writer(std::uint16_t port, int w, std::atomic<bool>* stop) {
    HttpClient http(port);
    http.set_timeout(std::chrono::seconds(10));
    std::mt19937 rng(static_cast<unsigned>(w * 1000 + round_));
    while (!*stop) {
      const int n = rng() % 4 == 0 ? 1 + static_cast<int>(rng() % 20) : 1;
      const int first = next_[w];
      next_[w] += n;
      std::vector<std::string> ids;
      for (int i = first; i < first + n; ++i) {
        ids.push_back("w" + std::to_string(w) + "-" + std::to_string(i));
      }
      const std::string body = Body(w, first, n);
      if (!Send(&http, body, ids)) {
        std::lock_guard<std::mutex> lock(mu_);
        in_flight_.push_back({body, ids});
        return;  // the server is gone
      }
    }
  }

  // Reads the whole log and checks every invariant; fills in stored bytes.
  void Verify(std::uint16_t port) {
    HttpClient http(port);
    auto r = http.Get("/v1/events", {{"Accept", "application/x-ndjson"}});
    ASSERT_OK(r);
    ASSERT_EQ(r->status, 200);
    std::map<std::string, std::pair<std::int64_t, std::string>> by_id;
    std::int64_t expected_seq = 1;
    std::size_t start = 0;
    while (start < r->body.size()) {
      const std::size_t end = r->body.find('\n', start);
      ASSERT_NE(end, std::string::npos);
      std::string line = r->body.substr(start, end - start);
      start = end + 1;
      auto rec = json::parse(line).as_object();
      ASSERT_EQ(rec.at("seq").as_int64(), expected_seq) << "gap or reorder in the log";
      ++expected_seq;
      if (rec.at("customer").as_string().starts_with("~")) {
        continue;  // touchline's own: the access audit trail of these reads
      }
      const std::string id(rec.at("id").as_string());
      ASSERT_TRUE(by_id.emplace(id, std::make_pair(rec.at("seq").as_int64(), line)).second)
          << "event " << id << " stored twice";
      std::lock_guard<std::mutex> lock(mu_);
      const auto& sent = sent_.at(id);
      EXPECT_EQ(rec.at("customer").as_string(), sent.customer);
      EXPECT_EQ(rec.at("type").as_string(), sent.type);
      EXPECT_TRUE(line.ends_with(",\"data\":" + sent.data + "}")) << line;
    }
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, ack] : acked_) {
      auto it = by_id.find(id);
      ASSERT_NE(it, by_id.end()) << "acknowledged event " << id << " (seq " << ack.seq
                                 << ") was lost";
      EXPECT_EQ(it->second.first, ack.seq) << id;
      if (ack.stored.empty()) {
        ack.stored = it->second.second;
      } else {
        EXPECT_EQ(it->second.second, ack.stored) << "acknowledged event " << id << " changed";
      }
    }
  }

  std::mutex mu_;
  std::map<std::string, SentEvent> sent_;
  std::map<std::string, Acked> acked_;
  std::vector<std::pair<std::string, std::vector<std::string>>> in_flight_;
  int next_[kWriters] = {};
  int round_ = 0;
};

TEST_F(CrashTest, AcknowledgedEventsSurviveKill9) {
  TempDir dir;
  ServerProcess server(dir.Sub("data"));
  std::mt19937 rng(20261122);
  std::size_t acked_before = 0;
  for (round_ = 0; round_ < kRounds; ++round_) {
    ASSERT_OK(server.Start());
    // Retry what was in flight when the previous server died: each must end
    // up stored exactly once (checked by Verify).
    decltype(in_flight_) retry;
    retry.swap(in_flight_);
    HttpClient http(server.port());
    for (const auto& [body, ids] : retry) {
      ASSERT_TRUE(Send(&http, body, ids)) << server.LogTail();
    }
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (int w = 0; w < kWriters; ++w) {
      writers.emplace_back([&, w] { Writer(server.port(), w, &stop); });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + rng() % 1200));
    server.Kill();
    stop = true;
    for (auto& t : writers) {
      t.join();
    }
    ASSERT_OK(server.Start());
    Verify(server.port());
    if (HasFatalFailure()) {
      return;
    }
    server.Stop();
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_GT(acked_.size(), acked_before) << "round " << round_ << " acknowledged nothing";
    acked_before = acked_.size();
  }
  std::printf("crash test: %zu acknowledged events verified over %d kills\n", acked_before,
              kRounds);
}

}  // namespace
}  // namespace touchline::testing
