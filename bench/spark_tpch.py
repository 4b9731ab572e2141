#!/usr/bin/env python3
"""Runs the benchmark application on Apache Spark local[N] and writes
per-statement timings as JSON (same shape as kiln's --summary-json)."""
import argparse
import json
import time

ap = argparse.ArgumentParser()
ap.add_argument("--plan", required=True)
ap.add_argument("--json", required=True)
ap.add_argument("--master", default="local[2]")
ap.add_argument("--driver-memory", default="2g")
args = ap.parse_args()

start = time.time()
from pyspark.sql import SparkSession  # noqa: E402  (import time counts as start-up)

spark = (
    SparkSession.builder.master(args.master)
    .appName("tpch-bench")
    .config("spark.driver.memory", args.driver_memory)
    .config("spark.sql.shuffle.partitions", "2")
    .config("spark.ui.enabled", "false")
    .getOrCreate()
)
spark.sparkContext.setLogLevel("ERROR")
with open(args.plan) as f:
    plan = json.load(f)
statements = []
index = 0
for name, path in plan["tables"].items():
    index += 1
    t0 = time.time()
    spark.read.parquet(path).createOrReplaceTempView(name)
    statements.append({"index": index, "seconds": time.time() - t0, "label": f"table {name}"})
for st in plan["statements"]:
    if st["kind"] == "ddl":
        continue
    index += 1
    t0 = time.time()
    if st["kind"] == "query":
        spark.sql(st["sql"]).write.mode("overwrite").parquet(st["out"] + "-spark")
    else:
        spark.sql(st["sql"]).collect()
    statements.append({"index": index, "seconds": time.time() - t0, "label": st["sql"][:40]})


def peak_rss_of_children():
    """Peak RSS (VmHWM) of this process's children: the Spark JVM."""
    import os
    peak = 0
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as f:
                kids = f.read().split()
        except OSError:
            continue
        for pid in kids:
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            peak = max(peak, int(line.split()[1]) * 1024)
            except OSError:
                pass
    return peak


jvm_peak = peak_rss_of_children()
spark.stop()
with open(args.json, "w") as f:
    json.dump({"wall_seconds": time.time() - start, "statements": statements,
               "executor_peak_rss_bytes": {"jvm": jvm_peak} if jvm_peak else {}}, f)
