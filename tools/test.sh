#!/usr/bin/env bash
# The whole test suite: installs what is missing, then builds and runs ctest in
# four configurations:
#   build/        Release, gcc, -Werror (unit + integration tests, format check)
#   build-clang/  Release, clang, -Werror, plus the libFuzzer targets (bounded run)
#   build-asan/   ASan + UBSan
#   build-tsan/   TSan
# Environment: BOURSE_FUZZ_SECONDS (default 30) bounds each fuzz target;
# BOURSE_TEST_ONLY=release|clang|asan|tsan runs one configuration.
set -uo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh test || exit 1
jobs=$(nproc)
export BOURSE_FUZZ_SECONDS=${BOURSE_FUZZ_SECONDS:-30}
passed=0
failed=0
failed_suites=()

run_suite() {
  local name=$1 dir=$2
  shift 2
  if [ -n "${BOURSE_TEST_ONLY:-}" ] && [ "$BOURSE_TEST_ONLY" != "$name" ]; then return; fi
  echo "=== $name: configure and build in $dir"
  if ! cmake -S . -B "$dir" -DBOURSE_WERROR=ON "$@" >"$dir.configure.log" 2>&1; then
    cat "$dir.configure.log"
    failed=$((failed + 1))
    failed_suites+=("$name(configure)")
    return
  fi
  if ! cmake --build "$dir" -j"$jobs" >"$dir.build.log" 2>&1; then
    grep -E "error|warning" "$dir.build.log" | head -50
    failed=$((failed + 1))
    failed_suites+=("$name(build)")
    return
  fi
  echo "=== $name: ctest"
  local log="$dir.ctest.log"
  (cd "$dir" && ctest --output-on-failure -j"$jobs") 2>&1 | tee "$log"
  local summary total bad
  summary=$(grep -E "tests passed, [0-9]+ tests? failed out of [0-9]+" "$log" | tail -1)
  if [ -z "$summary" ]; then
    failed=$((failed + 1))
    failed_suites+=("$name(no result)")
    return
  fi
  total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$summary")
  bad=$(sed -E 's/.*tests passed, ([0-9]+) tests? failed.*/\1/' <<<"$summary")
  passed=$((passed + total - bad))
  failed=$((failed + bad))
  if [ "$bad" -ne 0 ]; then failed_suites+=("$name"); fi
}

mkdir -p build
run_suite release build -DCMAKE_BUILD_TYPE=Release
CC=clang run_suite clang build-clang -DCMAKE_BUILD_TYPE=Release -DBOURSE_FUZZ=ON -DBOURSE_BENCH=OFF
run_suite asan build-asan -DCMAKE_BUILD_TYPE=Asan -DBOURSE_BENCH=OFF
run_suite tsan build-tsan -DCMAKE_BUILD_TYPE=Tsan -DBOURSE_BENCH=OFF

echo
if [ "${#failed_suites[@]}" -ne 0 ]; then echo "failing: ${failed_suites[*]}"; fi
echo "all configurations: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
