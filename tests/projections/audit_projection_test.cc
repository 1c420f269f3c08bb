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

  // Folds everything; returns the entries under `prefix`, in key order.
  std::vector<json::object> Entries(const std::string& prefix) {
    StateTx tx;
    AuditProjection fold;
    auto records = log_->ReadFrom(1, 1000);
    EXPECT_OK(records);
    for (const auto& r : *records) {
      EXPECT_OK(fold.Apply(r, &tx));
    }
    auto rows = tx.Scan(prefix, "", 1000);
    EXPECT_OK(rows);
    std::vector<json::object> out;
    for (const auto& [k, v] : *rows) {
      out.push_back(json::parse(v).as_object());
    }
    return out;
  }

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

  const auto c1 = Entries(AuditCustomerPrefix("c-1"));
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

  const auto c2 = Entries(AuditCustomerPrefix("c-2"));
  ASSERT_EQ(c2.size(), 2u);
  EXPECT_EQ(c2[0].at("type"), "order.completed");
  EXPECT_EQ(c2[1].at("actor"), "agent-bob");

  const auto ann = Entries(AuditActorPrefix("agent-ann"));
  ASSERT_EQ(ann.size(), 2u);
  EXPECT_EQ(ann[0].at("action"), "read");
  EXPECT_EQ(ann[1].at("action"), "write");
  EXPECT_EQ(Entries(AuditCustomerPrefix("*")).size(), 1u);
  // touchline's own access records are the trail, not entries in it.
  EXPECT_EQ(Entries(AuditCustomerPrefix(kAccessStream)).size(), 0u);
  EXPECT_EQ(Entries(AuditActorPrefix("touchline")).size(), 0u);
}

TEST_F(AuditFoldTest, MalformedAccessRecordsAreSkipped) {
  Append("touchline", "access log", std::string(kAccessStream), std::string(kAccessEventType),
         R"({"accesses":[{"actor":7},{"customers":"x"},"junk"]})");
  Append("touchline", "access log", std::string(kAccessStream), std::string(kAccessEventType),
         R"({"something":"else"})");
  EXPECT_TRUE(Entries("c/").empty());
}

}  // namespace
}  // namespace touchline::projections
