#!/usr/bin/env bash
# Runs every test project and ends with one line "N passed, N failed[, N skipped]".
# Fails when a test fails or when no test ran at all.
set -uo pipefail
cd "$(dirname "$0")/.."
results=TestResults
rm -rf "$results"

# A test that hangs is stopped after 10 minutes (the longest passes in well under one) and named in the output, so a
# hang fails the run with its name instead of holding it until the CI limit.
dotnet test Detector.sln --nologo --logger "trx" --results-directory "$results" \
  --blame-hang-timeout 10m --blame-hang-dump-type none "$@"
status=$?

passed=0; failed=0; skipped=0; total=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  get() { echo "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
  total=$((total + $(get total)))
  passed=$((passed + $(get passed)))
  failed=$((failed + $(get failed)))
  skipped=$((skipped + $(get notExecuted)))
done

line="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && line="$line, $skipped skipped"
echo "$line"
if [ "$total" -eq 0 ]; then
  echo "no tests ran" >&2
  exit 1
fi
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
