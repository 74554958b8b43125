#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time on its seed corpus.
# Usage: run_fuzzer.sh <fuzzer binary> <seed corpus dir> <work dir>
# BOURSE_FUZZ_SECONDS (default 30) bounds the run. Inputs the fuzzer finds go
# to <work dir>/corpus (the committed seeds are only read); a crashing input
# is saved as <work dir>/crash-* and fails the test.
set -euo pipefail
fuzzer=$1 seeds=$2 work=$3
seconds=${BOURSE_FUZZ_SECONDS:-30}
mkdir -p "$work/corpus"
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$work/" "$work/corpus" "$seeds"
