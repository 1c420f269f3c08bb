// A data directory written by format 3 (JSON records, base64 sealed parts)
// opens with this build: its records read back exactly as format 3 served
// them, the chain verifies, new records are written in format 4 beside
// them, and the customer view rebuilt from the mixed log renders the
// person as before. The fixture (tests/data/format3/) was made by the
// touchlined of commit eb38016 (format 3): five events over four
// customers with identities, a note, an erasure of c-3, a signed
// checkpoint, and its access trail; records.ndjson and view_c1.json are
// what that server answered for GET /v1/events and GET /v1/customers/c-1.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "projections/customer_view.h"
#include "projections/customer_view_projection.h"
#include "projections/projection_runner.h"
#include "store/event_log.h"
#include "store/key_format.h"
#include "store/log_verifier.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_util.h"

namespace touchline::store {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string Fixture(const std::string& name) {
  return std::string(TOUCHLINE_SOURCE_DIR) + "/tests/data/format3/" + name;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

class FormatMigrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::copy(Fixture("data"), dir_.Sub("data"), fs::copy_options::recursive);
    Reopen();
  }
  void Reopen() {
    log_.reset();
    EventLogOptions options;
    options.path = dir_.Sub("data");
    auto log = EventLog::Open(options);
    ASSERT_OK(log);
    log_ = std::move(log).value();
  }
  void ExpectVerifies() {
    auto report = VerifyLog(*log_, {});
    ASSERT_OK(report);
    EXPECT_TRUE(report->ok()) << report->Render();
  }

  touchline::testing::TempDir dir_;
  std::unique_ptr<EventLog> log_;
};

TEST_F(FormatMigrationTest, Format3RecordsReadBackAsFormat3ServedThem) {
  ASSERT_EQ(log_->head(), 8u);
  auto records = log_->ReadFrom(1, 100);
  ASSERT_OK(records);
  std::istringstream want(ReadFile(Fixture("records.ndjson")));
  std::string line;
  std::size_t i = 0;
  while (std::getline(want, line)) {
    ASSERT_LT(i, records->size());
    EXPECT_EQ((*records)[i]->json, line) << "seq " << i + 1;
    ++i;
  }
  EXPECT_EQ(i, 8u);
  // c-3 was erased under format 3, and stays erased.
  EXPECT_TRUE((*records)[4]->erased);
  ExpectVerifies();
}

TEST_F(FormatMigrationTest, NewRecordsAreBinaryBesideTheOldOnes) {
  AppendRequest req;
  Event e;
  e.customer = "c-1";
  e.type = "chat.message";
  e.channel = "chat";
  e.identities = {Identity{"email", "alice@example.com"}};
  e.data = R"({"text":"hello again"})";
  req.events.push_back(ProposedEvent{e, {}});
  req.actor = "tester";
  auto appended = log_->Append(std::move(req));
  ASSERT_OK(appended);
  EXPECT_EQ(appended->events[0].seq, 9u);
  EXPECT_EQ(appended->events[0].version, 4u);  // c-1 had 3 events
  auto stored = log_->ReadStored(1, 9);
  ASSERT_OK(stored);
  EXPECT_EQ((*stored)[0].front(), '{');  // format 3, untouched
  EXPECT_EQ(static_cast<std::uint8_t>((*stored)[8].front()), kStoredRecordTag);
  EXPECT_THAT((*stored)[8], ::testing::Not(HasSubstr("hello again")));  // sealed
  ExpectVerifies();
  // After a restart (nothing in memory), both formats read back.
  Reopen();
  auto records = log_->ReadFrom(1, 9);
  ASSERT_OK(records);
  ASSERT_EQ(records->size(), 9u);
  EXPECT_THAT((*records)[8]->json, HasSubstr("\"data\":{\"text\":\"hello again\"}}"));
  EXPECT_THAT((*records)[8]->json, HasSubstr("\"identities\":{\"email\":\"alice@example.com\"}"));
  EXPECT_THAT((*records)[0]->json, HasSubstr("Where is my parcel?"));
  // Idempotency holds across formats: a retry of a format-3 event is a
  // duplicate, not a new event.
  AppendRequest retry;
  Event again;
  again.id = "fx-2";
  again.customer = "c-1";
  again.type = "purchase.completed";
  again.channel = "web";
  again.data = R"({"amount":49.9,"currency":"EUR","traits":{"plan":"gold"}})";
  retry.events.push_back(ProposedEvent{again, {}});
  auto dup = log_->Append(std::move(retry));
  ASSERT_OK(dup);
  EXPECT_TRUE(dup->events[0].duplicate);
  EXPECT_EQ(dup->events[0].seq, 2u);
  ExpectVerifies();
}

TEST_F(FormatMigrationTest, TheCustomerViewRebuildsToWhatFormat3Showed) {
  auto runner = projections::ProjectionRunner::Create(
      log_.get(), std::make_unique<projections::CustomerViewProjection>());
  ASSERT_OK(runner);
  // The stored state has the format-3 version: it is refolded from seq 0.
  ASSERT_OK((*runner)->CatchUp(/*rebuild=*/false, nullptr));
  const store::StateReader& state = (*runner)->state();
  auto pid = projections::ResolveProfileId(state, "c-1");
  ASSERT_OK(pid);
  ASSERT_TRUE(pid->has_value());
  auto profile = projections::LoadLiveProfile(state, **pid);
  ASSERT_OK(profile);
  auto view = projections::RenderCustomerView(state, *profile, *log_);
  ASSERT_OK(view);
  std::string want = ReadFile(Fixture("view_c1.json"));
  while (!want.empty() && want.back() == '\n') {
    want.pop_back();
  }
  EXPECT_EQ(*view, want);
}

}  // namespace
}  // namespace touchline::store
