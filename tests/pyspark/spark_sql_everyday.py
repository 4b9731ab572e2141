"""Everyday Spark SQL through `spark.sql`, run unchanged on Kiln (through
Spark Connect) and on Spark itself; the test compares the two outputs
section by section. Each section is one thing a Spark user relies on and
DataFusion's defaults do differently.

usage: python spark_sql_everyday.py OUT_DIR
"""
import os
import sys

from pyspark.sql import SparkSession

out = sys.argv[1]
spark = SparkSession.builder.getOrCreate()
spark.conf.set("spark.sql.session.timeZone", "UTC")


def title(t):
    print(f"## {t}", flush=True)


def show(t, sql, ordered=False):
    """Column names and rows of `sql` (sorted unless the query orders them)."""
    title(t)
    df = spark.sql(sql)
    print(df.columns)
    rows = df.collect()
    if not ordered:
        rows = sorted(rows, key=lambda r: [(v is None, str(v)) for v in r])
    for r in rows:
        print(r)


spark.sql(
    """CREATE OR REPLACE TEMPORARY VIEW trips AS SELECT * FROM VALUES
    (1, 'green', 12.5, 3, TIMESTAMP '2024-03-09 23:15:00', '09/03/2024'),
    (2, 'yellow', 7.0, 2, TIMESTAMP '2024-03-10 08:05:30', '10/03/2024'),
    (3, 'green', NULL, 7, TIMESTAMP '2024-12-31 12:00:00', '31/12/2024'),
    (4, NULL, 30.25, 4, TIMESTAMP '2025-01-01 00:00:01', '01/01/2025')
    AS trips(id, color, fare, passengers, pickup, day_text)"""
)

show("integer division gives a double", "SELECT 7 / 2, passengers / 2 AS half FROM trips")
show("DIV is integer division", "SELECT 7 DIV 2")
show(
    "NULLs first ascending, last descending",
    "SELECT id, fare FROM trips ORDER BY fare",
    ordered=True,
)
show(
    "NULLs last descending",
    "SELECT id, color FROM trips ORDER BY color DESC, id",
    ordered=True,
)
show("double-quoted strings are strings", 'SELECT id FROM trips WHERE color = "green"')
show(
    "Java date patterns: date_format",
    "SELECT id, date_format(pickup, 'yyyy-MM'), date_format(pickup, 'dd/MM/yyyy HH:mm') AS f FROM trips",
)
show(
    "Java date patterns: to_date and to_timestamp",
    "SELECT id, to_date(day_text, 'dd/MM/yyyy') AS d, to_timestamp(day_text, 'dd/MM/yyyy') AS t FROM trips",
)
show(
    "unix_timestamp and from_unixtime",
    "SELECT id, unix_timestamp(pickup) AS s, from_unixtime(unix_timestamp(pickup), 'yyyy-MM-dd') AS d FROM trips",
)
show("unaliased column names", "SELECT count(1), sum(fare), max(passengers) + 1, upper(color) FROM trips GROUP BY color")
show(
    "collect_list and collect_set",
    "SELECT color, sort_array(collect_list(passengers)) AS l, size(collect_set(passengers)) AS n "
    "FROM trips GROUP BY color",
)

path = os.path.join(out, "unaliased")
spark.sql("SELECT color, count(1), sum(passengers) FROM trips GROUP BY color").write.parquet(path)
title("unaliased columns in a written Parquet schema")
print(spark.read.parquet(path).columns)
