#include "projections/audit_projection.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "core/time_format.h"
#include "projections/state_tx.h"
#include "store/event_log.h"
#include "tests/support/fake_clock.h"
#include "tests/support/status_matchers.h"

namespace touchline::projections {
namespace {

namespace json = boost::json;

class AuditFoldTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::EventLogOptions options;
    options.in_memory = true;
    options.path = "/audit";
    options.sync = false;
    options.clock = &clock_;
    clock_.Set(*ParseRfc3339("2026-12-01T09:00:00Z"));
    auto log = store::EventLog::Open(options);
    ASSERT_OK(log);
    log_ = std::move(log).value();
  }

  void Append(const std::string& actor, const std::string& route, const std::string& customer,
              const std::string& type, const std::string& data = "{}") {
    store::AppendRequest req;
    Event e;
    e.customer = customer;
    e.type = type;
    e.data = data;
    req.events.push_back(ProposedEvent{e, {}});
    req.actor = actor;
    req.route = route;
    req.system = store::IsSystemStream(customer);
    ASSERT_OK(log_->Append(std::move(req)));
  }

  // Folds everything into tx_.
  void Fold() {
    tx_.Clear();
    AuditProjection fold;
    auto records = log_->ReadFrom(1, 1000);
    EXPECT_OK(records);
    for (const auto& r : *records) {
      EXPECT_OK(fold.Apply(*r, &tx_));
    }
  }

  // Folds everything; returns the trail of `id`, newest first, read a page
  // of `page_size` at a time through the cursor.
  std::vector<json::object> Entries(bool by_actor, const std::string& id,
                                    std::size_t page_size = 1000) {
    Fold();
    std::vector<json::object> out;
    std::string after;
    for (int pages = 0; pages < 100; ++pages) {
      auto page = ReadAuditTrail(tx_, *log_, by_actor, id, after, page_size);
      EXPECT_OK(page);
      if (!page.ok()) {
        break;
      }
      for (const auto& e : page->entries) {
        out.push_back(json::parse(e).as_object());
      }
      if (!page->next_after.has_value()) {
        break;
      }
      after = *page->next_after;
    }
    return out;
  }
  std::vector<json::object> Customer(const std::string& id, std::size_t page_size = 1000) {
    return Entries(false, id, page_size);
  }
  std::vector<json::object> Actor(const std::string& id) { return Entries(true, id); }

  StateTx tx_;

  touchline::testing::FakeClock clock_;
  std::unique_ptr<store::EventLog> log_;
};

TEST_F(AuditFoldTest, WritesAndReadsAreIndexedByCustomerAndActorNewestFirst) {
  Append("crm-sync", "", "c-1", "ticket.opened");
  clock_.Advance(1'000'000);
  Append("agent-ann", "POST /v1/customers/{id}/notes", "c-1", "note.added");
  clock_.Set(*ParseRfc3339("2026-12-01T10:00:05Z"));  // reads are appended a little later
  Append("touchline", "access log", std::string(kAccessStream), std::string(kAccessEventType),
         R"({"accesses":[
              {"at":"2026-12-01T10:00:00Z","actor":"agent-ann","route":"GET /v1/customers/{id}","customers":["c-1"]},
              {"at":"2026-12-01T10:00:01Z","actor":"agent-bob","route":"GET /v1/customers","customers":["c-1","c-2"]},
              {"at":"2026-12-01T10:00:02Z","actor":"auditor","route":"GET /v1/events","customers":["*"]}]})");
  clock_.Set(*ParseRfc3339("2026-12-01T11:00:00Z"));
  Append("crm-sync", "", "c-2", "order.completed");

  const auto c1 = Customer("c-1");
  ASSERT_EQ(c1.size(), 4u);
  // Newest first by when it happened: the reads (the later one first), then
  // the writes before them.
  EXPECT_EQ(c1[0].at("actor"), "agent-bob");
  EXPECT_EQ(c1[0].at("action"), "read");
  EXPECT_EQ(c1[0].at("route"), "GET /v1/customers");
  EXPECT_EQ(c1[1].at("actor"), "agent-ann");
  EXPECT_EQ(c1[1].at("at"), "2026-12-01T10:00:00Z");
  EXPECT_EQ(c1[2].at("route"), "POST /v1/customers/{id}/notes");
  EXPECT_EQ(c1[2].at("type"), "note.added");
  EXPECT_EQ(c1[3].at("actor"), "crm-sync");
  EXPECT_EQ(c1[3].at("route"), "POST /v1/events");
  EXPECT_EQ(c1[3].at("seq"), 1);

  const auto c2 = Customer("c-2");
  ASSERT_EQ(c2.size(), 2u);
  EXPECT_EQ(c2[0].at("type"), "order.completed");
  EXPECT_EQ(c2[1].at("actor"), "agent-bob");

  const auto ann = Actor("agent-ann");
  ASSERT_EQ(ann.size(), 2u);
  EXPECT_EQ(ann[0].at("action"), "read");
  EXPECT_EQ(ann[1].at("action"), "write");
  EXPECT_EQ(Customer("*").size(), 1u);
  // touchline's own access records are the trail, not entries in it.
  EXPECT_EQ(Customer(std::string(kAccessStream)).size(), 0u);
  EXPECT_EQ(Actor("touchline").size(), 0u);

  // Pages of one entry each give the same trail, in the same order.
  const auto paged = Customer("c-1", 1);
  ASSERT_EQ(paged.size(), c1.size());
  for (std::size_t i = 0; i < c1.size(); ++i) {
    EXPECT_EQ(paged[i], c1[i]) << i;
  }
}

TEST_F(AuditFoldTest, AMalformedCursorIsRefused) {
  Append("crm-sync", "", "c-1", "ticket.opened");
  Fold();
  EXPECT_THAT(ReadAuditTrail(tx_, *log_, false, "c-1", "not-a-cursor", 10),
              touchline::testing::StatusIs(StatusCode::kInvalidArgument));
}

TEST_F(AuditFoldTest, MalformedAccessRecordsAreSkipped) {
  Append("touchline", "access log", std::string(kAccessStream), std::string(kAccessEventType),
         R"({"accesses":[{"actor":7},{"customers":"x"},"junk"]})");
  Append("touchline", "access log", std::string(kAccessStream), std::string(kAccessEventType),
         R"({"something":"else"})");
  Fold();
  auto rows = tx_.Scan("c/", "", 10);
  ASSERT_OK(rows);
  EXPECT_TRUE(rows->empty());
}

TEST_F(AuditFoldTest, WritesOfARequestAreOneRunReadBackPerRecord) {
  // Two requests by crm-sync (5 and 3 events) around one by agent-ann.
  auto batch = [&](const std::string& actor, int n, const std::string& customer) {
    store::AppendRequest req;
    for (int i = 0; i < n; ++i) {
      Event e;
      e.customer = customer;
      e.type = "order.updated";
      e.data = "{}";
      req.events.push_back(ProposedEvent{e, {}});
    }
    req.actor = actor;
    ASSERT_OK(log_->Append(std::move(req)));
    clock_.Advance(1000);
  };
  batch("crm-sync", 5, "c-1");
  batch("agent-ann", 1, "c-1");
  batch("crm-sync", 3, "c-2");
  Fold();
  // Two runs for crm-sync, not eight keys.
  auto runs = tx_.Scan("w/crm-sync", "", 100);
  ASSERT_OK(runs);
  EXPECT_EQ(runs->size(), 2u);
  const auto crm = Actor("crm-sync");
  ASSERT_EQ(crm.size(), 8u);
  const std::vector<std::int64_t> want{9, 8, 7, 5, 4, 3, 2, 1};  // newest first
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(crm[i].at("seq").as_int64(), want[i]) << i;
    EXPECT_EQ(crm[i].at("action"), "write");
  }
  // Paged one entry at a time, through and across runs: the same trail.
  const auto paged = Entries(true, "crm-sync", 1);
  ASSERT_EQ(paged.size(), crm.size());
  for (std::size_t i = 0; i < crm.size(); ++i) {
    EXPECT_EQ(paged[i], crm[i]) << i;
  }
  const auto pages_of_3 = Entries(true, "crm-sync", 3);
  EXPECT_EQ(pages_of_3, crm);
  // The customer's trail comes from its stream.
  const auto c1 = Customer("c-1", 2);
  ASSERT_EQ(c1.size(), 6u);
  EXPECT_EQ(c1[0].at("actor"), "agent-ann");
  EXPECT_EQ(c1[5].at("seq"), 1);
}

TEST_F(AuditFoldTest, RunsDoNotDependOnHowTheFoldIsBatched) {
  for (int r = 0; r < 4; ++r) {
    store::AppendRequest req;
    for (int i = 0; i < 7; ++i) {
      Event e;
      e.customer = "c-" + std::to_string(i % 3);
      e.type = "order.updated";
      e.data = "{}";
      req.events.push_back(ProposedEvent{e, {}});
    }
    req.actor = r % 2 == 0 ? "crm-sync" : "shop";
    ASSERT_OK(log_->Append(std::move(req)));
  }
  auto records = log_->ReadFrom(1, 100);
  ASSERT_OK(records);
  std::vector<std::pair<std::string, std::string>> first;
  for (const std::size_t batch : {1u, 3u, 28u}) {
    // Fold in batches of `batch`, committing each into a base, as the
    // runner does.
    StateTx base;
    AuditProjection fold;
    for (std::size_t at = 0; at < records->size(); at += batch) {
      StateTx tx(&base);
      for (std::size_t i = at; i < std::min(records->size(), at + batch); ++i) {
        ASSERT_OK(fold.Apply(*(*records)[i], &tx));
      }
      for (auto& w : tx.TakeWrites()) {
        if (w.value.has_value()) {
          base.Put(w.key, *w.value);
        } else {
          base.Delete(w.key);
        }
      }
    }
    auto all = base.Scan("", "", 1000);
    ASSERT_OK(all);
    if (first.empty()) {
      first = *all;
    } else {
      EXPECT_EQ(*all, first) << "batch " << batch;
    }
  }
  EXPECT_FALSE(first.empty());
}

}  // namespace
}  // namespace touchline::projections
