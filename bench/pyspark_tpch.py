#!/usr/bin/env python3
"""TPC-H through the PySpark API, one session: the 22 queries as
`spark.sql(q).write.parquet(...)` and DataFrame-API versions of q1, q3, q5,
q6, q10 and q18, each result written as Parquet under OUT/<name>.

Runs unchanged against a Spark Connect server (`SPARK_REMOTE=sc://...`:
Kiln, Sail, Spark's own) and on classic PySpark (no SPARK_REMOTE: Spark
local[2]). Writes {"queries": {name: seconds}, "total": seconds} to JSON;
the total counts from before the session is created to the last write.

usage: pyspark_tpch.py DATA QUERIES OUT JSON
  DATA     folder with one Parquet folder per TPC-H table
  QUERIES  folder with q01.sql .. q22.sql
"""
import json
import os
import re
import sys
import time

TABLES = ["nation", "region", "part", "supplier", "partsupp", "customer", "orders", "lineitem"]


def statements(text):
    code = "\n".join(l for l in text.splitlines() if not l.strip().startswith("--"))
    return [s.strip() for s in code.split(";") if s.strip()]


def dataframe_queries(spark):
    """DataFrame-API versions of six TPC-H queries (same results as the SQL)."""
    from pyspark.sql import functions as F

    t = {name: spark.table(name) for name in TABLES}
    revenue = F.col("l_extendedprice") * (1 - F.col("l_discount"))

    def q1():
        return (
            t["lineitem"]
            .where(F.col("l_shipdate") <= F.date_sub(F.lit("1998-12-01").cast("date"), 90))
            .groupBy("l_returnflag", "l_linestatus")
            .agg(
                F.sum("l_quantity").alias("sum_qty"),
                F.sum("l_extendedprice").alias("sum_base_price"),
                F.sum(revenue).alias("sum_disc_price"),
                F.sum(revenue * (1 + F.col("l_tax"))).alias("sum_charge"),
                F.avg("l_quantity").alias("avg_qty"),
                F.avg("l_extendedprice").alias("avg_price"),
                F.avg("l_discount").alias("avg_disc"),
                F.count(F.lit(1)).alias("count_order"),
            )
            .orderBy("l_returnflag", "l_linestatus")
        )

    def q3():
        c = t["customer"].where(F.col("c_mktsegment") == "BUILDING")
        o = t["orders"].where(F.col("o_orderdate") < F.lit("1995-03-15").cast("date"))
        l = t["lineitem"].where(F.col("l_shipdate") > F.lit("1995-03-15").cast("date"))
        return (
            c.join(o, c.c_custkey == o.o_custkey)
            .join(l, F.col("l_orderkey") == F.col("o_orderkey"))
            .groupBy("l_orderkey", "o_orderdate", "o_shippriority")
            .agg(F.sum(revenue).alias("revenue"))
            .select("l_orderkey", "revenue", "o_orderdate", "o_shippriority")
            .orderBy(F.desc("revenue"), "o_orderdate")
            .limit(10)
        )

    def q5():
        r = t["region"].where(F.col("r_name") == "ASIA")
        o = t["orders"].where(
            (F.col("o_orderdate") >= F.lit("1994-01-01").cast("date"))
            & (F.col("o_orderdate") < F.lit("1995-01-01").cast("date"))
        )
        return (
            r.join(t["nation"], F.col("r_regionkey") == F.col("n_regionkey"))
            .join(t["supplier"], F.col("n_nationkey") == F.col("s_nationkey"))
            .join(t["lineitem"], F.col("s_suppkey") == F.col("l_suppkey"))
            .join(o, F.col("l_orderkey") == F.col("o_orderkey"))
            .join(
                t["customer"],
                (F.col("o_custkey") == F.col("c_custkey"))
                & (F.col("c_nationkey") == F.col("s_nationkey")),
            )
            .groupBy("n_name")
            .agg(F.sum(revenue).alias("revenue"))
            .orderBy(F.desc("revenue"))
        )

    def q6():
        return (
            t["lineitem"]
            .where(
                (F.col("l_shipdate") >= F.lit("1994-01-01").cast("date"))
                & (F.col("l_shipdate") < F.lit("1995-01-01").cast("date"))
                & F.col("l_discount").between(0.05, 0.07)
                & (F.col("l_quantity") < 24)
            )
            .agg(F.sum(F.col("l_extendedprice") * F.col("l_discount")).alias("revenue"))
        )

    def q10():
        o = t["orders"].where(
            (F.col("o_orderdate") >= F.lit("1993-10-01").cast("date"))
            & (F.col("o_orderdate") < F.lit("1994-01-01").cast("date"))
        )
        l = t["lineitem"].where(F.col("l_returnflag") == "R")
        return (
            t["customer"]
            .join(o, F.col("c_custkey") == F.col("o_custkey"))
            .join(l, F.col("l_orderkey") == F.col("o_orderkey"))
            .join(t["nation"], F.col("c_nationkey") == F.col("n_nationkey"))
            .groupBy("c_custkey", "c_name", "c_acctbal", "c_phone", "n_name", "c_address", "c_comment")
            .agg(F.sum(revenue).alias("revenue"))
            .select(
                "c_custkey", "c_name", "revenue", "c_acctbal", "n_name", "c_address", "c_phone", "c_comment"
            )
            .orderBy(F.desc("revenue"))
            .limit(20)
        )

    def q18():
        big = (
            t["lineitem"]
            .groupBy("l_orderkey")
            .agg(F.sum("l_quantity").alias("total"))
            .where(F.col("total") > 300)
            .select(F.col("l_orderkey").alias("big_orderkey"))
        )
        return (
            t["customer"]
            .join(t["orders"], F.col("c_custkey") == F.col("o_custkey"))
            .join(big, F.col("o_orderkey") == F.col("big_orderkey"))
            .join(t["lineitem"], F.col("o_orderkey") == F.col("l_orderkey"))
            .groupBy("c_name", "c_custkey", "o_orderkey", "o_orderdate", "o_totalprice")
            .agg(F.sum("l_quantity").alias("sum_quantity"))
            .orderBy(F.desc("o_totalprice"), "o_orderdate")
            .limit(100)
        )

    return {"df_q01": q1, "df_q03": q3, "df_q05": q5, "df_q06": q6, "df_q10": q10, "df_q18": q18}


def main():
    data, queries, out, report = sys.argv[1:5]
    start = time.time()
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    if not os.environ.get("SPARK_REMOTE"):
        builder = (
            builder.master("local[2]")
            .config("spark.sql.shuffle.partitions", "2")
            .config("spark.ui.enabled", "false")
            .config("spark.driver.memory", os.environ.get("SPARK_DRIVER_MEMORY", "4g"))
        )
    spark = builder.appName("tpch-pyspark").getOrCreate()
    for name in TABLES:
        spark.read.parquet(os.path.join(data, name)).createOrReplaceTempView(name)
    times = {}
    for q in range(1, 23):
        with open(os.path.join(queries, f"q{q:02d}.sql")) as f:
            stmts = statements(f.read())
        t0 = time.time()
        for s in stmts:
            head = s.lstrip().lower()
            if head.startswith("select") or head.startswith("with"):
                spark.sql(s).write.mode("overwrite").parquet(os.path.join(out, f"q{q:02d}"))
            else:
                # q15's view: a temporary view of the session.
                spark.sql(re.sub(r"(?i)^create\s+view", "create or replace temporary view", s))
        times[f"q{q:02d}"] = time.time() - t0
        print(f"q{q:02d} {times[f'q{q:02d}']:.2f}s", file=sys.stderr, flush=True)
    for name, build in dataframe_queries(spark).items():
        t0 = time.time()
        build().write.mode("overwrite").parquet(os.path.join(out, name))
        times[name] = time.time() - t0
        print(f"{name} {times[name]:.2f}s", file=sys.stderr, flush=True)
    total = time.time() - start
    spark.stop()
    with open(report, "w") as f:
        json.dump({"queries": times, "total": total}, f, indent=1)


if __name__ == "__main__":
    main()
