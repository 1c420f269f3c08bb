// tlctl verify, export and import against a data directory the real server
// wrote: the untouched log verifies; each kind of tampering, done with
// RocksDB directly on a copy of the stopped server's directory, is found
// and its seq named; an export verifies and imports to the same root.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "store/checkpoint.h"
#include "store/key_format.h"
#include "tests/support/http_client.h"
#include "tests/support/raw_db.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_util.h"
#include "tests/support/touchlined.h"

namespace touchline::testing {
namespace {

using store::internal::ColumnFamily;
using ::testing::HasSubstr;
using ::testing::Not;

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

constexpr int kEvents = 12;

class TlctlVerifyTest : public ::testing::Test {
 protected:
  // One server run for the whole suite: 12 events, a checkpoint at 8 and
  // one at 12 (plus whatever the access log adds: nothing, no reads).
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    ServerProcess server(dir_->Sub("data"),
                         {"--checkpoint-interval-ms", "0", "--checkpoint-events", "0"});
    ASSERT_OK(server.Start());
    HttpClient http(server.port());
    for (int i = 1; i <= kEvents; ++i) {
      const std::string body =
          "{\"customer\":\"c-" + std::to_string(i % 3) +
          "\",\"type\":\"ticket.opened\",\"data\":{\"n\":" + std::to_string(i) +
          "},\"identities\":{\"email\":\"p" + std::to_string(i % 3) + "@example.com\"}}";
      auto r = http.PostJson("/v1/events", body);
      ASSERT_TRUE(r.ok() && r->status == 201) << (r.ok() ? r->body : r.status().ToString());
      if (i == 8) {
        auto c = http.Request("POST", "/v1/audit/checkpoint");
        ASSERT_TRUE(c.ok() && c->status == 201);
        saved_ = new std::string(c->body);
      }
    }
    auto key = http.Get("/v1/audit/public-key");
    ASSERT_TRUE(key.ok() && key->status == 200);
    verifier_key_ = new std::string(
        boost::json::parse(key->body).as_object().at("verifier_key").as_string().c_str());
    auto c = http.Request("POST", "/v1/audit/checkpoint");
    ASSERT_TRUE(c.ok() && c->status == 201) << (c.ok() ? c->body : "");
    ASSERT_EQ(server.Stop(), 0);
    std::ofstream(dir_->Sub("saved.json")) << *saved_;
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete saved_;
    delete verifier_key_;
  }

  // A copy of the server's directory to tamper with.
  std::string Copy(const std::string& name) {
    const std::string to = dir_->Sub(name);
    std::filesystem::remove_all(to);
    std::filesystem::copy(dir_->Sub("data"), to, std::filesystem::copy_options::recursive);
    return to;
  }
  static std::string Events() { return dir_->Sub("data"); }

  static TempDir* dir_;
  static std::string* saved_;
  static std::string* verifier_key_;
};

TempDir* TlctlVerifyTest::dir_ = nullptr;
std::string* TlctlVerifyTest::saved_ = nullptr;
std::string* TlctlVerifyTest::verifier_key_ = nullptr;

TEST_F(TlctlVerifyTest, UntouchedLogVerifies) {
  ToolRun r = Tlctl("verify --data-dir " + Events());
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("records     1..12 (12 records"));
  EXPECT_THAT(r.out, HasSubstr("checkpoints 2 with valid signatures"));
  EXPECT_THAT(r.out, HasSubstr("RESULT      OK"));
  // Pinned to the key the server published, and against the saved checkpoint.
  r = Tlctl("verify --data-dir " + Events() + " --public-key '" + *verifier_key_ + "' --against " +
            dir_->Sub("saved.json") + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto report = boost::json::parse(r.out.substr(r.out.find('{'))).as_object();
  EXPECT_TRUE(report.at("ok").as_bool());
  EXPECT_EQ(report.at("checkpoints").as_int64(), 3);  // two stored, one saved
}

TEST_F(TlctlVerifyTest, ChangedByteIsFoundAtItsSeq) {
  const std::string d = Copy("changed");
  {
    RawDb raw(d);
    ASSERT_TRUE(raw.status().ok()) << raw.status().ToString();
    std::string value;
    ASSERT_TRUE(raw.db()->Get({}, raw.cf(ColumnFamily::kEvents), store::EventKey(7), &value).ok());
    const auto at = value.find("ticket.opened");
    ASSERT_NE(at, std::string::npos);
    value[at] = 'T';  // "Ticket.opened": one byte of the (binary) record
    ASSERT_TRUE(raw.db()->Put({}, raw.cf(ColumnFamily::kEvents), store::EventKey(7), value).ok());
  }
  ToolRun r = Tlctl("verify --data-dir " + d);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("seq 7: the record's bytes differ from its leaf"));
  EXPECT_THAT(r.out, HasSubstr("the first bad seq is 7"));
}

TEST_F(TlctlVerifyTest, DeletedRecordIsFoundAtItsSeq) {
  const std::string d = Copy("deleted");
  {
    RawDb raw(d);
    ASSERT_TRUE(raw.db()->Delete({}, raw.cf(ColumnFamily::kEvents), store::EventKey(5)).ok());
  }
  ToolRun r = Tlctl("verify --data-dir " + d);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("seq 5: seq 5 missing"));
  EXPECT_THAT(r.out, HasSubstr("the first bad seq is 5"));
}

TEST_F(TlctlVerifyTest, ReorderedRecordsAreFoundAtTheFirst) {
  const std::string d = Copy("reordered");
  {
    RawDb raw(d);
    std::string three, four;
    auto* events = raw.cf(ColumnFamily::kEvents);
    ASSERT_TRUE(raw.db()->Get({}, events, store::EventKey(3), &three).ok());
    ASSERT_TRUE(raw.db()->Get({}, events, store::EventKey(4), &four).ok());
    ASSERT_TRUE(raw.db()->Put({}, events, store::EventKey(3), four).ok());
    ASSERT_TRUE(raw.db()->Put({}, events, store::EventKey(4), three).ok());
  }
  ToolRun r = Tlctl("verify --data-dir " + d);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("the record stored as seq 3 says seq 4"));
  EXPECT_THAT(r.out, HasSubstr("the first bad seq is 3"));
}

TEST_F(TlctlVerifyTest, TruncatedTailIsFound) {
  const std::string d = Copy("truncated");
  {
    RawDb raw(d);
    for (Seq s = 10; s <= kEvents; ++s) {
      ASSERT_TRUE(raw.db()->Delete({}, raw.cf(ColumnFamily::kEvents), store::EventKey(s)).ok());
    }
  }
  ToolRun r = Tlctl("verify --data-dir " + d);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("but the log ends at seq 9: seqs 10..12 were removed"));
  EXPECT_THAT(r.out, HasSubstr("the first bad seq is 10"));
  // The server refuses to start on it rather than sign a shorter log.
  ServerProcess server(d);
  EXPECT_FALSE(server.Start().ok());
}

TEST_F(TlctlVerifyTest, ReplacedCheckpointIsFound) {
  const std::string d = Copy("replaced");
  {
    RawDb raw(d);
    std::string note;
    auto* merkle = raw.cf(ColumnFamily::kMerkle);
    ASSERT_TRUE(raw.db()->Get({}, merkle, store::CheckpointKey(8), &note).ok());
    auto real = store::ParseCheckpoint(note);
    ASSERT_OK(real);
    // A checkpoint of the same log and size, but another root, signed by
    // a key of the forger's.
    const auto forger = store::CheckpointSigner::Generate(real->origin);
    const auto forged = forger.Sign(8, store::LeafHash("forged"), real->time_us);
    ASSERT_TRUE(raw.db()->Put({}, merkle, store::CheckpointKey(8), forged.note).ok());
  }
  ToolRun r = Tlctl("verify --data-dir " + d);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("seq 8: the checkpoint of tree size 8 is signed by a key"));
  EXPECT_THAT(r.out, HasSubstr("the first bad seq is 8"));
}

TEST_F(TlctlVerifyTest, RewrittenHistoryFailsTheSavedCheckpoint) {
  // A forger who rewrites a record and its whole tree passes every check
  // the directory can make alone; the checkpoint the auditor kept does not.
  const std::string d = Copy("rewritten");
  {
    RawDb raw(d);
    auto* events = raw.cf(ColumnFamily::kEvents);
    auto* merkle = raw.cf(ColumnFamily::kMerkle);
    std::string value;
    ASSERT_TRUE(raw.db()->Get({}, events, store::EventKey(2), &value).ok());
    value.replace(value.find("ticket.opened"), 13, "ticket.closed");
    ASSERT_TRUE(raw.db()->Put({}, events, store::EventKey(2), value).ok());
    store::CompactRange tree;
    for (Seq s = 1; s <= kEvents; ++s) {
      ASSERT_TRUE(raw.db()->Get({}, events, store::EventKey(s), &value).ok());
      const std::uint64_t leaf = tree.size();
      ASSERT_TRUE(
          raw.db()
              ->Put({}, merkle, store::TreeLeafKey(leaf), tree.AppendEntry(store::LeafHash(value)))
              .ok());
    }
    // And removes the stored checkpoints that would give it away.
    for (std::uint64_t size : {8u, 12u}) {
      ASSERT_TRUE(raw.db()->Delete({}, merkle, store::CheckpointKey(size)).ok());
    }
  }
  EXPECT_EQ(Tlctl("verify --data-dir " + d).exit_code, 0);
  ToolRun r = Tlctl("verify --data-dir " + d + " --against " + dir_->Sub("saved.json"));
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("the saved checkpoint of tree size 8 does not match the records"));
  EXPECT_THAT(r.out, HasSubstr("the first bad seq is 1"));
}

TEST_F(TlctlVerifyTest, ExportVerifiesAndImportsToTheSameRoot) {
  const std::string file = dir_->Sub("export.ndjson");
  ToolRun r = Tlctl("export --data-dir " + Events() + " --out " + file);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::ifstream in(file);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(content, Not(HasSubstr("@example.com")));  // sealed, no keys
  EXPECT_THAT(content, Not(HasSubstr("\"key\":{")));
  r = Tlctl("verify --export " + file + " --public-key '" + *verifier_key_ + "'");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto root_at = r.out.find("root        ") + 12;
  const std::string root = r.out.substr(root_at, 64);

  // A partial export verifies on its own too.
  r = Tlctl("export --data-dir " + Events() + " --from 6 --to 11 --out " + file + ".part");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  r = Tlctl("verify --export " + file + ".part");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("records     6..11"));

  // With keys, the import can read every event again.
  r = Tlctl("export --data-dir " + Events() + " --with-keys --out " + file + ".keys");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const std::string imported = dir_->Sub("imported");
  r = Tlctl("import " + file + ".keys --data-dir " + imported);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("root " + root));
  r = Tlctl("verify --data-dir " + imported + " --against " + dir_->Sub("saved.json"));
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, Not(HasSubstr("neither a key")));
  // Without keys the import verifies too, and verify says whose sealed
  // records can no longer be read (c-0, c-1 and c-2).
  const std::string keyless = dir_->Sub("imported-keyless");
  r = Tlctl("import " + file + " --data-dir " + keyless);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  r = Tlctl("verify --data-dir " + keyless);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("3 customers have sealed records but neither a key"));
  r = Tlctl("replay --data-dir " + imported + " --from 4 --to 4");
  EXPECT_THAT(r.out, HasSubstr("\"email\":\"p1@example.com\""));
  // Into a directory that holds something: refused.
  r = Tlctl("import " + file + ".keys --data-dir " + imported);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("not empty"));
  // A cut export is refused.
  std::ofstream(file + ".cut") << content.substr(0, content.size() / 2);
  r = Tlctl("import " + file + ".cut --data-dir " + dir_->Sub("cut"));
  EXPECT_EQ(r.exit_code, 1) << r.out;
}

TEST_F(TlctlVerifyTest, VerifiesARunningServer) {
  const std::string d = Copy("live");
  ServerProcess server(d);
  ASSERT_OK(server.Start());
  ToolRun r = Tlctl("verify --server http://127.0.0.1:" + std::to_string(server.port()) +
                    " --against " + dir_->Sub("saved.json"));
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("RESULT      OK"));
}

}  // namespace
}  // namespace touchline::testing
