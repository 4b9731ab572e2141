#!/usr/bin/env bash
# A standalone cluster by hand, as on a few VMs: here every "machine" is a
# loopback address of this one (127.0.0.10 the master, 127.0.0.2 and
# 127.0.0.3 the workers, the driver on 127.0.0.1). On real VMs run each
# command on its own machine with that machine's address.
#
#   examples/standalone/walkthrough.sh        (from the repository root)
set -euo pipefail
KILN=${KILN:-target/debug/kiln}
[ -x "$KILN" ] || { echo "build kiln first: cargo build --bin kiln (or set KILN=...)"; exit 1; }
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT

# One secret for the cluster: workers and drivers must present it.
export KILN_CLUSTER_SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')

# 1. The master (on VM 1). Its page: http://127.0.0.10:8080, and /json.
"$KILN" master --host 127.0.0.10 --port 7077 --webui-port 8080 \
  --conf spark.deploy.recoveryMode=FILESYSTEM \
  --conf spark.deploy.recoveryDirectory="$dir/recovery" 2>"$dir/master.log" &
pids+=($!)
sleep 1

# 2. Two workers (VMs 2 and 3), 2 cores and 2 GiB each.
for ip in 127.0.0.2 127.0.0.3; do
  "$KILN" worker kiln://127.0.0.10:7077 --host "$ip" --cores 2 --memory 2g \
    --work-dir "$dir/work-$ip" 2>"$dir/worker-$ip.log" &
  pids+=($!)
done
sleep 2
curl -s http://127.0.0.10:8080/json | head -30 || true

# 3. Sample data and a job. The driver runs here (client mode); executors
# on the workers reach it at spark.driver.host.
[ -d .kiln-data/tpch-sf0.1 ] || "$KILN" gen tpch --scale 0.1 .kiln-data/tpch-sf0.1
"$KILN" run examples/tpch-q3.yaml --master kiln://127.0.0.10:7077 \
  --conf spark.driver.host=127.0.0.1 --conf spark.cores.max=4
