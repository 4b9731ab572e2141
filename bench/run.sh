#!/usr/bin/env bash
# TPC-H benchmark: all 22 queries as ONE application (every result written
# with COPY ... TO / DataFrame.write, start-up counted once), for
#   kiln        kiln run, local-cluster, 2 executors x 1 core
#   datafusion  single-node DataFusion in-process, 2 partitions
#   spark       Apache Spark local[2] via pyspark (own venv)
# and a trivial query's process start-to-exit time through kiln run.
#   usage: bench/run.sh [SCALE] [RUNS] [ENGINES]     defaults: 1 3 kiln,datafusion,spark
# KILN_BENCH_MEMORY=1g sets kiln's spec.executor.memory and Spark's
# spark.driver.memory (local mode runs in the driver JVM). When kiln and
# DataFusion both run, their written results are compared query by query.
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE="${1:-1}"; RUNS="${2:-3}"; ENGINES="${3:-kiln,datafusion,spark}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiln-target}"
QUERIES="${KILN_TPCH_QUERIES:-bench/tpch/queries}"
DATA="${KILN_BENCH_DATA:-$HOME/.cache/kiln-bench-data}/tpch-sf$SCALE"
WORK="$(mktemp -d -t kiln-bench-XXXXXX)"
echo "==> building (release)" >&2
cargo build -j2 --release -p kiln-cli -p kiln-bench
KILN="$CARGO_TARGET_DIR/release/kiln"
DFB="$CARGO_TARGET_DIR/release/kiln-bench-datafusion"
CMP="$CARGO_TARGET_DIR/release/kiln-bench-compare"
if [ ! -f "$DATA/_GENERATED" ]; then
  echo "==> generating TPC-H scale factor $SCALE into $DATA" >&2
  rm -rf "$DATA"; "$KILN" gen tpch --scale "$SCALE" "$DATA"; touch "$DATA/_GENERATED"
fi
python3 bench/make_app.py --data "$DATA" --queries "$QUERIES" --out "$WORK" ${KILN_BENCH_MEMORY:+--memory "$KILN_BENCH_MEMORY"}
engines=()
IFS=, read -ra engines <<< "$ENGINES"
for e in "${engines[@]}"; do
  [ "$e" = spark ] && SPARK_VENV=$(bench/setup-spark.sh | tail -n 1)
  for run in $(seq 1 "$RUNS"); do
    echo "==> $e run $run/$RUNS" >&2
    rm -rf "$WORK/results"
    case "$e" in
      kiln) "$KILN" run "$WORK/app.yaml" --summary-json "$WORK/kiln-$run.json" >/dev/null 2>"$WORK/kiln-$run.log" ;;
      datafusion) "$DFB" "$WORK/app.sql" "$WORK/datafusion-$run.json" 2 ;;
      spark) "$SPARK_VENV/bin/python" bench/spark_tpch.py --plan "$WORK/plan.json" --json "$WORK/spark-$run.json" \
               ${KILN_BENCH_MEMORY:+--driver-memory "$KILN_BENCH_MEMORY"} 2>"$WORK/spark-$run.log" ;;
      *) echo "unknown engine $e" >&2; exit 2 ;;
    esac
  done
  # Keep the last run's results of each engine for the comparison.
  if [ -d "$WORK/results" ]; then rm -rf "$WORK/results-$e"; mv "$WORK/results" "$WORK/results-$e"; fi
done
echo "==> results (scale factor $SCALE, $RUNS runs, $(nproc) cores, $(date -u +%F))"
python3 bench/report.py "$WORK" "${engines[@]}"
# Results compared as sorted rows, value by value (numbers within 1e-6
# relative); the per-query lines name any difference.
compare() {
  echo; echo "correctness ($1 vs $2 results, sorted rows value by value):"
  "$CMP" "$WORK/results-$1" "$WORK/results-$2" | grep -v ': same' || true
}
[ -d "$WORK/results-kiln" ] && [ -d "$WORK/results-datafusion" ] && compare kiln datafusion
[ -d "$WORK/results-kiln" ] && [ -d "$WORK/results-spark" ] && compare kiln spark
if [[ ",$ENGINES," == *",kiln,"* ]]; then
  printf 'apiVersion: kiln.dev/v1alpha1\nkind: SparkApplication\nmetadata:\n  name: trivial\nspec:\n  executor:\n    instances: 2\n  sql: SELECT 1 AS one\n' > "$WORK/trivial.yaml"
  times=()
  for i in 1 2 3 4 5; do
    t0=$(date +%s.%N); "$KILN" run "$WORK/trivial.yaml" >/dev/null 2>&1; t1=$(date +%s.%N)
    times+=("$(echo "$t1 - $t0" | bc)")
  done
  printf '\ntrivial query (SELECT 1, local-cluster, 2 executor processes), process start to exit, 5 runs: %s s; median %s s\n' \
    "${times[*]}" "$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p)"
fi
echo "work directory: $WORK" >&2
