#!/usr/bin/env bash
# Installs the Python tools the tests need (an S3-protocol server: moto in
# server mode) into a cached virtualenv. Pinned and idempotent.
#   usage: scripts/setup-python.sh        prints the venv path as its last line
set -euo pipefail
MOTO_VERSION=5.2.5
VENV="${KILN_TEST_VENV:-$HOME/.cache/kiln-venv/test-moto-$MOTO_VERSION}"
if ! command -v python3 >/dev/null 2>&1; then
  echo "error: python3 is required for the S3 tests (moto server); install Python 3.9+" >&2
  exit 1
fi
. "$(dirname "$0")/lib/venv.sh"
venv_install "$VENV" "python test tools" "installing moto[server]==$MOTO_VERSION into $VENV" \
  moto_server "import moto, flask" "moto[server]==$MOTO_VERSION"
echo "$VENV"
