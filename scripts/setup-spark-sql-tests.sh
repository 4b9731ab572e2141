#!/usr/bin/env bash
# Fetches Spark's own SQL test files (inputs and golden results, produced by
# running Spark) from Spark's published test jar on Maven Central, pinned,
# into a cache outside the clone. Idempotent; nothing of it is committed.
#   usage: scripts/setup-spark-sql-tests.sh   prints the sql-tests folder last
set -euo pipefail
SPARK_VERSION=4.2.0
SCALA=2.13
ROOT="${KILN_SPARK_TESTS_ROOT:-$HOME/.cache/kiln-spark-tests}"
REPO="${KILN_MAVEN_REPO:-https://repo1.maven.org/maven2}"
dir="$ROOT/$SPARK_VERSION"
jar="spark-sql_$SCALA-$SPARK_VERSION-tests.jar"
if [ -f "$dir/.complete" ]; then
  echo "spark sql-tests: cached in $dir" >&2
  echo "$dir/sql-tests"
  exit 0
fi
mkdir -p "$dir"
exec 9>"$dir.lock"
flock 9
if [ ! -f "$dir/.complete" ]; then
  url="$REPO/org/apache/spark/spark-sql_$SCALA/$SPARK_VERSION/$jar"
  echo "spark sql-tests: fetching $url" >&2
  curl -sSfL --retry 3 -o "$dir/$jar.part" "$url"
  rm -rf "$dir/sql-tests"
  (cd "$dir" && unzip -qo "$jar.part" 'sql-tests/inputs/*' 'sql-tests/results/*')
  rm -f "$dir/$jar.part"
  touch "$dir/.complete"
fi
echo "$dir/sql-tests"
