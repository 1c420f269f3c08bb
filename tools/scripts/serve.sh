#!/usr/bin/env bash
# Installs what is missing, builds a Release touchlined and starts it on
# 127.0.0.1:8080 with its data in ./data. Extra arguments go to touchlined
# (see `build/release/api/touchlined --help`).
set -euo pipefail
cd "$(dirname "$0")/../.."

tools/scripts/install-deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DTOUCHLINE_BUILD_TESTS=OFF
cmake --build build/release --target touchlined tlctl
# The defaults are 127.0.0.1:8080 and ./data; flags given here win over
# TOUCHLINE_* variables, so none are fixed here.
exec build/release/api/touchlined "$@"
