#!/usr/bin/env bash
# Installs the Debian bookworm packages touchline needs to build and test.
# Only what is missing is installed; safe to run repeatedly.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  librocksdb-dev libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libsimdjson-dev libspdlog-dev libgtest-dev libgmock-dev libsodium-dev libcli11-dev
  curl
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
