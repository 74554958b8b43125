#!/usr/bin/env bash
# bourse-replay: committed inputs against hand-checked expected outputs
# (tests/replay/*.jsonl -> *.expected), determinism (every input run twice
# gives identical bytes), and a seeded random stream checked for one ack per
# line, sequential ids, sorted uncrossed books and conserved money.
# Env (set by ctest): BOURSE_BIN_DIR (build dir), BOURSE_SOURCE_DIR.
set -euo pipefail
bin="${BOURSE_BIN_DIR:?}/bourse-replay"
dir="${BOURSE_SOURCE_DIR:?}/tests/replay"
conf="$dir/replay.conf"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

for input in "$dir"/*.jsonl; do
  name=$(basename "$input" .jsonl)
  "$bin" --config "$conf" < "$input" > "$tmp/$name.1"
  "$bin" --config "$conf" < "$input" > "$tmp/$name.2"
  if ! cmp -s "$tmp/$name.1" "$tmp/$name.2"; then
    echo "FAIL $name: two runs differ"; fail=1
  fi
  if ! diff -u "$dir/$name.expected" "$tmp/$name.1"; then
    echo "FAIL $name: output differs from $name.expected"; fail=1
  else
    echo "ok   $name ($(wc -l < "$tmp/$name.1") lines as expected)"
  fi
  python3 "$dir/check_replay.py" "$input" "$tmp/$name.1" || fail=1
done

lines=20000
case "${BOURSE_BUILD_TYPE:-}" in Asan|Tsan) lines=4000 ;; esac
for seed in 1 2 3; do
  python3 "$dir/random_commands.py" "$seed" "$lines" > "$tmp/random.jsonl"
  "$bin" --config "$conf" < "$tmp/random.jsonl" > "$tmp/random.1"
  "$bin" --config "$conf" < "$tmp/random.jsonl" > "$tmp/random.2"
  if ! cmp -s "$tmp/random.1" "$tmp/random.2"; then
    echo "FAIL random seed $seed: two runs differ"; fail=1
  fi
  python3 "$dir/check_replay.py" "$tmp/random.jsonl" "$tmp/random.1" || fail=1
done

# Usage errors: no config, unreadable config.
if "$bin" < /dev/null > /dev/null 2>&1; then echo "FAIL: ran without --config"; fail=1; fi
if "$bin" --config "$tmp/missing.conf" < /dev/null > /dev/null 2>&1; then
  echo "FAIL: ran with a missing config"; fail=1
fi
exit $fail
