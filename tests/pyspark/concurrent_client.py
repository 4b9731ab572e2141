"""One client of a server shared with others (the test starts several).

usage: python concurrent_client.py MODE FLAG_FILE
  long     a query that runs until interrupted, one task (its session plans
           one partition); once FLAG_FILE exists the client interrupts it
           and says whether it was still running then
  short    a small query (one task), then creates FLAG_FILE
  endless  a query that runs until the client is killed; if the query
           fails (the server stopped) the client says so and exits with 1
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
    # A sum over 10^10 joined rows (a count would be answered from the
    # inputs' row counts without running the join).
    pairs = spark.range(0, 100000, 1, 1).crossJoin(spark.range(0, 100000, 1, 1).withColumnRenamed("id", "j"))
    return pairs.agg(F.sum(F.col("id") * F.col("j"))).collect()


if mode == "short":
    total = spark.range(0, 100, 1, 1).agg(F.sum("id")).collect()[0][0]
    print("short:", total, flush=True)
    open(flag, "w").close()
elif mode == "endless":
    try:
        endless()
    except Exception as e:
        print("endless: failed with", type(e).__name__, e, flush=True)
        # The client's background release of the operation retries against
        # a stopped server for minutes and would hold the interpreter's exit.
        os._exit(1)
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
