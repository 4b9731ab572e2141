#!/usr/bin/env python3
"""Summarises benchmark runs: median wall time per engine, per-query medians,
geometric means, as a Markdown table.
usage: report.py WORKDIR ENGINE [ENGINE ...]   (reads WORKDIR/ENGINE-RUN.json)"""
import glob
import json
import math
import os
import statistics
import sys

work, engines = sys.argv[1], sys.argv[2:]
with open(os.path.join(work, "plan.json")) as f:
    plan = json.load(f)
query_of = [s["query"] for s in plan["statements"]]


def per_query(run):
    t = {}
    for st in run["statements"]:
        i = st["index"] - 1
        q = query_of[i] if i < len(query_of) else 0
        if q:
            t[q] = t.get(q, 0.0) + st["seconds"]
    return t


data = {}
for e in engines:
    runs = []
    for p in sorted(glob.glob(os.path.join(work, f"{e}-[0-9]*.json"))):
        with open(p) as f:
            runs.append(json.load(f))
    if not runs:
        continue
    wall = statistics.median(r["wall_seconds"] for r in runs)
    qs = {q: statistics.median(per_query(r).get(q, float("nan")) for r in runs) for q in range(1, 23)}
    geo = math.exp(sum(math.log(max(v, 1e-6)) for v in qs.values()) / 22)
    rss = [r.get("executor_peak_rss_bytes") for r in runs if r.get("executor_peak_rss_bytes")]
    spills = [(r["spills"], r.get("spilled_bytes", 0)) for r in runs if "spills" in r]
    data[e] = {"wall": wall, "q": qs, "geo": geo, "sum": sum(qs.values()), "runs": len(runs), "rss": rss[-1] if rss else None,
               "spills": spills[-1] if spills else None}

names = list(data)
print("| query | " + " | ".join(f"{n} (s)" for n in names) + " |")
print("|---|" + "---|" * len(names))
for q in range(1, 23):
    print(f"| q{q:02d} | " + " | ".join(f"{data[n]['q'][q]:.3f}" for n in names) + " |")
print("| **sum of medians** | " + " | ".join(f"**{data[n]['sum']:.2f}**" for n in names) + " |")
print("| **geometric mean** | " + " | ".join(f"**{data[n]['geo']:.3f}**" for n in names) + " |")
print("| **application wall time (median)** | " + " | ".join(f"**{data[n]['wall']:.2f}**" for n in names) + " |")
print()
if "kiln-noui" in data and "kiln-eventlog" in data:
    off, on = data["kiln-noui"]["wall"], data["kiln-eventlog"]["wall"]
    print(f"- UI and event log on vs both off (application wall time, medians): {on:.2f} s vs {off:.2f} s, "
          f"{(on / off - 1) * 100:+.1f} %")
for n in names:
    extra = ""
    if data[n]["rss"]:
        extra = ", peak RSS: " + ", ".join(f"{k}={v / 2**20:.0f} MiB" for k, v in sorted(data[n]["rss"].items()))
    if data[n]["spills"]:
        extra += f", spills: {data[n]['spills'][0]} ({data[n]['spills'][1] / 2**20:.0f} MiB)"
    print(f"- {n}: {data[n]['runs']} runs{extra}")
