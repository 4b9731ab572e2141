#!/usr/bin/env bash
# Fault trials: runs TPC-H q21 (scale factor 0.1) through `kiln run` in
# local-cluster mode with 3 executors TRIALS times, SIGKILLs one executor at a
# random moment of each run, and checks every result against single-node
# DataFusion. Prints one line per trial (retried tasks, recomputed map
# outputs) and the count of correct runs; exits non-zero if any was wrong.
#   usage: bench/faults.sh [TRIALS] [QUERY] [EXECUTORS]     defaults: 20 21 3
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiln-target}"
echo "==> building kiln and the fault script (debug, as the tests use)" >&2
cargo build -j2 --workspace --all-targets
exec "$CARGO_TARGET_DIR/debug/kiln-fault" "${1:-20}" "${2:-21}" "${3:-3}"
