// WriteFileAtomically and SyncDirectory on the real disk: contents, mode,
// no temp file left behind, and every failing step reported.
#include "store/internal/atomic_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/support/status_matchers.h"
#include "tests/support/test_util.h"

namespace touchline::store::internal {
namespace {

using ::testing::HasSubstr;
using touchline::testing::StatusIs;
namespace fs = std::filesystem;

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class AtomicFileTest : public ::testing::Test {
 protected:
  touchline::testing::TempDir dir_;
};

TEST_F(AtomicFileTest, CreatesAndReplacesTheFileOwnerOnly) {
  const std::string path = dir_.Sub("key");
  ASSERT_OK(WriteFileAtomically(path, "first\n"));
  EXPECT_EQ(Read(path), "first\n");
  ASSERT_OK(WriteFileAtomically(path, std::string(100000, 'x')));  // longer: several writes
  EXPECT_EQ(Read(path), std::string(100000, 'x'));
  ASSERT_OK(WriteFileAtomically(path, ""));
  EXPECT_EQ(Read(path), "");
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(AtomicFileTest, AMissingDirectoryIsReported) {
  const std::string path = dir_.Sub("gone/key");
  EXPECT_THAT(WriteFileAtomically(path, "x"),
              StatusIs(StatusCode::kUnavailable, HasSubstr("cannot create '" + path + ".tmp'")));
  EXPECT_FALSE(fs::exists(dir_.Sub("gone")));
}

TEST_F(AtomicFileTest, AFailedRenameLeavesTheTargetAndNoTempFile) {
  // A non-empty directory where the file should go: rename(2) refuses.
  const std::string path = dir_.Sub("taken");
  fs::create_directories(path + "/inside");
  EXPECT_THAT(WriteFileAtomically(path, "x"),
              StatusIs(StatusCode::kUnavailable, HasSubstr("cannot rename over '" + path + "'")));
  EXPECT_TRUE(fs::is_directory(path + "/inside"));
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

TEST_F(AtomicFileTest, ADirectoryThatIsNotWritableIsReported) {
  if (::geteuid() == 0) {
    GTEST_SKIP() << "root writes into read-only directories";
  }
  const std::string ro = dir_.Sub("ro");
  fs::create_directories(ro);
  fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec);
  EXPECT_THAT(WriteFileAtomically(ro + "/key", "x"),
              StatusIs(StatusCode::kUnavailable, HasSubstr("cannot create")));
  fs::permissions(ro, fs::perms::owner_all);
}

TEST_F(AtomicFileTest, AFailedDirectorySyncIsReported) {
  // A directory its owner may write and enter but not list: the temp file
  // is created and renamed, then opening the directory to sync it fails.
  // Root reads any directory, so the write runs in a child as nobody.
  constexpr uid_t kNobody = 65534;
  const std::string dir = dir_.Sub("wx");
  fs::create_directories(dir);
  const bool root = ::geteuid() == 0;
  if (root) {
    ASSERT_EQ(::chown(dir_.path().c_str(), kNobody, kNobody), 0);
    ASSERT_EQ(::chown(dir.c_str(), kNobody, kNobody), 0);
  }
  fs::permissions(dir, fs::perms::owner_write | fs::perms::owner_exec);
  auto attempt = [&] {
    if (root && (::setgid(kNobody) != 0 || ::setuid(kNobody) != 0)) {
      std::_Exit(2);
    }
    const Status s = WriteFileAtomically(dir + "/key", "new");
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    std::_Exit(s.code() == StatusCode::kUnavailable ? 0 : 1);
  };
  EXPECT_EXIT(attempt(), ::testing::ExitedWithCode(0), "cannot open the directory '" + dir + "'");
  fs::permissions(dir, fs::perms::owner_all);
  EXPECT_EQ(Read(dir + "/key"), "new");  // renamed, but not known to be durable
}

TEST_F(AtomicFileTest, SyncDirectoryReportsWhatIsNotADirectory) {
  EXPECT_OK(SyncDirectory(dir_.path()));
  EXPECT_OK(SyncDirectory(""));  // the current directory
  EXPECT_THAT(SyncDirectory(dir_.Sub("missing")),
              StatusIs(StatusCode::kUnavailable, HasSubstr("cannot open the directory")));
  const std::string file = dir_.Sub("file");
  ASSERT_OK(WriteFileAtomically(file, "x"));
  EXPECT_THAT(SyncDirectory(file),
              StatusIs(StatusCode::kUnavailable, HasSubstr("Not a directory")));
}

}  // namespace
}  // namespace touchline::store::internal
