"""One client of a server shared with others (the test starts several).

usage: python concurrent_client.py MODE FLAG_FILE
  long     a query that runs until interrupted, one task (its session plans
           one partition); once FLAG_FILE exists the client interrupts it
           and says whether it was still running then
  short    a small query (one task), then creates FLAG_FILE
  endless  a query that runs until the client is killed
"""
import os
import sys
import threading
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

mode, flag = sys.argv[1], sys.argv[2]
spark = SparkSession.builder.config("spark.sql.shuffle.partitions", "1").getOrCreate()


def endless():
    return spark.range(0, 100000, 1, 1).crossJoin(spark.range(0, 100000, 1, 1).withColumnRenamed("id", "j")).count()


if mode == "short":
    total = spark.range(0, 100, 1, 1).agg(F.sum("id")).collect()[0][0]
    print("short:", total, flush=True)
    open(flag, "w").close()
elif mode == "endless":
    endless()
elif mode == "long":
    outcome = []

    def run():
        try:
            endless()
            outcome.append("finished")
        except Exception as e:
            outcome.append(e.getCondition() if hasattr(e, "getCondition") else type(e).__name__)

    t = threading.Thread(target=run)
    t.start()
    deadline = time.time() + 600
    while not os.path.exists(flag) and time.time() < deadline:
        time.sleep(0.2)
    running = t.is_alive()
    spark.interruptAll()
    t.join(120)
    state = "interrupted while the short job ran" if running else "had stopped before the short job finished"
    print("long:", state, *outcome, flush=True)
