"""Interrupts: a query that would run for hours is started in a thread and
stopped with spark.interruptTag, spark.interruptOperation and
spark.interruptAll; each time the query fails with OPERATION_CANCELED and
the next query of the session works. The test checks on the executors
that the query's tasks were cancelled.

usage: python interrupt.py
"""
import threading
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.connect.client.reattach import ExecutePlanResponseReattachableIterator

spark = SparkSession.builder.getOrCreate()
# Runs until interrupted: a sum over 10^10 rows of a cross join (a count
# would be answered from the inputs' row counts without running the join).
endless = (
    spark.range(0, 100000, 1, 2)
    .crossJoin(spark.range(0, 100000, 1, 2).withColumnRenamed("id", "j"))
    .agg(F.sum(F.col("id") * F.col("j")))
)


def run_endless(tag, outcome):
    spark.addTag(tag)
    try:
        endless.collect()
        outcome.append("finished")
    except Exception as e:
        cond = e.getCondition() if hasattr(e, "getCondition") else None
        outcome.append(f"{type(e).__name__} {cond}")
    finally:
        spark.removeTag(tag)


def running_operation_ids():
    return [i._operation_id for i in list(ExecutePlanResponseReattachableIterator._instances)]


def interrupted(how):
    outcome = []
    t = threading.Thread(target=run_endless, args=(how, outcome))
    t.start()
    time.sleep(3)  # the query's tasks run on the executors by now
    if how == "tag":
        ids = spark.interruptTag("tag")
    elif how == "operation":
        ops = running_operation_ids()
        ids = [i for op in ops for i in spark.interruptOperation(op)]
    else:
        ids = spark.interruptAll()
    t.join(120)
    print(f"## interrupt by {how}", flush=True)
    print("interrupted operations:", len(ids))
    print("query:", outcome)
    print("next query:", spark.range(5).count())


for how in ["tag", "operation", "all"]:
    interrupted(how)
