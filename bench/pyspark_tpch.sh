#!/usr/bin/env bash
# TPC-H through the PySpark client, one session per engine (must-show 3):
# the 22 queries as spark.sql(q).write.parquet(...) plus DataFrame-API
# versions of q1, q3, q5, q6, q10, q18 (bench/pyspark_tpch.py), 2 cores each:
#   kiln   kiln connect (release build), local-cluster, 2 executors x 1 core
#   kiln-local  kiln connect --master 'local[2]': driver and one executor with
#          2 task slots in one process (as Sail's and Spark's local modes)
#   sail   Sail's Spark Connect server (pysail pinned, bench/setup-sail.sh),
#          pinned to 2 cores with taskset
#   spark  classic PySpark, Spark local[2] (the oracle venv)
# Every engine reads the same Parquet data (kiln gen tpch) and its results
# are checked against Spark's, query by query (kiln-bench-compare).
#   usage: bench/pyspark_tpch.sh [SCALE] [ENGINES]    defaults: 1 kiln,sail,spark
# Prints a table of seconds per query and the whole run's time per engine.
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE="${1:-1}"; ENGINES="${2:-kiln,sail,spark}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiln-target}"
DATA="${KILN_BENCH_DATA:-$HOME/.cache/kiln-bench-data}/tpch-sf$SCALE"
WORK="$(mktemp -d -t kiln-pyspark-bench-XXXXXX)"
echo "==> building (release)" >&2
cargo build -j2 --release -p kiln-cli -p kiln-bench
KILN="$CARGO_TARGET_DIR/release/kiln"
CMP="$CARGO_TARGET_DIR/release/kiln-bench-compare"
if [ ! -f "$DATA/_GENERATED" ]; then
  echo "==> generating TPC-H scale factor $SCALE into $DATA" >&2
  rm -rf "$DATA"; "$KILN" gen tpch --scale "$SCALE" "$DATA"; touch "$DATA/_GENERATED"
fi
CLIENT="$(scripts/setup-pyspark.sh client | tail -n 1)/bin/python"
ORACLE="$(scripts/setup-pyspark.sh oracle | tail -n 1)/bin/python"
# start, stop_last, free_port and the exit trap that stops every server.
. bench/connect_servers.sh
run() { # engine, python, [url]
  local engine="$1" python="$2" url="${3:-}"
  echo "==> $engine" >&2
  if [ -n "$url" ]; then
    SPARK_REMOTE="$url" "$python" bench/pyspark_tpch.py "$DATA" bench/tpch/queries "$WORK/results-$engine" "$WORK/$engine.json" 2>"$WORK/$engine.log"
  else
    env -u SPARK_REMOTE SPARK_LOCAL_IP=127.0.0.1 "$python" bench/pyspark_tpch.py "$DATA" bench/tpch/queries "$WORK/results-$engine" "$WORK/$engine.json" 2>"$WORK/$engine.log"
  fi
}
IFS=, read -ra engines <<< "$ENGINES"
for engine in "${engines[@]}"; do
  case "$engine" in
    kiln)
      start "$WORK/server-kiln.log" "sc://" "$KILN" connect --port 0 --executors 2 --executor-cores 1
      run kiln "$CLIENT" "$(grep -o "sc://[0-9.:a-z]*" "$WORK/server-kiln.log" | head -n 1)"
      stop_last ;;
    kiln-local)
      start "$WORK/server-kiln-local.log" "sc://" "$KILN" connect --port 0 --master 'local[2]'
      run kiln-local "$CLIENT" "$(grep -o "sc://[0-9.:a-z]*" "$WORK/server-kiln-local.log" | head -n 1)"
      stop_last ;;
    sail)
      sail="$(bench/setup-sail.sh | tail -n 1)/bin/sail"
      port=$(free_port)
      start "$WORK/server-sail.log" "Starting the Spark Connect server" taskset -c 0,1 "$sail" spark server --ip 127.0.0.1 --port "$port"
      for _ in $(seq 1 60); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break; sleep 1; done
      run sail "$CLIENT" "sc://127.0.0.1:$port"
      stop_last ;;
    spark) run spark "$ORACLE" ;;
    *) echo "error: unknown engine $engine (kiln, kiln-local, sail, spark)" >&2; exit 2 ;;
  esac
done
echo "==> seconds per query (scale factor $SCALE, $(nproc) cores, $(date -u +%F))"
python3 - "$WORK" "${engines[@]}" <<'PY'
import json, sys
work, engines = sys.argv[1], sys.argv[2:]
r = {e: json.load(open(f"{work}/{e}.json")) for e in engines}
names = list(next(iter(r.values()))["queries"])
print("| query | " + " | ".join(engines) + " |")
print("|---|" + "---:|" * len(engines))
for n in names:
    print(f"| {n} | " + " | ".join(f"{r[e]['queries'].get(n, float('nan')):.2f}" for e in engines) + " |")
print("| whole run | " + " | ".join(f"{r[e]['total']:.1f}" for e in engines) + " |")
PY
status=0
if [ -d "$WORK/results-spark" ]; then
  for engine in "${engines[@]}"; do
    [ "$engine" = spark ] && continue
    echo; echo "correctness ($engine vs spark, sorted rows value by value):"
    "$CMP" "$WORK/results-$engine" "$WORK/results-spark" | grep -v ': same' || true
    "$CMP" "$WORK/results-$engine" "$WORK/results-spark" >/dev/null || status=1
  done
fi
exit $status
