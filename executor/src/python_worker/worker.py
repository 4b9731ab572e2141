# Kiln's Python worker: runs the Python UDFs of Kiln tasks.
#
# Started by a Kiln executor (`python -u -c <this file>`), one per task slot,
# reused across tasks. Kiln's own protocol, nothing of pyspark's worker
# format: frames of `kind (1 byte) | length (4 bytes, big endian) | payload`
# on stdin (from the executor) and on the original stdout (to it); anything
# the user's code prints goes to stderr, which the executor logs.
#
# One task: `S` setup (JSON), `C` each function (cloudpickled
# (function, return type) as the PySpark client sent it), `T` the output
# schema (an Arrow IPC stream without batches), then the data: `B` Arrow IPC
# streams (a batch, or one group), `G` a pair of them (a cogroup), `E` the end.
# The worker answers `B` batches, then `E`; or `X` with the traceback, and
# exits.
import io
import json
import os
import pickle
import struct
import sys
import traceback

_out = os.fdopen(os.dup(1), "wb", buffering=0)
os.dup2(2, 1)
sys.stdout = sys.stderr
_in = sys.stdin.buffer

import pyarrow as pa  # noqa: E402


class _Eof(Exception):
    pass


def read_exact(n):
    chunks = []
    while n > 0:
        c = _in.read(n)
        if not c:
            raise _Eof()
        chunks.append(c)
        n -= len(c)
    return b"".join(chunks)


def read_frame():
    head = read_exact(5)
    kind = head[0:1].decode()
    (n,) = struct.unpack(">I", head[1:5])
    return kind, read_exact(n)


def write_frame(kind, payload):
    _out.write(kind.encode() + struct.pack(">I", len(payload)))
    _out.write(payload)


def ipc_table(payload):
    return pa.ipc.open_stream(payload).read_all()


def ipc_bytes(batch):
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, batch.schema) as w:
        w.write_batch(batch)
    return sink.getvalue()


def send(batch):
    write_frame("B", ipc_bytes(batch))


def inputs():
    """The task's data frames up to `E`."""
    while True:
        kind, payload = read_frame()
        if kind == "E":
            return
        yield kind, payload


def batches():
    for kind, payload in inputs():
        for b in ipc_table(payload).to_batches():
            yield b


class UserError(Exception):
    """A task's data or result does not fit what the function declared."""


def to_array(values, t):
    """`values` (a pandas Series, a list, an Arrow array) as an array of `t`."""
    import pandas as pd

    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        arr = values
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        return arr if arr.type == t else arr.cast(t)
    if isinstance(values, pd.DataFrame) and pa.types.is_struct(t):
        arrays = [to_array(values[f.name], f.type) for f in t]
        return pa.StructArray.from_arrays(arrays, fields=list(t))
    if isinstance(values, pd.Series):
        try:
            return pa.Array.from_pandas(values, type=t, safe=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise UserError(f"the result of type {values.dtype} cannot be converted to {t}: {e}")
    try:
        return pa.array(values, type=t, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            # A plain UDF declared to return a string gives the value's text.
            return pa.array([None if v is None else str(v) for v in values], type=t)
        # As Spark's plain UDF: a value of another type becomes NULL.
        fixed = []
        for v in values:
            try:
                pa.array([v], type=t)
                fixed.append(v)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                fixed.append(None)
        return pa.array(fixed, type=t)


def frame_to_batch(df, schema, what):
    """A pandas DataFrame a function returned, as a batch of `schema`:
    columns by name when they are named with strings, else by position."""
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise UserError(f"{what} must return a pandas.DataFrame, got {type(df).__name__}")
    if len(df.columns) == 0 and len(df) == 0:
        return pa.RecordBatch.from_pylist([], schema=schema)
    by_name = all(isinstance(c, str) for c in df.columns)
    if by_name:
        missing = [f.name for f in schema if f.name not in df.columns]
        if missing:
            raise UserError(
                f"[RESULT_COLUMNS_MISMATCH_FOR_PANDAS_UDF] Column names of the returned "
                f"pandas.DataFrame do not match specified schema. Missing: {', '.join(missing)}."
            )
        cols = [df[f.name] for f in schema]
    else:
        if len(df.columns) != len(schema):
            raise UserError(
                f"[RESULT_COLUMNS_MISMATCH_FOR_PANDAS_UDF] Number of columns of the returned "
                f"pandas.DataFrame doesn't match specified schema. Expected: {len(schema)} "
                f"Actual: {len(df.columns)}"
            )
        cols = [df.iloc[:, i] for i in range(len(schema))]
    arrays = [to_array(c.reset_index(drop=True), f.type) for c, f in zip(cols, schema)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def table_to_batch(t, schema, what):
    if isinstance(t, pa.Table):
        t = t.combine_chunks()
        bs = t.to_batches()
        t = bs[0] if bs else pa.RecordBatch.from_pylist([], schema=t.schema)
    if not isinstance(t, pa.RecordBatch):
        raise UserError(f"{what} must return a pyarrow.RecordBatch or Table, got {type(t).__name__}")
    arrays = []
    for f in schema:
        i = t.schema.get_field_index(f.name)
        if i < 0:
            raise UserError(f"the result of {what} has no column `{f.name}`")
        arrays.append(to_array(t.column(i), f.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def series_of(batch, idx):
    return [batch.column(i).to_pandas() for i in idx]


def check_length(n, expected, name):
    if n != expected:
        raise UserError(
            f"[SCHEMA_MISMATCH_FOR_PANDAS_UDF] Result vector from {name} was not the required "
            f"length: expected {expected}, got {n}."
        )


def scalar_column(f, eval_type, batch, args, t, name):
    n = batch.num_rows
    if eval_type in (100, 101):  # plain @udf, row at a time
        cols = [batch.column(i).to_pylist() for i in args]
        values = [f(*row) for row in zip(*cols)] if cols else [f() for _ in range(n)]
        return to_array(values, t)
    if eval_type == 200:  # pandas_udf: Series -> Series
        out = f(*series_of(batch, args))
        check_length(len(out), n, name)
        return to_array(out, t)
    if eval_type == 250:  # arrow scalar udf
        out = f(*[batch.column(i) for i in args])
        check_length(len(out), n, name)
        return to_array(out, t)
    raise UserError(f"eval type {eval_type} is not a scalar UDF")


def run_scalar(setup, funcs, schema):
    for batch in batches():
        cols = []
        for (f, _), u, field in zip(funcs, setup["udfs"], schema):
            cols.append(scalar_column(f, u["eval_type"], batch, u["args"], field.type, u["name"]))
        send(pa.RecordBatch.from_arrays(cols, schema=schema))


def run_scalar_iter(setup, funcs, schema):
    (f, _), u = funcs[0], setup["udfs"][0]
    field = schema[0]
    arrow = u["eval_type"] == 251
    one = len(u["args"]) == 1

    def feed():
        for b in batches():
            xs = [b.column(i) for i in u["args"]] if arrow else series_of(b, u["args"])
            yield xs[0] if one else tuple(xs)

    for out in f(feed()):
        send(pa.RecordBatch.from_arrays([to_array(out, field.type)], schema=schema))


def run_map(setup, funcs, schema):
    f = funcs[0][0]
    arrow = setup["eval_type"] == 207
    if arrow:
        feed = batches()
    else:
        feed = (b.to_pandas() for b in batches())
    what = "mapInArrow" if arrow else "mapInPandas"
    for out in f(feed):
        b = table_to_batch(out, schema, what) if arrow else frame_to_batch(out, schema, what)
        if b.num_rows:
            send(b)


def call_grouped(f, key, values):
    import inspect

    try:
        n = len(inspect.signature(f).parameters)
    except (TypeError, ValueError):
        n = 1
    return f(key, *values) if n == len(values) + 1 else f(*values)


def group_key(table, keys):
    return tuple(table.column(k).to_pandas()[0] for k in keys) if table.num_rows else ()


def group_values(table, idx, arrow):
    sub = table.select(idx)
    return sub if arrow else sub.to_pandas()


def run_group(setup, funcs, schema):
    f = funcs[0][0]
    arrow = setup["eval_type"] == 209
    what = "applyInArrow" if arrow else "applyInPandas"
    for _, payload in inputs():
        t = ipc_table(payload)
        out = call_grouped(f, group_key(t, setup["keys"]), [group_values(t, setup["values"], arrow)])
        b = table_to_batch(out, schema, what) if arrow else frame_to_batch(out, schema, what)
        if b.num_rows:
            send(b)


def run_cogroup(setup, funcs, schema):
    f = funcs[0][0]
    arrow = setup["eval_type"] == 210
    what = "cogroup applyInArrow" if arrow else "cogroup applyInPandas"
    for _, payload in inputs():
        (n,) = struct.unpack(">I", payload[:4])
        left, right = ipc_table(payload[4 : 4 + n]), ipc_table(payload[4 + n :])
        key = group_key(left, setup["keys"]) if left.num_rows else group_key(right, setup["right_keys"])
        values = [
            group_values(left, setup["values"], arrow),
            group_values(right, setup["right_values"], arrow),
        ]
        out = call_grouped(f, key, values)
        b = table_to_batch(out, schema, what) if arrow else frame_to_batch(out, schema, what)
        if b.num_rows:
            send(b)


def run_agg(setup, funcs, schema):
    results = [[] for _ in funcs]
    for _, payload in inputs():
        t = ipc_table(payload).combine_chunks()
        b = t.to_batches()[0] if t.num_rows else pa.RecordBatch.from_pylist([], schema=t.schema)
        for r, (f, _), u in zip(results, funcs, setup["udfs"]):
            arrow = u["eval_type"] in (252, 253)
            xs = [b.column(i) for i in u["args"]] if arrow else series_of(b, u["args"])
            v = f(*xs)
            if hasattr(v, "as_py"):
                v = v.as_py()
            elif hasattr(v, "item"):
                v = v.item()
            r.append(v)
    cols = [to_array(r, field.type) for r, field in zip(results, schema)]
    send(pa.RecordBatch.from_arrays(cols, schema=schema))


MODES = {
    "scalar": run_scalar,
    "scalar_iter": run_scalar_iter,
    "map": run_map,
    "group": run_group,
    "cogroup": run_cogroup,
    "agg": run_agg,
}


def simplified_traceback(e):
    """The exception with the user's frames only (Spark's simplified traceback)."""
    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == "<kiln-worker>":
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(e), e, tb))


def task():
    kind, payload = read_frame()
    if kind != "S":
        raise RuntimeError(f"expected a task setup, got frame {kind!r}")
    setup = json.loads(payload)
    funcs = []
    for _ in range(setup["commands"]):
        kind, command = read_frame()
        funcs.append(pickle.loads(command))
    kind, payload = read_frame()
    schema = pa.ipc.open_stream(payload).schema
    want = setup.get("python_ver")
    have = "%d.%d" % sys.version_info[:2]
    if want and want != have:
        raise UserError(
            f"[PYTHON_VERSION_MISMATCH] Python in worker has different version: {have} than "
            f"that in driver: {want}, PySpark cannot run with different minor versions. Please "
            f"check environment variables PYSPARK_PYTHON and PYSPARK_DRIVER_PYTHON are "
            f"correctly set."
        )
    MODES[setup["mode"]](setup, funcs, schema)
    write_frame("E", b"")


def main():
    while True:
        try:
            task()
        except _Eof:
            return
        except BaseException as e:  # the user's exception: reported, then this worker ends
            write_frame("X", simplified_traceback(e).encode("utf-8", "replace"))
            return


main()
