#include "store/internal/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace touchline::store::internal {
namespace {

// Captures errno: call it right after the failing system call.
Status Failed(std::string_view step, const std::string& file) {
  return Status::Unavailable("cannot " + std::string(step) + " '" + file +
                             "': " + std::strerror(errno));
}

// Writes all of `content` to `fd`, retrying short writes and EINTR.
bool WriteAll(int fd, std::string_view content) {
  while (!content.empty()) {
    const ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    content.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

Status SyncDirectory(const std::string& dir) {
  const std::string name = dir.empty() ? "." : dir;
  const int fd = ::open(name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return Failed("open the directory", name);
  }
  if (::fsync(fd) != 0) {
    const Status s = Failed("sync the directory", name);
    ::close(fd);
    return s;
  }
  ::close(fd);  // read-only: nothing to lose on close
  return Status::Ok();
}

Status WriteFileAtomically(const std::string& path, std::string_view content) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Failed("create", tmp);
  }
  Status s = Status::Ok();
  if (!WriteAll(fd, content)) {
    s = Failed("write", tmp);
  } else if (::fsync(fd) != 0) {
    s = Failed("sync", tmp);
  }
  if (::close(fd) != 0 && s.ok()) {
    s = Failed("close", tmp);
  }
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    s = Failed("rename over", path);
  }
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  return SyncDirectory(std::filesystem::path(path).parent_path().string());
}

}  // namespace touchline::store::internal
