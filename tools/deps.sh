#!/usr/bin/env bash
# Installs the Debian packages bourse needs, and only those that are missing.
# Usage: tools/deps.sh build   what building and running the server needs
#        tools/deps.sh test    that, plus what the test suite needs
set -euo pipefail

build_packages=(build-essential cmake pkg-config liburing-dev libjemalloc-dev liblmdb-dev
                libinih-dev libssl-dev libcjson-dev)
test_packages=(clang libclang-rt-14-dev clang-format python3 git)

packages=("${build_packages[@]}")
if [ "${1:-build}" = test ]; then packages+=("${test_packages[@]}"); fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then exit 0; fi

echo "deps: installing ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
