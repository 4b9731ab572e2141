#!/usr/bin/env bash
# Installs Sail (`pysail`, pinned: its Spark Connect server) into its own
# cached virtualenv, for benchmarks that run the same PySpark client against
# Sail and Kiln. Sail runs Python UDFs with the server's own Python, so the
# venv also gets the PySpark client, pandas and pyarrow (the versions Kiln's
# tests pin). Idempotent; prints the venv path last.
set -euo pipefail
PYSAIL_VERSION=0.7.2
. "$(dirname "$0")/../scripts/lib/pins.sh"
CHECK="import pysail, pyspark.version, pandas, pyarrow"
VENV="${KILN_SAIL_VENV:-$HOME/.cache/kiln-venv/bench-pysail-$PYSAIL_VERSION}"
command -v python3 >/dev/null 2>&1 || { echo "error: python3 (3.10+) is required for Sail" >&2; exit 1; }
. "$(dirname "$0")/../scripts/lib/venv.sh"
venv_install "$VENV" "pysail $PYSAIL_VERSION" "installing into $VENV" sail "$CHECK" \
  "pysail==$PYSAIL_VERSION" "pyspark-client==$PYSPARK_CLIENT_VERSION" "pandas==$PANDAS_VERSION" "pyarrow==$PYARROW_VERSION"
echo "$VENV"
