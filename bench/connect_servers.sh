# Sourced by the benchmarks that run one PySpark client against several
# Spark Connect servers (bench/doctests.sh, bench/python_udfs.sh,
# bench/pyspark_tpch.sh). Defines
#   start_engine ENGINE LOG   starts kiln, sail or spark; sets $url and
#                             $extra (client --conf arguments the engine needs)
#   stop_last                 stops the server started last
# and a trap that stops every server on exit. Needs $CLIENT (the client
# venv's python) and $KILN (the kiln binary) set by the caller.
#   kiln   kiln connect, local-cluster, 2 executors x 1 core
#   sail   Sail's server (`sail spark server`, pysail pinned, bench/setup-sail.sh)
#   spark  Spark 4.2.1's own Connect server, local[2], from the oracle venv
#          (scripts/setup-pyspark.sh oracle; bench/spark_connect_server.py)

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
# Spark 4.2's defaults before the first query.
SAIL_CONF=(
  --conf spark.sql.session.localRelationSizeLimit=3221225472
  --conf spark.sql.session.localRelationChunkSizeRows=10000
  --conf spark.sql.session.localRelationChunkSizeBytes=16777216
  --conf spark.sql.session.localRelationBatchOfChunksSizeBytes=1073741824
  --conf spark.sql.execution.pandas.inferPandasDictAsMap=false
  --conf spark.sql.pyspark.legacy.inferMapTypeFromFirstPair.enabled=false
)

start_engine() { # engine, log-file
  local engine="$1" log="$2" port
  extra=()
  case "$engine" in
    kiln)
      [ -x "$KILN" ] || { echo "error: $KILN not found: build it first" >&2; exit 1; }
      # Python UDFs run in the client's venv (pandas, pyarrow).
      start "$log" "sc://" "$KILN" connect --port 0 --executors 2 --executor-cores 1 --conf "spark.pyspark.python=$CLIENT"
      url=$(grep -o "sc://[0-9.:a-z]*" "$log" | head -n 1) ;;
    sail)
      local sail
      sail="$(bench/setup-sail.sh | tail -n 1)/bin/sail"
      port=$(free_port)
      start "$log" "Starting the Spark Connect server" "$sail" spark server --ip 127.0.0.1 --port "$port"
      for _ in $(seq 1 60); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break; sleep 1; done
      url="sc://127.0.0.1:$port"
      extra=("${SAIL_CONF[@]}") ;;
    spark)
      local oracle
      oracle="$(scripts/setup-pyspark.sh oracle | tail -n 1)/bin/python"
      port=$(free_port)
      # Python UDFs run in the oracle venv's Python (pandas, pyarrow).
      PYSPARK_PYTHON="$oracle" SPARK_LOCAL_IP=127.0.0.1 start "$log" "sc://" "$oracle" bench/spark_connect_server.py "$port"
      url="sc://127.0.0.1:$port" ;;
    *) echo "error: unknown engine $engine (kiln, sail, spark)" >&2; exit 2 ;;
  esac
}
