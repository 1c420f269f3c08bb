// The touchlined binary under test, as a ServerProcess.
#pragma once

#include <string>
#include <vector>

#include "tools/server_process.h"

namespace touchline::testing {

#ifndef TOUCHLINED_PATH
#error "TOUCHLINED_PATH must name the touchlined binary"
#endif

class ServerProcess : public tools::ServerProcess {
 public:
  explicit ServerProcess(std::string data_dir, std::vector<std::string> extra_args = {})
      : tools::ServerProcess(TOUCHLINED_PATH, std::move(data_dir), std::move(extra_args)) {}
};

}  // namespace touchline::testing
