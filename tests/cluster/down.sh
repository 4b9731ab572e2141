#!/usr/bin/env bash
# Stops what tests/cluster/up.sh started: the node stops its pods, then the
# control plane stops and its temp folder is removed.
set -euo pipefail
state="${KILN_TESTCLUSTER_STATE:-$HOME/.cache/kiln-testcluster}"
if [[ ! -f "$state/up.pid" ]]; then
  echo "no test cluster running (no $state/up.pid)" >&2
  exit 0
fi
pid="$(cat "$state/up.pid")"
if kill -0 "$pid" 2>/dev/null; then
  kill -TERM "$pid"
  for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "test cluster did not stop in 30s; killing it" >&2
    kill -KILL "$pid" || true
  fi
fi
rm -f "$state/up.pid" "$state/ready"
echo "test cluster stopped" >&2
