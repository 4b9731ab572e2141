#!/usr/bin/env bash
# Installs Sail (`pysail`, pinned: its Spark Connect server) into its own
# cached virtualenv, for benchmarks that run the same PySpark client against
# Sail and Kiln. Sail runs Python UDFs with the server's own Python, so the
# venv also gets the PySpark client, pandas and pyarrow (the versions Kiln's
# tests pin). Idempotent; prints the venv path last.
set -euo pipefail
PYSAIL_VERSION=0.7.2
PYSPARK_CLIENT_VERSION=4.2.0
PANDAS_VERSION=2.3.3
PYARROW_VERSION=22.0.0
CHECK="import pysail, pyspark.version, pandas, pyarrow"
VENV="${KILN_SAIL_VENV:-$HOME/.cache/kiln-venv/bench-pysail-$PYSAIL_VERSION}"
command -v python3 >/dev/null 2>&1 || { echo "error: python3 (3.10+) is required for Sail" >&2; exit 1; }
if [ -x "$VENV/bin/sail" ] && "$VENV/bin/python" -c "$CHECK" 2>/dev/null; then
  echo "pysail $PYSAIL_VERSION: cached in $VENV" >&2
else
  echo "pysail $PYSAIL_VERSION: installing into $VENV" >&2
  mkdir -p "$(dirname "$VENV")"
  exec 9>"$VENV.lock"
  flock 9
  if ! { [ -x "$VENV/bin/sail" ] && "$VENV/bin/python" -c "$CHECK" 2>/dev/null; }; then
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "pysail==$PYSAIL_VERSION" "pyspark-client==$PYSPARK_CLIENT_VERSION" \
      "pandas==$PANDAS_VERSION" "pyarrow==$PYARROW_VERSION" >&2
  fi
  exec 9>&-
fi
echo "$VENV"
