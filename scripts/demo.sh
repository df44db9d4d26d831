#!/usr/bin/env bash
# The demo on embedded defaults (SQLite + DuckDB): `longtail demo` simulates a customer base, runs the example
# motion on it in closed loop over the last 90 days and compares churn and ARR with the same world left alone;
# a short CLI tour follows, then the web cockpit is served on http://127.0.0.1:$DEMO_PORT until Ctrl-C.
# DEMO_SERVE=0 stops after the tour (for unattended runs).
set -euo pipefail
BIN=${BIN:-.venv/bin}
DEMO_DIR=${DEMO_DIR:-.demo}
ACCOUNTS=${DEMO_ACCOUNTS:-2000}
DAYS=${DEMO_DAYS:-90}
PORT=${DEMO_PORT:-8000}
SERVE=${DEMO_SERVE:-1}
# Piped output (make, tee) gets rich's 80-column default, which folds the tables' text word by word.
export COLUMNS=${COLUMNS:-150}
LAST=2025-12-31  # the simulated year starts 2025-01-01; the loop ends on its last day

rm -rf "$DEMO_DIR"
SUMMARY=$(mktemp)
trap 'rm -f "$SUMMARY"' EXIT
echo "== 1. Simulating $ACCOUNTS accounts over a year; the example motion runs the last $DAYS days in closed loop"
"$BIN/longtail" demo --dir "$DEMO_DIR" --accounts "$ACCOUNTS" --days "$DAYS" --port "$PORT" --no-serve \
  | tee "$SUMMARY"
echo
echo "== 2. What the workspace holds"
"$BIN/longtail" status --workspace "$DEMO_DIR"
echo
echo "== 3. Retention over the simulated year, by plan family"
"$BIN/longtail" metrics --from 2025-01-01 --to 2026-01-01 --by plan_family --workspace "$DEMO_DIR"
echo
echo "== 4. Why one red account is red, and what would turn it green"
"$BIN/longtail" score --as-of "$LAST" --format csv --workspace "$DEMO_DIR" > "$DEMO_DIR/scores.csv"
RED=$(awk -F, '$3 == "red" { print $1; exit }' "$DEMO_DIR/scores.csv")
if [ -n "$RED" ]; then
  "$BIN/longtail" health "$RED" --as-of "$LAST" --workspace "$DEMO_DIR"
  echo
  echo "== 5. Its calls to action (the worklist holds every account's)"
  "$BIN/longtail" ctas list --account "$RED" --workspace "$DEMO_DIR"
fi

echo
grep "log in as" "$SUMMARY" || true
if [ "$SERVE" != "0" ]; then
  exec "$BIN/longtail" serve --port "$PORT" --workspace "$DEMO_DIR"
fi
echo "(DEMO_SERVE=0: not serving; start the cockpit with: $BIN/longtail serve --workspace $DEMO_DIR)"
