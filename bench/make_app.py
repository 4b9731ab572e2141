#!/usr/bin/env python3
"""Builds the benchmark application from the 22 TPC-H query texts.

Writes into OUT:
  app.sql     every query's result written with COPY ... TO (kiln and DataFusion)
  app.yaml    the kiln SparkApplication manifest running app.sql
  plan.json   statement list with the query each belongs to (for timing), and
              the Spark form of each statement
"""
import argparse
import json
import os
import re


def split_statements(text):
    code = "\n".join(l for l in text.splitlines() if not l.strip().startswith("--"))
    return [s.strip() for s in code.split(";") if s.strip()]


def is_query(stmt):
    head = stmt.lstrip().lower()
    return head.startswith("select") or head.startswith("with")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--instances", type=int, default=2)
    ap.add_argument("--cores", type=int, default=1)
    ap.add_argument("--memory", default="")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    results = os.path.join(args.out, "results")
    tables = ["nation", "region", "part", "supplier", "partsupp", "customer", "orders", "lineitem"]
    plan = {"tables": {t: os.path.join(args.data, t) for t in tables}, "statements": []}
    sql = []
    for t in tables:
        sql.append(f"CREATE EXTERNAL TABLE {t} STORED AS PARQUET LOCATION '{os.path.join(args.data, t)}/'")
        plan["statements"].append({"query": 0, "kind": "ddl", "sql": None})
    for q in range(1, 23):
        with open(os.path.join(args.queries, f"q{q:02d}.sql")) as f:
            stmts = split_statements(f.read())
        for s in stmts:
            if is_query(s):
                out = os.path.join(results, f"q{q:02d}")
                sql.append(f"COPY ({s}) TO '{out}/' STORED AS PARQUET")
                plan["statements"].append({"query": q, "kind": "query", "sql": s, "out": out})
            else:
                spark = re.sub(r"(?i)^create\s+view", "create or replace temporary view", s)
                sql.append(s)
                plan["statements"].append({"query": q, "kind": "other", "sql": spark})
    with open(os.path.join(args.out, "app.sql"), "w") as f:
        f.write(";\n\n".join(sql) + ";\n")
    memory = f"\n    memory: {args.memory}" if args.memory else ""
    with open(os.path.join(args.out, "app.yaml"), "w") as f:
        f.write(
            "apiVersion: kiln.dev/v1alpha1\nkind: SparkApplication\nmetadata:\n  name: tpch-bench\n"
            f"spec:\n  mainApplicationFile: app.sql\n  executor:\n    instances: {args.instances}\n"
            f"    cores: {args.cores}{memory}\n"
        )
    with open(os.path.join(args.out, "plan.json"), "w") as f:
        json.dump(plan, f, indent=1)


if __name__ == "__main__":
    main()
