#!/usr/bin/env bash
# The demo on embedded defaults (SQLite + DuckDB): simulate a customer base, load it, summarise it.
set -euo pipefail
BIN=${BIN:-.venv/bin}
DEMO_DIR=${DEMO_DIR:-.demo}
ACCOUNTS=${DEMO_ACCOUNTS:-800}
DAYS=${DEMO_DAYS:-365}

rm -rf "$DEMO_DIR"
"$BIN/longtail" init "$DEMO_DIR/workspace" >/dev/null
echo "== 1. Simulating $ACCOUNTS accounts over $DAYS days"
"$BIN/longtail" sim --accounts "$ACCOUNTS" --days "$DAYS" --start 2025-01-01 --seed 7 \
  --format parquet --out "$DEMO_DIR/data"
echo
echo "== 2. Loading the files into the workspace"
"$BIN/longtail" load-dir "$DEMO_DIR/data" --workspace "$DEMO_DIR/workspace"
echo
echo "== 3. What the workspace holds"
"$BIN/longtail" status --workspace "$DEMO_DIR/workspace"
