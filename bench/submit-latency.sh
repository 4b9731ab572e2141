#!/usr/bin/env bash
# Submission latency of the Kiln operator: from `kubectl apply` of a
# SparkApplication returning to its driver pod existing, over N applications
# applied one at a time (median and p90; issue 5 asks for a median under 1 s).
#
# Starts the test control plane (tests/cluster/up.sh, no Docker needed) unless
# one is already up, runs `kiln operator` as a local process against it, then
# the helper operator/examples/submit_latency.rs. Stops what it started.
#
#   usage: bench/submit-latency.sh [runs]      (default 20)
#   env:   KILN_BENCH_SETUP_ONLY=1   start everything, check the operator is
#                                    ready, stop (no measurement)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiln-target}"
runs="${1:-20}"
ns="kiln-bench"
state="${KILN_TESTCLUSTER_STATE:-$HOME/.cache/kiln-testcluster}"

step() { printf '==> %s\n' "$*" >&2; }

step "machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"

step "test control plane binaries"
testbin="$(bash tests/cluster/install.sh | tail -n 1)"
export PATH="$testbin:$PATH"

step "building kiln, the test node and the helper"
cargo build --workspace --all-targets -j2 >&2
kiln="$CARGO_TARGET_DIR/debug/kiln"
helper="$CARGO_TARGET_DIR/debug/examples/submit_latency"
for f in "$kiln" "$helper"; do
  [[ -x "$f" ]] || { echo "missing $f after the build" >&2; exit 1; }
done
if ! "$kiln" operator --help >/dev/null 2>&1; then
  echo "this kiln has no \`operator\` subcommand yet: the controller is not built" >&2
  exit 1
fi

started_cluster=0
if [[ -f "$state/up.pid" && -f "$state/ready" ]] && kill -0 "$(cat "$state/up.pid")" 2>/dev/null; then
  step "using the test cluster already running (pid $(cat "$state/up.pid"))"
else
  step "starting the test control plane"
  started_cluster=1
fi
eval "$(tests/cluster/up.sh | tail -n 1)"
export KUBECONFIG

workdir="$(mktemp -d "${TMPDIR:-/tmp}/kiln-submit-latency.XXXXXX")"
op_pid=""
cleanup() {
  if [[ -n "$op_pid" ]] && kill -0 "$op_pid" 2>/dev/null; then
    kill -TERM "$op_pid" 2>/dev/null || true
    wait "$op_pid" 2>/dev/null || true
  fi
  kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
  if [[ "$started_cluster" == 1 ]]; then
    tests/cluster/down.sh || true
  fi
  rm -rf "$workdir"
}
trap cleanup EXIT

# Free loopback ports for the operator's metrics and health endpoints.
read -r metrics_port health_port < <(python3 - <<'EOF'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
EOF
)

step "starting kiln operator (log: $workdir/operator.log)"
"$kiln" operator \
  --metrics-addr "127.0.0.1:$metrics_port" \
  --health-addr "127.0.0.1:$health_port" \
  --default-app-image "ghcr.io/kiln-dev/kiln:bench" \
  >"$workdir/operator.log" 2>&1 &
op_pid=$!

ready=0
for _ in $(seq 1 300); do
  if curl -fsS "http://127.0.0.1:$health_port/readyz" >/dev/null 2>&1; then
    ready=1
    break
  fi
  if ! kill -0 "$op_pid" 2>/dev/null; then
    echo "kiln operator exited; its log:" >&2
    tail -n 30 "$workdir/operator.log" >&2
    exit 1
  fi
  sleep 0.2
done
if [[ "$ready" != 1 ]]; then
  echo "kiln operator not ready after 60 s; its log:" >&2
  tail -n 30 "$workdir/operator.log" >&2
  exit 1
fi
step "operator ready (metrics on 127.0.0.1:$metrics_port)"

if [[ "${KILN_BENCH_SETUP_ONLY:-0}" == 1 ]]; then
  step "setup only: not measuring"
  exit 0
fi

step "measuring: $runs applications, one at a time, in namespace $ns"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit: $(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet HEAD -- operator cli || echo ' (+ uncommitted changes)')"
"$helper" --runs "$runs" --namespace "$ns" --kubectl "$testbin/kubectl"
echo
echo "operator metrics (submission latency as the operator sees it):"
curl -fsS "http://127.0.0.1:$metrics_port/metrics" | grep -E 'submission_latency_seconds_(sum|count)' || true
