"""Bad input gets the client Spark's exception: the same Python exception
class, error condition, SQL state and message parameters as Spark gives
(a parse error's line and position too), and the server keeps serving,
this session and another one. Run on Kiln and on Spark to compare;
sections titled `kiln: ...` are Kiln's own (Spark supports what they ask).

usage: python bad_input.py
"""
import os
import re

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

remote = os.environ.get("SPARK_REMOTE")
spark = SparkSession.builder.getOrCreate()
other = SparkSession.builder.remote(remote).create() if remote else spark.newSession()

people = spark.createDataFrame([(1, "alice", 34), (2, "bob", 45)], "id INT, name STRING, age INT")
people.createOrReplaceTempView("people")


def error(title, f):
    print(f"## {title}", flush=True)
    try:
        f()
        print("no error")
        return
    except Exception as e:
        cond = e.getCondition() if hasattr(e, "getCondition") else None
        state = e.getSqlState() if hasattr(e, "getSqlState") else None
        params = e.getMessageParameters() if hasattr(e, "getMessageParameters") else None
        print(type(e).__name__, cond, state)
        print(sorted((params or {}).items()))
        where = re.search(r"\(line (\d+), pos (\d+)\)", str(e))
        if where:
            print("at line", where.group(1), "pos", where.group(2))
    # Both sessions still work after the error.
    print(spark.sql("SELECT count(*) AS n FROM people").collect(), other.range(3).count())


error("unknown column", lambda: people.select("nme").collect())
error("unknown column in spark.sql", lambda: spark.sql("SELECT nme FROM people").collect())
error("unknown function", lambda: people.select(F.call_function("no_such_fn", "id")).collect())
error("unknown function in spark.sql", lambda: spark.sql("SELECT no_such_fn(id) FROM people").collect())
error("syntax error", lambda: spark.sql("SELEC 1").collect())
error("syntax error at the end of line 3", lambda: spark.sql("SELECT id\nFROM people\nWHERE id >").collect())
error("cast to an unknown type", lambda: people.select(F.col("name").cast("intt")).collect())
# One malformed row each: which of several rows fails first depends on
# the order tasks run in, on Spark as on Kiln.
error("cast of a malformed value", lambda: people.filter("id = 1").select(F.col("name").cast("int")).collect())
error("cast in spark.sql", lambda: spark.sql("SELECT CAST(name AS INT) FROM people WHERE id = 2").collect())
error("read of a missing path", lambda: spark.read.parquet("/no/such/path").collect())
error("read of a missing csv file", lambda: spark.read.csv("/no/such/file.csv").collect())
error("a missing table", lambda: spark.table("no_such_table").collect())
error("division by zero", lambda: spark.sql("SELECT 1 / 0").collect())

if remote:
    print("## kiln: an unsupported relation", flush=True)
    try:
        spark.readStream.format("rate").load().schema
        print("no error")
    except Exception as e:
        print(type(e).__name__, "not supported by Kiln" in str(e))
        print(str(e).splitlines()[0])
    print(spark.sql("SELECT count(*) AS n FROM people").collect(), other.range(3).count())
