#!/usr/bin/env bash
# Installs what is missing, builds everything with AddressSanitizer and
# UndefinedBehaviorSanitizer, and runs the whole test suite through CTest:
# unit tests, integration tests against the real server (HTTP and
# WebSocket), the kill -9 crash test, the agent console in headless Chromium,
# and a benchmark smoke run; then each libFuzzer target for a bounded time
# (TOUCHLINE_FUZZ_SECONDS, default 30; 0 skips). Tests labelled `slow` run
# only with TOUCHLINE_SLOW_TESTS=1.
set -euo pipefail
cd "$(dirname "$0")/../.."

tools/scripts/install-deps.sh --tests
build_dir=build/test
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTOUCHLINE_SANITIZER="address;undefined" -DTOUCHLINE_WERROR=ON
cmake --build "$build_dir"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
label_filter=(-LE slow)
if [[ "${TOUCHLINE_SLOW_TESTS:-0}" == 1 ]]; then
  label_filter=()
fi
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" "${label_filter[@]}"

fuzz_seconds="${TOUCHLINE_FUZZ_SECONDS:-30}"
if ((fuzz_seconds > 0)); then
  tools/scripts/fuzz.sh "$fuzz_seconds"
fi
