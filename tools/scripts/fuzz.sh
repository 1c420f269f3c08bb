#!/usr/bin/env bash
# Builds the libFuzzer targets (clang with -Wthread-safety as errors, AddressSanitizer and
# UndefinedBehaviorSanitizer) and runs each for a bounded time on a scratch
# copy of its seed corpus in tests/fuzz/corpus. A crash fails the script and
# leaves the reproducer in build/fuzz/artifacts/.
#
#   tools/scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-60}"

build_dir=build/fuzz
CXX=clang++ cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTOUCHLINE_FUZZ=ON -DTOUCHLINE_BUILD_TESTS=OFF -DTOUCHLINE_WERROR=ON -DTOUCHLINE_SANITIZER="address;undefined"
targets=(event_json ws_command key_codec export router ingest)
cmake --build "$build_dir" --target "${targets[@]/#/fuzz_}"

export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
mkdir -p "$build_dir/artifacts"
for t in "${targets[@]}"; do
  work="$build_dir/corpus/$t"
  rm -rf "$work" && mkdir -p "$work"
  cp tests/fuzz/corpus/"$t"/* "$work"/
  echo "fuzz: $t for ${seconds}s"
  rc=0
  "$build_dir/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 \
    -print_final_stats=1 -artifact_prefix="$build_dir/artifacts/$t-" "$work" \
    >"$build_dir/$t.log" 2>&1 || rc=$?
  grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb)" "$build_dir/$t.log" || true
  if ((rc != 0)); then
    tail -n 60 "$build_dir/$t.log"
    echo "fuzz: $t FAILED (exit $rc); reproducer in $build_dir/artifacts/"
    exit 1
  fi
done
echo "fuzz: all ${#targets[@]} targets ran ${seconds}s each without a finding"
