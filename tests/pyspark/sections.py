"""What the comparison scripts of this folder share: the session (classic
Spark, or Kiln where the runner sets SPARK_REMOTE), the output folder
each takes as its one argument, and how they print a section (a title, then
rows or an error) so that the test can compare Kiln's output with Spark's
section by section.
"""
import sys

from pyspark.sql import SparkSession


def session():
    """The output folder (the script's argument) and the Spark session."""
    return sys.argv[1], SparkSession.builder.getOrCreate()


def title(t):
    print(f"## {t}", flush=True)


def rows(t, df, shown=None):
    """Rows in a stable order (Spark promises none without orderBy), each
    as `shown` makes it (by default as it is)."""
    title(t)
    print(df.columns)
    out = [shown(r) if shown else r for r in df.collect()]
    for r in sorted(out, key=lambda r: [(v is None, str(v)) for v in r]):
        print(r)


def ordered(t, df):
    """Rows in the order the DataFrame gives them."""
    title(t)
    print(df.columns)
    for r in df.collect():
        print(r)


def error(t, f, shown=None):
    """Whether `f` fails: the exception as `shown` gives it, by default its
    class and Spark's error condition."""
    title(t)
    try:
        f()
        print("no error")
    except Exception as e:
        if shown:
            print(shown(e))
        else:
            cond = e.getCondition() if hasattr(e, "getCondition") else None
            print(type(e).__name__, cond)
