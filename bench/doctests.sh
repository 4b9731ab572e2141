#!/usr/bin/env bash
# PySpark's own docstring examples (tests/pyspark/doctests.py: pytest
# --doctest-modules over the five modules of issue 10, the pinned
# pyspark-client 4.2.0) against three Spark Connect servers, side by side:
#   kiln   kiln connect, local-cluster, 2 executors x 1 core
#   sail   Sail's server (`sail spark server`, pysail pinned, bench/setup-sail.sh)
#   spark  Spark 4.2.1's own Connect server, local[2], from the oracle venv
#          (scripts/setup-pyspark.sh oracle; bench/spark_connect_server.py)
#   usage: bench/doctests.sh [ENGINES]        default: kiln,sail,spark
# Writes each engine's report to $OUT/doctests-ENGINE.json (default OUT:
# target/bench-doctests) and prints passed/items per module and engine.
# The kiln binary is $KILN_BIN, else $CARGO_TARGET_DIR/debug/kiln (build it
# with `cargo build --workspace --all-targets`, as scripts/test.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."
ENGINES="${1:-kiln,sail,spark}"
OUT="${OUT:-target/bench-doctests}"
mkdir -p "$OUT"
CLIENT="$(scripts/setup-pyspark.sh client | tail -n 1)/bin/python"
KILN="${KILN_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/kiln-target}/debug/kiln}"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Starts a server in the background and waits until its log shows `ready`.
start() { # log-file, ready-pattern, command...
  local log="$1" ready="$2"; shift 2
  "$@" >"$log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 1 300); do
    grep -q "$ready" "$log" && return
    kill -0 "${pids[-1]}" 2>/dev/null || { cat "$log" >&2; echo "error: the server exited" >&2; exit 1; }
    sleep 1
  done
  cat "$log" >&2; echo "error: the server did not start within 300s" >&2; exit 1
}

stop_last() { kill "${pids[-1]}" 2>/dev/null || true; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'; }

# Settings the 4.2 client reads when it builds a local relation that Sail
# 0.7.2 has no default for (it answers "configuration not found"): set to
# Spark 4.2's defaults before the first docstring runs.
SAIL_CONF=(
  --conf spark.sql.session.localRelationSizeLimit=3221225472
  --conf spark.sql.session.localRelationChunkSizeRows=10000
  --conf spark.sql.session.localRelationChunkSizeBytes=16777216
  --conf spark.sql.session.localRelationBatchOfChunksSizeBytes=1073741824
  --conf spark.sql.execution.pandas.inferPandasDictAsMap=false
  --conf spark.sql.pyspark.legacy.inferMapTypeFromFirstPair.enabled=false
)

IFS=, read -ra engines <<< "$ENGINES"
for engine in "${engines[@]}"; do
  echo "==> $engine" >&2
  log="$OUT/server-$engine.log"
  extra=()
  case "$engine" in
    kiln)
      [ -x "$KILN" ] || { echo "error: $KILN not found: build it first (cargo build --workspace --all-targets)" >&2; exit 1; }
      # Python UDFs run in the client's venv (pandas, pyarrow).
      start "$log" "sc://" "$KILN" connect --port 0 --executors 2 --executor-cores 1 --conf "spark.pyspark.python=$CLIENT"
      url=$(grep -o "sc://[0-9.:a-z]*" "$log" | head -n 1) ;;
    sail)
      sail="$(bench/setup-sail.sh | tail -n 1)/bin/sail"
      port=$(free_port)
      start "$log" "Starting the Spark Connect server" "$sail" spark server --ip 127.0.0.1 --port "$port"
      for _ in $(seq 1 60); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break; sleep 1; done
      url="sc://127.0.0.1:$port"
      extra=("${SAIL_CONF[@]}") ;;
    spark)
      oracle="$(scripts/setup-pyspark.sh oracle | tail -n 1)/bin/python"
      port=$(free_port)
      # Python UDFs run in the oracle venv's Python (pandas, pyarrow).
      PYSPARK_PYTHON="$oracle" SPARK_LOCAL_IP=127.0.0.1 start "$log" "sc://" "$oracle" bench/spark_connect_server.py "$port"
      url="sc://127.0.0.1:$port" ;;
    *) echo "error: unknown engine $engine (kiln, sail, spark)" >&2; exit 2 ;;
  esac
  start_time=$(date +%s)
  "$CLIENT" tests/pyspark/doctests.py "$url" "$OUT/doctests-$engine.json" "${extra[@]}" >"$OUT/runner-$engine.log" 2>&1
  echo "    $(( $(date +%s) - start_time ))s" >&2
  stop_last
done

python3 - "$OUT" "${engines[@]}" <<'EOF'
import json, sys
out, engines = sys.argv[1], sys.argv[2:]
reports = {e: json.load(open(f"{out}/doctests-{e}.json")) for e in engines}
modules = list(next(iter(reports.values()))["modules"])
print("| module | " + " | ".join(engines) + " |")
print("|---|" + "---|" * len(engines))
for m in modules + ["total"]:
    cells = []
    for e in engines:
        c = reports[e]["total"] if m == "total" else reports[e]["modules"].get(m, {})
        cells.append(f"{c.get('passed', 0)} / {c.get('items', 0)}")
    print(f"| {m} | " + " | ".join(cells) + " |")
EOF
