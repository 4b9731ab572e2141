"""Everyday PySpark DataFrame work, run unchanged on Kiln (through Spark
Connect) and on Spark itself; the test compares the two outputs line by line.

usage: python dataframe_basics.py OUT_DIR
"""

from pyspark.sql import functions as F
from pyspark.sql.window import Window

from sections import error, rows, session, title

out, spark = session()

people = spark.createDataFrame(
    [
        (1, "alice", 34, "NY", 120.5),
        (2, "bob", 45, "SF", 99.0),
        (3, "carol", None, "NY", 310.25),
        (4, "dave", 23, None, 5.0),
        (5, "erin", 45, "SF", 42.0),
    ],
    "id INT, name STRING, age INT, city STRING, spend DOUBLE",
)
orders = spark.createDataFrame(
    [(1, "book", 2), (1, "pen", 10), (2, "lamp", 1), (9, "ghost", 1)],
    "id INT, item STRING, qty INT",
)

title("show")
people.show()
title("show 2 rows, truncated to 3")
people.show(2, 3)
title("columns and schema")
print(people.columns)
people.printSchema()

rows("filter, withColumn, select", people.filter(F.col("age") > 30).withColumn("age2", F.col("age") * 2).select("name", "age2"))
rows("unaliased expressions are named as Spark names them", people.select(F.col("age") + 1, F.upper("name"), F.lit(7), (F.col("spend") > 100)))
rows("integer division gives a double", people.select("id", (F.col("id") / 2).alias("half"), F.col("age") / F.col("id")))
rows("groupBy/agg", people.groupBy("city").agg(F.count("*").alias("n"), F.sum("spend"), F.avg("age"), F.max("age")))
rows("global aggregate", people.agg(F.min("spend"), F.countDistinct("city")))

title("orderBy puts NULLs first, desc puts them last")
for r in people.orderBy("age", "id").select("name", "age").collect():
    print(r)
for r in people.orderBy(F.col("age").desc(), "id").select("name", "age").collect():
    print(r)

rows("inner join on a column name", people.join(orders, "id").select("id", "name", "item", "qty"))
rows("left join with a condition", people.join(orders, people.id == orders.id, "left").select(people.name, orders.item))
rows("union and distinct", people.select("city").union(people.select("city")).distinct())
rows("dropDuplicates on a subset", people.dropDuplicates(["age"]).select("age"))
rows("withColumnRenamed and drop", people.withColumnRenamed("spend", "total").drop("age", "city"))
rows("when/otherwise, isin, isNull", people.select("name", F.when(F.col("age") >= 40, "senior").otherwise("junior").alias("band"), F.col("city").isin("NY", "LA").alias("east"), F.col("age").isNull().alias("no_age")))
rows("window: row_number per city", people.withColumn("rank", F.row_number().over(Window.partitionBy("city").orderBy(F.col("spend").desc()))).select("name", "city", "rank"))

title("count, first, take")
print(people.count())
print(people.orderBy("id").first())
print(people.orderBy("id").take(2))

people.createOrReplaceTempView("people")
rows("spark.sql over a temp view", spark.sql("SELECT city, count(*) AS n, sum(spend) AS total FROM people WHERE age IS NOT NULL GROUP BY city"))

people.write.mode("overwrite").parquet(out + "/people")
back = spark.read.parquet(out + "/people")
rows("parquet written and read back", back)
people.write.mode("append").parquet(out + "/people")
title("append doubles the rows")
print(spark.read.parquet(out + "/people").count())

orders.write.mode("overwrite").option("header", True).csv(out + "/orders_csv")
rows("csv with header, all columns strings", spark.read.option("header", True).csv(out + "/orders_csv"))
rows("csv with inferSchema", spark.read.option("header", True).option("inferSchema", True).csv(out + "/orders_csv").select("id", (F.col("qty") * 2).alias("q2")))

error("unknown column", lambda: people.select("nope").collect())
error("unknown table", lambda: spark.table("no_such_table").collect())
error("missing path", lambda: spark.read.parquet(out + "/does-not-exist").collect())
error("write to an existing path", lambda: people.write.parquet(out + "/people"))

# Window frames with offsets, RANGE (by value) and ROWS, and a struct field
# added by withField then read: each once answered wrongly or failed.
by_city = Window.partitionBy("city").orderBy("age")
rows(
    "range and rows frames with offsets",
    people.select(
        "name",
        F.sum("spend").over(by_city.rangeBetween(Window.currentRow, 11)).alias("range_sum"),
        F.sum("spend").over(by_city.rangeBetween(-11, Window.unboundedFollowing)).alias("range_rest"),
        F.count("*").over(by_city.rowsBetween(-1, 1)).alias("rows_count"),
    ),
)
cat = spark.createDataFrame(
    [(1, "a"), (1, "a"), (2, "a"), (1, "b"), (2, "b"), (3, "b"), (5, "b")], "id INT, category STRING"
)
by_cat = Window.partitionBy("category").orderBy("id")
rows(
    "range frames by value in every partition",
    cat.select(
        "id",
        "category",
        F.sum("id").over(by_cat.rangeBetween(Window.currentRow, 1)).alias("next"),
        F.sum("id").over(by_cat.rangeBetween(-2, -1)).alias("before"),
    ),
)
nested = people.select("id", F.struct("name", "age").alias("s"))
rows(
    "withField adds a field that is then read",
    nested.withColumn("s", F.col("s").withField("city", F.lit("X"))).select("id", "s.city", "s.name"),
)
title("alias with metadata")
print(people.select(F.col("age").alias("a", metadata={"max": 99})).schema["a"].metadata)
spark.stop()
