#!/usr/bin/env bash
# Fault trials: runs a TPC-H query (default q21) through `kiln run` in
# local-cluster mode TRIALS times with one fault per run at a random moment:
# SIGKILL, SIGSTOP or a black-holed executor (cut off behind a relay on
# loopback), in turn; results are printed or written with COPY, in turn.
# Every run is checked against single-node DataFusion: right rows, nothing
# printed or committed by a failed run (no partial output), and an end
# within LIMIT seconds (else it counts as hung). Prints one line per trial
# and a tally; exits non-zero unless every trial was correct.
#   usage: bench/faults.sh [TRIALS] [SCALE] [EXECUTORS] [QUERY] [LIMIT]
#          defaults: 50 0.1 3 21 300
# The runs use a release build of kiln (the same build bench/run.sh makes);
# the harness itself is the debug build the tests use.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiln-target}"
echo "==> building kiln (release) and the fault harness (debug, as the tests build it)" >&2
cargo build -j2 --release -p kiln-cli -p kiln-bench
cargo build -j2 --workspace --all-targets
KILN_BIN="$CARGO_TARGET_DIR/release/kiln" exec "$CARGO_TARGET_DIR/debug/kiln-fault" \
  "${1:-50}" "${2:-0.1}" "${3:-3}" "${4:-21}" "${5:-300}"
