"""Lambda functions, generators and values inside arrays, maps and structs,
run unchanged on Kiln (through Spark Connect) and on Spark itself; the test
compares the two outputs line by line. The forms here go beyond PySpark's
docstring examples: lambdas that capture columns or nest, NULL and empty
arrays, several partitions under a generator.

usage: python lambdas_generators.py OUT_DIR
"""
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

import sections
from sections import title

spark = SparkSession.builder.getOrCreate()


def plain(v):
    """A value printed the same way on both sides (maps as sorted items)."""
    if isinstance(v, dict):
        return sorted((k, plain(x)) for k, x in v.items())
    if isinstance(v, list):
        return [plain(x) for x in v]
    if hasattr(v, "asDict"):
        return {k: plain(x) for k, x in v.asDict().items()}
    return v


def rows(t, df):
    """Rows of plain values in a stable order."""
    sections.rows(t, df, lambda r: [plain(v) for v in r])


def error(t, f):
    """Whether `f` fails: the exception class only, messages differ."""
    sections.error(t, f, lambda e: type(e).__name__)


arrays = spark.createDataFrame(
    [
        (1, [1, 2, 3], [10, 20], 2),
        (2, [4, None, 6, 7], [1], 10),
        (3, [], [5, 6, 7], 1),
        (4, None, [1, 2], 3),
    ],
    "id INT, a ARRAY<INT>, b ARRAY<INT>, k INT",
)

rows(
    "transform with a captured column and the index",
    arrays.select(
        "id",
        F.transform("a", lambda x: x * F.col("k")).alias("times_k"),
        F.transform("a", lambda x, i: x + i).alias("plus_index"),
    ),
)
rows(
    "nested lambdas",
    spark.createDataFrame([([[1, 2], [3]], 10)], "aa ARRAY<ARRAY<INT>>, k INT").select(
        F.transform("aa", lambda a: F.transform(a, lambda x: x * F.col("k") + F.size(a))).alias(
            "t"
        )
    ),
)
rows(
    "filter, exists and forall with NULLs",
    arrays.select(
        "id",
        F.filter("a", lambda x: x > 1).alias("gt1"),
        F.filter("a", lambda x, i: i % 2 == 0).alias("even_positions"),
        F.exists("a", lambda x: x > 5).alias("any_gt5"),
        F.forall("a", lambda x: x > 0).alias("all_positive"),
    ),
)
rows(
    "aggregate and reduce",
    arrays.select(
        "id",
        F.aggregate("a", F.lit(0), lambda acc, x: acc + F.coalesce(x, F.lit(0))).alias("sum"),
        F.reduce(
            "a",
            F.lit(1).cast("bigint"),
            lambda acc, x: acc * F.coalesce(x, F.lit(1)),
            lambda acc: acc + F.col("k"),
        ).alias("product_plus_k"),
    ),
)
rows(
    "zip_with pads the shorter array",
    arrays.select("id", F.zip_with("a", "b", lambda x, y: F.coalesce(x, F.lit(0)) + F.coalesce(y, F.lit(0))).alias("z")),
)
rows(
    "array_sort with a comparator",
    arrays.select("id", F.array_sort("b", lambda l, r: r - l).alias("desc")),
)

maps = spark.createDataFrame(
    [(1, {"a": 1, "b": 2}, {"b": 20, "c": 30}), (2, {}, {"x": 1}), (3, None, {"y": 2})],
    "id INT, m MAP<STRING, INT>, n MAP<STRING, INT>",
)
rows(
    "lambdas over maps",
    maps.select(
        "id",
        F.map_filter("m", lambda k, v: v > 1).alias("filtered"),
        F.transform_values("m", lambda k, v: v * 100).alias("values"),
        F.transform_keys("m", lambda k, v: F.upper(k)).alias("keys"),
        F.map_zip_with("m", "n", lambda k, v1, v2: F.coalesce(v1, F.lit(0)) + F.coalesce(v2, F.lit(0))).alias(
            "zipped"
        ),
    ),
)

rows(
    "explode and posexplode over several partitions",
    spark.range(0, 6, 1, 3)
    .select("id", F.sequence(F.lit(0), F.col("id") % 3).alias("s"))
    .select("id", F.posexplode("s")),
)
rows("explode_outer of arrays", arrays.select("id", F.explode_outer("a").alias("x")))
rows("explode of a map", maps.select("id", F.explode("m")))
rows("posexplode_outer of a map", maps.select("id", F.posexplode_outer("m")))
rows(
    "inline and stack",
    spark.createDataFrame([(1, [(1, "x"), (2, "y")])], "i INT, s ARRAY<STRUCT<n: INT, t: STRING>>").select(
        "i", F.inline("s")
    ),
)
rows("stack", spark.createDataFrame([(1, 2, 3)], "a INT, b INT, c INT").select(F.stack(F.lit(2), "a", "b", "c")))
rows(
    "two generators in one select give the product of their rows",
    arrays.select("id", F.posexplode("a"), F.explode_outer("b").alias("y")),
)
error("explode of a number", lambda: arrays.select(F.explode("id")).collect())

structs = spark.createDataFrame([((1, (2, 3)),), (None,)], "s STRUCT<a: INT, b: STRUCT<c: INT, d: INT>>")
rows(
    "withField and dropFields",
    structs.select(
        F.col("s").withField("a", F.lit(9)).alias("set"),
        F.col("s").withField("b.e", F.lit(5)).alias("nested_add"),
        F.col("s").dropFields("b.c").alias("nested_drop"),
    ),
)
rows(
    "getItem on arrays, maps and structs",
    spark.createDataFrame([([1, 2, 3], {"k": 1}, (4, 5))], "a ARRAY<INT>, m MAP<STRING, INT>, s STRUCT<x: INT, y: INT>").select(
        F.col("a")[0],
        F.col("m")["k"],
        F.col("m")["missing"],
        F.col("s")["y"],
        F.get("a", 2),
        F.try_element_at("a", F.lit(-1)),
    ),
)
rows(
    "array and map functions",
    spark.createDataFrame([([1, 2, None, 2], [[1], [2, 3]])], "a ARRAY<INT>, aa ARRAY<ARRAY<INT>>").select(
        F.array_remove("a", 2),
        F.array_sort("a").alias("sorted"),
        F.flatten("aa"),
        F.arrays_overlap("a", F.array(F.lit(5))),
        F.sequence(F.lit(5), F.lit(1)),
        F.map_contains_key(F.create_map(F.lit("x"), F.lit(1)), "x"),
    ),
)
