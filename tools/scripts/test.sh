#!/usr/bin/env bash
# Installs what is missing, builds everything with AddressSanitizer and
# UndefinedBehaviorSanitizer, and runs the whole test suite through CTest:
# unit tests, integration tests against the real server (HTTP and
# WebSocket), the kill -9 crash test, the agent console in headless Chromium,
# and a benchmark smoke run; then the test binaries marked TSAN (the
# concurrency-heavy ones) again under ThreadSanitizer, in their own tree that
# builds only what they need; then each libFuzzer target (a clang build with
# -Wthread-safety as errors) for a bounded time (TOUCHLINE_FUZZ_SECONDS,
# default 30; 0 skips). Tests labelled `slow` run only with
# TOUCHLINE_SLOW_TESTS=1.
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

# ThreadSanitizer at -O1: fewer minutes of compiling, the same race reports.
# (-Wno-tsan: GCC warns that Asio's fences are invisible to TSan; the
# warnings of our own code are the ASan build's job above.)
tsan_dir=build/tsan
cmake -S . -B "$tsan_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG -Wno-tsan" -DTOUCHLINE_SANITIZER=thread
cmake --build "$tsan_dir" --target tsan_tests
# Each binary on its own (its log printed if it fails), two at a time.
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp"
xargs -a "$tsan_dir/tests/tsan_tests.txt" -P "$(nproc)" -I{} sh -c \
  'echo "tsan: $(basename {})"; {} >{}.log 2>&1 || { cat {}.log; exit 255; }'

fuzz_seconds="${TOUCHLINE_FUZZ_SECONDS:-30}"
if ((fuzz_seconds > 0)); then
  tools/scripts/fuzz.sh "$fuzz_seconds"
fi
