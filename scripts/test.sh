#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need
# (pinned, cached outside the clone), builds, and runs every test.
#   usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiln-target}"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export CARGO_TERM_PROGRESS_WHEN=always CARGO_TERM_PROGRESS_WIDTH=100

step() { printf '\n==> %s\n' "$*" >&2; }
start=$(date +%s)

step "python test tools (S3-protocol server)"
venv=$(scripts/setup-python.sh | tail -n 1)
export KILN_MOTO_SERVER="$venv/bin/moto_server"

step "PySpark: the Spark Connect client and classic Spark as the oracle (pinned, cached)"
scripts/setup-pyspark.sh client >/dev/null
scripts/setup-pyspark.sh oracle >/dev/null

step "headless Chromium for the web UI's browser test (Debian's package, pinned, unpacked into a cache)"
scripts/setup-chromium.sh >/dev/null

step "Airflow and its Kubernetes provider (pinned, cached): the Airflow tests call the real SparkKubernetesOperator"
scripts/setup-airflow.sh >/dev/null

step "Spark's own SQL test files and golden answers (Spark's test jar, pinned, cached)"
scripts/setup-spark-sql-tests.sh >/dev/null

step "Kubernetes test control plane binaries (built from the Go module proxy once, then cached)"
bash tests/cluster/install.sh

step "formatting"
cargo fmt --all -- --check

step "module structure: no new import cycle among a crate's modules, no file over 600 lines of non-test code"
python3 scripts/check-structure.py --sizes

step "building kiln and the test binaries (target dir: $CARGO_TARGET_DIR)"
# One build of every target (the `kiln` binary the integration tests run
# included), with the same feature set `cargo test --workspace` uses.
cargo build --workspace --all-targets

step "running tests"
cargo test --workspace "$@"
echo "all tests passed in $(( $(date +%s) - start ))s" >&2
