"""Spark's own Spark Connect server, from a classic pyspark install (the
oracle venv of scripts/setup-pyspark.sh: pyspark 4.2.1 ships the connect
jar): a local[2] Spark with the Connect plugin on the given loopback port.
Prints `listening on sc://127.0.0.1:PORT` once it serves, then runs until
SIGTERM or SIGINT.

usage: python spark_connect_server.py PORT
"""
import signal
import sys

from pyspark import SparkConf, SparkContext
from pyspark.sql import SparkSession


def main():
    port = sys.argv[1]
    conf = (
        SparkConf()
        .setMaster("local[2]")
        .setAppName("spark-connect-for-kiln-bench")
        .set("spark.plugins", "org.apache.spark.sql.connect.SparkConnectPlugin")
        .set("spark.connect.grpc.binding.address", "127.0.0.1")
        .set("spark.connect.grpc.binding.port", port)
        .set("spark.ui.enabled", "false")
    )
    sc = SparkContext(conf=conf)
    SparkSession(sc)
    print(f"listening on sc://127.0.0.1:{port}", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    sc.stop()


if __name__ == "__main__":
    main()
