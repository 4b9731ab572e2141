#!/usr/bin/env bash
# Runs a real Kiln job on this machine with no cluster: builds `kiln`,
# generates TPC-H sample data (scale factor 0.1, once), and runs
# examples/tpch-q3.yaml on a driver and 2 executor processes.
#   usage: scripts/example.sh [examples/OTHER.yaml] [kiln run options]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiln-target}"
manifest="${1:-examples/tpch-q3.yaml}"
shift || true
echo "==> building kiln" >&2
cargo build -j2 --release -p kiln-cli
kiln="$CARGO_TARGET_DIR/release/kiln"
if [ ! -f .kiln-data/tpch-sf0.1/_GENERATED ]; then
  echo "==> generating TPC-H sample data (scale factor 0.1) into .kiln-data/tpch-sf0.1" >&2
  rm -rf .kiln-data/tpch-sf0.1
  "$kiln" gen tpch --scale 0.1 .kiln-data/tpch-sf0.1
  touch .kiln-data/tpch-sf0.1/_GENERATED
fi
echo "==> kiln run $manifest" >&2
exec "$kiln" run "$manifest" "$@"
