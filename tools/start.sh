#!/usr/bin/env bash
# Quick start: installs what is missing, builds into build/ (Release) and runs
# the server on the bundled config. Extra arguments go to the server, e.g.
#   tools/start.sh --print-config
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
exec build/bourse --config conf/bourse.conf "$@"
