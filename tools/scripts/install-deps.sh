#!/usr/bin/env bash
# Installs the Debian bookworm packages touchline needs to build and test.
# Only what is missing is installed; safe to run repeatedly.
#
# --tests also installs what the browser test needs: Debian's chromium and,
# when the machine has no Node.js, Debian's nodejs and npm; then the npm
# packages pinned in tests/browser/package-lock.json (playwright-core, ws, the
# integration clients, @redocly/cli and ajv).
#
# --bench installs what tools/bench/compare needs: the PostgreSQL and Redis
# servers it compares against, their client libraries and gnuplot. The test
# suite needs them too (a small comparison run is one of its tests).
set -euo pipefail
cd "$(dirname "$0")/../.."

with_tests=0
with_bench=0
for arg in "$@"; do
  case "$arg" in
    --tests) with_tests=1 with_bench=1 ;;
    --bench) with_bench=1 ;;
    *) echo "install-deps: unknown argument '$arg' (use --tests or --bench)" >&2; exit 2 ;;
  esac
done

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  librocksdb-dev libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libsimdjson-dev libspdlog-dev libgtest-dev libgmock-dev libsodium-dev libcli11-dev liblz4-dev
  curl tzdata openssl libssl-dev ca-certificates
)
# The libFuzzer targets (tools/scripts/fuzz.sh) build with clang.
fuzz_packages=(clang libclang-rt-14-dev)
if ((with_bench)); then
  packages+=(postgresql redis-server libpq-dev libhiredis-dev)
  if ((!with_tests)); then
    packages+=(gnuplot-nox)
  fi
fi
if ((with_tests)); then
  packages+=(chromium "${fuzz_packages[@]}")
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    packages+=(nodejs npm)
  fi
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
else
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    sudo="sudo"
  fi
  echo "install-deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ((with_tests)); then
  # npm ci is skipped when the installed tree already matches the lock file.
  stamp=tests/browser/node_modules/.installed-from-lock
  if ! cmp -s tests/browser/package-lock.json "$stamp"; then
    echo "install-deps: npm ci in tests/browser"
    (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
    cp tests/browser/package-lock.json "$stamp"
  fi
fi
