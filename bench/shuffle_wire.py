#!/usr/bin/env python3
"""What a shuffle block costs on the wire, served as Kiln serves it (the
block file's checksummed bytes as they are) or as real Arrow `FlightData`
(issue 16's Flight decision; the numbers are in bench/RESULTS.md).

A block here is built the way Kiln's shuffle writer builds one
(core/src/shuffle/block.rs): an Arrow IPC stream of 8192-row batches of
TPC-H lineitem, each IPC write sealed into a frame of length, CRC-32 and
payload, between the magic and an end frame. For each IPC compression Kiln
offers (none, lz4, zstd) it measures, per block, the bytes sent and the CPU
time of the serving executor and of the fetching one:

- raw (Kiln today): the server reads the file in 1 MiB pieces and sends them;
  the fetcher checks every frame's CRC and decodes the IPC stream.
- flightdata: the server checks and decodes the block into record batches
  and encodes each as an IPC message, which is what arrow-flight's
  `FlightDataEncoder` puts in a `FlightData`; the fetcher decodes messages.
- reframe: the server splits each frame's IPC message into header and body
  without decoding it (real `FlightData` at no encoding cost; the frame CRCs
  then have no place a standard client reads, see RESULTS.md); the fetcher
  decodes messages.

It runs on pyarrow (Arrow C++, a release build) because the workspace's
release build is the lead's to make: the Arrow work is the same IPC format,
not arrow-rs's code, so the numbers are the format's cost, not Kiln's
exact ones. zlib's CRC-32 stands in for crc32fast.

Usage: bench/shuffle_wire.py [--rows 65536] [--repeat 15] [LINEITEM_PARQUET]
(python with pyarrow: ~/.cache/kiln-venv/pyspark-client-4.2.0/bin/python)
"""

import argparse
import io
import os
import statistics
import struct
import tempfile
import time
import zlib

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

MAGIC = b"KILNBLK1"
CHUNK = 1024 * 1024
BATCH_ROWS = 8192


def build_block(table, codec):
    """(framed block bytes, the frames' payloads) as Kiln's writer makes them."""
    options = ipc.IpcWriteOptions(compression=codec)
    sink = io.BytesIO()
    payloads = []
    mark = 0

    def seal():
        nonlocal mark
        data = sink.getvalue()[mark:]
        mark += len(data)
        if data:
            payloads.append(data)

    w = ipc.new_stream(sink, table.schema, options=options)
    seal()
    for batch in table.to_batches(max_chunksize=BATCH_ROWS):
        w.write_batch(batch)
        seal()
    w.close()
    seal()
    out = bytearray(MAGIC)
    for p in payloads:
        out += struct.pack("<II", len(p), zlib.crc32(p)) + p
    total = struct.pack("<Q", sum(len(p) for p in payloads))
    out += struct.pack("<II", 0, zlib.crc32(total)) + total
    return bytes(out), payloads


def frames(block):
    """The payloads of a framed block, each checked against its CRC."""
    assert block[:8] == MAGIC
    pos, out = 8, []
    while True:
        n, crc = struct.unpack_from("<II", block, pos)
        pos += 8
        if n == 0:
            return out
        p = memoryview(block)[pos:pos + n]
        if zlib.crc32(p) != crc:
            raise ValueError("corrupt frame")
        out.append(p)
        pos += n


def compact(batch):
    """`batch` with string views over buffers of its own rows only, as Kiln's
    writer compacts them (core/src/shuffle/compact.rs); a slice of a Parquet
    read otherwise carries its whole page's strings into every batch."""
    cols = [pa.array(c.to_pylist(), type=pa.string_view()) if c.type == pa.string_view() else c
            for c in batch.columns]
    return pa.RecordBatch.from_arrays(cols, schema=batch.schema)


def cpu(f, repeat):
    """Median CPU seconds of `f()`."""
    times = []
    for _ in range(repeat):
        t = time.process_time()
        f()
        times.append(time.process_time() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lineitem", nargs="?", default=os.path.expanduser(
        "~/.cache/kiln-bench-data/tpch-sf1/lineitem/part-1.parquet"))
    ap.add_argument("--rows", type=int, default=65536)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    table = pq.read_table(args.lineitem).slice(0, args.rows)
    table = pa.Table.from_batches([compact(b) for b in table.to_batches(max_chunksize=BATCH_ROWS)])
    print(f"block: {table.num_rows} rows of lineitem ({table.num_columns} columns, "
          f"{table.get_total_buffer_size() / 1e6:.1f} MB in memory), batches of {BATCH_ROWS} rows; "
          f"pyarrow {pa.__version__}; median of {args.repeat}")
    print(f"{'codec':6} {'way':10} {'bytes sent':>11} {'server ms':>10} {'fetcher ms':>11} {'total ms':>9}")
    for codec in (None, "lz4", "zstd"):
        block, _ = build_block(table, codec)
        options = ipc.IpcWriteOptions(compression=codec)
        with tempfile.NamedTemporaryFile(delete=False) as f:
            f.write(block)
            path = f.name
        try:
            def serve_raw():
                buf = bytearray(CHUNK)
                sent = []
                with open(path, "rb", buffering=0) as fh:
                    while n := fh.readinto(buf):
                        sent.append(bytes(buf[:n]))
                return sent

            def fetch_raw(sent):
                data = b"".join(sent)
                payloads = frames(data)
                return ipc.open_stream(pa.py_buffer(b"".join(payloads))).read_all()

            def serve_flightdata():
                with open(path, "rb") as fh:
                    data = fh.read()
                payloads = frames(data)
                decoded = ipc.open_stream(pa.py_buffer(b"".join(payloads))).read_all()
                # Encoded again, batch by batch, with the block's compression.
                sink = pa.BufferOutputStream()
                with ipc.new_stream(sink, decoded.schema, options=options) as w:
                    for b in decoded.to_batches():
                        w.write_batch(b)
                return list(ipc.MessageReader.open_stream(sink.getvalue()))

            def serve_reframe():
                with open(path, "rb") as fh:
                    data = fh.read()
                msgs = []
                for p in frames(data):
                    reader = ipc.MessageReader.open_stream(pa.py_buffer(p))
                    msgs.extend(reader)
                return msgs

            def fetch_messages(msgs, schema):
                return [ipc.read_record_batch(m, schema) for m in msgs if m.type == "record batch"]

            def flight_bytes(msgs):
                # FlightData: the IPC message's header and body and a few
                # bytes of protobuf framing.
                return sum(m.metadata.size + (m.body.size if m.body else 0) + 8 for m in msgs)

            sent_raw = serve_raw()
            check = fetch_raw(sent_raw)
            assert check.equals(table), "raw block does not decode to the input"
            msgs = serve_flightdata()
            assert pa.Table.from_batches(fetch_messages(msgs, table.schema)).equals(table)
            reframed = serve_reframe()
            assert pa.Table.from_batches(fetch_messages(reframed, table.schema)).equals(table)
            name = codec or "none"
            rows = [
                ("raw", len(block), cpu(serve_raw, args.repeat),
                 cpu(lambda: fetch_raw(sent_raw), args.repeat)),
                ("flightdata", flight_bytes(msgs), cpu(serve_flightdata, args.repeat),
                 cpu(lambda: fetch_messages(msgs, table.schema), args.repeat)),
                ("reframe", flight_bytes(reframed), cpu(serve_reframe, args.repeat),
                 cpu(lambda: fetch_messages(reframed, table.schema), args.repeat)),
            ]
            for way, size, s, fch in rows:
                print(f"{name:6} {way:10} {size:11,} {s * 1e3:10.2f} {fch * 1e3:11.2f} {(s + fch) * 1e3:9.2f}")
        finally:
            os.unlink(path)


if __name__ == "__main__":
    main()
