#!/usr/bin/env bash
# Fails when a C source or header is not laid out as .clang-format says.
# Usage: tools/check-format.sh [clang-format binary]
set -euo pipefail
cd "$(dirname "$0")/.."
fmt=${1:-clang-format}
mapfile -t files < <(git ls-files -co --exclude-standard -- '*.c' '*.h' 2>/dev/null || find src include tests bench tools -name '*.[ch]')
bad=0
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  if ! "$fmt" --style=file --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "not formatted: $f (run: $fmt -i $f)"
    bad=1
  fi
done
if [ "$bad" -ne 0 ]; then exit 1; fi
echo "format: ${#files[@]} files checked, all formatted"
