"""Tables of the session catalog written by a DataFrame writer
(`saveAsTable` in every save mode, `insertInto`, partitioned and CSV
tables), read back with `spark.table` and SQL, run unchanged on Kiln
(through Spark Connect) and on Spark; the test compares the two outputs
section by section. Managed tables go to the warehouse folder each engine
is given (`spark-warehouse` in the working directory for Spark).

usage: python tables.py OUT_DIR
"""
from pyspark.sql import functions as F

from sections import error, rows, session, title

_, spark = session()


sales = spark.createDataFrame(
    [(1, "north", 10.5), (2, "south", 3.0), (3, "north", None)],
    "id INT, region STRING, amount DOUBLE",
)

sales.write.saveAsTable("sales")
rows("saveAsTable, read back with spark.table", spark.table("sales"))
rows("and with SQL, by any case of its name", spark.sql("SELECT region, sum(amount) AS s FROM SALES GROUP BY region"))
error("saveAsTable of a table that exists", lambda: sales.write.saveAsTable("sales"))
sales.limit(1).write.mode("ignore").saveAsTable("sales")
rows("mode ignore leaves it as it was", spark.table("sales"))
more = spark.createDataFrame([(7.25, 4, "east")], "amount DOUBLE, id INT, region STRING")
more.write.mode("append").saveAsTable("sales")
rows("mode append matches columns by name", spark.table("sales"))
error(
    "mode overwrite of a table the DataFrame reads",
    lambda: spark.table("sales").write.mode("overwrite").saveAsTable("sales"),
)
spark.range(3).withColumn("twice", F.col("id") * 2).write.mode("overwrite").saveAsTable("sales")
rows("mode overwrite replaces rows and columns", spark.table("sales"))

spark.createDataFrame([(10, 11)], "a INT, b INT").write.insertInto("sales")
rows("insertInto matches columns by position", spark.table("sales"))
spark.createDataFrame([(5, 6)], "x INT, y INT").write.insertInto("sales", overwrite=True)
rows("insertInto with overwrite replaces the rows", spark.table("sales"))
error(
    "insertInto with too few columns",
    lambda: spark.createDataFrame([(1,)], "a INT").write.insertInto("sales"),
)
error("insertInto a table that does not exist", lambda: sales.write.insertInto("nowhere"))

sales.write.partitionBy("region").saveAsTable("by_region")
rows("a partitioned table", spark.table("by_region"))
rows(
    "a partitioned table filtered on its partition column",
    spark.sql("SELECT id, amount FROM by_region WHERE region = 'north'"),
)
spark.createDataFrame([(9, 1.0, "west")], "id INT, amount DOUBLE, region STRING").write.insertInto(
    "by_region"
)
rows("insertInto a partitioned table", spark.table("by_region"))

sales.write.format("csv").option("header", "true").saveAsTable("sales_csv")
rows("a CSV table", spark.table("sales_csv"))

spark.sql("DROP TABLE sales")
title("a dropped table")
print(spark.catalog.tableExists("sales"), spark.catalog.tableExists("by_region"))
sales.write.saveAsTable("sales")
rows("a dropped managed table's name can be used again", spark.table("sales"))

# The catalog: what it lists of tables, temp views and their columns.
sales.createOrReplaceTempView("recent")
sales.createOrReplaceGlobalTempView("shared")
title("listCatalogs, listDatabases, getDatabase, databaseExists")
print(spark.catalog.listCatalogs())
print([(d.name, d.catalog, d.description) for d in spark.catalog.listDatabases()])
d = spark.catalog.getDatabase("default")
print(d.name, d.catalog, d.description, d.locationUri.rstrip("/").rsplit("/", 1)[-1])
print(spark.catalog.databaseExists("default"), spark.catalog.databaseExists("nowhere"))
title("listTables")
for t in spark.catalog.listTables():
    print(t)
title("listTables of global_temp, and with a pattern")
for t in spark.catalog.listTables("global_temp"):
    print(t)
for t in spark.catalog.listTables(pattern="s*"):
    print(t)
title("getTable")
print(spark.catalog.getTable("by_region"))
print(spark.catalog.getTable("recent"))
error("getTable of a table that does not exist", lambda: spark.catalog.getTable("nowhere"))
title("listColumns of a partitioned table, a CSV table and a temp view")
for name in ["by_region", "sales_csv", "recent"]:
    for c in spark.catalog.listColumns(name):
        print(c)
error("listColumns of a table that does not exist", lambda: spark.catalog.listColumns("nowhere"))
title("functionExists")
print(spark.catalog.functionExists("abs"), spark.catalog.functionExists("no_such_function"))
title("refreshTable and a table's new rows")
spark.catalog.refreshTable("sales")
print(spark.table("sales").count())

# df.writeTo: create() is a new table; Spark's session catalog refuses
# replacing or appending to its file tables this way, Kiln too.
orders = spark.createDataFrame([(1, "a"), (2, "b")], "id INT, s STRING")
orders.writeTo("orders").create()
rows("writeTo create", spark.table("orders"))
error("writeTo create of a table that exists", lambda: orders.writeTo("orders").create())
orders.writeTo("orders_by_s").partitionedBy("s").using("parquet").create()
rows("writeTo create, partitioned", spark.table("orders_by_s"))
title("writeTo create, partitioned: its columns")
for c in spark.catalog.listColumns("orders_by_s"):
    print(c)

# Caching is accepted (Kiln recomputes a cached table when it is read).
spark.sql("CACHE TABLE sales")
spark.sql("CACHE LAZY TABLE recent")
spark.sql("CACHE TABLE north AS SELECT * FROM sales WHERE region = 'north'")
rows("CACHE TABLE ... AS query makes a temp view", spark.table("north"))
title("isCached after CACHE TABLE, CACHE LAZY TABLE and CACHE TABLE ... AS")
print(spark.catalog.isCached("sales"), spark.catalog.isCached("recent"), spark.catalog.isCached("north"))
spark.sql("UNCACHE TABLE sales")
spark.sql("UNCACHE TABLE IF EXISTS nowhere")
title("isCached after UNCACHE TABLE")
print(spark.catalog.isCached("sales"), spark.catalog.isCached("recent"))
error("CACHE TABLE of a table that does not exist", lambda: spark.sql("CACHE TABLE nowhere"))
error("UNCACHE TABLE of a table that does not exist", lambda: spark.sql("UNCACHE TABLE nowhere"))
title("tableExists with the default database named")
print(spark.catalog.tableExists("default.sales"), spark.catalog.tableExists("sales", "default"))
spark.catalog.cacheTable("sales")
title("isCached after cacheTable")
print(spark.catalog.isCached("sales"), spark.catalog.isCached("SALES"), spark.catalog.isCached("default.sales"))
spark.catalog.uncacheTable("sales")
title("isCached after uncacheTable")
print(spark.catalog.isCached("sales"), spark.catalog.isCached("recent"))
spark.catalog.clearCache()
title("isCached after clearCache")
print(spark.catalog.isCached("recent"), spark.catalog.isCached("north"))
error("isCached of a table that does not exist", lambda: spark.catalog.isCached("nowhere"))
error("cacheTable of a table that does not exist", lambda: spark.catalog.cacheTable("nowhere"))
rows("a table read after caching calls", spark.table("sales"))
