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

show(
    "LATERAL VIEW explode",
    "SELECT t.id, e.n FROM VALUES (1, array(10, 20)), (2, array(30)), (3, array()) AS t(id, ns) "
    "LATERAL VIEW explode(t.ns) e AS n",
)
show("explode as a generator", "SELECT explode(array('a', 'b'))")
show(
    "percentile and percentile_approx",
    # percentile_approx over a DOUBLE: on DECIMAL or integer input Kiln answers a
    # DOUBLE where Spark keeps the input type (docs/spark-sql.md).
    "SELECT percentile(passengers, 0.5) AS p, percentile_approx(CAST(fare AS DOUBLE), 0.5) AS a FROM trips",
)
show(
    "window aggregates with FILTER and a named window",
    "SELECT id, sum(passengers) FILTER (WHERE color = 'green') OVER (ORDER BY id) AS g, "
    "count(*) OVER (w) AS n FROM trips WINDOW w AS (ORDER BY id)",
    ordered=False,
)
show(
    "window functions IGNORE NULLS (forward fill)",
    # A window ordered the other way: the planner reverses some of them,
    # and executors must run those reversed (core/src/window_flags.rs).
    "SELECT id, last_value(fare) IGNORE NULLS OVER (ORDER BY id) AS filled, "
    "first_value(color) IGNORE NULLS OVER (ORDER BY id DESC) AS first_color, "
    "lag(fare) OVER (ORDER BY id DESC) AS prev_desc, "
    "lead(fare, 1) IGNORE NULLS OVER (ORDER BY id) AS next_fare, "
    "nth_value(fare, 2) IGNORE NULLS OVER (ORDER BY id) AS second_fare FROM trips",
)
show(
    "logarithms and duplicate result names",
    "SELECT log(fare) AS l, log(2, passengers) AS l2, ln(0) AS z, id, t.id FROM trips t",
)

show(
    "INTERSECT ALL keeps the fewer copies",
    "SELECT * FROM VALUES (1), (1), (1), (2), (NULL), (NULL) AS a(x) "
    "INTERSECT ALL SELECT * FROM VALUES (1), (1), (2), (2), (NULL) AS b(x)",
)
show(
    "EXCEPT ALL subtracts copies",
    "SELECT * FROM VALUES (1), (1), (1), (2), (NULL), (NULL) AS a(x) "
    "EXCEPT ALL SELECT * FROM VALUES (1), (2), (2), (NULL) AS b(x)",
)
show(
    "FULL JOIN ... USING: the key of either side, keys first",
    "SELECT * FROM VALUES ('a', 1), ('b', 2) AS l(lv, k) "
    "FULL JOIN VALUES (2, 'x'), (3, 'y') AS r(k, rv) USING (k)",
)
show(
    "RIGHT JOIN ... USING: the right side's key",
    "SELECT k, l.k AS left_k, upper(rv) FROM VALUES (1, 'a'), (2, 'b') AS l(k, lv) "
    "RIGHT JOIN VALUES (2, 'x'), (3, 'y') AS r(k, rv) USING (k) WHERE k > 1",
)
title("a name two columns share is ambiguous")
try:
    spark.sql("SELECT k FROM (SELECT 1 AS k, 2 AS k)").collect()
    print("answered")
except Exception:  # noqa: BLE001 - each engine raises its own analysis error
    print("ambiguous")
show(
    "a constant filter over an aggregate without GROUP BY",
    "SELECT 1 FROM (SELECT 1 AS z, min(a.x) FROM (SELECT 1 AS x) a WHERE false) b WHERE b.z != b.z",
)
show(
    "timestamps before 1677, zone suffixes and Java patterns",
    "SELECT timestamp '1582-06-01 11:33:33.123UTC+08:00' AS old, "
    "timestamp '2020-12-01 14:30:08Europe/Paris' AS paris, "
    "date_format(timestamp '1500-03-01 10:00:00', 'G yyyyy QQQ MMMM EEEE D hh a') AS f, "
    "year(cast('1300-05-06 07:08:09' AS timestamp)) AS y, "
    "cast(' 2019-01-01T10:00\\t' AS timestamp) AS trimmed",
)

# Tables: a managed table from a query, a view over Parquet files, a path.
spark.sql(
    "CREATE TABLE trip_counts USING parquet PARTITIONED BY (color) AS "
    "SELECT count(1), sum(passengers) AS riders, color FROM trips WHERE color IS NOT NULL GROUP BY color"
)
show("CREATE TABLE USING parquet AS SELECT", "SELECT * FROM trip_counts")
spark.sql("INSERT INTO trip_counts VALUES (5, 9, 'red')")
show("INSERT INTO a managed table", "SELECT color, riders FROM trip_counts")
files = os.path.join(out, "trips_parquet")
spark.sql("SELECT id, color, fare FROM trips").write.parquet(files)
spark.sql(f"CREATE OR REPLACE TEMPORARY VIEW trips_files USING parquet OPTIONS (path '{files}')")
show("a view USING parquet OPTIONS (path ...)", "SELECT id, fare FROM trips_files WHERE fare > 10")
show("parquet.`path`", f"SELECT count(*), max(fare) FROM parquet.`{files}`")
spark.sql("DROP TABLE trip_counts")
title("DROP TABLE")
try:
    spark.sql("SELECT * FROM trip_counts").collect()
    print("the table is still there")
except Exception:  # noqa: BLE001 - both engines raise their own analysis error
    print("the table is gone")
