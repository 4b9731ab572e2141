#!/usr/bin/env bash
# Installs Apache Spark (pyspark, pinned) into its own cached virtualenv for
# the benchmark's Spark local[2] baseline. Idempotent; prints the venv path last.
set -euo pipefail
PYSPARK_VERSION=4.3.0
VENV="${KILN_SPARK_VENV:-$HOME/.cache/kiln-venv/bench-pyspark-$PYSPARK_VERSION}"
command -v java >/dev/null 2>&1 || { echo "error: Java 17+ is required for the Spark baseline" >&2; exit 1; }
. "$(dirname "$0")/../scripts/lib/venv.sh"
venv_install "$VENV" "pyspark $PYSPARK_VERSION" "installing into $VENV (about 450 MB)" \
  python "import pyspark" "pyspark==$PYSPARK_VERSION"
echo "$VENV"
