#!/usr/bin/env bash
# Issue 11's benchmark: a row `@udf` and a scalar `pandas_udf` over 10 million
# rows (bench/python_udfs.py), the same pinned PySpark client against three
# Spark Connect servers on the same Parquet files:
# (kiln, sail, spark: bench/connect_servers.sh says how each is started;
# kiln with 2 executors x 1 core, Spark local[2]).
#   usage: bench/python_udfs.sh [ENGINES] [RUNS]   default: kiln,sail,spark 3
# The data (8 Parquet files, 10M rows) is generated once under
# ~/.cache/kiln-bench/python-udfs-10m. The kiln binary is $KILN_BIN, else
# $CARGO_TARGET_DIR/release/kiln (`cargo build --release --bin kiln`).
# Prints min/median/max seconds per engine and UDF kind; every run's sum is
# checked against numpy's.
set -euo pipefail
cd "$(dirname "$0")/.."
ENGINES="${1:-kiln,sail,spark}"
RUNS="${2:-3}"
OUT="${OUT:-target/bench-python-udfs}"
DATA="${KILN_UDF_BENCH_DATA:-$HOME/.cache/kiln-bench/python-udfs-10m}"
mkdir -p "$OUT"
CLIENT="$(scripts/setup-pyspark.sh client | tail -n 1)/bin/python"
KILN="${KILN_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/kiln-target}/release/kiln}"
. bench/connect_servers.sh

if [ ! -f "$DATA/_done" ]; then
  echo "==> generating 10M rows in $DATA" >&2
  rm -rf "$DATA" && mkdir -p "$DATA"
  "$CLIENT" - "$DATA" <<'PY'
import sys
import pyarrow as pa, pyarrow.parquet as pq
out, per = sys.argv[1], 1_250_000
for i in range(8):
    ids = pa.array(range(i * per, (i + 1) * per), pa.int64())
    pq.write_table(pa.table({"id": ids}), f"{out}/part-{i}.parquet")
PY
  touch "$DATA/_done"
fi

IFS=, read -ra engines <<< "$ENGINES"
for engine in "${engines[@]}"; do
  echo "==> $engine" >&2
  start_engine "$engine" "$OUT/server-$engine.log"
  "$CLIENT" bench/python_udfs.py "$url" "$DATA" "$OUT/times-$engine.json" --runs "$RUNS" "${extra[@]}" >&2
  stop_last
done

python3 - "$OUT" "${engines[@]}" <<'PY'
import json, statistics, sys
out, engines = sys.argv[1], sys.argv[2:]
print("| engine | row @udf min / median / max (s) | pandas_udf min / median / max (s) |")
print("|---|---|---|")
for e in engines:
    t = json.load(open(f"{out}/times-{e}.json"))
    cell = lambda xs: f"{min(xs):.2f} / {statistics.median(xs):.2f} / {max(xs):.2f}"
    print(f"| {e} | {cell(t['row'])} | {cell(t['pandas'])} |")
PY
