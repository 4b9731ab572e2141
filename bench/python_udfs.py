"""Times Python UDFs through one Spark Connect server (issue 11's benchmark):
a row-at-a-time `@udf` and a scalar `pandas_udf` over the same 10 million
rows, each summed on the server so only one row comes back. Every run's
answer is checked against the sum numpy computes from the same Parquet
files; a wrong answer fails the benchmark.

usage: python python_udfs.py URL DATA_DIR OUT.json [--runs N] [--conf k=v ...]
Prints one line per run; writes {"row": [seconds...], "pandas": [...]}.
"""
import argparse
import json
import sys
import time

import numpy as np
import pyarrow.parquet as pq
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.functions import pandas_udf, udf


def expected_sum(data_dir):
    ids = pq.read_table(data_dir, columns=["id"]).column("id").to_numpy()
    return int(np.sum(ids % 7 * 3 + 1))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("data")
    p.add_argument("out")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--conf", action="append", default=[])
    a = p.parse_args()
    builder = SparkSession.builder.remote(a.url)
    for kv in a.conf:
        k, v = kv.split("=", 1)
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    want = expected_sum(a.data)

    @udf("long")
    def row_udf(n):
        return n % 7 * 3 + 1

    @pandas_udf("long")
    def vector_udf(s):
        return s % 7 * 3 + 1

    df = spark.read.parquet(a.data)
    queries = {
        "row": lambda: df.select(row_udf("id").alias("v")).agg(F.sum("v")).collect()[0][0],
        "pandas": lambda: df.select(vector_udf("id").alias("v")).agg(F.sum("v")).collect()[0][0],
    }
    times = {}
    for name, run in queries.items():
        times[name] = []
        # One warm-up run (workers started, files cached), then the timed ones.
        for i in range(a.runs + 1):
            start = time.monotonic()
            got = run()
            took = time.monotonic() - start
            if got != want:
                sys.exit(f"error: {name} UDF sum is {got}, numpy says {want}")
            if i > 0:
                times[name].append(took)
            print(f"{name} run {i}{' (warm-up)' if i == 0 else ''}: {took:.2f}s", flush=True)
    spark.stop()
    with open(a.out, "w") as f:
        json.dump(times, f)


if __name__ == "__main__":
    main()
