"""A course-style PySpark job: sales from a CSV file (read with a schema)
and a Parquet folder, dates parsed with to_date, monthly aggregates, a
union of the two sources with a literal column, a temp view queried with
`GROUP BY 1, 2, 3`, an outer join on two columns then a join with a CSV
lookup, Parquet written with coalesce(1) and repartition(4) and read
back, show() and toPandas(). Run unchanged on Kiln and on Spark; the test
compares the outputs section by section.

usage: python course_sales.py OUT_DIR
"""
import csv
import os

from pyspark.sql import functions as F
from pyspark.sql.types import (DoubleType, IntegerType, StringType,
                               StructField, StructType)

from sections import rows, session, title

out, spark = session()


def write_csv(path, header, data):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(data)


# Inputs, written by plain Python so both engines read the same bytes.
stores = [(1, "Lyon", "south"), (2, "Lille", "north"), (3, "Paris", "north"), (4, "Nice", "south")]
write_csv(f"{out}/stores.csv", ["store_id", "city", "region"], stores)
sales_2023 = []
for i in range(60):
    store = 1 + i % 3
    day, month = 1 + (i * 7) % 28, 1 + i % 12
    qty = 1 + (i * 5) % 9
    price = [2.5, 4.0, 12.25, 7.75][i % 4]
    sales_2023.append((1000 + i, store, f"{day:02d}/{month:02d}/2023", qty, price))
write_csv(f"{out}/sales_2023.csv", ["order_id", "store_id", "order_date", "qty", "unit_price"], sales_2023)

# The 2024 sales: a Parquet folder partitioned by store, as a job wrote it.
sales_2024 = [
    (2000 + i, 1 + i % 4, f"2024-{1 + i % 6:02d}-{1 + (i * 3) % 27:02d}", 1 + i % 5, [3.5, 9.0, 1.25][i % 3])
    for i in range(48)
]
spark.createDataFrame(
    sales_2024, "order_id INT, store_id INT, order_date STRING, qty INT, unit_price DOUBLE"
).write.mode("overwrite").partitionBy("store_id").parquet(f"{out}/sales_2024")

schema = StructType([
    StructField("order_id", IntegerType()),
    StructField("store_id", IntegerType()),
    StructField("order_date", StringType()),
    StructField("qty", IntegerType()),
    StructField("unit_price", DoubleType()),
])
csv_sales = (
    spark.read.csv(f"{out}/sales_2023.csv", header=True, schema=schema)
    .withColumn("order_date", F.to_date("order_date", "dd/MM/yyyy"))
)
parquet_sales = spark.read.parquet(f"{out}/sales_2024").withColumn("order_date", F.to_date("order_date"))

title("schemas")
csv_sales.printSchema()
parquet_sales.printSchema()

sales = (
    csv_sales.withColumn("source", F.lit("csv"))
    .unionByName(parquet_sales.withColumn("source", F.lit("parquet")))
    .withColumn("amount", F.col("qty") * F.col("unit_price"))
    .withColumn("month", F.date_format("order_date", "yyyy-MM"))
)
rows("union of both sources", sales.groupBy("source").agg(F.count("*").alias("orders"), F.sum("qty").alias("qty")))

monthly = (
    sales.groupBy("store_id", "month")
    .agg(F.count("*").alias("orders"), F.round(F.sum("amount"), 2).alias("revenue"), F.max("qty").alias("max_qty"))
    .orderBy("store_id", "month")
)
title("monthly revenue, ordered")
for r in monthly.collect():
    print(r)

sales.createOrReplaceTempView("sales")
title("spark.sql with GROUP BY 1, 2, 3")
for r in spark.sql(
    "SELECT source, store_id, year(order_date) AS year, count(*) AS n, round(sum(amount), 2) AS total "
    "FROM sales GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
).collect():
    print(r)

targets = spark.createDataFrame(
    [(1, "2023-01", 100.0), (2, "2023-02", 80.0), (3, "2024-03", 50.0), (4, "2024-06", 75.0), (5, "2024-01", 10.0)],
    "store_id INT, month STRING, target DOUBLE",
)
lookup = spark.read.csv(f"{out}/stores.csv", header=True, inferSchema=True)
report = (
    monthly.join(targets, ["store_id", "month"], "outer")
    .join(lookup, "store_id", "left")
    .withColumn("met", F.col("revenue") >= F.col("target"))
)
rows("outer join on two columns, then the CSV lookup", report)

report.coalesce(1).write.mode("overwrite").parquet(f"{out}/report_single")
report.repartition(4).write.mode("overwrite").parquet(f"{out}/report_multi")


def part_files(path):
    return len([f for f in os.listdir(path) if f.startswith("part-")])


title("written with coalesce(1) and repartition(4)")
print("coalesce(1) files:", part_files(f"{out}/report_single"))
print("repartition(4) files:", part_files(f"{out}/report_multi"))
single = spark.read.parquet(f"{out}/report_single")
multi = spark.read.parquet(f"{out}/report_multi")
print("rows:", single.count(), multi.count())
print("same rows:", single.exceptAll(multi).count() == 0 and multi.exceptAll(single).count() == 0)

title("show")
report.orderBy("store_id", "month").select("store_id", "month", "city", "revenue", "target", "met").show(8)

title("toPandas")
pdf = report.select("store_id", "month", "region", "orders", "revenue").orderBy("store_id", "month").toPandas()
print(pdf.dtypes.to_string())
print(pdf.to_string())
