// Small helpers the benchmark binaries share (touchline_bench,
// touchline_compare): scratch directories, the machine's description,
// CPU time and bytes on disk.
//
// Thread safety: functions of their arguments and of the process.
#pragma once

#include <cstdint>
#include <string>

namespace touchline::bench {

// A new directory under `base` (exits the process if it cannot).
std::string MakeTempDir(const std::string& base);
// "AMD EPYC, 2 cores, 24683548 kB RAM, Linux 6.18..." from /proc.
std::string Machine();
// User plus system CPU time of this process so far, in microseconds.
std::uint64_t ProcessCpuMicros();
// Bytes of the regular files under `dir` (0 if it does not exist).
std::uint64_t DirectoryBytes(const std::string& dir);

}  // namespace touchline::bench
