#!/usr/bin/env bash
# PySpark's own docstring examples (tests/pyspark/doctests.py: pytest
# --doctest-modules over the five modules of issue 10, the pinned
# pyspark-client 4.2.0) against three Spark Connect servers, side by side:
# (kiln, sail, spark: bench/connect_servers.sh says how each is started)
#   usage: bench/doctests.sh [ENGINES]        default: kiln,sail,spark
# Writes each engine's report to $OUT/doctests-ENGINE.json (default OUT:
# target/bench-doctests) and prints passed/items per module and engine.
# The kiln binary is $KILN_BIN, else $CARGO_TARGET_DIR/debug/kiln (build it
# with `cargo build --workspace --all-targets`, as scripts/test.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."
ENGINES="${1:-kiln,sail,spark}"
OUT="${OUT:-target/bench-doctests}"
mkdir -p "$OUT"
CLIENT="$(scripts/setup-pyspark.sh client | tail -n 1)/bin/python"
KILN="${KILN_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/kiln-target}/debug/kiln}"
. bench/connect_servers.sh

IFS=, read -ra engines <<< "$ENGINES"
for engine in "${engines[@]}"; do
  echo "==> $engine" >&2
  start_engine "$engine" "$OUT/server-$engine.log"
  start_time=$(date +%s)
  "$CLIENT" tests/pyspark/doctests.py "$url" "$OUT/doctests-$engine.json" "${extra[@]}" >"$OUT/runner-$engine.log" 2>&1
  echo "    $(( $(date +%s) - start_time ))s" >&2
  stop_last
done

python3 - "$OUT" "${engines[@]}" <<'EOF'
import json, sys
out, engines = sys.argv[1], sys.argv[2:]
reports = {e: json.load(open(f"{out}/doctests-{e}.json")) for e in engines}
modules = list(next(iter(reports.values()))["modules"])
print("| module | " + " | ".join(engines) + " |")
print("|---|" + "---|" * len(engines))
for m in modules + ["total"]:
    cells = []
    for e in engines:
        c = reports[e]["total"] if m == "total" else reports[e]["modules"].get(m, {})
        cells.append(f"{c.get('passed', 0)} / {c.get('items', 0)}")
    print(f"| {m} | " + " | ".join(cells) + " |")
EOF
