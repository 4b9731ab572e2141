#!/usr/bin/env bash
# End to end on kind, for users with Docker: creates a kind cluster
# (kind-config.yaml: a control plane and two workers), builds the Kiln image
# and loads it into the nodes, generates the TPC-H sample data the examples
# read, installs the Helm chart, applies an example SparkApplication and
# waits until it is COMPLETED.
#
#   scripts/kind-e2e.sh [examples/k8s/tpch-q3.yaml]
#
# Needs docker, kind, kubectl and helm on PATH. Our CI and development
# machines have no Docker, so this script is NOT run there; the same flow
# (CRDs, chart, operator, driver and executor pods) is tested against the
# process-based test control plane instead (docs/test-control-plane.md).
#
# Settings (environment):
#   KILN_KIND_CLUSTER  kind cluster name              (default: kiln)
#   KILN_IMAGE         image to build and load         (default: kiln:dev)
#   KILN_TIMEOUT       seconds to wait for the app     (default: 600)
set -euo pipefail
cd "$(dirname "$0")/.."

cluster="${KILN_KIND_CLUSTER:-kiln}"
image="${KILN_IMAGE:-kiln:dev}"
timeout="${KILN_TIMEOUT:-600}"
example="${1:-examples/k8s/tpch-q3.yaml}"
# Must match the hostPath in kind-config.yaml.
data=/tmp/kiln-data

step() { printf '\n==> %s\n' "$*" >&2; }
die() { echo "error: $*" >&2; exit 1; }

for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || die "$tool is not installed (see https://kind.sigs.k8s.io/docs/user/quick-start/)"
done
docker info >/dev/null 2>&1 || die "the Docker daemon is not reachable"
[ -f "$example" ] || die "no such manifest: $example"

step "kind cluster '$cluster'"
mkdir -p "$data"
if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  echo "already exists; reusing it" >&2
else
  kind create cluster --name "$cluster" --config kind-config.yaml --wait 120s
fi
kubectl config use-context "kind-$cluster" >/dev/null

step "building $image"
docker build -t "$image" .

step "TPC-H sample data (scale factor 0.1) in $data"
if [ ! -f "$data/tpch-sf0.1/_GENERATED" ]; then
  docker run --rm --user "$(id -u):$(id -g)" -v "$data:/data" "$image" \
    gen tpch --scale 0.1 /data/tpch-sf0.1
  touch "$data/tpch-sf0.1/_GENERATED"
fi
# The pods run as user 65532; let them write reports next to the input.
mkdir -p "$data/reports" && chmod 0777 "$data/reports"

step "loading $image into the nodes"
kind load docker-image "$image" --name "$cluster"

step "installing the chart (namespace kiln-system)"
helm upgrade --install kiln charts/kiln \
  --namespace kiln-system --create-namespace \
  --set image.repository="${image%:*}" \
  --set image.tag="${image##*:}" \
  --set image.pullPolicy=Never \
  --wait --timeout 5m

name=$(kubectl create --dry-run=client -o jsonpath='{.metadata.name}' -f "$example")
step "running $example (SparkApplication $name in namespace default)"
kubectl delete sparkapplication "$name" --ignore-not-found --wait
kubectl apply -f "$example"

deadline=$(( $(date +%s) + timeout ))
state=""
while :; do
  state=$(kubectl get sparkapplication "$name" -o jsonpath='{.status.applicationState.state}' 2>/dev/null || true)
  kubectl get sparkapplication "$name" --no-headers 2>/dev/null || true
  case "$state" in
    COMPLETED) break ;;
    FAILED|SUBMISSION_FAILED)
      kubectl get sparkapplication "$name" -o jsonpath='{.status.applicationState.errorMessage}{"\n"}' >&2
      die "$name ended $state" ;;
  esac
  [ "$(date +%s)" -lt "$deadline" ] || die "$name still '${state:-no state}' after ${timeout}s"
  sleep 5
done

driver=$(kubectl get sparkapplication "$name" -o jsonpath='{.status.driverInfo.podName}')
if [ -n "$driver" ]; then
  step "driver log ($driver)"
  kubectl logs "$driver" --tail 40 || true
fi
step "$name COMPLETED"
kubectl get events --field-selector "involvedObject.name=$name" --sort-by=.lastTimestamp || true
