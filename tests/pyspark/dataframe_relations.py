"""DataFrame relations beyond the basics (sampling, statistics, reshaping,
subqueries, the catalog, hints), run unchanged on Kiln and on Spark; the
test compares the two outputs section by section.

usage: python dataframe_relations.py OUT_DIR
"""
import os

from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType

from sections import ordered, rows, session, title

out, spark = session()

# Seeded samples keep Spark's rows where the partitions hold Spark's rows:
# a range with an explicit partition count.
r = spark.range(0, 1000, 1, 4)
ordered("sample without replacement", r.sample(fraction=0.05, seed=7).orderBy("id"))
ordered("sample with replacement", r.sample(True, 0.02, 11).orderBy("id"))
title("sample counts")
print([r.sample(fraction=f, seed=s).count() for f, s in [(0.1, 1), (0.5, 2), (1.0, 3)]])
keyed = r.select((F.col("id") % 4).alias("key"), "id")
ordered(
    "sampleBy",
    keyed.sampleBy("key", {0: 0.1, 1: 0.3, 3: 1.0}, seed=5).groupBy("key").count().orderBy("key"),
)
title("randomSplit of a range: disjoint, complete")
parts = r.randomSplit([1.0, 3.0], 42)
ids = [sorted(x.id for x in p.collect()) for p in parts]
print(sum(len(i) for i in ids), len(set(ids[0]) & set(ids[1])))

people = spark.createDataFrame(
    [
        ("alice", 34, 120.5, "NY"),
        ("bob", 45, 99.0, "SF"),
        ("carol", None, 310.25, "NY"),
        ("dave", 23, 5.0, None),
        ("erin", 45, 42.0, "SF"),
        ("frank", 31, 77.5, "LA"),
    ],
    "name STRING, age INT, spend DOUBLE, city STRING",
)
ordered("describe", people.describe())
ordered("summary", people.summary())
ordered("summary with chosen statistics", people.summary("count", "min", "10%", "90%", "max"))
title("approxQuantile")
# Spark's sketch holds every value while relativeError * rows <= 1.
print(spark.range(1, 101).approxQuantile("id", [0.0, 0.1, 0.25, 0.5, 0.99, 1.0], 0.01))
print(people.approxQuantile(["age", "spend"], [0.5], 0.1))
ordered("crosstab", people.crosstab("city", "age").orderBy("city_age"))
title("freqItems")
fi = people.freqItems(["city", "age"]).collect()[0]
print([sorted(v, key=str) for v in fi])

sales = spark.createDataFrame(
    [(2012, "dotNET", 10000), (2012, "Java", 20000), (2012, "dotNET", 5000), (2013, "dotNET", 48000)],
    "year INT, course STRING, earnings INT",
)
ordered("pivot with values", sales.groupBy("year").pivot("course", ["dotNET", "Java"]).sum("earnings").orderBy("year"))
ordered("pivot without values", sales.groupBy("year").pivot("course").count().orderBy("year"))
ordered(
    "pivot of two aggregates",
    sales.groupBy("year").pivot("course").agg(F.sum("earnings"), F.max("earnings")).orderBy("year"),
)
wide = spark.createDataFrame([(1, 11, 1.1), (2, 12, 1.2)], ["id", "int", "double"])
ordered("unpivot", wide.unpivot("id", ["int", "double"], "var", "val"))
ordered("melt of every other column", wide.melt("id", None, "var", "val"))
ordered("transpose", spark.createDataFrame([("B", 3, 4), ("A", 1, 2)], ["id", "v1", "v2"]).transpose())
to = wide.to(StructType([StructField("double", StringType()), StructField("id", LongType())]))
title("to(schema)")
print(to.schema.simpleString())
print(to.collect())
title("tail and isEmpty")
# Kiln's rows of several partitions arrive in no set order (Spark's: in
# partition order), so the tail of an unsorted DataFrame can differ.
print(spark.range(0, 10, 1, 3).orderBy("id").tail(3))
print(spark.range(0).isEmpty(), spark.range(3).isEmpty(), spark.createDataFrame([], "a INT").isEmpty())

orders = spark.createDataFrame(
    [(1, "alice", 250), (2, "bob", 300), (3, "alice", 400), (4, "zed", 10)],
    "order_id INT, name STRING, amount INT",
)
p = people.alias("p")
o = orders.alias("o")
ordered(
    "exists (correlated)",
    p.where(o.where(F.col("o.name") == F.col("p.name").outer()).exists()).select("name").orderBy("name"),
)
ordered(
    "not exists",
    p.where(~o.where(F.col("o.name") == F.col("p.name").outer()).exists()).select("name").orderBy("name"),
)
ordered(
    "scalar subquery",
    orders.where(F.col("amount") > orders.select(F.avg("amount")).scalar()).orderBy("order_id"),
)
ordered(
    "correlated scalar subquery in a select",
    p.select(
        "name",
        o.where(F.col("o.name") == F.col("p.name").outer()).select(F.sum("amount")).scalar().alias("total"),
    ).orderBy("name"),
)
ordered("isin(df)", people.where(people.age.isin(spark.range(40, 50))).select("name").orderBy("name"))

title("colRegex")
print(people.select(people.colRegex("`(name)?+.+`")).columns)
print(people.select(people.colRegex("`^a.*`")).columns)
title("withMetadata")
print(people.withMetadata("age", {"comment": "years"}).schema["age"].metadata)

title("temp views and the catalog")
people.createOrReplaceTempView("people_v")
print(spark.sql("SELECT count(*) FROM people_v").collect())
print(spark.catalog.dropTempView("people_v"), spark.catalog.dropTempView("people_v"))
people.createOrReplaceGlobalTempView("people_g")
print(spark.sql("SELECT count(*) FROM global_temp.people_g").collect())
print(spark.table("global_temp.people_g").count())
print(spark.catalog.dropGlobalTempView("people_g"))

title("partitioning hints: files written")
people.createOrReplaceTempView("hinted")
for name, df in [
    ("coalesce hint", people.repartition(3).hint("coalesce", 1)),
    ("repartition hint", people.hint("repartition", 2)),
    ("SQL COALESCE", spark.sql("SELECT /*+ COALESCE(1) */ * FROM hinted")),
    ("SQL REPARTITION", spark.sql("SELECT /*+ REPARTITION(3) */ * FROM hinted")),
]:
    path = os.path.join(out, name.replace(" ", "_"))
    df.write.parquet(path)
    files = [f for f in os.listdir(path) if f.endswith(".parquet")]
    print(name, len(files), spark.read.parquet(path).count())
