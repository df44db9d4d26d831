#!/usr/bin/env bash
# The demo on embedded defaults (SQLite + DuckDB): simulate a customer base, load it, summarise it.
set -euo pipefail
BIN=${BIN:-.venv/bin}
DEMO_DIR=${DEMO_DIR:-.demo}
ACCOUNTS=${DEMO_ACCOUNTS:-800}
DAYS=${DEMO_DAYS:-365}

rm -rf "$DEMO_DIR"
"$BIN/longtail" init "$DEMO_DIR/workspace" --example >/dev/null
echo "== 1. Simulating $ACCOUNTS accounts over $DAYS days"
"$BIN/longtail" sim --accounts "$ACCOUNTS" --days "$DAYS" --start 2025-01-01 --seed 7 \
  --format parquet --out "$DEMO_DIR/data"
echo
echo "== 2. Loading the files into the workspace"
"$BIN/longtail" load-dir "$DEMO_DIR/data" --workspace "$DEMO_DIR/workspace"
echo
echo "== 3. What the workspace holds"
"$BIN/longtail" status --workspace "$DEMO_DIR/workspace"
echo
echo "== 4. Retention over the simulated year, by plan family"
"$BIN/longtail" metrics --from 2025-01-01 --to 2025-12-31 --by plan_family --workspace "$DEMO_DIR/workspace"
echo
echo "== 5. Health on the last day (every customer scored and stored; scores in $DEMO_DIR/scores.csv)"
"$BIN/longtail" score --as-of 2025-12-31 --format csv --workspace "$DEMO_DIR/workspace" > "$DEMO_DIR/scores.csv"
RED=$(awk -F, '$3 == "red" { print $1; exit }' "$DEMO_DIR/scores.csv")
if [ -n "$RED" ]; then
  echo
  echo "== 6. Why one red account is red, and what would turn it green"
  "$BIN/longtail" health "$RED" --as-of 2025-12-31 --workspace "$DEMO_DIR/workspace"
fi

echo
echo "== 7. The example motion (motion/*.yml): check it, then run the last day (CTAs routed to the team)"
"$BIN/longtail" check --workspace "$DEMO_DIR/workspace"
"$BIN/longtail" run --as-of 2025-12-31 --workspace "$DEMO_DIR/workspace"
echo
echo "== 8. Would these playbooks have caught churn? Backtest over Q2-Q3, evaluated weekly"
"$BIN/longtail" backtest --from 2025-04-01 --to 2025-09-30 --every 7 --workspace "$DEMO_DIR/workspace"
