"""Python UDF faults on Kiln (two executor processes): a worker that exits
on its first call on each executor, and a worker killed with SIGKILL in the
middle of a task, each fail one task attempt and the job succeeds on retry;
a UDF that raises fails at once (no retry) with PythonException; a UDF
that never returns stops (its worker is killed) when the job is interrupted.

usage: python python_udf_faults.py OUT_DIR   (prints `ok <check>` lines)
"""
import os
import signal
import sys
import threading
import time

from pyspark.errors import PythonException
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.functions import udf

out = sys.argv[1]
spark = SparkSession.builder.getOrCreate()
data = spark.range(0, 200, numPartitions=4)
expected = sum(i * 2 for i in range(200))


def marker(name):
    return os.path.join(out, f"{name}-{os.environ.get('KILN_EXECUTOR_ID', 'x')}")


def exit_first(x):
    m = marker("exited")
    if not os.path.exists(m):
        open(m, "w").close()
        os._exit(1)
    return x * 2


total = data.select(udf(exit_first, "long")("id").alias("v")).agg(F.sum("v")).collect()[0][0]
assert total == expected, total
exited = [f for f in os.listdir(out) if f.startswith("exited-")]
assert exited, "no worker exited"
print("ok os._exit(1) on the first call in each worker: the job succeeded on retry", flush=True)


def hang_first(x):
    m = marker("killed")
    if not os.path.exists(m):
        with open(m, "w") as f:
            f.write(str(os.getpid()))
        time.sleep(600)
    return x * 2


done = threading.Event()
killed = set()


def killer():
    """Kills each hanging worker once it has said who it is."""
    while not done.is_set():
        for f in os.listdir(out):
            if f.startswith("killed-") and f not in killed:
                pid = open(os.path.join(out, f)).read().strip()
                if pid:
                    os.kill(int(pid), signal.SIGKILL)
                    killed.add(f)
        time.sleep(0.2)


t = threading.Thread(target=killer, daemon=True)
t.start()
total = data.select(udf(hang_first, "long")("id").alias("v")).agg(F.sum("v")).collect()[0][0]
done.set()
assert total == expected, total
assert killed, "no worker was killed"
print("ok a worker killed with SIGKILL mid-task: the task was retried", flush=True)


def raises(x):
    with open(os.path.join(out, f"raised-{os.getpid()}-{x}"), "w"):
        pass
    if x == 7:
        raise ValueError("seven is not allowed")
    return x


try:
    data.select(udf(raises, "long")("id")).collect()
    raise AssertionError("no error")
except PythonException as e:
    assert "ValueError: seven is not allowed" in str(e), str(e)
attempts = [f for f in os.listdir(out) if f.startswith("raised-") and f.endswith("-7")]
assert len(attempts) == 1, f"the failing row ran {len(attempts)} times"
print("ok ValueError: PythonException with the message, no retry", flush=True)


def forever(x):
    with open(os.path.join(out, f"forever-{os.getpid()}"), "w"):
        pass
    while True:
        time.sleep(1)


def interrupt_when_running():
    deadline = time.time() + 120
    while time.time() < deadline and not any(f.startswith("forever-") for f in os.listdir(out)):
        time.sleep(0.2)
    spark.interruptAll()


threading.Thread(target=interrupt_when_running, daemon=True).start()
try:
    spark.range(0, 10, numPartitions=2).select(udf(forever, "long")("id")).collect()
    raise AssertionError("the job was not interrupted")
except AssertionError:
    raise
except Exception as e:  # the client's error for an interrupted operation
    print(f"# interrupted: {type(e).__name__}", file=sys.stderr)
pids = [int(f.split("-")[1]) for f in os.listdir(out) if f.startswith("forever-")]
assert pids, "the UDF never ran"
deadline = time.time() + 30
while time.time() < deadline and any(os.path.exists(f"/proc/{p}") for p in pids):
    time.sleep(0.2)
alive = [p for p in pids if os.path.exists(f"/proc/{p}")]
assert not alive, f"workers {alive} still run the interrupted UDF"
print("ok a UDF that runs forever stops when the job is interrupted", flush=True)
