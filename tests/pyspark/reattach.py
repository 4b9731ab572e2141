"""A large result read through many response streams: the client asks the
server to end each stream after a few milliseconds and a few bytes
(`senderMaxStreamDuration` / `senderMaxStreamSize`), so it reattaches
again and again; every row must arrive exactly once. On Spark (classic,
no streams) the same rows are computed to compare with.

usage: python reattach.py OUT_DIR
"""
import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

spark = (
    SparkSession.builder
    .config("spark.connect.execute.reattachable.senderMaxStreamDuration", "50ms")
    .config("spark.connect.execute.reattachable.senderMaxStreamSize", "2000")
    .config("spark.sql.execution.arrow.maxRecordsPerBatch", "5000")
    .getOrCreate()
)

df = spark.range(0, 300000, 1, 4).select(
    F.col("id"), (F.col("id") * 7 % 1000).alias("x"), F.concat(F.lit("row-"), F.col("id").cast("string")).alias("s")
)


def summary(title, rows):
    print(f"## {title}", flush=True)
    ids = [r[0] for r in rows]
    print("rows", len(rows), "distinct ids", len(set(ids)), "min", min(ids), "max", max(ids))
    print("sum x", sum(r[1] for r in rows), "sum id", sum(ids))
    print("first", sorted(rows)[:2])
    print("last", sorted(rows)[-2:])


summary("collect", [tuple(r) for r in df.collect()])
pdf = df.toPandas()
summary("toPandas", list(pdf.itertuples(index=False, name=None)))
summary("toLocalIterator", [tuple(r) for r in df.toLocalIterator()])
