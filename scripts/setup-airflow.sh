#!/usr/bin/env bash
# Installs Apache Airflow and its Kubernetes provider (the real
# SparkKubernetesOperator and SparkKubernetesSensor the Airflow tests call)
# into a cached virtualenv outside the clone. Pinned: the two packages below,
# and every dependency through scripts/airflow-constraints.txt (Airflow's
# constraints approach: `pip install -c`). Idempotent.
#   usage: scripts/setup-airflow.sh        prints the venv path as its last line
set -euo pipefail
AIRFLOW_VERSION=3.3.2
PROVIDER_VERSION=10.25.0
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="${KILN_VENV_ROOT:-$HOME/.cache/kiln-venv}"
venv="$ROOT/airflow-$AIRFLOW_VERSION-cncf-kubernetes-$PROVIDER_VERSION"
command -v python3 >/dev/null 2>&1 || { echo "error: python3 (3.10+) is required for the Airflow tests" >&2; exit 1; }

check="import airflow, airflow.providers.cncf.kubernetes as k; assert airflow.__version__ == '$AIRFLOW_VERSION', airflow.__version__; from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import SparkKubernetesOperator"
if [ -x "$venv/bin/python" ] && AIRFLOW_HOME="$(mktemp -d)" "$venv/bin/python" -c "$check" 2>/dev/null; then
  echo "airflow: cached in $venv" >&2
  echo "$venv"
  exit 0
fi
mkdir -p "$ROOT"
exec 9>"$venv.lock"
flock 9
if ! { [ -x "$venv/bin/python" ] && AIRFLOW_HOME="$(mktemp -d)" "$venv/bin/python" -c "$check" 2>/dev/null; }; then
  echo "airflow: installing apache-airflow==$AIRFLOW_VERSION and apache-airflow-providers-cncf-kubernetes==$PROVIDER_VERSION into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    -c "$here/airflow-constraints.txt" \
    "apache-airflow==$AIRFLOW_VERSION" "apache-airflow-providers-cncf-kubernetes==$PROVIDER_VERSION" >&2
fi
exec 9>&-
echo "$venv"
