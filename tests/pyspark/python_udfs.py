"""Python UDFs of every kind, run unchanged on Kiln (through Spark Connect)
and on Spark itself; the test compares the two outputs section by section.
On Kiln the script also checks that the UDFs ran in Python workers of both
executor processes, not in the driver.

usage: python python_udfs.py OUT_DIR
"""
import os
import sys
from typing import Iterator

import pandas as pd
import pyarrow as pa
from pyspark.errors import PythonException
from pyspark.sql import functions as F
from pyspark.sql.functions import pandas_udf, udf
from pyspark.sql.types import IntegerType, LongType, StringType
from pyspark.sql.window import Window

from sections import rows, session, title

_out, spark = session()
on_kiln = "SPARK_REMOTE" in os.environ

trips = spark.createDataFrame(
    [(i, i % 3, float(i) * 1.5, ["a", "b", "c"][i % 3]) for i in range(1, 41)],
    "trip_id INT, zone INT, fare DOUBLE, vendor STRING",
).repartition(4)
zones = spark.createDataFrame([(0, "zero"), (1, "one"), (2, "two")], "zone INT, name STRING")


# The course's pattern: a Python function on an integer column that returns
# a formatted string, withColumn, groupBy().count().orderBy(), show, toPandas.
@udf(returnType=StringType())
def trip_label(trip_id):
    return f"trip-{trip_id:04d}" if trip_id % 2 else f"even-{trip_id % 10}"


labelled = trips.withColumn("label", trip_label(F.col("trip_id")))
counts = labelled.groupBy("label").count().orderBy(F.col("count").desc(), "label")
title("course: withColumn, groupBy().count().orderBy(), show()")
counts.show(8)
title("course: toPandas()")
print(counts.limit(6).toPandas().to_string())

rows("plain udf in a filter", trips.filter(udf(lambda f: f > 45.0, "boolean")("fare")).select("trip_id"))
zone_key = udf(lambda z: (z + 1) % 3, IntegerType())
rows(
    "plain udf in a join key",
    trips.join(zones, zone_key(trips.zone) == zones.zone).select("trip_id", zones.name).filter("trip_id < 8"),
)
by_vendor = trips.groupBy("vendor").agg(F.sum("fare").alias("total"))
rows("plain udf after a shuffle", by_vendor.select("vendor", udf(lambda v, t: f"{v}:{t:.1f}", "string")("vendor", "total").alias("s")))
rows("unaliased udf and nested udfs", trips.filter("trip_id < 5").select(trip_label("trip_id"), trip_label(zone_key("zone"))))


@pandas_udf("double")
def fare_with_tip(fare: pd.Series) -> pd.Series:
    return fare * 1.2


@pandas_udf("long")
def plus_one_iter(batches: Iterator[pd.Series]) -> Iterator[pd.Series]:
    for s in batches:
        yield s + 1


rows("pandas_udf scalar", trips.filter("trip_id <= 6").select("trip_id", F.round(fare_with_tip("fare"), 2).alias("tipped")))
rows("pandas_udf scalar iterator", trips.filter("trip_id <= 6").select("trip_id", plus_one_iter(F.col("trip_id").cast("long")).alias("next")))


@pandas_udf("double")
def mean_fare(v: pd.Series) -> float:
    return float(v.mean())


rows("grouped-aggregate pandas_udf in agg", trips.groupBy("zone").agg(mean_fare("fare").alias("mean")))
rows(
    "grouped-aggregate pandas_udf over a window",
    trips.filter("trip_id <= 9").withColumn("zone_mean", mean_fare("fare").over(Window.partitionBy("zone"))).select("trip_id", "zone_mean"),
)


def add_double(it):
    for pdf in it:
        yield pdf.assign(double=pdf.trip_id * 2)[["trip_id", "double"]]


rows("mapInPandas", trips.filter("trip_id <= 5").mapInPandas(add_double, "trip_id INT, double INT"))


def arrow_filter(it):
    for b in it:
        yield b.filter(pa.compute.greater(b.column("trip_id"), 37))


rows("mapInArrow", trips.select("trip_id", "vendor").mapInArrow(arrow_filter, "trip_id INT, vendor STRING"))


def normalize(pdf):
    return pdf.assign(share=pdf.fare / pdf.fare.sum())[["zone", "trip_id", "share"]]


rows(
    "applyInPandas",
    trips.filter("trip_id <= 7").groupBy("zone").applyInPandas(normalize, "zone INT, trip_id INT, share DOUBLE"),
)


def keyed_count(key, pdf):
    return pd.DataFrame({"vendor": [key[0]], "n": [len(pdf)]})


rows("applyInPandas with the key", trips.groupBy("vendor").applyInPandas(keyed_count, "vendor STRING, n LONG"))


def merge_sides(left, right):
    return pd.DataFrame({"zone": [int(left.zone.iloc[0]) if len(left) else int(right.zone.iloc[0])], "trips": [len(left)], "names": [",".join(right.name)]})


rows(
    "cogroup applyInPandas",
    trips.groupBy("zone").cogroup(zones.groupBy("zone")).applyInPandas(merge_sides, "zone INT, trips LONG, names STRING"),
)

spark.udf.register("fare_band", lambda f: "high" if f > 30 else "low", StringType())
trips.createOrReplaceTempView("trips")
rows("spark.sql after spark.udf.register", spark.sql("SELECT fare_band(fare) AS band, count(*) AS n FROM trips GROUP BY fare_band(fare)"))


def bad(x):
    if x == 3:
        raise ValueError(f"bad value {x}")
    return x


title("a UDF raising ValueError")
try:
    trips.select(udf(bad, LongType())("trip_id")).collect()
    print("no error")
except PythonException as e:
    text = str(e)
    print(type(e).__name__, "ValueError: bad value 3" in text)


def where(_):
    return f"{os.getpid()}/{os.getppid()}/{os.environ.get('KILN_EXECUTOR_ID', '-')}"


title("the UDFs ran in Python workers")
seen = [r[0] for r in spark.range(0, 400, numPartitions=8).select(udf(where, "string")("id")).collect()]
pids = {s.split("/")[0] for s in seen}
print(str(os.getpid()) not in pids)
if on_kiln:
    # The script's parent is the driver; workers are children of executors.
    executors = {s.split("/")[2] for s in seen}
    parents = {s.split("/")[1] for s in seen}
    assert len(executors) == 2, f"the UDF ran on executors {executors}, expected 2"
    assert str(os.getppid()) not in parents, f"a UDF ran in the driver ({parents})"
    print(f"# executors {sorted(executors)}", file=sys.stderr)
