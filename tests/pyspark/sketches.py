"""Spark's DataSketches functions (HLL, Theta, Tuple, KLL) on grouped data
spread over several partitions, run unchanged on Kiln (through Spark
Connect) and on Spark itself; the test compares the two outputs section
by section. The last sections read sketches that Spark wrote (a Parquet
file in SHARED_DIR, written by the Spark run, which goes first): Spark's
sketch bytes must give Kiln Spark's answers.

usage: python sketches.py OUT_DIR SHARED_DIR
"""
import os
import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

import sections
from sections import title

out, shared = sys.argv[1], sys.argv[2]
spark = SparkSession.builder.getOrCreate()
on_spark = "connect" not in type(spark).__module__


def stable(v):
    """A value as printed: doubles to 9 significant digits, since sums of
    summaries depend on the order partial sketches merge in."""
    return float(f"{v:.9g}") if isinstance(v, float) else v


def rows(t, df):
    """Rows of stable values in a stable order."""
    sections.rows(t, df, lambda r: tuple(stable(v) for v in r))


def error(t, f):
    """Whether `f` fails (the error's text is each engine's own)."""
    sections.error(t, f, lambda e: "error")


# 4000 rows in 4 partitions, 4 groups spread over all of them: every
# group's sketch is built from partial sketches merged across tasks.
data = spark.range(0, 4000, 1, 4).select(
    (F.col("id") % 4).alias("g"),
    (F.col("id") % 1500).cast("int").alias("i"),
    (F.col("id") * 7919 % 100003).alias("l"),
    F.concat(F.lit("k"), (F.col("id") % 900).cast("string")).alias("s"),
    ((F.col("id") % 700) / 7.0).alias("d"),
    (F.col("id") % 13).cast("int").alias("v"),
    F.when(F.col("id") % 10 == 0, F.lit(None)).otherwise(F.col("id") % 50).alias("n"),
)

# An HLL sketch's HIP estimate depends on the order its coupons arrive in:
# where partial sketches of a few hundred keys each (still lists of
# coupons) merge into one past the coupon limit, Spark merges them in
# partition order and Kiln in the order tasks finish, and the estimates
# differ in the last digit. These groups stay below the limit (i, s) or
# past it in every partial sketch (lgConfigK 10), where merging takes the
# registers' maximum and any order gives Spark's answer.
rows(
    "hll estimates per group",
    data.groupBy("g").agg(
        F.hll_sketch_estimate(F.hll_sketch_agg("i")).alias("i"),
        F.hll_sketch_estimate(F.hll_sketch_agg("s")).alias("s"),
        F.hll_sketch_estimate(F.hll_sketch_agg("l", 10)).alias("l10"),
        F.hll_sketch_estimate(F.hll_sketch_agg("n")).alias("nulls"),
    ),
)

hll = data.groupBy("g").agg(
    F.hll_sketch_agg("i", 10).alias("a"), F.hll_sketch_agg("l", 10).alias("b")
)
rows(
    "hll unions",
    hll.select(
        "g",
        F.hll_sketch_estimate(F.hll_union("a", "b")).alias("union"),
    ),
)
rows(
    "hll union agg",
    hll.agg(
        F.hll_sketch_estimate(F.hll_union_agg("a")).alias("a"),
        F.hll_sketch_estimate(F.hll_union_agg("b", True)).alias("b"),
    ),
)
rows(
    "hll of nothing",
    data.where("g > 9").agg(F.hll_sketch_estimate(F.hll_sketch_agg("i")).alias("e")),
)

rows(
    "theta estimates per group",
    data.groupBy("g").agg(
        F.theta_sketch_estimate(F.theta_sketch_agg("i")).alias("i"),
        F.theta_sketch_estimate(F.theta_sketch_agg("l")).alias("l"),
        F.theta_sketch_estimate(F.theta_sketch_agg("s")).alias("s"),
        F.theta_sketch_estimate(F.theta_sketch_agg("d")).alias("d"),
        F.theta_sketch_estimate(F.theta_sketch_agg("l", 9)).alias("l9"),
    ),
)

theta = data.groupBy("g").agg(
    F.theta_sketch_agg("i").alias("a"), F.theta_sketch_agg("v").alias("b")
)
rows(
    "theta set operations",
    theta.select(
        "g",
        F.theta_sketch_estimate(F.theta_union("a", "b")).alias("union"),
        F.theta_sketch_estimate(F.theta_intersection("a", "b")).alias("intersection"),
        F.theta_sketch_estimate(F.theta_difference("a", "b")).alias("difference"),
    ),
)
rows(
    "theta union and intersection aggregates",
    theta.agg(
        F.theta_sketch_estimate(F.theta_union_agg("a")).alias("union"),
        F.theta_sketch_estimate(F.theta_intersection_agg("b")).alias("intersection"),
    ),
)

modes = ["sum", "min", "max", "alwaysone"]
rows(
    "tuple sketches per group",
    data.groupBy("g").agg(
        F.tuple_sketch_estimate_double(F.tuple_sketch_agg_double("i", "d")).alias("est"),
        *[
            F.tuple_sketch_summary_double(F.tuple_sketch_agg_double("i", "d", 12, m), m).alias(m)
            for m in modes
        ],
        *[
            F.tuple_sketch_summary_integer(F.tuple_sketch_agg_integer("s", "v", 12, m), m).alias(
                "int_" + m
            )
            for m in modes
        ],
        F.tuple_sketch_theta_double(F.tuple_sketch_agg_double("l", "d", 8)).alias("theta"),
    ),
)

tup = data.groupBy("g").agg(
    F.tuple_sketch_agg_double("i", "d").alias("a"),
    F.tuple_sketch_agg_double("v", "d").alias("b"),
    F.theta_sketch_agg("v").alias("t"),
    F.tuple_sketch_agg_integer("i", "v").alias("ia"),
    F.tuple_sketch_agg_integer("v", "v").alias("ib"),
)
rows(
    "tuple set operations",
    tup.select(
        "g",
        F.tuple_sketch_summary_double(F.tuple_union_double("a", "b")).alias("u"),
        F.tuple_sketch_summary_double(F.tuple_intersection_double("a", "b", "max"), "max").alias(
            "i"
        ),
        F.tuple_sketch_estimate_double(F.tuple_difference_double("a", "b")).alias("d"),
        F.tuple_sketch_summary_double(F.tuple_union_theta_double("a", "t")).alias("ut"),
        F.tuple_sketch_summary_double(F.tuple_intersection_theta_double("a", "t")).alias("it"),
        F.tuple_sketch_estimate_double(F.tuple_difference_theta_double("a", "t")).alias("dt"),
        F.tuple_sketch_summary_integer(F.tuple_union_integer("ia", "ib")).alias("iu"),
        F.tuple_sketch_summary_integer(F.tuple_intersection_integer("ia", "ib", "min"), "min").alias(
            "ii"
        ),
        F.tuple_sketch_estimate_integer(F.tuple_difference_theta_integer("ia", "t")).alias("idt"),
    ),
)
rows(
    "tuple union and intersection aggregates",
    tup.agg(
        F.tuple_sketch_summary_double(F.tuple_union_agg_double("a")).alias("union"),
        F.tuple_sketch_summary_double(F.tuple_intersection_agg_double("b", "min"), "min").alias(
            "intersection"
        ),
        F.tuple_sketch_summary_integer(F.tuple_union_agg_integer("ia", 10, "max"), "max").alias(
            "int_union"
        ),
    ),
)

# KLL sketches stay exact while they hold at most k items: 150 per group.
small = spark.range(0, 450, 1, 3).select(
    (F.col("id") % 3).alias("g"),
    (F.col("id") * 37 % 1000).alias("x"),
)
kll = small.groupBy("g").agg(
    F.kll_sketch_agg_bigint("x").alias("b"),
    F.kll_sketch_agg_float(F.col("x").cast("float")).alias("f"),
    F.kll_sketch_agg_double(F.col("x") / 3).alias("d"),
)
rows(
    "kll quantiles and ranks",
    kll.select(
        "g",
        F.kll_sketch_get_n_bigint("b").alias("n"),
        *[F.kll_sketch_get_quantile_bigint("b", F.lit(r)).alias(f"b{r}") for r in [0.0, 0.3, 1.0]],
        *[F.kll_sketch_get_quantile_float("f", F.lit(r)).alias(f"f{r}") for r in [0.1, 0.5]],
        *[F.kll_sketch_get_quantile_double("d", F.lit(r)).alias(f"d{r}") for r in [0.5, 0.9]],
        F.kll_sketch_get_rank_bigint("b", F.lit(500)).alias("rank_b"),
        F.kll_sketch_get_rank_float("f", F.lit(250.0)).alias("rank_f"),
        F.kll_sketch_get_rank_double("d", F.lit(100.0)).alias("rank_d"),
    ),
)
rows(
    "kll merges",
    kll.agg(
        F.kll_sketch_get_n_bigint(F.kll_merge_agg_bigint("b")).alias("b"),
        F.kll_sketch_get_n_float(F.kll_merge_agg_float("f")).alias("f"),
        F.kll_sketch_get_n_double(F.kll_merge_agg_double("d")).alias("d"),
    ),
)
rows(
    "kll sketch merge",
    kll.select("g", F.kll_sketch_get_n_double(F.kll_sketch_merge_double("d", "d")).alias("n")),
)
rows(
    "kll summary text",
    spark.createDataFrame([(1,), (2,), (3,), (4,), (5,)], "x INT")
    .agg(F.kll_sketch_agg_bigint("x").alias("s"))
    .select(F.kll_sketch_to_string_bigint("s").alias("text")),
)

error("hll lgConfigK out of range", lambda: data.agg(F.hll_sketch_agg("i", 2)).collect())
error(
    "tuple mode unknown",
    lambda: data.agg(F.tuple_sketch_agg_double("i", "d", 12, "avg")).collect(),
)
error(
    "not a sketch",
    lambda: spark.range(1).select(F.hll_sketch_estimate(F.lit(b"nope"))).collect(),
)

# Sketches Spark made, read by this engine.
made = os.path.join(shared, "spark-sketches.parquet")
if on_spark:
    data.groupBy("g").agg(
        F.hll_sketch_agg("l").alias("hll"),
        F.theta_sketch_agg("s").alias("theta"),
        F.tuple_sketch_agg_double("i", "d").alias("tuple_d"),
        F.tuple_sketch_agg_integer("i", "v").alias("tuple_i"),
    ).join(kll, "g").write.mode("overwrite").parquet(made)
spark_made = spark.read.parquet(made)
rows(
    "sketches Spark made",
    spark_made.select(
        "g",
        F.hll_sketch_estimate("hll").alias("hll"),
        F.theta_sketch_estimate("theta").alias("theta"),
        F.tuple_sketch_summary_double("tuple_d").alias("tuple_d"),
        F.tuple_sketch_summary_integer("tuple_i").alias("tuple_i"),
        F.kll_sketch_get_quantile_bigint("b", F.lit(0.5)).alias("kll_b"),
        F.kll_sketch_get_quantile_float("f", F.lit(0.5)).alias("kll_f"),
        F.kll_sketch_get_quantile_double("d", F.lit(0.5)).alias("kll_d"),
    ),
)
rows(
    "sketches Spark made, merged here",
    spark_made.agg(
        F.hll_sketch_estimate(F.hll_union_agg("hll")).alias("hll"),
        F.theta_sketch_estimate(F.theta_union_agg("theta")).alias("theta"),
        F.tuple_sketch_estimate_double(F.tuple_union_agg_double("tuple_d")).alias("tuple"),
        F.kll_sketch_get_n_bigint(F.kll_merge_agg_bigint("b")).alias("kll"),
    ),
)
