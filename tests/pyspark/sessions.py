"""Sessions are isolated: two sessions of one server give the same temp
view name different data and each reads its own; settings too. A
released session (spark.stop()) stops its running query; the other
session keeps working. Run on Kiln (two Connect sessions) and on Spark
(spark.newSession()) to compare.

usage: python sessions.py
"""
import os
import threading
import time

from pyspark.sql import SparkSession

remote = os.environ.get("SPARK_REMOTE")
a = SparkSession.builder.getOrCreate()
b = SparkSession.builder.remote(remote).create() if remote else a.newSession()

a.createDataFrame([(1, "a1"), (2, "a2")], "k INT, v STRING").createOrReplaceTempView("t")
b.createDataFrame([(7, "b7")], "k INT, v STRING").createOrReplaceTempView("t")
a.conf.set("spark.sql.session.timeZone", "America/New_York")

print("## each session reads its own temp view", flush=True)
print(sorted(a.sql("SELECT * FROM t").collect()))
print(sorted(b.sql("SELECT * FROM t").collect()))
print("## settings are per session", flush=True)
print(a.conf.get("spark.sql.session.timeZone"), b.conf.get("spark.sql.session.timeZone"))

if remote:
    # Releasing session b stops its running query; session a keeps working.
    outcome = []

    def endless():
        try:
            # A sum over 10^10 joined rows (a count would be answered from
            # the inputs' row counts without running the join).
            pairs = b.range(0, 100000, 1, 2).crossJoin(b.range(0, 100000, 1, 2).withColumnRenamed("id", "j"))
            pairs.selectExpr("sum(id * j)").collect()
            outcome.append("finished")
        except Exception as e:
            outcome.append(type(e).__name__)

    t = threading.Thread(target=endless)
    t.start()
    time.sleep(3)
    b.stop()
    t.join(120)
    print("## kiln: release session", flush=True)
    print("query of the released session ended:", not t.is_alive(), outcome != ["finished"])
    print("other session:", sorted(a.sql("SELECT * FROM t").collect()))
