#!/usr/bin/env bash
# Regenerates tests/spark-sql/spark-functions.txt: the names of Spark's
# built-in functions, one per line, sorted, as `SHOW FUNCTIONS` lists them in
# classic PySpark (the oracle venv of scripts/setup-pyspark.sh). The test
# tests/tests/suite/spark_functions.rs turns it into docs/spark-functions.md.
#   usage: scripts/spark-functions.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(scripts/setup-pyspark.sh oracle | tail -1)
out=tests/spark-sql/spark-functions.txt
# One local task slot on loopback: nothing runs but the catalog listing.
SPARK_LOCAL_IP=127.0.0.1 PYSPARK_SUBMIT_ARGS="--master local[1] pyspark-shell" \
  "$venv/bin/python" - "$out.part" <<'PY'
import sys
from pyspark.sql import SparkSession

spark = SparkSession.builder.getOrCreate()
names = sorted(r[0] for r in spark.sql("SHOW FUNCTIONS").collect())
spark.stop()
with open(sys.argv[1], "w") as f:
    f.write("\n".join(names) + "\n")
PY
mv "$out.part" "$out"
echo "spark functions: $(wc -l <"$out") names in $out" >&2
