#!/usr/bin/env bash
# Starts the test control plane (etcd, kube-apiserver, kube-controller-manager,
# the project's CRDs) and the process node in the background, for humans.
# The last line printed is `export KUBECONFIG=...`; `eval "$(tests/cluster/up.sh | tail -1)"`.
# Stop it with tests/cluster/down.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
state="${KILN_TESTCLUSTER_STATE:-$HOME/.cache/kiln-testcluster}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiln-target}"
mkdir -p "$state"

if [[ -f "$state/up.pid" ]] && kill -0 "$(cat "$state/up.pid")" 2>/dev/null && [[ -f "$state/ready" ]]; then
  echo "test cluster already running (pid $(cat "$state/up.pid")); logs in $(cat "$state/dir")/logs" >&2
  echo "export KUBECONFIG=$(cat "$state/kubeconfig-path")"
  exit 0
fi

bash "$here/install.sh" >/dev/null
echo "building kiln-testcluster binaries..." >&2
(cd "$repo" && cargo build -q -p kiln-testcluster --bins >&2)

rm -f "$state/ready"
setsid "$CARGO_TARGET_DIR/debug/kiln-testcluster-up" --state-dir "$state" \
  >"$state/up.log" 2>&1 </dev/null &
echo $! >"$state/up.pid"

for _ in $(seq 1 600); do
  if [[ -f "$state/ready" ]]; then
    echo "test cluster up (pid $(cat "$state/up.pid")); logs in $(cat "$state/dir")/logs" >&2
    echo "export KUBECONFIG=$(cat "$state/kubeconfig-path")"
    exit 0
  fi
  if ! kill -0 "$(cat "$state/up.pid")" 2>/dev/null; then
    echo "test cluster failed to start; $state/up.log says:" >&2
    tail -20 "$state/up.log" >&2
    exit 1
  fi
  sleep 0.2
done
echo "test cluster did not become ready in 120s; see $state/up.log" >&2
exit 1
