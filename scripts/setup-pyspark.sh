#!/usr/bin/env bash
# Installs the PySpark tools the Spark-compatibility tests need, pinned, into
# cached virtualenvs outside the clone. Idempotent.
#   usage: scripts/setup-pyspark.sh client   the Spark Connect client users run
#                                            (pyspark-client, pandas, pyarrow);
#                                            prints its venv path last
#          scripts/setup-pyspark.sh oracle   classic pyspark with its jars (needs
#                                            Java 17), Spark itself as the test
#                                            oracle; prints its venv path last
set -euo pipefail
. "$(dirname "$0")/lib/pins.sh"
PYSPARK_ORACLE_VERSION=4.2.1
ROOT="${KILN_VENV_ROOT:-$HOME/.cache/kiln-venv}"
what="${1:-}"
command -v python3 >/dev/null 2>&1 || { echo "error: python3 (3.10+) is required for the PySpark tests" >&2; exit 1; }
. "$(dirname "$0")/lib/venv.sh"

install() { # venv, check-import, packages...
  local venv="$1" check="$2"; shift 2
  venv_install "$venv" "pyspark tools" "installing $* into $venv" python "$check" "$@"
}

case "$what" in
  client)
    venv="$ROOT/pyspark-client-$PYSPARK_CLIENT_VERSION"
        # Not `import pyspark.sql.connect.session`: outside a session it exits
    # non-zero looking for SPARK_HOME, which made every run reinstall.
    install "$venv" "import pyspark.version, pandas, pyarrow, grpc; assert pyspark.version.__version__ == '$PYSPARK_CLIENT_VERSION'" \
      "pyspark-client==$PYSPARK_CLIENT_VERSION" "pandas==$PANDAS_VERSION" "pyarrow==$PYARROW_VERSION" pytest
    ;;
  oracle)
    command -v java >/dev/null 2>&1 || { echo "error: Java 17+ is required for the Spark oracle" >&2; exit 1; }
    venv="$ROOT/pyspark-oracle-$PYSPARK_ORACLE_VERSION"
    install "$venv" "import pyspark, pandas, pyarrow" \
      "pyspark==$PYSPARK_ORACLE_VERSION" "pandas==$PANDAS_VERSION" "pyarrow==$PYARROW_VERSION"
    ;;
  *)
    echo "usage: scripts/setup-pyspark.sh client|oracle" >&2; exit 2 ;;
esac
echo "$venv"
