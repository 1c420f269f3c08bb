// tlctl against a data directory written by the store (and still open, as
// it would be under a running server).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <array>
#include <atomic>
#include <boost/json.hpp>
#include <cstdio>
#include <thread>

#include "store/api_keys.h"
#include "store/event_log.h"
#include "tests/support/http_client.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_util.h"
#include "tests/support/touchlined.h"

namespace touchline::testing {
namespace {

using ::testing::HasSubstr;

struct ToolRun {
  int exit_code = -1;
  std::string out;
};

ToolRun Tlctl(const std::string& args) {
  ToolRun r;
  FILE* p = ::popen((std::string(TLCTL_PATH) + " " + args + " 2>&1").c_str(), "r");
  std::array<char, 4096> buf;
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) {
    r.out.append(buf.data(), n);
  }
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::vector<boost::json::object> Lines(const std::string& ndjson) {
  std::vector<boost::json::object> out;
  std::size_t start = 0;
  while (start < ndjson.size()) {
    const std::size_t end = ndjson.find('\n', start);
    out.push_back(boost::json::parse(ndjson.substr(start, end - start)).as_object());
    start = end + 1;
  }
  return out;
}

class TlctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::EventLogOptions options;
    options.path = dir_.Sub("data");
    auto log = store::EventLog::Open(options);
    ASSERT_OK(log);
    log_ = std::move(log).value();
    store::AppendRequest req;
    for (int i = 0; i < 10; ++i) {
      Event e = MakeEvent(i % 2 ? "odd" : "even", i < 5 ? "ticket.opened" : "email.sent",
                          "id-" + std::to_string(i), i);
      e.time_us = 1'700'000'000'000'000 + i * 1'000'000LL;
      req.events.push_back(Propose(e));
    }
    ASSERT_OK(log_->Append(std::move(req)));
  }

  TempDir dir_;
  std::unique_ptr<store::EventLog> log_;
};

TEST_F(TlctlTest, ReplayPrintsRecordsInOrder) {
  ToolRun r = Tlctl("replay --data-dir " + dir_.Sub("data"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 10u);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].at("seq").as_int64(), static_cast<std::int64_t>(i + 1));
  }
  auto stored = log_->ReadFrom(1, 100);
  ASSERT_OK(stored);
  std::string expected;
  for (const auto& rec : *stored) {
    expected += rec->json + "\n";
  }
  EXPECT_EQ(r.out, expected);
}

TEST_F(TlctlTest, ReplayFilters) {
  const std::string d = "replay --data-dir " + dir_.Sub("data");
  auto lines = Lines(Tlctl(d + " --from 3 --to 6").out);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines.front().at("seq").as_int64(), 3);
  lines = Lines(Tlctl(d + " --customer odd").out);
  EXPECT_EQ(lines.size(), 5u);
  lines = Lines(Tlctl(d + " --type ticket").out);
  EXPECT_EQ(lines.size(), 5u);
  lines = Lines(Tlctl(d + " --since 2023-11-14T22:13:22Z --until 2023-11-14T22:13:25Z").out);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines.front().at("seq").as_int64(), 3);
}

TEST_F(TlctlTest, ReplayErrors) {
  ToolRun r = Tlctl("replay --data-dir " + dir_.Sub("missing"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("no touchline data directory"));
  r = Tlctl("replay --data-dir " + dir_.Sub("data") + " --since yesterday");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("--since"));
  r = Tlctl("replay --data-dir " + dir_.Sub("data") + " --from 5 --to 2");
  EXPECT_EQ(r.exit_code, 2);
  r = Tlctl("replay");
  EXPECT_NE(r.exit_code, 0);
}

TEST_F(TlctlTest, Stats) {
  ToolRun r = Tlctl("stats --data-dir " + dir_.Sub("data") + " --scan --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto o = boost::json::parse(r.out).as_object();
  EXPECT_EQ(o.at("head").as_int64(), 10);
  EXPECT_EQ(o.at("customers").as_int64(), 2);
  EXPECT_EQ(o.at("events_by_type").at("ticket.opened").as_int64(), 5);
  r = Tlctl("stats --data-dir " + dir_.Sub("data"));
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("head seq        10"));
  EXPECT_THAT(r.out, HasSubstr("streams"));
}

TEST_F(TlctlTest, RebuildNeedsTheDirectoryToItselfThenFoldsWithProgress) {
  // The log is open here, as under a running server: rebuild says so.
  ToolRun busy = Tlctl("rebuild customers --data-dir " + dir_.Sub("data"));
  EXPECT_EQ(busy.exit_code, 1);
  EXPECT_THAT(busy.out, HasSubstr("is touchlined running on this directory?"));
  log_.reset();
  ToolRun r = Tlctl("rebuild customers --data-dir " + dir_.Sub("data"));
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("10/10 events"));
  EXPECT_THAT(r.out, HasSubstr("rebuilt projection customers up to seq 10"));
  store::EventLogOptions options;
  options.path = dir_.Sub("data");
  auto log = store::EventLog::Open(options);
  ASSERT_OK(log);
  auto state = (*log)->OpenStateStore("customers");
  ASSERT_OK(state);
  auto meta = (*state)->ReadMeta();
  ASSERT_OK(meta);
  EXPECT_EQ(meta->checkpoint, 10u);
  auto odd = (*state)->Get("i/customer:odd");
  ASSERT_OK(odd);
  EXPECT_EQ(odd->value_or(""), "p-2");
  log->reset();
  EXPECT_EQ(Tlctl("rebuild nope --data-dir " + dir_.Sub("data")).exit_code, 2);
  EXPECT_EQ(Tlctl("rebuild customers --data-dir " + dir_.Sub("missing")).exit_code, 1);
  EXPECT_EQ(Tlctl("rebuild customers --data-dir " + dir_.Sub("data") + " --identity-limits email=0")
                .exit_code,
            1);
}

TEST(TlctlKeysTest, CreateListRevoke) {
  TempDir dir;
  const std::string data = dir.Sub("data");
  ToolRun created =
      Tlctl("keys create --data-dir " + data + " --name crm-sync --role ingest --json");
  ASSERT_EQ(created.exit_code, 0) << created.out;
  const auto key = boost::json::parse(created.out).as_object();
  const std::string secret(key.at("key").as_string());
  EXPECT_TRUE(secret.starts_with("tl_")) << secret;
  EXPECT_EQ(key.at("role"), "ingest");

  // Only the hash is on disk, and the file is private to its owner.
  struct stat st {};
  ASSERT_EQ(::stat((data + "/api_keys.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ToolRun listed = Tlctl("keys list --data-dir " + data + " --json");
  ASSERT_EQ(listed.exit_code, 0) << listed.out;
  EXPECT_THAT(listed.out, HasSubstr("crm-sync"));
  EXPECT_THAT(listed.out, ::testing::Not(HasSubstr(secret.substr(16))));

  EXPECT_EQ(Tlctl("keys create --data-dir " + data + " --name crm-sync --role agent").exit_code, 1);
  ToolRun bad_role = Tlctl("keys create --data-dir " + data + " --name x --role root");
  EXPECT_EQ(bad_role.exit_code, 2) << bad_role.out;
  ToolRun bad_name = Tlctl("keys create --data-dir " + data + " --name 'a b' --role agent");
  EXPECT_EQ(bad_name.exit_code, 1);
  EXPECT_THAT(bad_name.out, HasSubstr("letters, digits"));

  ToolRun revoked = Tlctl("keys revoke --data-dir " + data + " crm-sync");
  ASSERT_EQ(revoked.exit_code, 0) << revoked.out;
  ToolRun again = Tlctl("keys revoke --data-dir " + data + " crm-sync");
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.out, HasSubstr("already revoked"));
  EXPECT_THAT(Tlctl("keys list --data-dir " + data).out, HasSubstr("2026-"));
  EXPECT_EQ(Tlctl("keys revoke --data-dir " + data + " nobody").exit_code, 1);
}

// Every record of a data directory, as stored.
std::vector<std::string> AllRecords(const std::string& data_dir) {
  store::EventLogOptions options;
  options.path = data_dir;
  options.read_only = true;
  auto log = store::EventLog::Open(options);
  EXPECT_OK(log);
  std::vector<std::string> out;
  if (!log.ok()) {
    return out;
  }
  for (Seq from = 1;;) {
    auto page = (*log)->ReadFrom(from, 1000);
    EXPECT_OK(page);
    if (!page.ok() || page->empty()) {
      break;
    }
    for (const auto& r : *page) {
      EXPECT_EQ(r->seq, out.size() + 1) << "gap in the log";
      out.push_back(r->json);
    }
    from = page->back()->seq + 1;
  }
  return out;
}

TEST(TlctlBackupTest, BackupOfARunningServerRestoresEveryAcknowledgedEvent) {
  TempDir dir;
  const std::string data = dir.Sub("data");
  auto key = store::CreateApiKey(data, "ops", store::Role::kAdmin, 1'700'000'000'000'000);
  ASSERT_OK(key);
  const std::string auth = "Bearer " + key->secret;
  auto server = std::make_unique<ServerProcess>(data);
  ASSERT_OK(server->Start());

  // A writer keeps appending while the backup runs.
  std::atomic<bool> stop{false};
  std::atomic<int> acked{0};
  std::thread writer([&] {
    HttpClient c(server->port());
    for (int i = 0; !stop; ++i) {
      auto r = c.PostJson("/v1/events",
                          R"({"customer":"c-)" + std::to_string(i % 50) +
                              R"(","type":"order.placed","data":{"n":)" + std::to_string(i) + "}}",
                          {{"Authorization", auth}});
      if (r.ok() && r->status == 201) {
        ++acked;
      }
    }
  });
  while (acked < 300) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const int acked_before = acked.load();
  const std::string url = "http://127.0.0.1:" + std::to_string(server->port());
  ToolRun backup =
      Tlctl("backup " + dir.Sub("backup") + " --server " + url + " --key " + key->secret);
  stop = true;
  writer.join();
  ASSERT_EQ(backup.exit_code, 0) << backup.out;
  const auto info = boost::json::parse(backup.out).as_object();
  EXPECT_GE(info.at("head").as_int64(), acked_before);

  // Without an admin key the server refuses.
  EXPECT_EQ(Tlctl("backup " + dir.Sub("b2") + " --server " + url).exit_code, 1);
  HttpClient original_client(server->port());
  auto signing_key = original_client.Get("/v1/audit/public-key");
  ASSERT_OK(signing_key);
  ASSERT_EQ(server->Stop(), 0);

  ToolRun restored = Tlctl("restore " + dir.Sub("backup") + " --data-dir " + dir.Sub("restored"));
  ASSERT_EQ(restored.exit_code, 0) << restored.out;
  const auto original = AllRecords(data);
  const auto copy = AllRecords(dir.Sub("restored"));
  // A consistent prefix of the log, holding everything acknowledged before
  // the backup began, byte for byte.
  ASSERT_GE(copy.size(), static_cast<std::size_t>(info.at("head").as_int64()));
  ASSERT_LE(copy.size(), original.size());
  for (std::size_t i = 0; i < copy.size(); ++i) {
    ASSERT_EQ(copy[i], original[i]) << "seq " << i + 1;
  }
  // The keys came along: the restored server accepts the same key.
  ServerProcess again(dir.Sub("restored"));
  ASSERT_OK(again.Start());
  HttpClient c(again.port());
  auto r = c.Get("/v1/events?after=0&limit=1", {{"Authorization", auth}});
  ASSERT_OK(r);
  EXPECT_EQ(r->status, 200) << r->body;
  // So did the checkpoint signing key, and the restored log verifies.
  auto restored_key = c.Get("/v1/audit/public-key");
  ASSERT_OK(restored_key);
  EXPECT_EQ(restored_key->body, signing_key->body);
  ASSERT_EQ(again.Stop(), 0);
  ToolRun verified = Tlctl("verify --data-dir " + dir.Sub("restored"));
  EXPECT_EQ(verified.exit_code, 0) << verified.out;

  // Offline: a stopped server's directory, incrementally into the same
  // backup directory; a restore never overwrites a directory with data.
  ToolRun offline = Tlctl("backup " + dir.Sub("backup") + " --data-dir " + data);
  ASSERT_EQ(offline.exit_code, 0) << offline.out;
  EXPECT_EQ(boost::json::parse(offline.out).at("head").as_int64(),
            static_cast<std::int64_t>(original.size()));
  ToolRun over = Tlctl("restore " + dir.Sub("backup") + " --data-dir " + dir.Sub("restored"));
  EXPECT_EQ(over.exit_code, 1);
  EXPECT_THAT(over.out, HasSubstr("not empty"));
  ToolRun fresh = Tlctl("restore " + dir.Sub("backup") + " --data-dir " + dir.Sub("fresh"));
  ASSERT_EQ(fresh.exit_code, 0) << fresh.out;
  EXPECT_EQ(AllRecords(dir.Sub("fresh")), original);
  EXPECT_EQ(Tlctl("backup " + dir.Sub("b3")).exit_code, 2);
}

}  // namespace
}  // namespace touchline::testing
