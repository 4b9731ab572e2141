#!/usr/bin/env bash
# TPC-H benchmark: all 22 queries as ONE application (every result written
# with COPY ... TO / DataFrame.write, start-up counted once), for
#   kiln        kiln run, local-cluster, 2 executors x 1 core
#   datafusion  single-node DataFusion in-process, 2 partitions
#   spark       Apache Spark local[2] via pyspark (own venv)
#   kiln-noui      kiln with the live UI off (spark.ui.enabled=false), no event log
#   kiln-eventlog  kiln with the live UI on and Spark's event log written
#                  (zstd) to the work directory: issue 13's overhead is
#                  `bench/run.sh 1 3 kiln-noui,kiln-eventlog`
#   kiln-thp       kiln with transparent huge pages left as the host has them
#                  (KILN_THP=on), to compare with kiln's default (off)
# and a trivial query's process start-to-exit time through kiln run.
# Runs are interleaved (run 1 of every engine, then run 2, ...), so a load
# that comes and goes on the machine falls on every engine alike.
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
# The kiln variants: the same manifest with settings added under spec.sparkConf.
variant() {
  local name=$1; shift
  { cat "$WORK/app.yaml"; echo "  sparkConf:"; for kv in "$@"; do printf '    %s: "%s"\n' "${kv%%=*}" "${kv#*=}"; done; } > "$WORK/app-$name.yaml"
}
variant kiln-noui spark.ui.enabled=false spark.eventLog.enabled=false
variant kiln-eventlog spark.ui.enabled=true spark.eventLog.enabled=true "spark.eventLog.dir=$WORK/events" \
  spark.eventLog.compress=true spark.eventLog.compression.codec=zstd
mkdir -p "$WORK/events"
for e in "${engines[@]}"; do
  if [ "$e" = spark ]; then SPARK_VENV=$(bench/setup-spark.sh | tail -n 1); fi
done
for run in $(seq 1 "$RUNS"); do
  for e in "${engines[@]}"; do
    echo "==> $e run $run/$RUNS (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    rm -rf "$WORK/results"
    case "$e" in
      kiln) "$KILN" run "$WORK/app.yaml" --summary-json "$WORK/kiln-$run.json" >/dev/null 2>"$WORK/kiln-$run.log" ;;
      kiln-thp) KILN_THP=on "$KILN" run "$WORK/app.yaml" --summary-json "$WORK/kiln-thp-$run.json" >/dev/null 2>"$WORK/kiln-thp-$run.log" ;;
      kiln-noui|kiln-eventlog)
        "$KILN" run "$WORK/app-$e.yaml" --summary-json "$WORK/$e-$run.json" >/dev/null 2>"$WORK/$e-$run.log" ;;
      datafusion) "$DFB" "$WORK/app.sql" "$WORK/datafusion-$run.json" 2 ;;
      spark) "$SPARK_VENV/bin/python" bench/spark_tpch.py --plan "$WORK/plan.json" --json "$WORK/spark-$run.json" \
               ${KILN_BENCH_MEMORY:+--driver-memory "$KILN_BENCH_MEMORY"} 2>"$WORK/spark-$run.log" ;;
      *) echo "unknown engine $e" >&2; exit 2 ;;
    esac
    # Keep each engine's latest results for the comparison.
    if [ -d "$WORK/results" ]; then rm -rf "$WORK/results-$e"; mv "$WORK/results" "$WORK/results-$e"; fi
  done
done
echo "==> results (scale factor $SCALE, $RUNS runs, $(nproc) cores, $(date -u +%F))"
python3 bench/report.py "$WORK" "${engines[@]}"
# Results compared as sorted rows, value by value (numbers within 1e-6
# relative); the per-query lines name any difference.
compare() {
  echo; echo "correctness ($1 vs $2 results, sorted rows value by value):"
  "$CMP" "$WORK/results-$1" "$WORK/results-$2" | grep -v ': same' || true
}
for k in kiln kiln-thp kiln-noui kiln-eventlog; do
  for other in datafusion spark; do
    if [ -d "$WORK/results-$k" ] && [ -d "$WORK/results-$other" ]; then compare "$k" "$other"; fi
  done
done
# The event logs of the kiln-eventlog runs: one folder per application;
# the events files (compressed) apart from the executor logs archived beside them.
for d in "$WORK"/events/eventlog_v2_*; do
  [ -d "$d" ] || continue
  printf 'event log %s: events %s bytes (%s files), folder %s bytes\n' "$(basename "$d")" \
    "$(find "$d" -maxdepth 1 -name 'events_*' -printf '%s\n' | awk '{s+=$1} END {print s+0}')" \
    "$(find "$d" -maxdepth 1 -name 'events_*' | wc -l)" "$(du -sb "$d" | cut -f1)"
done
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
