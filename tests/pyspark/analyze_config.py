"""AnalyzePlan and Config as a client uses them: schemas and tree
strings, DDL strings, isLocal/isStreaming, input files, semantic
equality, persist/unpersist and storage levels; spark.conf get, set,
unset, defaults, options, isModifiable and the errors of a static or
unknown key. Run on Kiln and on Spark to compare.

usage: python analyze_config.py OUT_DIR
"""
import os
import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.storagelevel import StorageLevel

out = sys.argv[1]
spark = SparkSession.builder.getOrCreate()


def title(t):
    print(f"## {t}", flush=True)


def error(f):
    try:
        f()
        print("no error")
    except Exception as e:
        print(type(e).__name__, e.getCondition(), e.getSqlState(), sorted(e.getMessageParameters().items()))


df = spark.createDataFrame(
    [(1, "a", 2.5, [1, 2], {"k": 1})], "id INT, name STRING, score DOUBLE, xs ARRAY<INT>, m MAP<STRING, INT>"
)
title("schema and tree string")
print(df.schema.simpleString())
df.printSchema()
df.printSchema(1)
print(df.select(F.struct("id", "name").alias("s")).schema.simpleString())

title("DDL schemas")
print(spark.createDataFrame([], "a INT, b DECIMAL(10, 2), c ARRAY<STRING>").schema.simpleString())

title("isLocal and isStreaming")
print(df.isLocal(), spark.range(3).isLocal(), df.isStreaming)

title("input files")
df.write.mode("overwrite").parquet(f"{out}/t")
files = spark.read.parquet(f"{out}/t").inputFiles()
print(len(files) > 0, all(f.startswith("file:") and f.endswith(".parquet") for f in files))
print(sorted({os.path.dirname(f.replace("file://", "").replace("file:", "")) == f"{out}/t" for f in files}))

title("same semantics")
a = spark.range(10).filter("id > 3")
print(a.sameSemantics(spark.range(10).filter("id > 3")), a.sameSemantics(spark.range(10).filter("id > 4")))
print(a.semanticHash() == spark.range(10).filter("id > 3").semanticHash())

title("persist and storage levels")
c = spark.range(5)
print(c.storageLevel)
c.cache()
print(c.storageLevel, c.count())
c.unpersist()
print(c.storageLevel)
d = spark.range(6)
d.persist(StorageLevel.DISK_ONLY)
print(d.storageLevel, d.count())

title("explain")
import io, contextlib
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    a.explain()
print("== Physical Plan ==" in buf.getvalue())

title("config: get, set, unset, defaults")
for k in ["spark.sql.ansi.enabled", "spark.sql.session.timeZone", "spark.sql.execution.arrow.maxRecordsPerBatch",
          "spark.sql.caseSensitive", "spark.sql.repl.eagerEval.enabled", "spark.sql.timestampType",
          "spark.sql.execution.pandas.structHandlingMode", "spark.sql.pyspark.jvmStacktrace.enabled"]:
    print(k, spark.conf.get(k))
spark.conf.set("spark.sql.session.timeZone", "Asia/Tokyo")
print(spark.conf.get("spark.sql.session.timeZone"))
spark.conf.unset("spark.sql.session.timeZone")
print(spark.conf.get("spark.sql.session.timeZone"))
print(spark.conf.get("spark.kiln.test.unset", "fallback"), spark.conf.get("spark.kiln.test.unset", None))
spark.conf.set("spark.kiln.test.custom", "v1")
print(spark.conf.get("spark.kiln.test.custom"), spark.conf.get("spark.kiln.test.custom", "other"))
print([(k, v) for k, v in sorted(spark.conf.getAll.items()) if k.startswith("spark.kiln.test")]
      if hasattr(spark.conf, "getAll") else "")
for k in ["spark.sql.shuffle.partitions", "spark.sql.warehouse.dir", "spark.executor.memory", "no.such.key"]:
    print("isModifiable", k, spark.conf.isModifiable(k))

title("config errors")
error(lambda: spark.conf.set("spark.sql.warehouse.dir", "/elsewhere"))
error(lambda: spark.conf.get("spark.kiln.no.such.key"))
