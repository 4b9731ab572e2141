#!/usr/bin/env bash
# Builds the test control plane binaries (kube-apiserver, kube-controller-manager,
# etcd, kubectl, helm) from the Go module proxy at one pinned Kubernetes release
# and caches them under ~/.cache/kiln-testbin/<version>/. Idempotent: a binary
# that is already in the cache is not rebuilt.
#
# Usage: tests/cluster/install.sh        # prints the bin dir as its last line
# Env:   KILN_TESTBIN_ROOT  cache root (default ~/.cache/kiln-testbin)
#        KILN_GO_PARALLEL   go build -p (default 2; the machine has 2 cores)
set -euo pipefail

K8S_VERSION=v1.37.2          # must match k8s-openapi's v1_37 feature
ETCD_VERSION=v3.7.0          # what k8s.io/kubernetes v1.37.2 pins in its go.mod
HELM_VERSION=v3.22.0

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="${KILN_TESTBIN_ROOT:-$HOME/.cache/kiln-testbin}"
bin="$root/$K8S_VERSION"
par="${KILN_GO_PARALLEL:-2}"

log() { printf '[kiln-testbin] %s\n' "$*" >&2; }

if ! command -v go >/dev/null 2>&1; then
  log "ERROR: Go is not installed (need go >= 1.26 on PATH; a newer toolchain"
  log "       is fetched through the Go module proxy via GOTOOLCHAIN=auto)."
  exit 2
fi

mkdir -p "$bin"
# Several test binaries may call this at once: one builds, the others wait.
exec 9>"$root/.install.lock"
flock 9

# The wrappers declare `go 1.26.0`; an older local Go downloads a matching
# toolchain from the module proxy instead of failing.
export GOTOOLCHAIN=auto
export CGO_ENABLED=0
export GOFLAGS="-trimpath -buildvcs=false -mod=readonly"

# Version stamps, so the API server reports v1.37.2 (helm and kubectl read it).
major=${K8S_VERSION#v}; minor=${major#*.}; minor=${minor%%.*}; major=${major%%.*}
K8S_X="-X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=$major -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=$major -X k8s.io/client-go/pkg/version.gitMinor=$minor"
HELM_X="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"

# build NAME MODULE_DIR PACKAGE [EXTRA_LDFLAGS]
build() {
  local name="$1" dir="$2" pkg="$3" xflags="${4:-}"
  if [[ -x "$bin/$name" ]]; then
    log "$name: cached at $bin/$name"
    return
  fi
  log "$name: building $pkg (this takes several minutes on a cold cache)..."
  local t0=$SECONDS
  (cd "$here/gobuild/$dir" &&
    nice -n 10 go build -p "$par" -ldflags="-s -w $xflags" -o "$bin/$name.tmp" "$pkg")
  mv "$bin/$name.tmp" "$bin/$name"   # atomic: a half-built binary is never cached
  log "$name: built in $((SECONDS - t0))s"
}

log "Go: $(go version); cache: $bin"
build etcd k8s go.etcd.io/etcd/server/v3
build kube-apiserver k8s k8s.io/kubernetes/cmd/kube-apiserver "$K8S_X"
build kube-controller-manager k8s k8s.io/kubernetes/cmd/kube-controller-manager "$K8S_X"
build kubectl k8s k8s.io/kubernetes/cmd/kubectl "$K8S_X"
build helm helm helm.sh/helm/v3/cmd/helm "$HELM_X"

cat >"$bin/VERSIONS" <<EOF
kubernetes $K8S_VERSION
etcd $ETCD_VERSION
helm $HELM_VERSION
EOF
log "all binaries present in $bin"
echo "$bin"
